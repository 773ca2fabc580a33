//! What one caller may take of the server, checked for every request
//! after routing and before its body is read:
//!
//! * **who**: keyed routes authenticate here (the key is handed on to the
//!   handler), so an unknown key, an operator-only route called with a
//!   team key, or an admin-only route called by a member is refused
//!   before a byte of the body is read;
//! * **in flight**: at most `per_team` requests of one team (or of the
//!   operator keys) and `anonymous_per_client` unauthenticated requests
//!   of one client address at once, within `total`; more are answered
//!   `429 busy` at once, never queued, so a noisy team fills only its
//!   own slots. `/healthz` and `/readyz` are never limited;
//! * **bodies**: each route's cap (a provider definition is small, a
//!   component upload is not), a deadline for the whole body, and a
//!   budget for all bodies being read at once.
//!
//! Failures are the API's JSON errors (`too-large`, `timeout`, `busy`),
//! and axum's own plain-text rejections of a body or query become the
//! same `{"error": {"kind", "message"}}`.

use crate::error::ApiError;
use crate::routes::ROUTES;
use crate::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use connhost::{ApiKey, Operation, Rule};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The limits, with their defaults (see the README's security section).
#[derive(Clone, Debug)]
pub struct Limits {
    /// Requests in flight in all (health checks aside).
    pub total: usize,
    /// Requests in flight per team (team keys and their page sessions),
    /// and for the operator keys together.
    pub per_team: usize,
    /// Unauthenticated requests in flight (sign-in, the OAuth callback,
    /// connect sessions), in all and per client address.
    pub anonymous_total: usize,
    pub anonymous_per_client: usize,
    /// Largest body of a route not named below.
    pub body_bytes: usize,
    /// Largest body of `POST /v1/connectors` (a component) and of
    /// `POST /v1/connections/{id}/request` (a proxied body, base64).
    pub upload_bytes: usize,
    /// Largest provider definition.
    pub definition_bytes: usize,
    /// Largest body of an unauthenticated request.
    pub anonymous_body_bytes: usize,
    /// Bytes of bodies being read and handled at once, in all.
    pub bodies_in_flight_bytes: usize,
    /// The whole body must arrive within this.
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            total: 512,
            per_team: 64,
            anonymous_total: 128,
            anonymous_per_client: 16,
            body_bytes: 64 * 1024,
            upload_bytes: 16 * 1024 * 1024,
            definition_bytes: 256 * 1024,
            anonymous_body_bytes: 16 * 1024,
            bodies_in_flight_bytes: 256 * 1024 * 1024,
            body_timeout: Duration::from_secs(20),
        }
    }
}

/// The slots [`guard`] hands out.
pub struct Gate {
    limits: Limits,
    total: Arc<Semaphore>,
    anonymous: Arc<Semaphore>,
    /// KiB of body budget.
    bodies: Arc<Semaphore>,
    teams: Mutex<HashMap<String, Arc<Semaphore>>>,
    clients: Mutex<HashMap<IpAddr, Arc<Semaphore>>>,
}

