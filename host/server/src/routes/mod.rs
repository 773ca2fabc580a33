//! The routes, one module per resource.

mod connect;
mod connections;
mod connectors;
mod oauth;
mod platform;
pub mod proxy;
pub mod views;

use crate::error::ApiError;
use crate::AppState;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use schemars::{generate::SchemaSettings, Schema, SchemaGenerator};

/// A handler's typed result: the JSON of `T` (the type the route table
/// names, so the document's response schema), or any other response.
pub(crate) type Answer<T> = Result<Json<T>, Response>;

/// Lifts a library error into a response.
pub(crate) fn fail(e: connhost::Error) -> Response {
    ApiError(e).into_response()
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
    /// The raw bytes of a component (`application/wasm`).
    Wasm,
}

/// What a route answers with 200.
#[derive(Clone, Copy)]
pub enum Output {
    /// JSON of the type the handler returns.
    Json(fn(&mut SchemaGenerator) -> Schema),
    /// Plain text (Prometheus' format).
    Text,
}

/// One route, as the OpenAPI document describes it.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    /// `none`, `team`, `operator` or `session`: the key it needs.
    pub auth: &'static str,
    /// The resource it belongs to (the document's tag).
    pub tag: &'static str,
    /// The document's `operationId`.
    pub operation: &'static str,
    pub summary: &'static str,
    pub input: Input,
    pub output: Output,
}

/// The plain-text answer of `/metrics`.
pub(crate) struct Text;

/// What a handler may return for a route whose table entry names `T`:
/// checked at compile time, so the document cannot name another type.
pub(crate) trait Answers<T> {}
impl<T> Answers<T> for Json<T> {}
impl<T> Answers<T> for Result<Json<T>, Response> {}
impl<T> Answers<T> for Result<(axum::http::HeaderMap, Json<T>), Response> {}
impl Answers<Text> for Response {}

/// A handler (any arguments) whose future's output [`Answers`] `T`.
pub(crate) trait HandlerOf<T, Args> {}
macro_rules! handler_of {
    ($($a:ident),*) => {
        impl<F, Fut, T, $($a,)*> HandlerOf<T, ($($a,)*)> for F
        where
            F: Fn($($a),*) -> Fut,
            Fut: std::future::Future,
            Fut::Output: Answers<T>,
        {
        }
    };
}
handler_of!();
handler_of!(A);
handler_of!(A, B);
handler_of!(A, B, C);
handler_of!(A, B, C, D);
handler_of!(A, B, C, D, E);

pub(crate) fn answers<T, Args, F: HandlerOf<T, Args>>(_: &F) {}

/// The route table: the router and the OpenAPI document are both built
/// from it, so they cannot drift apart. `[body T]` / `[query T]` names the
/// type the handler deserializes, `: json T` the type it answers (checked
/// against the handler), then the key it needs, its tag and operationId.
macro_rules! api {
    (@input) => { Input::None };
    (@input wasm $ty:ty) => { Input::Wasm };
    (@input body $ty:ty) => { Input::Body(|g| g.subschema_for::<$ty>()) };
    (@input query $ty:ty) => { Input::Query(|g| g.root_schema_for::<$ty>()) };
    (@output json $ty:ty) => { Output::Json(|g| g.subschema_for::<$ty>()) };
    (@output text $ty:ty) => { Output::Text };
    ($( $m:ident $path:literal => $handler:path $([$kind:ident $ty:ty])?: $fmt:ident $out:ty,
        $auth:literal, $tag:literal $op:ident, $summary:literal; )*) => {
        /// Every route of the API.
        pub const ROUTES: &[Route] = &[
            $( Route {
                method: stringify!($m),
                path: $path,
                auth: $auth,
                tag: $tag,
                operation: stringify!($op),
                summary: $summary,
                input: api!(@input $($kind $ty)?),
                output: api!(@output $fmt $out),
            } ),*
        ];

        // Each handler answers the type its entry names.
        const _: () = {
            fn check() {
                $( answers::<$out, _, _>(&$handler); )*
            }
            let _ = check;
        };

        pub fn all() -> Router<AppState> {
            Router::new()
                $( .route($path, axum::routing::$m($handler)) )*
                .route("/v1/openapi.json", get(openapi))
                // The pass-through proxy: any method, any path under it.
                .route("/v1/proxy/{id}", axum::routing::any(proxy::pass))
                .route("/v1/proxy/{id}/{*path}", axum::routing::any(proxy::pass))
        }
    };
}

use views::*;

