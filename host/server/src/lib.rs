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
pub mod routes;

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
    /// Requests handled at once; more wait.
    pub concurrency: usize,
    /// Largest request body (connector uploads included).
    pub max_body_bytes: usize,
}

impl ServerConfig {
    pub fn new(public_url: impl Into<String>) -> Self {
        ServerConfig {
            public_url: public_url.into().trim_end_matches('/').to_string(),
            concurrency: 256,
            max_body_bytes: 16 * 1024 * 1024,
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
}

/// The whole API.
pub fn router(manager: Arc<Manager>, config: ServerConfig) -> Router {
    let limit = config.max_body_bytes;
    let concurrency = config.concurrency;
    let state = AppState {
        manager,
        config: Arc::new(config),
    };
    routes::all()
        .with_state(state)
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower::limit::ConcurrencyLimitLayer::new(concurrency))
}

/// Serves `router` on `listener` until `shutdown` completes; requests in
/// flight are finished first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
