//! A fake OAuth-protected MCP server and its authorization server on
//! loopback (HTTPS, test CA, two host names on one listener), strict about
//! the RFCs an MCP client must follow: protected-resource metadata (RFC
//! 9728) naming the authorization server, its metadata (RFC 8414), dynamic
//! client registration (RFC 7591), authorization code with PKCE S256 (RFC
//! 7636) and `resource` on every authorization and token request (RFC
//! 8707), tokens bound to the resource, refresh rotation, and the MCP
//! `initialize` handshake answered as a server-sent event.

use crate::pki::TestPki;
use crate::server::{json, oauth_error, spawn_server, Received};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use sha2::Digest;
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

pub const MCP_HOST: &str = "mcp.example.com";
pub const MCP_URL: &str = "https://mcp.example.com/mcp";
pub const AUTH_HOST: &str = "mcp-auth.example.com";
pub const AUTH_ISSUER: &str = "https://mcp-auth.example.com";
pub const SERVER_NAME: &str = "Fake MCP";

/// Knobs, set before a test runs.
#[derive(Clone, Debug)]
pub struct McpConfig {
    /// `resource` in the protected-resource metadata (another value tests
    /// RFC 9728 §3.3).
    pub metadata_resource: String,
    /// `authorization_servers` in it.
    pub authorization_servers: Vec<String>,
}

impl Default for McpConfig {
    fn default() -> Self {
        McpConfig {
            metadata_resource: MCP_URL.into(),
            authorization_servers: vec![AUTH_ISSUER.into()],
        }
    }
}

/// What the fake saw.
#[derive(Default, Debug)]
pub struct Ledger {
    /// Registered clients: id → redirect URIs.
    pub clients: BTreeMap<String, Vec<String>>,
    /// `grant_type` of each token request.
    pub grants: Vec<String>,
    /// JSON-RPC methods the MCP endpoint answered.
    pub methods: Vec<String>,
    /// What a real server would refuse, with why.
    pub refused: Vec<String>,
    /// Pending codes: code → (client, redirect, challenge).
    codes: HashMap<String, (String, String, String)>,
    /// Access tokens → resource; refresh tokens → client (single use).
    access: HashMap<String, String>,
    refresh: HashMap<String, String>,
    counter: u64,
}

struct State {
    cfg: McpConfig,
    ledger: Mutex<Ledger>,
}

pub struct FakeMcp {
    addr: SocketAddr,
    pki: TestPki,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeMcp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeMcp {
    pub async fn start(cfg: McpConfig) -> std::io::Result<FakeMcp> {
        let pki = TestPki::new(&[MCP_HOST, AUTH_HOST]);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            cfg,
            ledger: Mutex::new(Ledger::default()),
        });
        let st = state.clone();
        let task = spawn_server(
            listener,
            Some(pki.acceptor()),
            Default::default(),
            move |req| handle(st.clone(), req),
        );
        Ok(FakeMcp {
            addr,
            pki,
            state,
            task,
        })
    }

    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    /// `HOST:443:127.0.0.1:PORT` for both names.
    pub fn connect_to(&self) -> Vec<String> {
        [MCP_HOST, AUTH_HOST]
            .iter()
            .map(|h| format!("{h}:443:{}:{}", self.addr.ip(), self.addr.port()))
            .collect()
    }

    pub fn ledger<T>(&self, f: impl FnOnce(&Ledger) -> T) -> T {
        f(&self.state.ledger.lock().unwrap())
    }
}

fn next(l: &mut Ledger, prefix: &str) -> String {
    l.counter += 1;
    format!("{prefix}-{}-{:08x}", l.counter, rand::random::<u32>())
}

fn refuse(l: &mut Ledger, status: u16, code: &str, why: &str) -> Response<Full<Bytes>> {
    l.refused.push(format!("{code}: {why}"));
    oauth_error(status, code, why)
}