api! {
    get "/healthz" => healthz: json Health, "none", "ops" health, "Liveness";
    get "/readyz" => crate::ops::readyz: json Ready, "none", "ops" ready, "Readiness: the store answers (503 when it does not)";
    get "/metrics" => crate::ops::metrics: text Text, "operator", "ops" metrics, "Prometheus counters";
    get "/oauth/callback" => oauth::callback [query oauth::CallbackQuery]: json Connected, "none", "connect" oauthCallback, "The provider's redirect after consent (bound by the single-use state); 303 to the return URL when consent was started with one";
    get "/v1/connectors" => connectors::list: json Vec<ConnectorSummary>, "team", "connectors" listConnectors, "Connectors";
    post "/v1/connectors" => connectors::add [wasm Vec<u8>]: json connhost::Manifest, "operator", "connectors" addConnector, "Add a connector (body: the component's bytes)";
    get "/v1/connectors/{id}" => connectors::show: json connhost::Manifest, "team", "connectors" getConnector, "A connector's manifest";
    get "/v1/connections" => connections::list [query connections::ListQuery]: json Vec<Connection>, "team", "connections" listConnections, "The team's connections, a page at a time (Link: rel=\"next\")";
    post "/v1/connections" => connections::create [body connections::ConnectionBody]: json Connection, "team", "connections" createConnection, "Create a connection (fields, secrets)";
    post "/v1/connections/authorize" => oauth::start [body connections::ConnectionBody]: json connhost::AuthorizeStart, "team", "connections" authorizeConnection, "Start consent: the provider's URL";
    get "/v1/connections/{id}" => connections::show: json Connection, "team", "connections" getConnection, "One connection (secret names only)";
    patch "/v1/connections/{id}" => connections::rename [body connections::Rename]: json Connection, "team", "connections" renameConnection, "Rename";
    put "/v1/connections/{id}" => connections::edit [body connections::ConnectionBody]: json Connection, "team", "connections" editConnection, "Edit: all data replaced, kept only if it verifies";
    delete "/v1/connections/{id}" => connections::delete [query connections::DeleteQuery]: json connhost::Deleted, "team", "connections" deleteConnection, "Delete (refused while usages need it unless force=true)";
    put "/v1/connections/{id}/secrets/{name}" => connections::set_secret [body connections::SecretValue]: json Connection, "team", "connections" setConnectionSecret, "Replace one secret (kept only if it verifies)";
    post "/v1/connections/{id}/verify" => connections::verify: json connhost::Verified, "team", "connections" verifyConnection, "Verify";
    post "/v1/connections/{id}/refresh" => connections::refresh: json connhost::Refreshed, "team", "connections" refreshConnection, "Renew access now";
    post "/v1/connections/{id}/check" => connections::check [body connections::Scopes]: json ScopesChecked, "team", "connections" checkConnectionScopes, "Check scopes (account-validation names the missing ones)";
    post "/v1/connections/{id}/request" => connections::request [body connections::RequestBody]: json connhost::ApiResponse, "team", "connections" requestThroughConnection, "A request through the connection";
    post "/v1/connections/{id}/reauthorize" => oauth::reauthorize [query oauth::ReturnTo]: json connhost::AuthorizeStart, "team", "connections" reauthorizeConnection, "Consent again, same id";
    get "/v1/usages" => platform::usages: json Vec<connhost::Usage>, "team", "usages" listUsages, "Usages";
    post "/v1/usages" => platform::add_usage [body connhost::Usage]: json connhost::Usage, "team", "usages" addUsage, "Register a usage";
    delete "/v1/usages" => platform::remove_usage [query platform::RemoveUsage]: json RemovedUsages, "team", "usages" removeUsages, "Remove usages (consumer, connection)";
    get "/v1/dynamic-connections" => platform::dynamics: json Vec<connhost::DynamicConnection>, "team", "usages" listDynamicConnections, "Dynamic connections";
    post "/v1/dynamic-connections" => platform::put_dynamic [body connhost::DynamicConnection]: json connhost::DynamicConnection, "team", "usages" putDynamicConnection, "Create or replace a dynamic connection";
    delete "/v1/dynamic-connections/{id}" => platform::remove_dynamic: json RemovedDynamic, "team", "usages" removeDynamicConnection, "Remove a dynamic connection (refused while usages need it)";
    get "/v1/providers" => platform::providers [query platform::ProviderQuery]: json Vec<connhost::catalogue::ProviderSummary>, "team", "providers" listProviders, "The team's provider definitions and the shipped catalogue (search, category, source)";
    get "/v1/providers/{id}" => platform::provider: json connhost::catalogue::ProviderDetail, "team", "providers" getProvider, "One provider: fields, auth mode, verification, scopes, hosts";
    post "/v1/providers" => platform::add_provider [body platform::NewProvider]: json ProviderAdded, "team", "providers" addProvider, "Add a provider definition";
    delete "/v1/providers/{id}" => platform::remove_provider: json Removed, "team", "providers" removeProvider, "Remove a provider definition";
    get "/v1/audit" => platform::audit [query platform::AuditQuery]: json AuditPage, "team", "audit" listAuditRecords, "The team's audit records, paged";
    get "/v1/webhooks" => platform::webhooks: json Vec<WebhookStatus>, "team", "webhooks" listWebhooks, "Webhooks";
    post "/v1/webhooks" => platform::add_webhook [body platform::NewWebhook]: json NewWebhook, "team", "webhooks" addWebhook, "Add a webhook (its signing secret is shown once)";
    delete "/v1/webhooks/{id}" => platform::remove_webhook: json Removed, "team", "webhooks" removeWebhook, "Remove a webhook";
    get "/v1/webhooks/{id}/deliveries" => platform::deliveries [query platform::Limit]: json Vec<connhost::DeliveryAttempt>, "team", "webhooks" listWebhookDeliveries, "A webhook's delivery log";
    get "/v1/settings/return-urls" => oauth::return_urls: json Vec<String>, "team", "settings" getReturnUrls, "URL prefixes consent may return the browser to";
    put "/v1/settings/return-urls" => oauth::set_return_urls [body oauth::ReturnUrls]: json Vec<String>, "team", "settings" setReturnUrls, "Replace the allowed return URL prefixes";
    post "/v1/connect-sessions" => connect::create [body connect::NewSession]: json NewConnectSession, "team", "connect" createConnectSession, "A single-use token for an end user to create one connection";
    get "/v1/connect/session" => connect::show: json ConnectSessionInfo, "session", "connect" getConnectSession, "The session's connector and expiry (bearer: the session token)";
    post "/v1/connect/connections" => connect::create_connection [body connections::ConnectionBody]: json Connection, "session", "connect" createSessionConnection, "Create the session's one connection";
    post "/v1/connect/authorize" => connect::authorize [body connections::ConnectionBody]: json connhost::AuthorizeStart, "session", "connect" authorizeSessionConnection, "Start consent for the session's connection";
}

