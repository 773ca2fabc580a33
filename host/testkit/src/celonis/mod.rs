//! A fake Celonis provider: a real HTTPS server on loopback speaking the
//! parts of Celonis's protocol the connector uses (OAuth 2.0 token
//! endpoint, `/api/cloud`, the Intelligence and Data Push endpoints), with
//! a throwaway CA. It is the third-party test double for `connhost demo`,
//! the end-to-end tests and the benchmark; production never starts it.
//!
//! Credential values pick the provider's behaviour, so every error case is
//! reachable through the real component: see [`Behavior`].

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use url::form_urlencoded;

mod config;
pub use config::{demo, Behavior, Client, FakeConfig};

use crate::pki::TestPki;
use crate::server::{basic_credentials, json, oauth_error, scope_list, spawn_server};

#[derive(Default)]
struct Tokens {
    /// access token → granted scopes
    issued: HashMap<String, Vec<String>>,
}

struct State {
    cfg: Mutex<FakeConfig>,
    tokens: Mutex<Tokens>,
    token_requests: AtomicUsize,
    connections: Arc<AtomicUsize>,
    requests: Mutex<Vec<String>>,
}

/// A running fake provider. Dropping it stops the server.
pub struct FakeCelonis {
    addr: SocketAddr,
    pki: TestPki,
    state: Arc<State>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for FakeCelonis {
    fn drop(&mut self) {
        for t in self.tasks.lock().unwrap().iter() {
            t.abort();
        }
    }
}

impl FakeCelonis {
    /// Starts on 127.0.0.1 with a certificate for `*.celonis.cloud` names
    /// used in tests.
    pub async fn start(cfg: FakeConfig) -> std::io::Result<FakeCelonis> {
        let pki = TestPki::new(&[demo::DOMAIN, "other.eu-1.celonis.cloud", "localhost"]);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            cfg: Mutex::new(cfg),
            tokens: Mutex::new(Tokens::default()),
            token_requests: AtomicUsize::new(0),
            connections: Arc::default(),
            requests: Mutex::new(Vec::new()),
        });
        let st = state.clone();
        let task = spawn_server(
            listener,
            Some(pki.acceptor()),
            state.connections.clone(),
            move |req| handle(st.clone(), req),
        );
        Ok(FakeCelonis {
            addr,
            pki,
            state,
            tasks: Mutex::new(vec![task]),
        })
    }

    /// Also serves the same provider over plain HTTP on another loopback
    /// port, for stock WASI runtimes that cannot trust a test CA.
    pub async fn serve_plain_http(&self) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let st = self.state.clone();
        let task = spawn_server(listener, None, self.state.connections.clone(), move |req| {
            handle(st.clone(), req)
        });
        self.tasks.lock().unwrap().push(task);
        Ok(addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// PEM of the CA that signed the server certificate.
    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    /// `HOST:443:127.0.0.1:PORT` for `--connect-to`.
    pub fn connect_to(&self, host: &str) -> String {
        format!("{host}:443:{}:{}", self.addr.ip(), self.addr.port())
    }

    /// Token-endpoint requests served so far.
    pub fn token_requests(&self) -> usize {
        self.state.token_requests.load(Ordering::SeqCst)
    }

    /// TCP connections accepted so far (keep-alive shows as fewer
    /// connections than requests).
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// `METHOD /path` of every request served so far.
    pub fn requests(&self) -> Vec<String> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Changes the configuration while running.
    pub fn configure(&self, f: impl FnOnce(&mut FakeConfig)) {
        f(&mut self.state.cfg.lock().unwrap());
    }

    /// Forgets every access token issued so far: each is a 401 from now
    /// on (as when a provider revokes tokens early).
    pub fn revoke_tokens(&self) {
        self.state.tokens.lock().unwrap().issued.clear();
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let query_key = req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "api_key")
            .map(|(_, v)| v.into_owned())
    });
    state
        .requests
        .lock()
        .unwrap()
        .push(format!("{method} {path}"));
    let headers = req.headers().clone();
    let max_body = state.cfg.lock().unwrap().max_request_body;
    let declared = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let (Some(max), Some(n)) = (max_body, declared) {
        if n > max {
            return Ok(Response::builder()
                .status(413)
                .header("connection", "close")
                .body(Full::new(Bytes::from_static(
                    b"<html>413 Request Entity Too Large</html>",
                )))
                .unwrap());
        }
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();

    if path == "/oauth2/token" {
        let delay = state.cfg.lock().unwrap().token_delay;
        if let Some(delay) = delay {
            state.token_requests.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            state.token_requests.fetch_sub(1, Ordering::SeqCst);
        }
        return Ok(token(&state, method == hyper::Method::POST, &auth, &body));
    }
    let api_delay = state.cfg.lock().unwrap().api_delay;
    if let Some(delay) = api_delay {
        tokio::time::sleep(delay).await;
    }

    // Contract 0.3.1's credentials, for the shared conformance cases: each
    // endpoint checks one the way a service would.
    if let Some(case) = path.strip_prefix("/conformance/") {
        return Ok(conformance_endpoint(
            case, &method, &headers, &body, &path, &query,
        ));
    }

    // Resource endpoints: AppKey, or Bearer with a static key or a token;
    // also (for the generic connector's tests) HTTP Basic with the key as
    // password and `?api_key=` in the query.
    let (credential, token_scopes) = if let Some(k) = auth.strip_prefix("AppKey ") {
        (k.to_string(), None)
    } else if let Some(t) = auth.strip_prefix("Bearer ") {
        let scopes = state.tokens.lock().unwrap().issued.get(t).cloned();
        (t.to_string(), scopes)
    } else if let Some((_, password)) = basic_credentials(&auth) {
        (password, None)
    } else if let Some(k) = query_key {
        (k, None)
    } else {
        return Ok(unauthorized("missing credentials"));
    };
    let behavior = match &token_scopes {
        Some(_) => Behavior::Ok,
        None => match state.cfg.lock().unwrap().keys.get(&credential) {
            Some(b) => b.clone(),
            None => return Ok(unauthorized("invalid key")),
        },
    };
    Ok(match behavior {
        Behavior::Ok if path == "/api/echo" => echo(&method, &query, &headers, &body),
        Behavior::Ok if path == "/api/bytes" => bytes_of(&query),
        Behavior::Ok => resource(&state, &path, token_scopes.as_deref()),
        Behavior::InsufficientScope(scopes) => Response::builder()
            .status(403)
            .header(
                "www-authenticate",
                format!(
                    "Bearer error=\"insufficient_scope\", scope=\"{}\"",
                    scopes.join(" ")
                ),
            )
            .body(Full::new(Bytes::from_static(
                b"{\"error\":\"insufficient_scope\"}",
            )))
            .expect("response"),
        Behavior::RateLimited(secs) => Response::builder()
            .status(429)
            .header("retry-after", secs.to_string())
            .body(Full::new(Bytes::from_static(
                b"{\"message\":\"Too many requests\"}",
            )))
            .expect("response"),
        Behavior::ServerError => json(500, serde_json::json!({"message": "internal error"})),
        Behavior::Malformed => Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(b"{\"teamName\": \"Acme\", ")))
            .expect("response"),
        Behavior::Raw(status, body) => Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("response"),
        Behavior::Huge(n) => Response::builder()
            .status(200)
            .body(Full::new(Bytes::from(vec![b' '; n])))
            .expect("response"),
        Behavior::Slow(d) => {
            tokio::time::sleep(d).await;
            resource(&state, &path, None)
        }
        Behavior::Redirect(to) => Response::builder()
            .status(302)
            .header("location", to)
            .body(Full::new(Bytes::new()))
            .expect("response"),
        Behavior::Echo(status) => {
            let echoed = format!(
                "Authorization `{auth}` rejected; query `{query}`; body `{}`",
                String::from_utf8_lossy(&body)
            );
            json(
                status,
                serde_json::json!({
                    "error": "invalid_request",
                    "error_description": echoed,
                    "message": echoed,
                }),
            )
        }
    })
}

