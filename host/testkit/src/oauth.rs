//! A fake OAuth 2.0 authorization server on loopback (HTTPS, test CA) for
//! the generic connector's tests: consent page, authorization code with
//! PKCE (RFC 7636), refresh with single-use rotating refresh tokens,
//! RFC 7009 revocation, RFC 8414 metadata, and a userinfo endpoint. It
//! enforces the RFCs strictly so a client mistake shows up as a failure.

use crate::pki::TestPki;
use crate::server::{basic_credentials, json, oauth_error, scope_list, spawn_server};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use sha2::Digest;
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use url::form_urlencoded;

/// Host names the fake answers for (its certificate covers them).
pub const HOST: &str = "oauth.example.com";
pub const ISSUER: &str = "https://oauth.example.com";
pub const CLIENT_ID: &str = "fake-client";
pub const CLIENT_SECRET: &str = "fake:secret/+%";
pub const USER_EMAIL: &str = "grace@example.com";

/// Knobs, changeable while running.
#[derive(Clone, Debug)]
pub struct OAuthConfig {
    /// `issuer` in the metadata (set to something else to test RFC 8414 §3.3).
    pub metadata_issuer: String,
    /// Add `iss` to the authorization response (RFC 9207).
    pub send_iss: bool,
    /// Scopes the client may be granted; others are dropped from grants.
    pub allowed_scopes: Vec<String>,
    /// `expires_in`; `None` omits it.
    pub token_lifetime: Option<u64>,
    pub token_type: String,
    /// Issue a new refresh token on refresh (and invalidate the old one).
    pub rotate_refresh_tokens: bool,
    /// Delay before answering refresh grants (widens race windows).
    pub refresh_delay: Duration,
    /// Answer this many upcoming refresh grants with 503.
    pub refresh_503: u32,
    /// Answer this many upcoming revocations with 503.
    pub revoke_503: u32,
    /// Answer every revocation with this status instead of 200.
    pub revoke_status: Option<u16>,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        OAuthConfig {
            metadata_issuer: ISSUER.into(),
            send_iss: true,
            allowed_scopes: vec![
                "profile".into(),
                "email".into(),
                "files.read".into(),
                "offline_access".into(),
            ],
            token_lifetime: Some(3600),
            token_type: "Bearer".into(),
            rotate_refresh_tokens: true,
            refresh_delay: Duration::ZERO,
            refresh_503: 0,
            revoke_503: 0,
            revoke_status: None,
        }
    }
}

struct Code {
    redirect_uri: String,
    challenge: Option<String>,
    scopes: Vec<String>,
    used: bool,
}

/// What the fake has seen and issued.
#[derive(Default)]
pub struct Ledger {
    codes: HashMap<String, Code>,
    /// refresh token → (scopes, still valid)
    refresh: HashMap<String, (Vec<String>, bool)>,
    access: HashMap<String, Vec<String>>,
    /// Grant type of every token request, in order.
    pub grants: Vec<String>,
    /// Error code of every failed token request, in order.
    pub token_errors: Vec<String>,
    /// `token_type_hint` of every successful revocation, in order.
    pub revocations: Vec<String>,
    /// Refresh tokens issued, in order.
    pub refresh_tokens: Vec<String>,
}

struct State {
    cfg: Mutex<OAuthConfig>,
    ledger: Mutex<Ledger>,
    counter: Mutex<u64>,
}

/// A running fake authorization server. Dropping it stops it.
pub struct FakeOAuth {
    addr: SocketAddr,
    pki: TestPki,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeOAuth {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeOAuth {
    pub async fn start(cfg: OAuthConfig) -> std::io::Result<FakeOAuth> {
        let pki = TestPki::new(&[HOST]);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            cfg: Mutex::new(cfg),
            ledger: Mutex::new(Ledger::default()),
            counter: Mutex::new(0),
        });
        let st = state.clone();
        let task = spawn_server(
            listener,
            Some(pki.acceptor()),
            Default::default(),
            move |req| handle(st.clone(), req),
        );
        Ok(FakeOAuth {
            addr,
            pki,
            state,
            task,
        })
    }

    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    /// `oauth.example.com:443:127.0.0.1:PORT` for `--connect-to`.
    pub fn connect_to(&self) -> String {
        format!("{HOST}:443:{}:{}", self.addr.ip(), self.addr.port())
    }

