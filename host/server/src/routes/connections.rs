//! `/v1/connections`: the team's connections, and requests through them.

use super::{fail, json, Reply};
use crate::auth::Key;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
use connhost::{ApiRequest, ConnectionRecord, NewConnection, Secret};
use serde::Deserialize;
use std::collections::BTreeMap;

/// A connection as the API shows it: sealed secrets become their names.
pub(crate) fn view(r: &ConnectionRecord) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("secrets");
        o.remove("integrity");
        o.insert(
            "secret_names".into(),
            r.secret_names().collect::<Vec<_>>().into(),
        );
    }
    v
}

/// Create and edit bodies: secret values in, never out.
#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct ConnectionBody {
    #[serde(default)]
    pub connector: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Consent only: where the callback sends the browser when done
    /// (under one of the team's allowed return URLs).
    #[serde(default)]
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
    after: Option<String>,
    /// Connections per page (1 to 1000; 100 when absent).
    limit: Option<usize>,
}

/// One page of the team's connections in id order; a `Link` header with
/// `rel="next"` (RFC 8288) names the next page while there may be one.
pub(super) async fn list(
    State(s): State<AppState>,
    key: Key,
    Query(q): Query<ListQuery>,
) -> Result<axum::response::Response, axum::response::Response> {
    use axum::response::IntoResponse;
    let t = key.team(&s)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(fail(connhost::Error::InvalidInput {
            field: "limit".into(),
            reason: "must be between 1 and 1000".into(),
        }));
    }
    let (page, next) = t.list_page(q.after.as_deref(), limit).map_err(fail)?;
    let body: Vec<_> = page.iter().map(view).collect();
    let mut resp = Json(body).into_response();
    if let Some(after) = next {
        // Ids are [A-Za-z0-9_-]: nothing to escape in the URL.
        let link = format!("</v1/connections?after={after}&limit={limit}>; rel=\"next\"");
        if let Ok(v) = axum::http::HeaderValue::from_str(&link) {
            resp.headers_mut().insert(axum::http::header::LINK, v);
        }
    }
    Ok(resp)
}

pub(super) async fn create(
    State(s): State<AppState>,
    key: Key,
    Json(body): Json<ConnectionBody>,
) -> Reply {
    let t = key.team(&s)?;
    let created = match body.only_if_verified {
        true => t.create_verified(body.into_new()).await,
        false => t.create(body.into_new()).await,
    };
    Ok(Json(view(&created.map_err(fail)?)))
}

pub(super) async fn show(State(s): State<AppState>, key: Key, Path(id): Path<String>) -> Reply {
    let t = key.team(&s)?;
    Ok(Json(view(&t.get(&id).map_err(fail)?)))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct Rename {
    name: String,
}

pub(super) async fn rename(
    State(s): State<AppState>,
    key: Key,
    Path(id): Path<String>,
    Json(body): Json<Rename>,
) -> Reply {
    let t = key.team(&s)?;
    Ok(Json(view(&t.rename(&id, &body.name).await.map_err(fail)?)))
}

pub(super) async fn edit(
    State(s): State<AppState>,
    key: Key,
    Path(id): Path<String>,
    Json(body): Json<ConnectionBody>,
) -> Reply {
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
) -> Reply {
    let t = key.team(&s)?;
    json(t.delete(&id, q.force).await.map_err(fail)?)
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct SecretValue {
    value: String,
}

pub(super) async fn set_secret(
    State(s): State<AppState>,
    key: Key,
    Path((id, name)): Path<(String, String)>,
    Json(body): Json<SecretValue>,
) -> Reply {
    let t = key.team(&s)?;
    let r = t
        .set_secret(&id, &name, Secret::new(body.value))
        .await
        .map_err(fail)?;
    Ok(Json(view(&r)))
}

pub(super) async fn verify(State(s): State<AppState>, key: Key, Path(id): Path<String>) -> Reply {
    let t = key.team(&s)?;
    json(t.verify(&id).await.map_err(fail)?)
}

pub(super) async fn refresh(State(s): State<AppState>, key: Key, Path(id): Path<String>) -> Reply {
    let t = key.team(&s)?;
    json(t.refresh(&id).await.map_err(fail)?)
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
) -> Reply {
    let t = key.team(&s)?;
    t.check_scopes(&id, &body.scopes).await.map_err(fail)?;
    json(serde_json::json!({"id": id, "ok": true, "scopes": body.scopes}))
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
) -> Reply {
    let t = key.team(&s)?;
    let r = t
        .request(&id, &body.request, body.consumer.as_deref(), &body.context)
        .await
        .map_err(fail)?;
    json(r)
}