impl Gate {
    pub fn new(limits: Limits) -> Self {
        Gate {
            total: Arc::new(Semaphore::new(limits.total.max(1))),
            anonymous: Arc::new(Semaphore::new(limits.anonymous_total.max(1))),
            bodies: Arc::new(Semaphore::new(kib(limits.bodies_in_flight_bytes).max(1))),
            teams: Mutex::default(),
            clients: Mutex::default(),
            limits,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

fn kib(bytes: usize) -> usize {
    bytes.div_ceil(1024)
}

/// One slot of a keyed map of semaphores (`per` slots each); idle
/// entries are forgotten when the map grows large.
fn slot<K: std::hash::Hash + Eq + Clone>(
    map: &Mutex<HashMap<K, Arc<Semaphore>>>,
    key: &K,
    per: usize,
) -> Option<OwnedSemaphorePermit> {
    let sem = {
        let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > 10_000 {
            m.retain(|_, s| Arc::strong_count(s) > 1);
        }
        m.entry(key.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(per.max(1))))
            .clone()
    };
    sem.try_acquire_owned().ok()
}

/// An error response in the API's shape.
fn error(status: StatusCode, kind: &str, message: String) -> Response {
    crate::ops::METRICS.error(kind);
    let mut r = (
        status,
        axum::Json(serde_json::json!({"error": {"kind": kind, "message": message}})),
    )
        .into_response();
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

fn busy(what: &str) -> Response {
    error(
        StatusCode::TOO_MANY_REQUESTS,
        "busy",
        format!("busy: {what}; retry in 1 s"),
    )
}

/// Who a route is for, from the route table (`none`, `team`,
/// `operator`, `session`); page routes are not in it.
fn route_auth(method: &Method, path: &str) -> Option<&'static str> {
    ROUTES
        .iter()
        .find(|r| r.path == path && r.method.eq_ignore_ascii_case(method.as_str()))
        .map(|r| r.auth)
}

/// The team operation a settings route is, so the permissions table can
/// refuse it before the body is read.
fn settings_operation(method: &Method, path: &str) -> Option<Operation> {
    Some(match (method.as_str(), path) {
        ("POST", "/v1/providers") => Operation::AddProvider,
        ("DELETE", "/v1/providers/{id}") => Operation::RemoveProvider,
        ("POST", "/v1/webhooks") => Operation::AddWebhook,
        ("DELETE", "/v1/webhooks/{id}") => Operation::RemoveWebhook,
        ("PUT", "/v1/settings/return-urls") => Operation::SetReturnUrls,
        _ => return None,
    })
}

fn body_cap(limits: &Limits, method: &Method, path: &str, anonymous: bool) -> usize {
    match (method.as_str(), path) {
        ("POST", "/v1/connectors" | "/v1/connections/{id}/request") => limits.upload_bytes,
        ("POST", "/v1/providers") => limits.definition_bytes,
        _ if anonymous => limits.anonymous_body_bytes,
        _ => limits.body_bytes,
    }
}

/// The request's bearer token, if any.
fn bearer(req: &Request) -> &str {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .trim()
}

/// The client's address, as the accept loop recorded it.
fn client(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

/// The middleware (a route layer: it sees the matched route).
pub async fn guard(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    if path == "/healthz" || path == "/readyz" {
        return next.run(req).await;
    }
    let gate = &s.gate;
    let method = req.method().clone();
    // Refused before its body is read, a request's connection is closed
    // (and says so), or the client would send its next request on it
    // behind the unread body.
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let close = |mut r: Response| {
        if has_body {
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        r
    };
    let Ok(_total) = gate.total.clone().try_acquire_owned() else {
        return close(busy("the server is at its limit of requests in flight"));
    };
    // The proxy is a team route outside the table; its body streams.
    let passing = path.starts_with(crate::routes::proxy::PREFIX);
    let auth = route_auth(&method, &path).or(passing.then_some("team"));
    let keyed = matches!(auth, Some("team" | "operator"));
    let mut req = req;
    // Held until the response is made.
    let mut _slots: Vec<OwnedSemaphorePermit> = Vec::new();
    if keyed {
        let key = match s.manager.authenticate(bearer(&req)) {
            Ok(k) => k,
            Err(e) => return close(ApiError(e).into_response()),
        };
        if auth == Some("operator") && key.team.is_some() {
            return close(crate::error::forbidden("this needs an operator key"));
        }
        let denied = settings_operation(&method, &path)
            .is_some_and(|op| connhost::permission(key.role, op) == Rule::Denied);
        if denied {
            return close(crate::error::forbidden(
                "team settings are for admin keys; this key is a member's",
            ));
        }
        let team = key.team.clone().unwrap_or_else(|| "operator keys".into());
        match slot(&gate.teams, &team, gate.limits.per_team) {
            Some(p) => _slots.push(p),
            None => {
                return close(busy(&format!(
                    "`{team}` already has {} requests in flight",
                    gate.limits.per_team
                )))
            }
        }
        req.extensions_mut().insert(Authenticated(key));
    } else {
        let ip = client(&req);
        let Ok(any) = gate.anonymous.clone().try_acquire_owned() else {
            return close(busy(
                "the server is at its limit of unauthenticated requests",
            ));
        };
        _slots.push(any);
        match slot(&gate.clients, &ip, gate.limits.anonymous_per_client) {
            Some(p) => _slots.push(p),
            None => {
                return close(busy(&format!(
                    "this client already has {} unauthenticated requests in flight",
                    gate.limits.anonymous_per_client
                )))
            }
        }
    }
    if passing {
        // The provider's answer goes back as it is, never as our error.
        return next.run(req).await;
    }
    let req = match read_body(gate, req, body_cap(&gate.limits, &method, &path, !keyed)).await {
        Ok((req, budget)) => {
            _slots.extend(budget);
            req
        }
        Err(r) => return close(r),
    };
    let response = next.run(req).await;
    match auth {
        Some(_) => as_api_error(response).await,
        None => response,
    }
}

/// A key [`guard`] already checked, for the `Key` extractor.
#[derive(Clone)]
pub struct Authenticated(pub ApiKey);

/// Reads the whole body within the route's cap, the deadline and the
/// budget; the request goes on with the body in memory.
async fn read_body(
    gate: &Gate,
    req: Request,
    cap: usize,
) -> Result<(Request, Option<OwnedSemaphorePermit>), Response> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            format!("the request body is larger than this route's limit of {cap} bytes"),
        )
    };
    if declared.is_some_and(|n| n > cap as u64) {
        return Err(too_large());
    }
    let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
    if declared.unwrap_or(0) == 0 && !chunked {
        return Ok((req, None));
    }
    // Reserve what the body may take before reading any of it.
    let reserve = declared.map_or(cap, |n| n as usize);
    let Ok(budget) = gate
        .bodies
        .clone()
        .try_acquire_many_owned(kib(reserve).max(1) as u32)
    else {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "busy: the server is reading too many request bodies at once; retry in 1 s".into(),
        ));
    };
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(gate.limits.body_timeout, axum::body::to_bytes(body, cap)).await {
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "the request body did not arrive within {} s",
                gate.limits.body_timeout.as_secs()
            ),
        )),
        Ok(Err(e)) => {
            let length_limit = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if length_limit {
                Err(too_large())
            } else {
                Err(error(
                    StatusCode::BAD_REQUEST,
                    "invalid-input",
                    format!("the request body could not be read: {e}"),
                ))
            }
        }
        Ok(Ok(bytes)) => Ok((Request::from_parts(parts, Body::from(bytes)), Some(budget))),
    }
}

/// axum's own rejections (a body that is not JSON or lacks a field, a
/// bad query) are plain text: answer them as the API's errors.
async fn as_api_error(r: Response) -> Response {
    let plain = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    let status = r.status();
    if !plain || !(status.is_client_error() || status.is_server_error()) {
        return r;
    }
    let (parts, body) = r.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let kind = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too-large",
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        s if s.is_server_error() => "runtime",
        _ => "invalid-input",
    };
    let mut out = error(status, kind, text);
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}
