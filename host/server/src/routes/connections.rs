//! `/v1/connections`: the team's connections, and requests through them.

use super::views::{Connection, ScopesChecked};
use super::{fail, Answer};
use crate::auth::Key;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
use connhost::{ApiRequest, ConnectionRecord, NewConnection, Secret};
use serde::Deserialize;
use std::collections::BTreeMap;

/// A connection as the API shows it: sealed secrets become their names.
pub(crate) fn view(r: &ConnectionRecord) -> Connection {
    Connection::from(r)
}

/// Create and edit bodies: secret values in, never out.
#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct ConnectionBody {
    #[serde(default)]
    pub connector: String,
    /// 1 to 200 printable characters (trimmed).
    #[serde(default)]
    #[schemars(
        length(max = 200),
        regex(pattern = r"^[^\u0000-\u001F\u007F-\u009F]*\S[^\u0000-\u001F\u007F-\u009F]*$")
    )]
    pub name: Option<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Consent only: where the callback sends the browser when done
    /// (under one of the team's allowed return URLs).
    #[serde(default)]
    #[schemars(url)]
    pub return_url: Option<String>,
    /// Create only: keep the connection only if it also verifies (nothing
    /// is stored otherwise; the error says why). Without it a connection
    /// that was created but does not verify is kept, in error.
    #[serde(default)]
    pub only_if_verified: bool,
}

