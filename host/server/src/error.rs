//! Library errors as HTTP responses: the status from the error's kind, the
//! body the CLI's `--json` gives.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An error a handler returns.
#[derive(Debug)]
pub struct ApiError(pub connhost::Error);

impl From<connhost::Error> for ApiError {
    fn from(e: connhost::Error) -> Self {
        ApiError(e)
    }
}

/// The status for an error kind. Failures on the provider's side of a
/// connection are 502: the API call itself was fine.
pub fn status_of(kind: &str) -> StatusCode {
    match kind {
        "not-found" | "connection-deleted" => StatusCode::NOT_FOUND,
        "invalid-input"
        | "invalid-component"
        | "authorization-failed"
        | "access-denied"
        | "unsupported" => StatusCode::BAD_REQUEST,
        "unauthenticated" => StatusCode::UNAUTHORIZED,
        "forbidden" | "account-validation" | "denied-host" => StatusCode::FORBIDDEN,
        "in-use" | "conflict" | "already-exists" => StatusCode::CONFLICT,
        "rate-limited" | "busy" => StatusCode::TOO_MANY_REQUESTS,
        "timeout" => StatusCode::GATEWAY_TIMEOUT,
        "lock-timeout" | "rotation-in-progress" => StatusCode::SERVICE_UNAVAILABLE,
        "unauthorized"
        | "reauthorization-required"
        | "provider-error"
        | "network"
        | "plugin-failure" => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(self.0.kind());
        crate::ops::METRICS.error(self.0.kind());
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("request failed: {}", self.0);
        }
        let mut error = self.0.to_json();
        // The API's own way out, beside the library's account of the cause.
        if let connhost::Error::InUse { .. } = &self.0 {
            error["advice"] =
                "repeat the DELETE with `?force=true` (an admin's key) to delete it anyway".into();
        }
        let mut response = (status, Json(serde_json::json!({ "error": error }))).into_response();
        if let connhost::Error::Busy { retry_after, .. } = &self.0 {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, (*retry_after).into());
        }
        response
    }
}

/// A handler's result.
pub type ApiResult<T> = Result<T, ApiError>;

/// `403 forbidden`: the key is valid but not for this.
pub fn forbidden(message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(serde_json::json!({"error": {"kind": "forbidden", "message": message}})),
    )
        .into_response()
}