    pub fn configure(&self, f: impl FnOnce(&mut OAuthConfig)) {
        f(&mut self.state.cfg.lock().unwrap());
    }

    /// Reads the ledger.
    pub fn ledger<T>(&self, f: impl FnOnce(&Ledger) -> T) -> T {
        f(&self.state.ledger.lock().unwrap())
    }

    /// Token requests with this grant type so far.
    pub fn grants(&self, grant: &str) -> usize {
        self.ledger(|l| l.grants.iter().filter(|g| *g == grant).count())
    }

    /// Invalidates every refresh token (the user revoked consent).
    pub fn revoke_consent(&self) {
        for (_, v) in self.state.ledger.lock().unwrap().refresh.values_mut() {
            *v = false;
        }
    }

    /// Forgets every access token (as a server restart or key rotation
    /// would) while the refresh tokens stay valid.
    pub fn drop_access_tokens(&self) {
        self.state.ledger.lock().unwrap().access.clear();
    }

    /// A provider definition (JSON) pointing at this server.
    pub fn definition(&self) -> serde_json::Value {
        serde_json::json!({
            "id": "fakeoauth",
            "display_name": "Fake OAuth",
            "auth_mode": "oauth2",
            "issuer": ISSUER,
            "authorize_url": format!("{ISSUER}/authorize"),
            "token_url": format!("{ISSUER}/token"),
            "revocation_url": format!("{ISSUER}/revoke"),
            "default_scopes": ["profile", "offline_access"],
            "client_auth": "client_secret_basic",
            "pkce": true,
            "default_lifetime": 1800,
            "verify": { "url": format!("{ISSUER}/userinfo"), "label": "/email" }
        })
    }
}

fn next(state: &State, prefix: &str) -> String {
    let mut c = state.counter.lock().unwrap();
    *c += 1;
    format!("{prefix}-{}-{:08x}", *c, rand::random::<u32>())
}

