//! `/v1/connectors`: what any key may read; uploads need an operator key.

use super::views::ConnectorSummary;
use super::{fail, Answer};
use crate::auth::Key;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use connhost::Caller;

pub(super) async fn list(State(s): State<AppState>, _key: Key) -> Answer<Vec<ConnectorSummary>> {
    let all = s
        .manager
        .connectors()
        .map_err(fail)?
        .into_iter()
        .map(|m| ConnectorSummary {
            id: m.id,
            display_name: m.display_name,
            version: m.version,
        })
        .collect();
    Ok(Json(all))
}

pub(super) async fn show(
    State(s): State<AppState>,
    _key: Key,
    Path(id): Path<String>,
) -> Answer<connhost::Manifest> {
    Ok(Json(s.manager.connector(&id).map_err(fail)?))
}

/// `POST /v1/connectors` with the component's bytes as the body.
pub(super) async fn add(
    State(s): State<AppState>,
    key: Key,
    wasm: Bytes,
) -> Answer<connhost::Manifest> {
    key.operator()?;
    let t = s
        .manager
        .team(Caller {
            team: "operator".into(),
            actor: format!("apikey:{}", key.0.id),
        })
        .map_err(fail)?;
    Ok(Json(t.add_connector(&wasm).await.map_err(fail)?))
}