/// Access key id and region/service the SigV4 case signs for.
pub const SIGV4_ACCESS_KEY_ID: &str = "AKIDCONFORMANCE";

fn conformance_endpoint(
    case: &str,
    method: &hyper::Method,
    headers: &hyper::HeaderMap,
    body: &[u8],
    path: &str,
    query: &str,
) -> Response<Full<Bytes>> {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    match case {
        // A key as the Basic user name (empty password) and a second key.
        "two-keys" => {
            if basic_credentials(h("authorization")) == Some((demo::API_KEY.into(), String::new()))
                && h("x-second-key") == demo::APP_KEY
            {
                json(200, serde_json::json!({"account": "two-keys"}))
            } else {
                unauthorized("expected Basic <api key>: and x-second-key")
            }
        }
        // A key inside a JSON body, exchanged for a token.
        "json-exchange" => {
            let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            if method == hyper::Method::POST
                && v.pointer("/auth/secret").and_then(|s| s.as_str()) == Some(demo::API_KEY)
            {
                json(
                    200,
                    serde_json::json!({"data": {"token": "xt-conformance"}, "ttl": 600}),
                )
            } else {
                unauthorized("expected the key at /auth/secret of a JSON body")
            }
        }
        "json-exchange-me" => {
            if h("authorization") == "Bearer xt-conformance" {
                json(200, serde_json::json!({"user": "json-exchange"}))
            } else {
                unauthorized("expected the exchanged token")
            }
        }
        // OAuth 1.0 (contract 0.3.2's sign-oauth1): the consumer secret is
        // the API key, the token secret the app key; checked from the wire.
        "oauth1" => {
            use crate::oauth1::{base_string, header_params, signature};
            let oauth = header_params(h("authorization")).unwrap_or_default();
            let get = |k: &str| oauth.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            let pairs = |q: &str| -> Vec<(String, String)> {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            };
            // The plain-HTTP listener stands behind a loopback override
            // (`serve_plain_http`): the request was for the demo domain.
            let host = match h("host") {
                h if h.starts_with("127.0.0.1") => demo::DOMAIN,
                h => h,
            };
            let base = base_string(
                method.as_str(),
                &format!("https://{host}{path}"),
                &pairs(query),
                &[],
                &oauth,
            );
            let expected = signature("HMAC-SHA1", demo::API_KEY, demo::APP_KEY, &base);
            if get("oauth_consumer_key") == Some("conformance-consumer")
                && get("oauth_token") == Some("conformance-token")
                && get("oauth_signature_method") == Some("HMAC-SHA1")
                && get("oauth_signature") == Some(expected.as_str())
            {
                json(200, serde_json::json!({"account": "oauth1"}))
            } else {
                unauthorized("expected an OAuth 1.0 HMAC-SHA1 signature")
            }
        }
        // AWS Signature V4, checked from what arrived.
        "sigv4" => {
            let map: BTreeMap<String, String> = headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                .collect();
            let host = h("host").split(':').next().unwrap_or("").to_string();
            let received = crate::sigv4::Received {
                method: method.as_str(),
                host: &host,
                path,
                raw_query: query,
                headers: &map,
                body,
            };
            match crate::sigv4::check(
                &received,
                SIGV4_ACCESS_KEY_ID,
                demo::API_KEY,
                "eu-1",
                "execute-api",
            ) {
                Ok(()) => json(
                    200,
                    serde_json::json!({"arn": "arn:aws:iam::123456789012:user/conformance"}),
                ),
                Err(e) => json(403, serde_json::json!({"message": e})),
            }
        }
        _ => json(
            404,
            serde_json::json!({"message": "no such conformance endpoint"}),
        ),
    }
}