async fn handle(
    st: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let r = Received::read(req).await;
    let (host, method, path) = (r.host_name(), r.method.clone(), r.uri.path().to_string());
    let (query, form, body) = (r.query(), r.form(), r.body.clone());
    let (auth, accept) = (r.header("authorization"), r.header("accept"));
    let cfg = &st.cfg;
    let mut l = st.ledger.lock().unwrap();
    Ok(match (host.as_str(), method.as_str(), path.as_str()) {
        (MCP_HOST, "GET", "/.well-known/oauth-protected-resource/mcp") => json(
            200,
            serde_json::json!({
                "resource": cfg.metadata_resource,
                "authorization_servers": cfg.authorization_servers,
                "scopes_supported": ["tools:read"],
                "bearer_methods_supported": ["header"],
            }),
        ),
        (MCP_HOST, "POST", "/mcp") => mcp(&mut l, &auth, &accept, &body),
        (AUTH_HOST, "GET", "/.well-known/oauth-authorization-server") => json(
            200,
            serde_json::json!({
                "issuer": AUTH_ISSUER,
                "authorization_endpoint": format!("{AUTH_ISSUER}/authorize"),
                "token_endpoint": format!("{AUTH_ISSUER}/token"),
                "registration_endpoint": format!("{AUTH_ISSUER}/register"),
                "scopes_supported": ["tools:read"],
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["none"],
            }),
        ),
        (AUTH_HOST, "POST", "/register") => {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let uris: Vec<String> = v["redirect_uris"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| u.as_str().map(str::to_string))
                .collect();
            if uris.is_empty() || v["token_endpoint_auth_method"] != "none" {
                return Ok(refuse(
                    &mut l,
                    400,
                    "invalid_client_metadata",
                    "redirect_uris and a public client expected",
                ));
            }
            let id = next(&mut l, "dyn");
            l.clients.insert(id.clone(), uris.clone());
            json(
                201,
                serde_json::json!({"client_id": id, "redirect_uris": uris, "token_endpoint_auth_method": "none"}),
            )
        }
        // The user approves at once.
        (AUTH_HOST, "GET", "/authorize") => {
            let client = query.get("client_id").cloned().unwrap_or_default();
            let redirect = query.get("redirect_uri").cloned().unwrap_or_default();
            if !l
                .clients
                .get(&client)
                .is_some_and(|u| u.contains(&redirect))
            {
                return Ok(refuse(
                    &mut l,
                    400,
                    "invalid_request",
                    "unregistered client or redirect URI",
                ));
            }
            if query.get("resource").map(String::as_str) != Some(MCP_URL) {
                return Ok(refuse(
                    &mut l,
                    400,
                    "invalid_target",
                    "resource must name the MCP server (RFC 8707)",
                ));
            }
            if query.get("code_challenge_method").map(String::as_str) != Some("S256")
                || query.get("response_type").map(String::as_str) != Some("code")
            {
                return Ok(refuse(
                    &mut l,
                    400,
                    "invalid_request",
                    "PKCE S256 and response_type=code required",
                ));
            }
            let code = next(&mut l, "code");
            let challenge = query.get("code_challenge").cloned().unwrap_or_default();
            l.codes
                .insert(code.clone(), (client, redirect.clone(), challenge));
            let mut to = url::Url::parse(&redirect).expect("redirect URI");
            to.query_pairs_mut().append_pair("code", &code).append_pair(
                "state",
                query.get("state").map(String::as_str).unwrap_or(""),
            );
            Response::builder()
                .status(302)
                .header("location", to.to_string())
                .body(Full::new(Bytes::new()))
                .expect("response")
        }
        (AUTH_HOST, "POST", "/token") => token(&mut l, &form),
        _ => json(404, serde_json::json!({"error": "not found"})),
    })
}

fn token(l: &mut Ledger, form: &BTreeMap<String, String>) -> Response<Full<Bytes>> {
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    l.grants.push(grant.clone());
    if form.get("resource").map(String::as_str) != Some(MCP_URL) {
        return refuse(
            l,
            400,
            "invalid_target",
            "resource must name the MCP server (RFC 8707)",
        );
    }
    let client = form.get("client_id").cloned().unwrap_or_default();
    if !l.clients.contains_key(&client) {
        return refuse(l, 401, "invalid_client", "unknown client_id");
    }
    match grant.as_str() {
        "authorization_code" => {
            let code = form.get("code").cloned().unwrap_or_default();
            let Some((c, redirect, challenge)) = l.codes.remove(&code) else {
                return refuse(l, 400, "invalid_grant", "unknown or used code");
            };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let s256 = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(verifier.as_bytes()));
            if c != client || form.get("redirect_uri") != Some(&redirect) || s256 != challenge {
                return refuse(
                    l,
                    400,
                    "invalid_grant",
                    "client, redirect URI or PKCE verifier mismatch",
                );
            }
        }
        "refresh_token" => {
            let rt = form.get("refresh_token").cloned().unwrap_or_default();
            if l.refresh.remove(&rt).as_ref() != Some(&client) {
                return refuse(l, 400, "invalid_grant", "unknown or used refresh token");
            }
        }
        _ => return refuse(l, 400, "unsupported_grant_type", "code or refresh_token"),
    }
    let (access, refresh) = (next(l, "at"), next(l, "rt"));
    l.access.insert(access.clone(), MCP_URL.into());
    l.refresh.insert(refresh.clone(), client);
    json(
        200,
        serde_json::json!({"access_token": access, "token_type": "Bearer", "expires_in": 3600,
                           "refresh_token": refresh, "scope": "tools:read"}),
    )
}

/// The MCP endpoint: only tokens issued for it; `initialize` answered as
/// an event stream when the client accepts one, other methods as JSON.
fn mcp(l: &mut Ledger, auth: &str, accept: &str, body: &[u8]) -> Response<Full<Bytes>> {
    let token = auth.strip_prefix("Bearer ").unwrap_or("");
    if l.access.get(token).map(String::as_str) != Some(MCP_URL) {
        l.refused.push("mcp: no valid token".into());
        let mut r = json(401, serde_json::json!({"error": "invalid_token"}));
        r.headers_mut().insert(
            "www-authenticate",
            format!("Bearer resource_metadata=\"https://{MCP_HOST}/.well-known/oauth-protected-resource/mcp\"")
                .parse()
                .unwrap(),
        );
        return r;
    }
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let method = v["method"].as_str().unwrap_or("").to_string();
    l.methods.push(method.clone());
    let result = match method.as_str() {
        "initialize" => serde_json::json!({
            "protocolVersion": v["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": SERVER_NAME, "version": "1.0.0"},
        }),
        "tools/list" => {
            serde_json::json!({"tools": [{"name": "echo", "inputSchema": {"type": "object"}}]})
        }
        _ => serde_json::json!(null),
    };
    let answer = serde_json::json!({"jsonrpc": "2.0", "id": v["id"], "result": result});
    if method == "initialize" {
        if !(accept.contains("application/json") && accept.contains("text/event-stream")) {
            l.refused
                .push("mcp: Accept must list application/json and text/event-stream".into());
            return json(406, serde_json::json!({"error": "not acceptable"}));
        }
        return Response::builder()
            .status(200)
            .header("content-type", "text/event-stream")
            .header("mcp-session-id", "session-1")
            .body(Full::new(Bytes::from(format!(
                "event: message\ndata: {answer}\n\n"
            ))))
            .expect("response");
    }
    json(200, answer)
}