impl ConnectionBody {
    pub(crate) fn into_new(self) -> NewConnection {
        // Not part of the connection; callers read them first.
        let _ = (self.return_url, self.only_if_verified);
        NewConnection {
            connector: self.connector,
            name: self.name,
            fields: self.fields,
            secrets: self
                .secrets
                .into_iter()
                .map(|(k, v)| (k, Secret::new(v)))
                .collect(),
            ..Default::default()
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct ListQuery {
    /// The cursor of the page to read: the `after` of the previous
    /// response's `Link: rel="next"`.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,128}$"))]
    after: Option<String>,
    /// Connections per page (1 to 1000; 100 when absent).
    #[schemars(range(min = 1, max = 1000))]
    limit: Option<usize>,
}

/// One page of the team's connections in id order; a `Link` header with
/// `rel="next"` (RFC 8288) names the next page while there may be one.
pub(super) async fn list(
    State(s): State<AppState>,
    key: Key,
    Query(q): Query<ListQuery>,
) -> Result<(axum::http::HeaderMap, Json<Vec<Connection>>), axum::response::Response> {
    let t = key.team(&s)?;
    // A cursor is a connection id: anything else names no page.
    if let Some(after) = q.after.as_deref() {
        if !connhost::policy::ids::is_safe(after, 128) {
            return Err(fail(connhost::Error::InvalidInput {
                field: "after".into(),
                reason: "must be a connection id ([A-Za-z0-9_-]{1,128})".into(),
            }));
        }
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(fail(connhost::Error::InvalidInput {
            field: "limit".into(),
            reason: "must be between 1 and 1000".into(),
        }));
    }
    let (page, next) = t.list_page(q.after.as_deref(), limit).map_err(fail)?;
    let body: Vec<_> = page.iter().map(view).collect();
    let mut headers = axum::http::HeaderMap::new();
    if let Some(after) = next {
        // Ids are [A-Za-z0-9_-]: nothing to escape in the URL.
        let link = format!("</v1/connections?after={after}&limit={limit}>; rel=\"next\"");
        if let Ok(v) = axum::http::HeaderValue::from_str(&link) {
            headers.insert(axum::http::header::LINK, v);
        }
    }
    Ok((headers, Json(body)))
}

pub(super) async fn create(
    State(s): State<AppState>,
    key: Key,
    Json(body): Json<ConnectionBody>,
) -> Answer<Connection> {
    let t = key.team(&s)?;
    let created = match body.only_if_verified {
        true => t.create_verified(body.into_new()).await,
        false => t.create(body.into_new()).await,
    };
    Ok(Json(view(&created.map_err(fail)?)))
}

pub(super) async fn show(
    State(s): State<AppState>,
    key: Key,
    Path(id): Path<String>,
) -> Answer<Connection> {
    let t = key.team(&s)?;
    Ok(Json(view(&t.get(&id).map_err(fail)?)))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct Rename {
    /// 1 to 200 printable characters (trimmed).
    #[schemars(
        length(max = 200),
        regex(pattern = r"^[^\u0000-\u001F\u007F-\u009F]*\S[^\u0000-\u001F\u007F-\u009F]*$")
    )]
    name: String,
}

pub(super) async fn rename(
    State(s): State<AppState>,
    key: Key,
    Path(id): Path<String>,
    Json(body): Json<Rename>,
) -> Answer<Connection> {
    let t = key.team(&s)?;
    Ok(Json(view(&t.rename(&id, &body.name).await.map_err(fail)?)))
}

pub(super) async fn edit(
    State(s): State<AppState>,
    key: Key,
    Path(id): Path<String>,
    Json(body): Json<ConnectionBody>,
) -> Answer<Connection> {
    let t = key.team(&s)?;
    Ok(Json(view(
        &t.edit(&id, body.into_new()).await.map_err(fail)?,
    )))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct DeleteQuery {
    #[serde(default)]
    force: bool,
}

pub(super) async fn delete(
    State(s): State<AppState>,
    key: Key,
    Path(id): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Answer<connhost::Deleted> {
    let t = key.team(&s)?;
    Ok(Json(t.delete(&id, q.force).await.map_err(fail)?))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct SecretValue {
    /// The new value (not empty: that would be no credential at all).
    #[schemars(length(min = 1))]
    value: String,
}

pub(super) async fn set_secret(
    State(s): State<AppState>,
    key: Key,
    Path((id, name)): Path<(String, String)>,
    Json(body): Json<SecretValue>,
) -> Answer<Connection> {
    let t = key.team(&s)?;
    // Else the provider is asked with no credential and its refusal comes
    // back as a 502, as if the provider had failed.
    if body.value.is_empty() {
        return Err(fail(connhost::Error::InvalidInput {
            field: "value".into(),
            reason: "must not be empty".into(),
        }));
    }
    let r = t
        .set_secret(&id, &name, Secret::new(body.value))
        .await
        .map_err(fail)?;
    Ok(Json(view(&r)))
}

pub(super) async fn verify(
    State(s): State<AppState>,
    key: Key,
    Path(id): Path<String>,
) -> Answer<connhost::Verified> {
    let t = key.team(&s)?;
    Ok(Json(t.verify(&id).await.map_err(fail)?))
}

pub(super) async fn refresh(
    State(s): State<AppState>,
    key: Key,
    Path(id): Path<String>,
) -> Answer<connhost::Refreshed> {
    let t = key.team(&s)?;
    Ok(Json(t.refresh(&id).await.map_err(fail)?))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct Scopes {
    scopes: Vec<String>,
}

pub(super) async fn check(
    State(s): State<AppState>,
    key: Key,
    Path(id): Path<String>,
    Json(body): Json<Scopes>,
) -> Answer<ScopesChecked> {
    let t = key.team(&s)?;
    t.check_scopes(&id, &body.scopes).await.map_err(fail)?;
    Ok(Json(ScopesChecked {
        id,
        ok: true,
        scopes: body.scopes,
    }))
}

/// `POST /v1/connections/{id}/request`: a request through the connection
/// (`id` may be `dynamic:NAME` with a `context`).
#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct RequestBody {
    #[serde(flatten)]
    request: ApiRequest,
    #[serde(default)]
    consumer: Option<String>,
    #[serde(default)]
    context: BTreeMap<String, String>,
}

pub(super) async fn request(
    State(s): State<AppState>,
    key: Key,
    Path(id): Path<String>,
    Json(body): Json<RequestBody>,
) -> Answer<connhost::ApiResponse> {
    let t = key.team(&s)?;
    let r = t
        .request(&id, &body.request, body.consumer.as_deref(), &body.context)
        .await
        .map_err(fail)?;
    Ok(Json(r))
}