async fn healthz() -> Json<Health> {
    Json(Health { ok: true })
}

/// `[A-Za-z0-9_-]{1,max}`: what `connhost_policy::ids::is_safe` accepts.
fn safe_id(max: usize) -> serde_json::Value {
    serde_json::json!({"type": "string", "pattern": format!("^[A-Za-z0-9_-]{{1,{max}}}$")})
}

/// The schema of a path parameter: the ids the store accepts.
fn path_param(path: &str, name: &str) -> serde_json::Value {
    use serde_json::json;
    match (path, name) {
        ("/v1/connectors/{id}", _) => json!({
            "type": "string",
            "pattern": "^[a-z0-9-]{1,64}$",
            "description": "A connector id",
        }),
        ("/v1/connections/{id}/request", "id") => json!({
            "type": "string",
            "pattern": "^(dynamic:[A-Za-z0-9_-]{1,64}|[A-Za-z0-9_-]{1,128})$",
            "description": "A connection id (`conn_…`), or `dynamic:NAME` with a `context`",
        }),
        (p, "id") if p.starts_with("/v1/connections/") => {
            let mut s = safe_id(128);
            s["description"] = "A connection id (`conn_…`)".into();
            s
        }
        (p, "id") if p.starts_with("/v1/webhooks/") => json!({
            "type": "string",
            "pattern": "^wh_[A-Za-z0-9_-]{1,125}$",
            "description": "A webhook id (`wh_…`)",
        }),
        (_, "name") => {
            json!({"type": "string", "minLength": 1, "maxLength": 128, "description": "A secret's name, as the connector's manifest has it"})
        }
        _ => safe_id(64),
    }
}

/// The largest body a route takes, as `limits.rs` caps it (defaults).
fn body_cap(method: &str, path: &str, auth: &str) -> usize {
    let limits = crate::limits::Limits::default();
    match (method, path) {
        ("post", "/v1/connectors" | "/v1/connections/{id}/request") => limits.upload_bytes,
        ("post", "/v1/providers") => limits.definition_bytes,
        _ if !matches!(auth, "team" | "operator") => limits.anonymous_body_bytes,
        _ => limits.body_bytes,
    }
}