/// What arrived, for pass-through tests: method, raw query, the body's
/// length and SHA-256, and every header but the credential.
fn echo(
    method: &hyper::Method,
    query: &str,
    headers: &hyper::HeaderMap,
    body: &[u8],
) -> Response<Full<Bytes>> {
    use sha2::Digest as _;
    let seen: BTreeMap<String, String> = headers
        .iter()
        .filter(|(k, _)| k.as_str() != "authorization")
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let digest: String = sha2::Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut r = json(
        200,
        serde_json::json!({
            "method": method.as_str(),
            "query": query,
            "bytes": body.len(),
            "sha256": digest,
            "headers": seen,
        }),
    );
    // Hop-by-hop, for the proxy to drop; and one end-to-end header.
    r.headers_mut().insert(
        "keep-alive",
        hyper::header::HeaderValue::from_static("timeout=5"),
    );
    r.headers_mut().insert(
        "x-fake-request-id",
        hyper::header::HeaderValue::from_static("req-1"),
    );
    r
}

/// `?n=BYTES` (at most 256 MiB) of a repeating pattern `0123456789`.
fn bytes_of(query: &str) -> Response<Full<Bytes>> {
    let n = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "n")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0)
        .min(256 << 20);
    // Built once and shared (a zero-copy slice per response), so a
    // memory benchmark sees the proxy's memory, not the fake's.
    static PATTERN: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    let all = PATTERN.get_or_init(|| (0..256usize << 20).map(|i| b'0' + (i % 10) as u8).collect());
    Response::builder()
        .status(200)
        .header("content-type", "application/octet-stream")
        .body(Full::new(all.slice(0..n)))
        .expect("response")
}

