//! Browser consent over HTTP: start returns the provider's consent URL
//! with this server's callback as the redirect URI; the callback (no key:
//! bound by the single-use `state`) finishes it.

use super::connections::{view, ConnectionBody};
use super::{fail, json, Reply};
use crate::auth::Key;
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::Json;
use connhost::Caller;

pub(super) async fn start(
    State(s): State<AppState>,
    key: Key,
    Json(body): Json<ConnectionBody>,
) -> Reply {
    let t = key.team(&s)?;
    let started = t
        .authorize_start(body.into_new(), &s.config.callback_url())
        .await
        .map_err(fail)?;
    json(started)
}

pub(super) async fn reauthorize(
    State(s): State<AppState>,
    key: Key,
    Path(id): Path<String>,
) -> Reply {
    let t = key.team(&s)?;
    json(
        t.reauthorize_start(&id, &s.config.callback_url())
            .await
            .map_err(fail)?,
    )
}

/// `GET /oauth/callback?state=pend_….…&code=…`: the provider's redirect.
pub(super) async fn callback(State(s): State<AppState>, RawQuery(query): RawQuery) -> Reply {
    let query = query.unwrap_or_default();
    let url = format!("{}?{query}", s.config.callback_url());
    let state = url::Url::parse(&url)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "state")
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_default();
    let pending = state.split('.').next().unwrap_or_default().to_string();
    let unknown = || {
        fail(connhost::Error::Authorization {
            error: "unknown_authorization".into(),
            description:
                "no pending authorization for this state (already used, expired or never started)"
                    .into(),
        })
    };
    let team = s.manager.pending_team(&pending).map_err(|_| unknown())?;
    let t = s
        .manager
        .team(Caller {
            team,
            actor: "oauth-callback".into(),
        })
        .map_err(fail)?;
    let record = t.authorize_finish(&pending, &url).await.map_err(fail)?;
    Ok(Json(
        serde_json::json!({"connected": true, "connection": view(&record)}),
    ))
}
