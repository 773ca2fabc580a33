//! Usages, provider definitions and the audit log of the key's team.

use super::{fail, json, Reply};
use crate::auth::Key;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
use connhost::Usage;
use serde::Deserialize;

pub(super) async fn usages(State(s): State<AppState>, key: Key) -> Reply {
    json(key.team(&s)?.usages().map_err(fail)?)
}

pub(super) async fn add_usage(State(s): State<AppState>, key: Key, Json(u): Json<Usage>) -> Reply {
    json(key.team(&s)?.add_usage(u).map_err(fail)?)
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct RemoveUsage {
    consumer: String,
    #[serde(default)]
    connection: Option<String>,
}

pub(super) async fn remove_usage(
    State(s): State<AppState>,
    key: Key,
    Query(q): Query<RemoveUsage>,
) -> Reply {
    let removed = key
        .team(&s)?
        .remove_usage(&q.consumer, q.connection.as_deref())
        .map_err(fail)?;
    json(serde_json::json!({ "removed": removed }))
}

pub(super) async fn providers(State(s): State<AppState>, key: Key) -> Reply {
    json(key.team(&s)?.providers().map_err(fail)?)
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct NewProvider {
    connector: String,
    /// The definition itself (a JSON object).
    definition: serde_json::Value,
}

pub(super) async fn add_provider(
    State(s): State<AppState>,
    key: Key,
    Json(p): Json<NewProvider>,
) -> Reply {
    let t = key.team(&s)?;
    let id = t
        .add_provider(&p.connector, &p.definition.to_string())
        .await
        .map_err(fail)?;
    json(serde_json::json!({ "id": id }))
}

pub(super) async fn remove_provider(
    State(s): State<AppState>,
    key: Key,
    Path(id): Path<String>,
) -> Reply {
    key.team(&s)?.remove_provider(&id).map_err(fail)?;
    json(serde_json::json!({ "id": id, "removed": true }))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct AuditQuery {
    #[serde(default)]
    connection: Option<String>,
    #[serde(default)]
    since: Option<u64>,
    /// Records after this sequence number (the previous page's `next`).
    #[serde(default)]
    after: Option<u64>,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /v1/audit`: the team's records, oldest first, a page at a time.
pub(super) async fn audit(
    State(s): State<AppState>,
    key: Key,
    Query(q): Query<AuditQuery>,
) -> Reply {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let (page, more) = key
        .team(&s)?
        .audit_page(
            q.connection.as_deref(),
            q.since,
            q.after.unwrap_or(0),
            limit,
        )
        .map_err(fail)?;
    let next = if more {
        page.last().map(|r| r.seq)
    } else {
        None
    };
    json(serde_json::json!({ "records": page, "next": next }))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct NewWebhook {
    url: String,
}

/// `POST /v1/webhooks`: the answer holds the signing secret, this once.
pub(super) async fn add_webhook(
    State(s): State<AppState>,
    key: Key,
    Json(w): Json<NewWebhook>,
) -> Reply {
    let t = key.team(&s)?;
    t.admin_only("add webhooks").map_err(fail)?;
    let (hook, secret) = s
        .manager
        .add_webhook(&t.caller().team, &w.url)
        .await
        .map_err(fail)?;
    let mut v =
        serde_json::to_value(&hook).map_err(|e| fail(connhost::Error::Runtime(e.to_string())))?;
    v["secret"] = secret.expose().into();
    Ok(Json(v))
}

/// `GET /v1/webhooks`: each with where its deliveries stand (`failing`,
/// failures in a row, the next try after a failure).
pub(super) async fn webhooks(State(s): State<AppState>, key: Key) -> Reply {
    let t = key.team(&s)?;
    let team = &t.caller().team;
    let mut out = Vec::new();
    for hook in s.manager.webhooks(team).map_err(fail)? {
        let state = s.manager.webhook_state(team, &hook.id).map_err(fail)?;
        let mut v = serde_json::to_value(&hook)
            .map_err(|e| fail(connhost::Error::Runtime(e.to_string())))?;
        v["delivery"] = serde_json::json!({
            "failing": state.failures > 0,
            "failures": state.failures,
            "retry_at": (state.retry_at > 0).then_some(state.retry_at),
            "delivered_through": format!("evt_{}", state.delivered_through),
        });
        out.push(v);
    }
    json(out)
}

pub(super) async fn remove_webhook(
    State(s): State<AppState>,
    key: Key,
    Path(id): Path<String>,
) -> Reply {
    let t = key.team(&s)?;
    t.admin_only("remove webhooks").map_err(fail)?;
    s.manager
        .remove_webhook(&t.caller().team, &id)
        .map_err(fail)?;
    json(serde_json::json!({ "id": id, "removed": true }))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct Limit {
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /v1/webhooks/{id}/deliveries`: the delivery log, newest last.
pub(super) async fn deliveries(
    State(s): State<AppState>,
    key: Key,
    Path(id): Path<String>,
    Query(q): Query<Limit>,
) -> Reply {
    let t = key.team(&s)?;
    json(
        s.manager
            .deliveries(&t.caller().team, &id, q.limit.unwrap_or(100).min(1000))
            .map_err(fail)?,
    )
}

pub(super) async fn dynamics(State(s): State<AppState>, key: Key) -> Reply {
    json(key.team(&s)?.dynamics().map_err(fail)?)
}

/// `POST /v1/dynamic-connections`: create or replace one (targets must be
/// the team's connections of one connector).
pub(super) async fn put_dynamic(
    State(s): State<AppState>,
    key: Key,
    Json(d): Json<connhost::DynamicConnection>,
) -> Reply {
    json(key.team(&s)?.put_dynamic(d).map_err(fail)?)
}

pub(super) async fn remove_dynamic(
    State(s): State<AppState>,
    key: Key,
    Path(name): Path<String>,
) -> Reply {
    key.team(&s)?.remove_dynamic(&name).map_err(fail)?;
    json(serde_json::json!({ "name": name, "removed": true }))
}