fn unauthorized(why: &str) -> Response<Full<Bytes>> {
    let mut r = json(401, serde_json::json!({"message": why}));
    r.headers_mut().insert(
        "www-authenticate",
        hyper::header::HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    r
}

fn resource(state: &State, path: &str, token_scopes: Option<&[String]>) -> Response<Full<Bytes>> {
    let cfg = state.cfg.lock().unwrap();
    let needs = |scope: &str| -> Option<Response<Full<Bytes>>> {
        let granted = token_scopes?;
        if granted.iter().any(|g| g == scope) {
            None
        } else {
            Some(
                Response::builder()
                    .status(403)
                    .header(
                        "www-authenticate",
                        format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\""),
                    )
                    .body(Full::new(Bytes::new()))
                    .expect("response"),
            )
        }
    };
    if path == "/api/huge" {
        // Over the host's default 4 MiB body cap.
        return Response::builder()
            .status(200)
            .body(Full::new(Bytes::from(vec![b'x'; 5 << 20])))
            .expect("response");
    }
    if path == "/api/cloud" {
        return json(
            200,
            serde_json::json!({"teamName": cfg.team_name, "teamDomain": "acme", "userEmail": cfg.user_email}),
        );
    }
    if path == "/intelligence/api/knowledge-models" {
        if let Some(denied) = needs("intelligence.knowledge-models:read") {
            return denied;
        }
        return json(200, serde_json::json!({"content": [], "pageSize": 50}));
    }
    if let Some(rest) = path.strip_prefix("/integration/api/v1/data-push/") {
        if let Some(pool) = rest.strip_suffix("/jobs/") {
            if let Some(denied) = needs("integration.data-pools:data_push") {
                return denied;
            }
            return if cfg.pools.contains(pool) {
                json(200, serde_json::json!([]))
            } else {
                json(404, serde_json::json!({"message": "Data pool not found"}))
            };
        }
    }
    json(404, serde_json::json!({"message": "not found"}))
}

fn token(state: &State, is_post: bool, auth: &str, body: &[u8]) -> Response<Full<Bytes>> {
    state.token_requests.fetch_add(1, Ordering::SeqCst);
    if !is_post {
        return oauth_error(405, "invalid_request", "use POST");
    }
    let form: BTreeMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    let cfg = state.cfg.lock().unwrap().clone();
    if let Some((status, body)) = cfg.token_response {
        return Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("response");
    }
    // RFC 6749 §2.3.1: id and secret are form-urlencoded before base64.
    let basic = basic_credentials(auth);
    let posted = match (form.get("client_id"), form.get("client_secret")) {
        (Some(i), Some(s)) => Some((i.clone(), s.clone())),
        _ => None,
    };
    let (method, (id, secret)) = match (basic, posted) {
        (Some(_), Some(_)) => {
            return oauth_error(
                400,
                "invalid_request",
                "more than one client authentication method",
            )
        }
        (Some(b), None) => ("client_secret_basic", b),
        (None, Some(p)) => ("client_secret_post", p),
        (None, None) => {
            return oauth_error(401, "invalid_client", "client authentication required")
        }
    };
    let Some(client) = cfg
        .clients
        .iter()
        .find(|c| c.id == id && c.secret == secret && c.method == method)
    else {
        return oauth_error(401, "invalid_client", "client authentication failed");
    };
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(400, "unsupported_grant_type", "only client_credentials");
    }
    let requested = scope_list(&form);
    let granted: Vec<String> = requested
        .iter()
        .filter(|s| client.scopes.contains(s))
        .cloned()
        .collect();
    if granted.is_empty() {
        return oauth_error(
            400,
            "invalid_scope",
            "none of the requested scopes is allowed for this client",
        );
    }
    let n = state.token_requests.load(Ordering::SeqCst);
    let access_token = format!("fake-at-{n}-{}", rand::random::<u64>());
    state
        .tokens
        .lock()
        .unwrap()
        .issued
        .insert(access_token.clone(), granted.clone());
    let mut resp = serde_json::json!({"access_token": access_token, "token_type": cfg.token_type});
    if let Some(l) = cfg.token_lifetime {
        resp["expires_in"] = l.into();
    }
    if !cfg.omit_scope {
        resp["scope"] = granted.join(" ").into();
    }
    json(200, resp)
}
