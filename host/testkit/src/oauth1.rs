//! A fake OAuth 1.0a provider on loopback (HTTPS, test CA), and the
//! signature check it uses, written from RFC 5849 independently of the
//! connector: temporary credentials (§2.1), the authorization redirect
//! with a verifier (§2.2), token credentials (§2.3), and an account
//! endpoint that takes only signed requests (§3). Every request's
//! signature is recomputed from what arrived on the wire (method, `Host`,
//! path, query, form body, `Authorization` parameters), timestamps are
//! checked for freshness and nonces for reuse.

use crate::pki::TestPki;
use crate::server::{json, spawn_server, Received};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use url::form_urlencoded;

pub const HOST: &str = "oauth1.example.com";
pub const BASE: &str = "https://oauth1.example.com";
pub const CONSUMER_KEY: &str = "fake-consumer";
/// Holds `&` and `%` so a key built without §3.6 encoding fails.
pub const CONSUMER_SECRET: &str = "consumer&secret%/+";
/// A token the user "created at the provider" (`oauth1_token`).
pub const GIVEN_TOKEN: &str = "given-token-id";
pub const GIVEN_TOKEN_SECRET: &str = "given&token secret";
pub const SCREEN_NAME: &str = "ada_lovelace";

/// §3.6 percent-encoding.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn decode(s: &str) -> String {
    // Header values are percent-encoded (§3.5.1), never `+` for space.
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `Authorization: OAuth k="v", …` as (name, value) pairs, decoded.
pub fn header_params(auth: &str) -> Option<Vec<(String, String)>> {
    let rest = auth.strip_prefix("OAuth ")?;
    let mut out = Vec::new();
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        let v = v.strip_prefix('"')?.strip_suffix('"')?;
        out.push((decode(k), decode(v)));
    }
    Some(out)
}

/// §3.4.1: the signature base string of a request as received.
pub fn base_string(
    method: &str,
    base_uri: &str,
    query: &[(String, String)],
    body: &[(String, String)],
    oauth: &[(String, String)],
) -> String {
    let mut params: Vec<(String, String)> = query
        .iter()
        .chain(body)
        .chain(
            oauth
                .iter()
                .filter(|(k, _)| k != "realm" && k != "oauth_signature"),
        )
        .map(|(k, v)| (encode(k), encode(v)))
        .collect();
    params.sort();
    let joined: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{method}&{}&{}",
        encode(base_uri),
        encode(&joined.join("&"))
    )
}

