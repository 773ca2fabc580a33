//! Bearer API keys. `Authorization: Bearer chk_…`; anything else is 401
//! with one message, whether the key is unknown, revoked or malformed.

use crate::error::{forbidden, ApiError};
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use connhost::{ApiKey, Caller, TeamView};

/// The bearer token of a request ("" when there is none).
fn bearer(parts: &Parts) -> String {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// The authenticated key of a request.
pub struct Key(pub ApiKey);

impl FromRequestParts<AppState> for Key {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        // Checked once, before the body, by the limits guard.
        if let Some(k) = parts.extensions.get::<crate::limits::Authenticated>() {
            return Ok(Key(k.0.clone()));
        }
        state
            .manager
            .authenticate(&bearer(parts))
            .map(Key)
            .map_err(|e| ApiError(e).into_response())
    }
}

impl Key {
    /// The team view this key acts as; operator keys act for no team.
    pub fn team<'a>(&self, state: &'a AppState) -> Result<TeamView<'a>, Response> {
        let Some(team) = &self.0.team else {
            return Err(forbidden(
                "an operator key does not act for a team; use a team key",
            ));
        };
        state
            .manager
            .team(Caller {
                team: team.clone(),
                actor: format!("apikey:{}", self.0.id),
            })
            .map(|t| t.acting_as(self.0.role))
            .map_err(|e| ApiError(e).into_response())
    }

    /// Refuses team keys (connector uploads and other global settings).
    pub fn operator(&self) -> Result<(), Response> {
        match self.0.team {
            None => Ok(()),
            Some(_) => Err(forbidden("this needs an operator key")),
        }
    }
}

/// A live connect-session token (`Authorization: Bearer cst_…`), checked
/// before the body is read.
pub struct SessionToken {
    pub session: connhost::ConnectSession,
    pub token: String,
}

impl FromRequestParts<AppState> for SessionToken {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let token = bearer(parts);
        let session = state
            .manager
            .connect_session(&token)
            .map_err(|e| ApiError(e).into_response())?;
        Ok(SessionToken { session, token })
    }
}
