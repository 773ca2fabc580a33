//! `/v1/connectors`: what any key may read; uploads need an operator key.

use super::{fail, json, Reply};
use crate::auth::Key;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use connhost::Caller;

pub(super) async fn list(State(s): State<AppState>, _key: Key) -> Reply {
    let all: Vec<serde_json::Value> = s
        .manager
        .connectors()
        .map_err(fail)?
        .iter()
        .map(|m| serde_json::json!({"id": m.id, "display_name": m.display_name, "version": m.version}))
        .collect();
    json(all)
}

pub(super) async fn show(State(s): State<AppState>, _key: Key, Path(id): Path<String>) -> Reply {
    json(s.manager.connector(&id).map_err(fail)?)
}

/// `POST /v1/connectors` with the component's bytes as the body.
pub(super) async fn add(State(s): State<AppState>, key: Key, wasm: Bytes) -> Reply {
    key.operator()?;
    let t = s
        .manager
        .team(Caller {
            team: "operator".into(),
            actor: format!("apikey:{}", key.0.id),
        })
        .map_err(fail)?;
    json(t.add_connector(&wasm).await.map_err(fail)?)
}
