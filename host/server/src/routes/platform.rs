//! Usages, provider definitions and the audit log of the key's team.

use super::views::{
    AuditPage, DeliveryState, NewWebhook as NewWebhookAnswer, ProviderAdded, Removed,
    RemovedDynamic, RemovedUsages, Webhook, WebhookStatus,
};
use super::{fail, Answer};
use crate::auth::Key;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
use connhost::Usage;
use serde::Deserialize;

pub(super) async fn usages(State(s): State<AppState>, key: Key) -> Answer<Vec<Usage>> {
    Ok(Json(key.team(&s)?.usages().map_err(fail)?))
}

pub(super) async fn add_usage(
    State(s): State<AppState>,
    key: Key,
    Json(u): Json<Usage>,
) -> Answer<Usage> {
    Ok(Json(key.team(&s)?.add_usage(u).map_err(fail)?))
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
) -> Answer<RemovedUsages> {
    let removed = key
        .team(&s)?
        .remove_usage(&q.consumer, q.connection.as_deref())
        .map_err(fail)?;
    Ok(Json(RemovedUsages {
        removed: removed as u64,
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct ProviderQuery {
    /// Only providers whose id or name contains this (any case).
    #[serde(default)]
    #[schemars(length(max = 100))]
    search: Option<String>,
    /// Only this category (`crm`, `support`, `dev-tools`, …).
    #[serde(default)]
    #[schemars(length(max = 40))]
    category: Option<String>,
    /// `shipped` or `added` (the team's own); both when absent.
    #[serde(default)]
    source: Option<ProviderSource>,
}

#[derive(Deserialize, schemars::JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(super) enum ProviderSource {
    Shipped,
    Added,
}

pub(super) async fn providers(
    State(s): State<AppState>,
    key: Key,
    Query(q): Query<ProviderQuery>,
) -> Answer<Vec<connhost::catalogue::ProviderSummary>> {
    // What the document states, enforced.
    for (field, value, max) in [("search", &q.search, 100), ("category", &q.category, 40)] {
        if value.as_ref().is_some_and(|v| v.chars().count() > max) {
            return Err(fail(connhost::Error::InvalidInput {
                field: field.into(),
                reason: format!("must be at most {max} characters"),
            }));
        }
    }
    let mut list = key
        .team(&s)?
        .provider_catalogue(q.search.as_deref(), q.category.as_deref())
        .map_err(fail)?;
    if let Some(src) = q.source {
        let want = match src {
            ProviderSource::Shipped => "shipped",
            ProviderSource::Added => "added",
        };
        list.retain(|p| p.source == want);
    }
    Ok(Json(list))
}

pub(super) async fn provider(
    State(s): State<AppState>,
    key: Key,
    Path(id): Path<String>,
) -> Answer<connhost::catalogue::ProviderDetail> {
    Ok(Json(key.team(&s)?.provider_detail(&id).map_err(fail)?))
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
) -> Answer<ProviderAdded> {
    let t = key.team(&s)?;
    let id = t
        .add_provider(&p.connector, &p.definition.to_string())
        .await
        .map_err(fail)?;
    Ok(Json(ProviderAdded { id }))
}

pub(super) async fn remove_provider(
    State(s): State<AppState>,
    key: Key,
    Path(id): Path<String>,
) -> Answer<Removed> {
    key.team(&s)?.remove_provider(&id).map_err(fail)?;
    Ok(Json(Removed { id, removed: true }))
}

/// A page's size: 1 to 1000 (100 when absent), as `/v1/connections` takes
/// it; outside that is refused, not quietly changed.
fn page_limit(limit: Option<usize>) -> Result<usize, axum::response::Response> {
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(fail(connhost::Error::InvalidInput {
            field: "limit".into(),
            reason: "must be between 1 and 1000".into(),
        }));
    }
    Ok(limit)
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct AuditQuery {
    /// Only this connection's records.
    #[serde(default)]
    connection: Option<String>,
    /// Only records from this time on (Unix seconds).
    #[serde(default)]
    #[schemars(range(max = u64::MAX))]
    since: Option<u64>,
    /// Records after this sequence number (the previous page's `next`).
    #[serde(default)]
    #[schemars(range(max = u64::MAX))]
    after: Option<u64>,
    /// Records per page (1 to 1000; 100 when absent).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    limit: Option<usize>,
}

/// `GET /v1/audit`: the team's records, oldest first, a page at a time.
pub(super) async fn audit(
    State(s): State<AppState>,
    key: Key,
    Query(q): Query<AuditQuery>,
) -> Answer<AuditPage> {
    let limit = page_limit(q.limit)?;
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
    Ok(Json(AuditPage {
        records: page,
        next,
    }))
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
) -> Answer<NewWebhookAnswer> {
    let t = key.team(&s)?;
    t.may(connhost::Operation::AddWebhook).map_err(fail)?;
    let (hook, secret) = s
        .manager
        .add_webhook(&t.caller().team, &w.url)
        .await
        .map_err(fail)?;
    Ok(Json(NewWebhookAnswer {
        webhook: Webhook::from(&hook),
        secret: secret.expose().to_string(),
    }))
}

/// `GET /v1/webhooks`: each with where its deliveries stand (`failing`,
/// failures in a row, the next try after a failure).
pub(super) async fn webhooks(State(s): State<AppState>, key: Key) -> Answer<Vec<WebhookStatus>> {
    let t = key.team(&s)?;
    let team = &t.caller().team;
    let mut out = Vec::new();
    for hook in s.manager.webhooks(team).map_err(fail)? {
        let state = s.manager.webhook_state(team, &hook.id).map_err(fail)?;
        out.push(WebhookStatus {
            webhook: Webhook::from(&hook),
            delivery: DeliveryState {
                failing: state.failures > 0,
                failures: state.failures,
                retry_at: (state.retry_at > 0).then_some(state.retry_at),
                delivered_through: format!("evt_{}", state.delivered_through),
            },
        });
    }
    Ok(Json(out))
}

pub(super) async fn remove_webhook(
    State(s): State<AppState>,
    key: Key,
    Path(id): Path<String>,
) -> Answer<Removed> {
    let t = key.team(&s)?;
    t.may(connhost::Operation::RemoveWebhook).map_err(fail)?;
    s.manager
        .remove_webhook(&t.caller().team, &id)
        .map_err(fail)?;
    Ok(Json(Removed { id, removed: true }))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct Limit {
    /// Attempts to show, newest last (1 to 1000; 100 when absent).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    limit: Option<usize>,
}

/// `GET /v1/webhooks/{id}/deliveries`: the delivery log, newest last.
pub(super) async fn deliveries(
    State(s): State<AppState>,
    key: Key,
    Path(id): Path<String>,
    Query(q): Query<Limit>,
) -> Answer<Vec<connhost::DeliveryAttempt>> {
    let t = key.team(&s)?;
    Ok(Json(
        s.manager
            .deliveries(&t.caller().team, &id, page_limit(q.limit)?)
            .map_err(fail)?,
    ))
}

pub(super) async fn dynamics(
    State(s): State<AppState>,
    key: Key,
) -> Answer<Vec<connhost::DynamicConnection>> {
    Ok(Json(key.team(&s)?.dynamics().map_err(fail)?))
}

/// `POST /v1/dynamic-connections`: create or replace one (targets must be
/// the team's connections of one connector).
pub(super) async fn put_dynamic(
    State(s): State<AppState>,
    key: Key,
    Json(d): Json<connhost::DynamicConnection>,
) -> Answer<connhost::DynamicConnection> {
    Ok(Json(key.team(&s)?.put_dynamic(d).map_err(fail)?))
}

pub(super) async fn remove_dynamic(
    State(s): State<AppState>,
    key: Key,
    Path(name): Path<String>,
) -> Answer<RemovedDynamic> {
    key.team(&s)?.remove_dynamic(&name).map_err(fail)?;
    Ok(Json(RemovedDynamic {
        name,
        removed: true,
    }))
}
