//! The routes, one module per resource.

mod connect;
mod connections;
mod connectors;
mod oauth;
mod platform;

use crate::error::ApiError;
use crate::AppState;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

/// A handler's result: JSON, or an error response.
pub(crate) type Reply = Result<Json<serde_json::Value>, Response>;

/// Lifts a library error into a response.
pub(crate) fn fail(e: connhost::Error) -> Response {
    ApiError(e).into_response()
}

/// JSON of anything serializable.
pub(crate) fn json(v: impl serde::Serialize) -> Reply {
    Ok(Json(serde_json::to_value(v).map_err(|e| {
        fail(connhost::Error::Runtime(format!("serialize: {e}")))
    })?))
}

/// One route, as the OpenAPI document describes it.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    /// `none`, `team` or `operator`: the key it needs.
    pub auth: &'static str,
    pub summary: &'static str,
}

/// The route table: the router and the OpenAPI document are both built
/// from it, so they cannot drift apart.
macro_rules! api {
    ($( $m:ident $path:literal => $handler:path, $auth:literal, $summary:literal; )*) => {
        /// Every route of the API.
        pub const ROUTES: &[Route] = &[
            $( Route { method: stringify!($m), path: $path, auth: $auth, summary: $summary } ),*
        ];

        pub fn all() -> Router<AppState> {
            Router::new()
                $( .route($path, axum::routing::$m($handler)) )*
                .route("/v1/openapi.json", get(openapi))
        }
    };
}

api! {
    get "/healthz" => healthz, "none", "Liveness";
    get "/readyz" => crate::ops::readyz, "none", "Readiness: the store answers";
    get "/metrics" => crate::ops::metrics, "operator", "Prometheus counters";
    get "/oauth/callback" => oauth::callback, "none", "The provider's redirect after consent (bound by the single-use state)";
    get "/v1/connectors" => connectors::list, "team", "Connectors";
    post "/v1/connectors" => connectors::add, "operator", "Add a connector (body: the component's bytes)";
    get "/v1/connectors/{id}" => connectors::show, "team", "A connector's manifest";
    get "/v1/connections" => connections::list, "team", "The team's connections";
    post "/v1/connections" => connections::create, "team", "Create a connection (fields, secrets)";
    post "/v1/connections/authorize" => oauth::start, "team", "Start consent: the provider's URL";
    get "/v1/connections/{id}" => connections::show, "team", "One connection (secret names only)";
    patch "/v1/connections/{id}" => connections::rename, "team", "Rename";
    put "/v1/connections/{id}" => connections::edit, "team", "Edit: all data replaced, kept only if it verifies";
    delete "/v1/connections/{id}" => connections::delete, "team", "Delete (refused while usages need it unless force=true)";
    put "/v1/connections/{id}/secrets/{name}" => connections::set_secret, "team", "Replace one secret (kept only if it verifies)";
    post "/v1/connections/{id}/verify" => connections::verify, "team", "Verify";
    post "/v1/connections/{id}/refresh" => connections::refresh, "team", "Renew access now";
    post "/v1/connections/{id}/check" => connections::check, "team", "Check scopes (account-validation names the missing ones)";
    post "/v1/connections/{id}/request" => connections::request, "team", "A request through the connection";
    post "/v1/connections/{id}/reauthorize" => oauth::reauthorize, "team", "Consent again, same id";
    get "/v1/usages" => platform::usages, "team", "Usages";
    post "/v1/usages" => platform::add_usage, "team", "Register a usage";
    delete "/v1/usages" => platform::remove_usage, "team", "Remove usages (consumer, connection)";
    get "/v1/dynamic-connections" => platform::dynamics, "team", "Dynamic connections";
    post "/v1/dynamic-connections" => platform::put_dynamic, "team", "Create or replace a dynamic connection";
    delete "/v1/dynamic-connections/{id}" => platform::remove_dynamic, "team", "Remove a dynamic connection (refused while usages need it)";
    get "/v1/providers" => platform::providers, "team", "The team's provider definitions";
    post "/v1/providers" => platform::add_provider, "team", "Add a provider definition";
    delete "/v1/providers/{id}" => platform::remove_provider, "team", "Remove a provider definition";
    get "/v1/audit" => platform::audit, "team", "The team's audit records, paged";
    get "/v1/webhooks" => platform::webhooks, "team", "Webhooks";
    post "/v1/webhooks" => platform::add_webhook, "team", "Add a webhook (its signing secret is shown once)";
    delete "/v1/webhooks/{id}" => platform::remove_webhook, "team", "Remove a webhook";
    get "/v1/webhooks/{id}/deliveries" => platform::deliveries, "team", "A webhook's delivery log";
    get "/v1/settings/return-urls" => oauth::return_urls, "team", "URL prefixes consent may return the browser to";
    put "/v1/settings/return-urls" => oauth::set_return_urls, "team", "Replace the allowed return URL prefixes";
    post "/v1/connect-sessions" => connect::create, "team", "A single-use token for an end user to create one connection";
    get "/v1/connect/session" => connect::show, "session", "The session's connector and expiry (bearer: the session token)";
    post "/v1/connect/connections" => connect::create_connection, "session", "Create the session's one connection";
    post "/v1/connect/authorize" => connect::authorize, "session", "Start consent for the session's connection";
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"ok": true}))
}

/// The OpenAPI 3.1 document, built from [`ROUTES`].
pub fn openapi_document() -> serde_json::Value {
    use serde_json::json;
    let mut paths = serde_json::Map::new();
    for r in ROUTES {
        let params: Vec<serde_json::Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let security = if r.auth == "none" {
            json!([])
        } else {
            json!([{"apiKey": []}])
        };
        let op = json!({
            "summary": r.summary,
            "x-connhost-key": r.auth,
            "security": security,
            "parameters": params,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {}}},
                "default": {"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        });
        paths
            .entry(r.path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("object")
            .insert(r.method.to_string(), op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "connhost", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "A team or operator key (chk_…)"}},
            "schemas": {"Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "object", "required": ["kind", "message"], "properties": {
                    "kind": {"type": "string"}, "message": {"type": "string"}}}},
            }},
        },
    })
}

async fn openapi(_key: crate::auth::Key) -> Json<serde_json::Value> {
    Json(openapi_document())
}