fn error_response(description: &str) -> serde_json::Value {
    serde_json::json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    })
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
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": path_param(r.path, name)}))
            .collect();
        let cap = body_cap(r.method, r.path, r.auth);
        let mut body = None;
        match r.input {
            Input::None => {}
            Input::Wasm => {
                body = Some(json!({
                    "required": true,
                    "description": format!("The component's bytes, a `.wasm` (any content type; at most {cap} bytes)"),
                    "content": {
                        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                    },
                }));
            }
            Input::Body(schema) => {
                body = Some(json!({
                    "required": true,
                    "description": format!("At most {cap} bytes"),
                    "content": {"application/json": {"schema": schema(&mut generator)}},
                }));
            }
            Input::Query(schema) => {
                let schema = schema(&mut generator);
                let required = schema.get("required").cloned().unwrap_or(json!([]));
                if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
                    for (name, s) in props {
                        let mut s = s.clone();
                        // An absent parameter is the `None`; a query has no null.
                        if let Some(t) = s.get_mut("type").filter(|t| t.is_array()) {
                            let kept: Vec<_> = t
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter(|t| *t != "null")
                                .cloned()
                                .collect();
                            *t = if kept.len() == 1 {
                                kept[0].clone()
                            } else {
                                kept.into()
                            };
                        }
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
        let keyed = r.auth != "none";
        let security = if keyed {
            json!([{"apiKey": []}])
        } else {
            json!([])
        };
        let ok = match r.output {
            Output::Json(schema) => json!({
                "description": "OK",
                "content": {"application/json": {"schema": schema(&mut generator)}},
            }),
            Output::Text => json!({
                "description": "OK",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }),
        };
        let mut responses = serde_json::Map::new();
        responses.insert("200".into(), ok);
        if r.path == "/oauth/callback" {
            responses.insert(
                "303".into(),
                json!({"description": "To the return URL given at start, with `status` (and `connection` or `error`) added to its query"}),
            );
        }
        if r.path == "/readyz" {
            responses.insert(
                "503".into(),
                json!({"description": "The store does not answer", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}, "error": {"type": "object"}}}}}}),
            );
        }
        if r.path != "/healthz" && r.path != "/readyz" {
            responses.insert(
                "400".into(),
                error_response("`invalid-input` and the like: the request is not acceptable"),
            );
            if keyed {
                responses.insert(
                    "401".into(),
                    error_response("`unauthenticated`: no key, or not a valid one"),
                );
                responses.insert("403".into(), error_response("`forbidden`: the key may not do this (an operator route, an admin-only setting)"));
            }
            responses.insert("404".into(), error_response("`not-found`"));
            if matches!(r.tag, "connections" | "connect" | "providers") {
                responses.insert(
                    "502".into(),
                    error_response("The provider's side failed or refused (`unauthorized`, `reauthorization-required`, `provider-error`, `network`, `plugin-failure`): the API call itself was fine"),
                );
            }
            if matches!(r.input, Input::Body(_) | Input::Wasm) {
                responses.insert("408".into(), error_response("`timeout`: the body did not arrive within the server's deadline (20 s by default)"));
                responses.insert(
                    "413".into(),
                    error_response(&format!(
                        "`too-large`: the body is over this route's limit ({cap} bytes by default)"
                    )),
                );
            }
            responses.insert("429".into(), error_response("`busy` (the caller's requests in flight are at their limit) or `rate-limited`; see `Retry-After`"));
            responses.insert("503".into(), error_response("`busy` (too many bodies being read at once), `lock-timeout`; see `Retry-After`"));
            responses.insert(
                "504".into(),
                error_response("`timeout`: the request took longer than the server's deadline"),
            );
        }
        responses.insert(
            "default".into(),
            error_response("Any other error (`conflict` 409, provider failures 502, …)"),
        );
        let mut op = json!({
            "operationId": r.operation,
            "tags": [r.tag],
            "summary": r.summary,
            "x-connhost-key": r.auth,
            "security": security,
            "parameters": params,
            "responses": responses,
        });
        if let Some(body) = body {
            op["requestBody"] = body;
            op["x-connhost-max-body-bytes"] = cap.into();
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
    let mut tags: Vec<&str> = ROUTES.iter().map(|r| r.tag).collect();
    tags.sort();
    tags.dedup();
    json!({
        "openapi": "3.1.0",
        "info": {"title": "connhost", "version": env!("CARGO_PKG_VERSION")},
        "tags": tags.iter().map(|t| json!({"name": t})).collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "A team or operator key (chk_…), or for `x-connhost-key: session` routes a connect session token (cst_…)"}},
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
            "kind": {"type": "string"}, "message": {"type": "string"},
            "field": {"type": "string", "description": "the input field at fault (invalid-input)"},
            "reason": {"type": "string", "description": "what is wrong with that field"},
            "advice": {"type": "string", "description": "what to send instead, in this API's terms"}}}},
    })
}

async fn openapi(_key: crate::auth::Key) -> Json<serde_json::Value> {
    Json(openapi_document())
}
