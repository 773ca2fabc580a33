//! `connhost serve`: the connhost library over HTTP, for an iPaaS backend
//! in any language. JSON in and out; errors are `{"error": {"kind",
//! "message", …}}` as in the CLI's `--json`.
//!
//! * [`auth`]: bearer API keys; a team key acts for its team only (other
//!   teams' objects are 404, as in the CLI), an operator key for
//!   connectors only;
//! * [`routes`]: one module per resource;
//! * [`error`]: error kinds to HTTP statuses.
//!
//! Unauthenticated: `GET /healthz` and `GET /oauth/callback` (bound by the
//! single-use `state` of the authorization it finishes).

// Handlers fail with an axum `Response` (its idiom); boxing it would only
// add an allocation on the error path.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod error;
pub mod limits;
pub mod listen;
pub mod ops;
pub mod routes;
pub mod ui;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use connhost::Manager;
use std::sync::Arc;

/// How the server is reached from outside.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The base URL providers redirect browsers back to
    /// (`<public_url>/oauth/callback` is the redirect URI).
    pub public_url: String,
    /// What one caller may take: requests in flight per team and per
    /// client, body sizes and deadlines (see [`limits`]).
    pub limits: limits::Limits,
    /// How often expiring access is renewed in the background (`None`:
    /// never; callers still renew on use). Each wait is jittered ±20%.
    pub renew_every: Option<std::time::Duration>,
    /// Renewals run at once by a background sweep.
    pub renew_concurrency: usize,
    /// How often new connection events go to webhooks (`None`: never).
    pub deliver_every: Option<std::time::Duration>,
}

impl ServerConfig {
    pub fn new(public_url: impl Into<String>) -> Self {
        ServerConfig {
            public_url: public_url.into().trim_end_matches('/').to_string(),
            limits: limits::Limits::default(),
            renew_every: Some(std::time::Duration::from_secs(30)),
            renew_concurrency: 4,
            deliver_every: Some(std::time::Duration::from_secs(1)),
        }
    }

    /// The redirect URI registered with providers.
    pub fn callback_url(&self) -> String {
        format!("{}/oauth/callback", self.public_url)
    }
}

/// What every handler gets.
#[derive(Clone)]
pub struct AppState {
    pub manager: Arc<Manager>,
    pub config: Arc<ServerConfig>,
    pub gate: Arc<limits::Gate>,
}

/// Renews expiring access until the process ends (see
/// [`Manager::renew_due`]); spawned by [`router`] when configured.
async fn renew_loop(manager: Arc<Manager>, every: std::time::Duration, concurrency: usize) {
    loop {
        // ±20% so replicas and restarts do not sweep in step.
        let jitter = 0.8 + 0.4 * (rand_unit());
        tokio::time::sleep(every.mul_f64(jitter)).await;
        match manager.renew_due(concurrency).await {
            Ok(s) if s.due > 0 => {
                use std::sync::atomic::Ordering::Relaxed;
                ops::METRICS
                    .renewals_ok
                    .fetch_add(s.renewed as u64, Relaxed);
                ops::METRICS
                    .renewals_failed
                    .fetch_add(s.failed as u64, Relaxed);
                tracing::info!(
                    due = s.due,
                    renewed = s.renewed,
                    failed = s.failed,
                    "background renewal"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("background renewal sweep failed: {e}"),
        }
    }
}

/// Delivers connection events to webhooks until the process ends: each
/// webhook in a task of its own (at most
/// [`connhost::WEBHOOKS_PER_TEAM`] of a team at once), so a
/// slow or dead endpoint delays only its own events.
async fn deliver_loop(manager: Arc<Manager>, every: std::time::Duration) {
    use std::collections::{HashMap, HashSet};
    use std::sync::Mutex;
    let running: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut budgets: HashMap<String, Arc<tokio::sync::Semaphore>> = HashMap::new();
    loop {
        tokio::time::sleep(every).await;
        let plan = {
            let busy = running.lock().unwrap_or_else(|p| p.into_inner()).clone();
            match manager.due_deliveries(500, |id| busy.contains(id)) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!("event delivery failed: {e}");
                    continue;
                }
            }
        };
        for d in plan {
            let budget = budgets
                .entry(d.hook.team.clone())
                .or_insert_with(|| {
                    Arc::new(tokio::sync::Semaphore::new(connhost::WEBHOOKS_PER_TEAM))
                })
                .clone();
            // The team's budget is spent: its other webhooks wait a round.
            let Ok(turn) = budget.try_acquire_owned() else {
                continue;
            };
            let id = d.hook.id.clone();
            running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id.clone());
            let (manager, running) = (manager.clone(), running.clone());
            tokio::spawn(async move {
                match manager.deliver_to(d, 3).await {
                    Ok(n) => {
                        ops::METRICS
                            .deliveries_ok
                            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(e) => tracing::warn!(webhook = %id, "event delivery failed: {e}"),
                }
                running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                drop(turn);
            });
        }
    }
}

/// A number in [0, 1) without a dependency: the clock's nanoseconds.
fn rand_unit() -> f64 {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(n % 1_000_000) / 1_000_000.0
}

/// The whole API. With `renew_every`, also starts background renewal
/// (needs a Tokio runtime).
pub fn router(manager: Arc<Manager>, config: ServerConfig) -> Router {
    if let Some(every) = config.renew_every {
        tokio::spawn(renew_loop(manager.clone(), every, config.renew_concurrency));
    }
    if let Some(every) = config.deliver_every {
        tokio::spawn(deliver_loop(manager.clone(), every));
    }
    // The guard reads bodies within each route's own cap; this only
    // lifts axum's default (2 MiB) above the largest of them.
    let limit = config.limits.upload_bytes;
    let state = AppState {
        manager,
        gate: Arc::new(limits::Gate::new(config.limits.clone())),
        config: Arc::new(config),
    };
    routes::all()
        .merge(ui::routes(state.clone()))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::guard,
        ))
        .with_state(state)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn(ops::observe))
}

/// Serves `router` on `listener` with the default connection limits until
/// `shutdown` completes; requests in flight are finished first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listen::serve(listener, router, listen::ConnLimits::default(), shutdown).await
}
