//! The routes, one module per resource.

mod connections;
mod connectors;
mod oauth;
mod platform;

use crate::error::ApiError;
use crate::AppState;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};

/// A handler's result: JSON, or an error response.
pub(crate) type Reply = Result<Json<serde_json::Value>, Response>;

/// Lifts a library error into a response.
pub(crate) fn fail(e: connhost::Error) -> Response {
    ApiError(e).into_response()
}

/// JSON of anything serializable.
pub(crate) fn json(v: impl serde::Serialize) -> Reply {
    Ok(Json(serde_json::to_value(v).map_err(|e| {
        fail(connhost::Error::Runtime(format!("serialize: {e}")))
    })?))
}

pub fn all() -> Router<AppState> {
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"ok": true})) }),
        )
        .route("/readyz", get(crate::ops::readyz))
        .route("/metrics", get(crate::ops::metrics))
        .route("/oauth/callback", get(oauth::callback))
        .route(
            "/v1/connectors",
            get(connectors::list).post(connectors::add),
        )
        .route("/v1/connectors/{id}", get(connectors::show))
        .route(
            "/v1/connections",
            get(connections::list).post(connections::create),
        )
        .route("/v1/connections/authorize", post(oauth::start))
        .route(
            "/v1/connections/{id}",
            get(connections::show)
                .patch(connections::rename)
                .put(connections::edit)
                .delete(connections::delete),
        )
        .route(
            "/v1/connections/{id}/secrets/{name}",
            put(connections::set_secret),
        )
        .route("/v1/connections/{id}/verify", post(connections::verify))
        .route("/v1/connections/{id}/refresh", post(connections::refresh))
        .route("/v1/connections/{id}/check", post(connections::check))
        .route("/v1/connections/{id}/request", post(connections::request))
        .route("/v1/connections/{id}/reauthorize", post(oauth::reauthorize))
        .route(
            "/v1/usages",
            get(platform::usages)
                .post(platform::add_usage)
                .delete(platform::remove_usage),
        )
        .route(
            "/v1/providers",
            get(platform::providers).post(platform::add_provider),
        )
        .route(
            "/v1/providers/{id}",
            axum::routing::delete(platform::remove_provider),
        )
        .route("/v1/audit", get(platform::audit))
        .route(
            "/v1/webhooks",
            get(platform::webhooks).post(platform::add_webhook),
        )
        .route(
            "/v1/webhooks/{id}",
            axum::routing::delete(platform::remove_webhook),
        )
        .route("/v1/webhooks/{id}/deliveries", get(platform::deliveries))
}
