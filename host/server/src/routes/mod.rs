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
use schemars::{generate::SchemaSettings, Schema, SchemaGenerator};

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

/// What a route reads besides its path, described by the type its
/// handler deserializes.
#[derive(Clone, Copy)]
pub enum Input {
    None,
    /// A JSON body.
    Body(fn(&mut SchemaGenerator) -> Schema),
    /// Query parameters (the type's fields).
    Query(fn(&mut SchemaGenerator) -> Schema),
}

/// One route, as the OpenAPI document describes it.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    /// `none`, `team` or `operator`: the key it needs.
    pub auth: &'static str,
    pub summary: &'static str,
    pub input: Input,
}

/// The route table: the router and the OpenAPI document are both built
/// from it, so they cannot drift apart. `[body T]` / `[query T]` names the
/// type the handler deserializes, for the document's schemas.
macro_rules! api {
    (@input) => { Input::None };
    (@input body $ty:ty) => { Input::Body(|g| g.subschema_for::<$ty>()) };
    (@input query $ty:ty) => { Input::Query(|g| g.root_schema_for::<$ty>()) };
    ($( $m:ident $path:literal => $handler:path $([$kind:ident $ty:ty])?, $auth:literal, $summary:literal; )*) => {
        /// Every route of the API.
        pub const ROUTES: &[Route] = &[
            $( Route {
                method: stringify!($m),
                path: $path,
                auth: $auth,
                summary: $summary,
                input: api!(@input $($kind $ty)?),
            } ),*
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
    get "/v1/connections" => connections::list [query connections::ListQuery], "team", "The team's connections, a page at a time (Link: rel=\"next\")";
    post "/v1/connections" => connections::create [body connections::ConnectionBody], "team", "Create a connection (fields, secrets)";
    post "/v1/connections/authorize" => oauth::start [body connections::ConnectionBody], "team", "Start consent: the provider's URL";
    get "/v1/connections/{id}" => connections::show, "team", "One connection (secret names only)";
    patch "/v1/connections/{id}" => connections::rename [body connections::Rename], "team", "Rename";
    put "/v1/connections/{id}" => connections::edit [body connections::ConnectionBody], "team", "Edit: all data replaced, kept only if it verifies";
    delete "/v1/connections/{id}" => connections::delete [query connections::DeleteQuery], "team", "Delete (refused while usages need it unless force=true)";
    put "/v1/connections/{id}/secrets/{name}" => connections::set_secret [body connections::SecretValue], "team", "Replace one secret (kept only if it verifies)";
    post "/v1/connections/{id}/verify" => connections::verify, "team", "Verify";
    post "/v1/connections/{id}/refresh" => connections::refresh, "team", "Renew access now";
    post "/v1/connections/{id}/check" => connections::check [body connections::Scopes], "team", "Check scopes (account-validation names the missing ones)";
    post "/v1/connections/{id}/request" => connections::request [body connections::RequestBody], "team", "A request through the connection";
    post "/v1/connections/{id}/reauthorize" => oauth::reauthorize [query oauth::ReturnTo], "team", "Consent again, same id";
    get "/v1/usages" => platform::usages, "team", "Usages";
    post "/v1/usages" => platform::add_usage [body connhost::Usage], "team", "Register a usage";
    delete "/v1/usages" => platform::remove_usage [query platform::RemoveUsage], "team", "Remove usages (consumer, connection)";
    get "/v1/dynamic-connections" => platform::dynamics, "team", "Dynamic connections";
    post "/v1/dynamic-connections" => platform::put_dynamic [body connhost::DynamicConnection], "team", "Create or replace a dynamic connection";
    delete "/v1/dynamic-connections/{id}" => platform::remove_dynamic, "team", "Remove a dynamic connection (refused while usages need it)";
    get "/v1/providers" => platform::providers, "team", "The team's provider definitions";
    post "/v1/providers" => platform::add_provider [body platform::NewProvider], "team", "Add a provider definition";
    delete "/v1/providers/{id}" => platform::remove_provider, "team", "Remove a provider definition";
    get "/v1/audit" => platform::audit [query platform::AuditQuery], "team", "The team's audit records, paged";
    get "/v1/webhooks" => platform::webhooks, "team", "Webhooks";
    post "/v1/webhooks" => platform::add_webhook [body platform::NewWebhook], "team", "Add a webhook (its signing secret is shown once)";
    delete "/v1/webhooks/{id}" => platform::remove_webhook, "team", "Remove a webhook";
    get "/v1/webhooks/{id}/deliveries" => platform::deliveries [query platform::Limit], "team", "A webhook's delivery log";
    get "/v1/settings/return-urls" => oauth::return_urls, "team", "URL prefixes consent may return the browser to";
    put "/v1/settings/return-urls" => oauth::set_return_urls [body Vec<String>], "team", "Replace the allowed return URL prefixes";
    post "/v1/connect-sessions" => connect::create [body connect::NewSession], "team", "A single-use token for an end user to create one connection";
    get "/v1/connect/session" => connect::show, "session", "The session's connector and expiry (bearer: the session token)";
    post "/v1/connect/connections" => connect::create_connection [body connections::ConnectionBody], "session", "Create the session's one connection";
    post "/v1/connect/authorize" => connect::authorize [body connections::ConnectionBody], "session", "Start consent for the session's connection";
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"ok": true}))
}

/// The OpenAPI 3.1 document, built from [`ROUTES`].
pub fn openapi_document() -> serde_json::Value {
    use serde_json::json;
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    let mut generator = settings.into_generator();
    let mut paths = serde_json::Map::new();
    for r in ROUTES {
        let mut params: Vec<serde_json::Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut body = None;
        match r.input {
            Input::None => {}
            Input::Body(schema) => {
                body = Some(
                    json!({"required": true, "content": {"application/json": {"schema": schema(&mut generator)}}}),
                );
            }
            Input::Query(schema) => {
                let schema = schema(&mut generator);
                let required = schema.get("required").cloned().unwrap_or(json!([]));
                if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
                    for (name, s) in props {
                        let mut s = s.clone();
                        let description = s.as_object_mut().and_then(|o| o.remove("description"));
                        let mut param = json!({
                            "name": name,
                            "in": "query",
                            "required": required.as_array().is_some_and(|r| r.contains(&json!(name))),
                            "schema": s,
                        });
                        if let Some(d) = description {
                            param["description"] = d;
                        }
                        params.push(param);
                    }
                }
            }
        }
        let security = if r.auth == "none" {
            json!([])
        } else {
            json!([{"apiKey": []}])
        };
        let mut op = json!({
            "summary": r.summary,
            "x-connhost-key": r.auth,
            "security": security,
            "parameters": params,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {}}},
                "default": {"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        });
        if let Some(body) = body {
            op["requestBody"] = body;
        }
        paths
            .entry(r.path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("object")
            .insert(r.method.to_string(), op);
    }
    let mut schemas = generator.take_definitions(true);
    schemas.insert("Error".into(), error_schema());
    json!({
        "openapi": "3.1.0",
        "info": {"title": "connhost", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "A team or operator key (chk_…)"}},
            "schemas": schemas,
        },
    })
}

/// The `{"error": {"kind", "message", …}}` every failure answers.
fn error_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["kind", "message"], "properties": {
            "kind": {"type": "string"}, "message": {"type": "string"}}}},
    })
}

async fn openapi(_key: crate::auth::Key) -> Json<serde_json::Value> {
    Json(openapi_document())
}