/// §3.4.2 (and the HMAC-SHA256 variant): base64 of the HMAC.
pub fn signature(method: &str, consumer_secret: &str, token_secret: &str, base: &str) -> String {
    let alg = if method == "HMAC-SHA256" {
        ring::hmac::HMAC_SHA256
    } else {
        ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY
    };
    let key = format!("{}&{}", encode(consumer_secret), encode(token_secret));
    let tag = ring::hmac::sign(&ring::hmac::Key::new(alg, key.as_bytes()), base.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

/// What the fake saw, for assertions.
#[derive(Default, Debug)]
pub struct Ledger {
    /// Each request: (path, Authorization header) as received.
    pub requests: Vec<(String, String)>,
    /// Failed checks, with why.
    pub refused: Vec<String>,
    nonces: HashSet<(String, String)>,
    /// Temporary token → (secret, callback, verifier once authorized).
    temporary: HashMap<String, (String, String, Option<String>)>,
    /// Token credentials: identifier → secret.
    tokens: HashMap<String, String>,
}

/// Knobs.
#[derive(Clone, Debug)]
pub struct OAuth1Config {
    /// `HMAC-SHA1` or `HMAC-SHA256`: the only method accepted.
    pub signature_method: String,
    /// A `realm` the account endpoint requires, if any.
    pub realm: Option<String>,
    /// Answer the temporary-credential request without
    /// `oauth_callback_confirmed` (an OAuth 1.0 server, not 1.0a).
    pub unconfirmed_callback: bool,
}

impl Default for OAuth1Config {
    fn default() -> Self {
        OAuth1Config {
            signature_method: "HMAC-SHA1".into(),
            realm: None,
            unconfirmed_callback: false,
        }
    }
}

struct State {
    cfg: Mutex<OAuth1Config>,
    ledger: Mutex<Ledger>,
}

/// A running fake. Dropping it stops it.
pub struct FakeOAuth1 {
    addr: SocketAddr,
    pki: TestPki,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeOAuth1 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeOAuth1 {
    pub async fn start(cfg: OAuth1Config) -> std::io::Result<FakeOAuth1> {
        let pki = TestPki::new(&[HOST]);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut ledger = Ledger::default();
        ledger
            .tokens
            .insert(GIVEN_TOKEN.into(), GIVEN_TOKEN_SECRET.into());
        let state = Arc::new(State {
            cfg: Mutex::new(cfg),
            ledger: Mutex::new(ledger),
        });
        let st = state.clone();
        let task = spawn_server(
            listener,
            Some(pki.acceptor()),
            Default::default(),
            move |req| handle(st.clone(), req),
        );
        Ok(FakeOAuth1 {
            addr,
            pki,
            state,
            task,
        })
    }

    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    /// `oauth1.example.com:443:127.0.0.1:PORT` for `--connect-to`.
    pub fn connect_to(&self) -> String {
        format!("{HOST}:443:{}:{}", self.addr.ip(), self.addr.port())
    }

    pub fn ledger<T>(&self, f: impl FnOnce(&Ledger) -> T) -> T {
        f(&self.state.ledger.lock().unwrap())
    }

    /// The definition of this provider (three-legged, or `oauth1_token`).
    pub fn definition(&self, mode: &str) -> serde_json::Value {
        let cfg = self.state.cfg.lock().unwrap().clone();
        let mut oauth1 = serde_json::json!({
            "request_token_url": format!("{BASE}/oauth/request_token"),
            "signature_method": cfg.signature_method,
            "scope_param": "scope",
        });
        if mode == "oauth1_token" {
            oauth1 = serde_json::json!({ "signature_method": cfg.signature_method });
            if cfg.realm.is_some() {
                oauth1["realm"] = "{account}".into();
            }
        }
        let mut d = serde_json::json!({
            "format": 2,
            "id": format!("fake-{mode}"),
            "display_name": "Fake OAuth 1.0a",
            "auth_mode": mode,
            "oauth1": oauth1,
            "authorize_url": format!("{BASE}/oauth/authorize"),
            "token_url": format!("{BASE}/oauth/access_token"),
            "authorize_params": {"name": "connhost"},
            "default_scopes": ["read", "write"],
            "scope_separator": ",",
            "verify": {"url": format!("{BASE}/1/account?include=name"), "label": "/screen_name"},
        });
        if mode == "oauth1_token" {
            let o = d.as_object_mut().unwrap();
            o.remove("authorize_url");
            o.remove("token_url");
            o.remove("authorize_params");
            o.remove("default_scopes");
            if cfg.realm.is_some() {
                d["fields"] = serde_json::json!({"account": {"label": "Account ID", "rule": "id"}});
                d["verify"]["url"] = format!("{BASE}/1/account?account={{account}}").into();
            }
        }
        d
    }
}

fn text(status: u16, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(body)))
        .expect("response")
}

fn unauthorized(state: &State, why: String) -> Response<Full<Bytes>> {
    state.ledger.lock().unwrap().refused.push(why.clone());
    let mut r = json(401, serde_json::json!({"errors": [{"message": why}]}));
    r.headers_mut()
        .insert("www-authenticate", "OAuth realm=\"fake\"".parse().unwrap());
    r
}

/// Checks a request's signature; on success, its protocol parameters.
fn check(
    state: &State,
    method: &str,
    uri: &hyper::Uri,
    host: &str,
    auth: &str,
    body: &[(String, String)],
    token_secret: impl Fn(&Ledger, &str) -> Option<String>,
) -> Result<BTreeMap<String, String>, String> {
    let cfg = state.cfg.lock().unwrap().clone();
    let oauth = header_params(auth).ok_or("no `Authorization: OAuth …` header")?;
    let p: BTreeMap<String, String> = oauth.iter().cloned().collect();
    let get = |k: &str| p.get(k).cloned().ok_or(format!("no {k}"));
    if get("oauth_consumer_key")? != CONSUMER_KEY {
        return Err("unknown consumer key".into());
    }
    let method_name = get("oauth_signature_method")?;
    if method_name != cfg.signature_method {
        return Err(format!(
            "signature method {method_name}, expected {}",
            cfg.signature_method
        ));
    }
    if p.get("oauth_version").is_some_and(|v| v != "1.0") {
        return Err("oauth_version must be 1.0".into());
    }
    let ts: u64 = get("oauth_timestamp")?
        .parse()
        .map_err(|_| "bad timestamp")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if ts.abs_diff(now) > 300 {
        return Err("stale timestamp".into());
    }
    let nonce = get("oauth_nonce")?;
    let ledger = state.ledger.lock().unwrap();
    let secret = match p.get("oauth_token") {
        Some(t) => token_secret(&ledger, t).ok_or("unknown token")?,
        None => String::new(),
    };
    drop(ledger);
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let base = base_string(
        method,
        &format!("https://{host}{}", uri.path()),
        &query,
        body,
        &oauth,
    );
    let expected = signature(&method_name, CONSUMER_SECRET, &secret, &base);
    if get("oauth_signature")? != expected {
        return Err(format!("signature mismatch over {base}"));
    }
    if !state
        .ledger
        .lock()
        .unwrap()
        .nonces
        .insert((ts.to_string(), nonce))
    {
        return Err("nonce used before".into());
    }
    Ok(p)
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let r = Received::read(req).await;
    let (method, uri, auth) = (r.method.clone(), r.uri.clone(), r.header("authorization"));
    let host = if r.host.is_empty() {
        HOST.to_string()
    } else {
        r.host.clone()
    };
    let body: Vec<(String, String)> = if r
        .header("content-type")
        .starts_with("application/x-www-form-urlencoded")
    {
        form_urlencoded::parse(&r.body).into_owned().collect()
    } else {
        Vec::new()
    };
    state
        .ledger
        .lock()
        .unwrap()
        .requests
        .push((uri.path().to_string(), auth.clone()));
    let cfg = state.cfg.lock().unwrap().clone();
    let random = || format!("{:016x}", rand::random::<u64>());
    Ok(match (method.as_str(), uri.path()) {
        ("POST", "/oauth/request_token") => {
            match check(&state, &method, &uri, &host, &auth, &body, |_, _| None) {
                Err(why) => unauthorized(&state, why),
                Ok(p) => {
                    let Some(callback) = p.get("oauth_callback").cloned() else {
                        return Ok(unauthorized(&state, "no oauth_callback (§2.1)".into()));
                    };
                    let (token, secret) = (format!("temp-{}", random()), random());
                    state
                        .ledger
                        .lock()
                        .unwrap()
                        .temporary
                        .insert(token.clone(), (secret.clone(), callback, None));
                    let confirmed = if cfg.unconfirmed_callback {
                        ""
                    } else {
                        "&oauth_callback_confirmed=true"
                    };
                    text(
                        200,
                        format!(
                            "oauth_token={token}&oauth_token_secret={}{confirmed}",
                            encode(&secret)
                        ),
                    )
                }
            }
        }
        // The user approves at once: redirect to the callback with a verifier.
        ("GET", "/oauth/authorize") => {
            let q: BTreeMap<String, String> = uri
                .query()
                .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default();
            let token = q.get("oauth_token").cloned().unwrap_or_default();
            let mut ledger = state.ledger.lock().unwrap();
            let Some(entry) = ledger.temporary.get_mut(&token) else {
                return Ok(json(
                    400,
                    serde_json::json!({"error": "unknown oauth_token"}),
                ));
            };
            let verifier = random();
            entry.2 = Some(verifier.clone());
            let mut to = url::Url::parse(&entry.1).expect("callback is a URL");
            to.query_pairs_mut()
                .append_pair("oauth_token", &token)
                .append_pair("oauth_verifier", &verifier);
            Response::builder()
                .status(302)
                .header("location", to.to_string())
                .body(Full::new(Bytes::new()))
                .expect("response")
        }
        ("POST", "/oauth/access_token") => {
            let r = check(&state, &method, &uri, &host, &auth, &body, |l, t| {
                l.temporary.get(t).map(|(s, _, _)| s.clone())
            });
            match r {
                Err(why) => unauthorized(&state, why),
                Ok(p) => {
                    let token = p.get("oauth_token").cloned().unwrap_or_default();
                    let mut ledger = state.ledger.lock().unwrap();
                    // Single use, and only with the verifier it was given.
                    let Some((_, _, verifier)) = ledger.temporary.remove(&token) else {
                        drop(ledger);
                        return Ok(unauthorized(&state, "temporary token used before".into()));
                    };
                    if verifier.is_none() || verifier.as_ref() != p.get("oauth_verifier") {
                        drop(ledger);
                        return Ok(unauthorized(
                            &state,
                            "wrong or missing oauth_verifier (§2.3)".into(),
                        ));
                    }
                    let (access, secret) = (
                        format!("access-{}", random()),
                        format!("{}&/{}", random(), random()),
                    );
                    ledger.tokens.insert(access.clone(), secret.clone());
                    text(
                        200,
                        format!(
                            "oauth_token={access}&oauth_token_secret={}&screen_name={SCREEN_NAME}",
                            encode(&secret)
                        ),
                    )
                }
            }
        }
        (_, path) if path.starts_with("/1/") => {
            match check(&state, &method, &uri, &host, &auth, &body, |l, t| {
                l.tokens.get(t).cloned()
            }) {
                Err(why) => unauthorized(&state, why),
                Ok(p) => {
                    if let Some(realm) = &cfg.realm {
                        if p.get("realm") != Some(realm) {
                            return Ok(unauthorized(&state, format!("realm must be {realm}")));
                        }
                    }
                    if !p.contains_key("oauth_token") {
                        return Ok(unauthorized(&state, "no oauth_token".into()));
                    }
                    json(
                        200,
                        serde_json::json!({"screen_name": SCREEN_NAME, "path": path, "form": body.len()}),
                    )
                }
            }
        }
        _ => json(404, serde_json::json!({"error": "not found"})),
    })
}
