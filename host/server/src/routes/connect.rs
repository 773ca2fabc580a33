//! Connect sessions: a team key makes one; an end user holding only the
//! session token (`Authorization: Bearer cst_…`) reads the form it needs
//! and creates exactly one connection of that connector in that team.

use super::connections::{view, ConnectionBody};
use super::views::{ConnectSessionInfo, Connection, NewConnectSession};
use super::{fail, Answer};
use crate::auth::{Key, SessionToken};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;

#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct NewSession {
    connector: String,
    /// Lifetime in seconds (default 15 minutes; more than an hour is an
    /// hour).
    #[serde(default)]
    #[schemars(range(min = 1, max = 3600))]
    ttl_secs: Option<u64>,
}

/// `POST /v1/connect-sessions` (team key): the token is shown this once.
pub(super) async fn create(
    State(s): State<AppState>,
    key: Key,
    Json(body): Json<NewSession>,
) -> Answer<NewConnectSession> {
    let t = key.team(&s)?;
    let (session, token) = s
        .manager
        .create_connect_session(
            &t.caller().team,
            &body.connector,
            body.ttl_secs.unwrap_or(900),
        )
        .map_err(fail)?;
    Ok(Json(NewConnectSession {
        id: session.id,
        team: session.team,
        connector: session.connector,
        expires_at: session.expires_at,
        connection: session.connection,
        token: token.expose().to_string(),
    }))
}

/// `GET /v1/connect/session`: what the end user's form needs.
pub(super) async fn show(State(s): State<AppState>, t: SessionToken) -> Answer<ConnectSessionInfo> {
    let session = t.session;
    let manifest = s.manager.connector(&session.connector).map_err(fail)?;
    Ok(Json(ConnectSessionInfo {
        connector: manifest,
        expires_at: session.expires_at,
    }))
}

/// `POST /v1/connect/connections`: the session's one connection.
pub(super) async fn create_connection(
    State(s): State<AppState>,
    t: SessionToken,
    Json(body): Json<ConnectionBody>,
) -> Answer<Connection> {
    let record = s
        .manager
        .connect_create(&t.token, body.into_new())
        .await
        .map_err(fail)?;
    Ok(Json(view(&record)))
}

/// `POST /v1/connect/authorize`: consent for the session's connection.
pub(super) async fn authorize(
    State(s): State<AppState>,
    t: SessionToken,
    Json(body): Json<ConnectionBody>,
) -> Answer<connhost::AuthorizeStart> {
    let return_url = body.return_url.clone();
    let started = s
        .manager
        .connect_authorize(
            &t.token,
            body.into_new(),
            &s.config.callback_url(),
            return_url.as_deref(),
        )
        .await
        .map_err(fail)?;
    Ok(Json(started))
}
