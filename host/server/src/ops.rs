//! Operations: request ids and one log line per request, Prometheus
//! counters at `/metrics`, and `/readyz` (the store answers).

use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};

/// Process-wide counters.
#[derive(Default)]
pub struct Metrics {
    /// (method, status) → requests.
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// Error kind → responses.
    errors: Mutex<BTreeMap<String, u64>>,
    pub renewals_ok: AtomicU64,
    pub renewals_failed: AtomicU64,
    pub deliveries_ok: AtomicU64,
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);

/// The longest any request may take (above connector call deadlines).
pub const REQUEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

impl Metrics {
    pub fn error(&self, kind: &str) {
        *self
            .errors
            .lock()
            .unwrap()
            .entry(kind.to_string())
            .or_default() += 1;
    }
}

/// Gives every request an id (the caller's `x-request-id`, or a new one),
/// echoes it, counts the request and logs one line.
pub async fn observe(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .map(str::to_string)
        .unwrap_or_else(new_id);
    let (method, path) = (
        request.method().to_string(),
        request.uri().path().to_string(),
    );
    let started = std::time::Instant::now();
    // A deadline per request: a stuck provider or lock never holds a
    // client (or a concurrency slot) forever.
    let mut response = match tokio::time::timeout(REQUEST_DEADLINE, next.run(request)).await {
        Ok(r) => r,
        Err(_) => (
            StatusCode::GATEWAY_TIMEOUT,
            axum::Json(serde_json::json!({"error": {"kind": "timeout", "message": format!("the request took longer than {} s", REQUEST_DEADLINE.as_secs())}})),
        )
            .into_response(),
    };
    let status = response.status().as_u16();
    *METRICS
        .requests
        .lock()
        .unwrap()
        .entry((method.clone(), status))
        .or_default() += 1;
    tracing::info!(request_id = %id, %method, %path, status, ms = started.elapsed().as_millis() as u64, "request");
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

fn new_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    format!("req-{t:x}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// `GET /metrics` (Prometheus text format; an operator key, which a
/// scraper sends as its bearer token).
pub async fn metrics(State(s): State<AppState>, key: crate::auth::Key) -> Response {
    if let Err(denied) = key.operator() {
        return denied;
    }
    let mut out = String::new();
    let _ = writeln!(out, "# TYPE connhost_http_requests_total counter");
    for ((method, status), n) in METRICS.requests.lock().unwrap().iter() {
        let _ = writeln!(
            out,
            "connhost_http_requests_total{{method=\"{method}\",status=\"{status}\"}} {n}"
        );
    }
    let _ = writeln!(out, "# TYPE connhost_errors_total counter");
    for (kind, n) in METRICS.errors.lock().unwrap().iter() {
        let _ = writeln!(out, "connhost_errors_total{{kind=\"{kind}\"}} {n}");
    }
    let counters = [
        (
            "connhost_plugin_instantiations_total",
            s.manager.instantiations(),
        ),
        (
            "connhost_background_renewals_total{result=\"ok\"}",
            METRICS.renewals_ok.load(Ordering::Relaxed),
        ),
        (
            "connhost_background_renewals_total{result=\"failed\"}",
            METRICS.renewals_failed.load(Ordering::Relaxed),
        ),
        (
            "connhost_webhook_deliveries_total",
            METRICS.deliveries_ok.load(Ordering::Relaxed),
        ),
    ];
    for (name, v) in counters {
        let _ = writeln!(out, "{name} {v}");
    }
    ([("content-type", "text/plain; version=0.0.4")], out).into_response()
}

/// `GET /readyz`: 200 when the store can be read, else 503.
pub async fn readyz(
    State(s): State<AppState>,
) -> Result<axum::Json<crate::routes::views::Ready>, Response> {
    match s.manager.connectors() {
        Ok(_) => Ok(axum::Json(crate::routes::views::Ready { ready: true })),
        Err(e) => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"ready": false, "error": e.to_json()})),
        )
            .into_response()),
    }
}