fn redirect(to: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(302)
        .header("location", to)
        .body(Full::new(Bytes::new()))
        .expect("response")
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query: BTreeMap<String, String> = req
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let cfg = state.cfg.lock().unwrap().clone();
    Ok(match (method.as_str(), path.as_str()) {
        ("GET", "/.well-known/oauth-authorization-server") => json(
            200,
            serde_json::json!({
                "issuer": cfg.metadata_issuer,
                "authorization_endpoint": format!("{ISSUER}/authorize"),
                "token_endpoint": format!("{ISSUER}/token"),
                "revocation_endpoint": format!("{ISSUER}/revoke"),
                "userinfo_endpoint": format!("{ISSUER}/userinfo"),
                "scopes_supported": cfg.allowed_scopes,
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "code_challenge_methods_supported": ["S256"],
            }),
        ),
        ("GET", "/authorize") => authorize_page(&query),
        ("POST", "/authorize") => consent(&state, &cfg, &form),
        ("POST", "/token") => {
            let grant = form.get("grant_type").cloned().unwrap_or_default();
            state.ledger.lock().unwrap().grants.push(grant.clone());
            let resp = token(&state, &cfg, &auth, &form, &grant).await;
            if resp.status() != 200 {
                let code = String::from_utf8_lossy(
                    &resp
                        .body()
                        .clone()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default(),
                )
                .to_string();
                state.ledger.lock().unwrap().token_errors.push(code);
            }
            resp
        }
        ("POST", "/revoke") => revoke(&state, &auth, &form),
        ("GET", "/userinfo") => {
            let token = auth.strip_prefix("Bearer ").unwrap_or("");
            if state.ledger.lock().unwrap().access.contains_key(token) {
                json(200, serde_json::json!({"sub": "u-1", "email": USER_EMAIL}))
            } else {
                let mut r = json(401, serde_json::json!({"error": "invalid_token"}));
                r.headers_mut().insert(
                    "www-authenticate",
                    hyper::header::HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
                r
            }
        }
        _ => json(404, serde_json::json!({"error": "not_found"})),
    })
}

/// The consent page: the request's parameters are posted back with the
/// user's decision (a test submits it like a browser would).
fn authorize_page(q: &BTreeMap<String, String>) -> Response<Full<Bytes>> {
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return json(400, serde_json::json!({"error": "invalid_client"}));
    }
    if q.get("response_type").map(String::as_str) != Some("code") {
        return json(
            400,
            serde_json::json!({"error": "unsupported_response_type"}),
        );
    }
    let mut hidden = String::new();
    for (k, v) in q {
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('"', "&quot;")
                .replace('<', "&lt;")
        };
        hidden.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
            esc(k),
            esc(v)
        ));
    }
    let page = format!(
        "<!doctype html><title>Fake OAuth consent</title><form method=\"post\" action=\"/authorize\">\n{hidden}<button name=\"decision\" value=\"allow\">Allow</button><button name=\"decision\" value=\"deny\">Deny</button></form>"
    );
    Response::builder()
        .status(200)
        .header("content-type", "text/html; charset=utf-8")
        .body(Full::new(Bytes::from(page)))
        .expect("response")
}

fn consent(
    state: &State,
    cfg: &OAuthConfig,
    f: &BTreeMap<String, String>,
) -> Response<Full<Bytes>> {
    let Some(redirect_uri) = f.get("redirect_uri") else {
        return json(400, serde_json::json!({"error": "invalid_request"}));
    };
    let Ok(mut to) = url::Url::parse(redirect_uri) else {
        return json(400, serde_json::json!({"error": "invalid_request"}));
    };
    {
        let mut q = to.query_pairs_mut();
        if f.get("decision").map(String::as_str) != Some("allow") {
            q.append_pair("error", "access_denied")
                .append_pair("error_description", "The user denied access");
        } else {
            let scopes = scope_list(f);
            let code = next(state, "code");
            state.ledger.lock().unwrap().codes.insert(
                code.clone(),
                Code {
                    redirect_uri: redirect_uri.clone(),
                    challenge: f.get("code_challenge").cloned(),
                    scopes,
                    used: false,
                },
            );
            q.append_pair("code", &code);
        }
        if let Some(s) = f.get("state") {
            q.append_pair("state", s);
        }
        if cfg.send_iss {
            q.append_pair("iss", ISSUER);
        }
    }
    redirect(to.to_string())
}

/// RFC 6749 §2.3.1 client authentication, basic or post.
fn client_ok(auth: &str, f: &BTreeMap<String, String>) -> bool {
    let basic = basic_credentials(auth);
    let post = f
        .get("client_id")
        .cloned()
        .zip(f.get("client_secret").cloned());
    match (basic, post) {
        (Some((i, s)), None) | (None, Some((i, s))) => i == CLIENT_ID && s == CLIENT_SECRET,
        _ => false,
    }
}

async fn token(
    state: &State,
    cfg: &OAuthConfig,
    auth: &str,
    f: &BTreeMap<String, String>,
    grant: &str,
) -> Response<Full<Bytes>> {
    if !client_ok(auth, f) {
        return oauth_error(401, "invalid_client", "client authentication failed");
    }
    let scopes = match grant {
        "authorization_code" => {
            let mut ledger = state.ledger.lock().unwrap();
            let Some(code) = f.get("code").and_then(|c| ledger.codes.get_mut(c)) else {
                return oauth_error(400, "invalid_grant", "unknown code");
            };
            if code.used {
                return oauth_error(400, "invalid_grant", "code already used");
            }
            code.used = true;
            if f.get("redirect_uri") != Some(&code.redirect_uri) {
                return oauth_error(
                    400,
                    "invalid_grant",
                    "redirect_uri differs from the authorization request",
                );
            }
            if let Some(challenge) = &code.challenge {
                let verifier = f.get("code_verifier").map(String::as_str).unwrap_or("");
                let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(sha2::Sha256::digest(verifier.as_bytes()));
                if &computed != challenge {
                    return oauth_error(400, "invalid_grant", "PKCE verification failed");
                }
            }
            code.scopes.clone()
        }
        "refresh_token" => {
            if !cfg.refresh_delay.is_zero() {
                tokio::time::sleep(cfg.refresh_delay).await;
            }
            {
                let mut c = state.cfg.lock().unwrap();
                if c.refresh_503 > 0 {
                    c.refresh_503 -= 1;
                    return json(503, serde_json::json!({"error": "temporarily_unavailable"}));
                }
            }
            let mut ledger = state.ledger.lock().unwrap();
            let Some((scopes, valid)) = f
                .get("refresh_token")
                .and_then(|t| ledger.refresh.get_mut(t))
            else {
                return oauth_error(400, "invalid_grant", "unknown refresh token");
            };
            if !*valid {
                return oauth_error(
                    400,
                    "invalid_grant",
                    "refresh token revoked or already used",
                );
            }
            if cfg.rotate_refresh_tokens {
                *valid = false;
            }
            scopes.clone()
        }
        // RFC 6749 §4.4: the client acts for itself; no refresh token.
        "client_credentials" => f
            .get("scope")
            .map(|s| s.split(' ').map(str::to_string).collect())
            .unwrap_or_else(|| vec!["profile".to_string()]),
        _ => return oauth_error(400, "unsupported_grant_type", grant),
    };
    let granted: Vec<String> = scopes
        .into_iter()
        .filter(|s| cfg.allowed_scopes.contains(s))
        .collect();
    let access = next(state, "at");
    let mut resp = serde_json::json!({
        "access_token": access,
        "token_type": cfg.token_type,
        "scope": granted.join(" "),
    });
    if let Some(l) = cfg.token_lifetime {
        resp["expires_in"] = l.into();
    }
    let mut ledger = state.ledger.lock().unwrap();
    if grant == "authorization_code" || cfg.rotate_refresh_tokens {
        let rt = next(state, "rt");
        ledger.refresh.insert(rt.clone(), (granted.clone(), true));
        ledger.refresh_tokens.push(rt.clone());
        resp["refresh_token"] = rt.into();
    }
    ledger.access.insert(access, granted);
    json(200, resp)
}

/// RFC 7009: 200 for valid and unknown tokens alike.
fn revoke(state: &State, auth: &str, f: &BTreeMap<String, String>) -> Response<Full<Bytes>> {
    if !client_ok(auth, f) {
        return oauth_error(401, "invalid_client", "client authentication failed");
    }
    {
        let mut c = state.cfg.lock().unwrap();
        if c.revoke_503 > 0 {
            c.revoke_503 -= 1;
            return json(503, serde_json::json!({"error": "temporarily_unavailable"}));
        }
        if let Some(s) = c.revoke_status {
            return oauth_error(s, "invalid_request", "revocation refused");
        }
    }
    let Some(token) = f.get("token") else {
        return oauth_error(400, "invalid_request", "token is required");
    };
    let mut ledger = state.ledger.lock().unwrap();
    if let Some((_, valid)) = ledger.refresh.get_mut(token) {
        *valid = false;
    }
    ledger.access.remove(token);
    ledger
        .revocations
        .push(f.get("token_type_hint").cloned().unwrap_or_default());
    json(200, serde_json::json!({}))
}
