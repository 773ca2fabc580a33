//! A fake provider generated from provider definitions: one HTTPS server
//! answering for every host of every definition, speaking the protocol
//! the selected definition describes, and checking the wire format the
//! way the real service would (client authentication, grant parameters,
//! token placement, static headers and query). It reads the definition
//! JSON itself, never the connector's code, so a connector bug and the
//! fake cannot change together.

use crate::pki::TestPki;
use crate::server::{basic_credentials, json, spawn_server};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

mod oauth1;
use oauth1::{check_oauth1, oauth1_step};

pub const CLIENT_ID: &str = "catalogue-client";
pub const CLIENT_SECRET: &str = "catalogue-client-secret-3b1f";
pub const API_KEY: &str = "catalogue-api-key-77d2";
pub const USERNAME: &str = "catalogue-user";
pub const PASSWORD: &str = "catalogue-password-91ac";
pub const CODE: &str = "catalogue-code";
pub const APP_KEY: &str = "catalogue-app-key-5e01";
pub const AWS_ACCESS_KEY_ID: &str = "AKIDCATALOGUE";
pub const AWS_SECRET: &str = "catalogue/aws+secret-key";
pub const HMAC_KEY_ID: &str = "catalogue-key-id";
pub const HMAC_SECRET: &str = "catalogue-hmac-secret-9a2f";
/// OAuth 1.0a: the temporary credentials and the token the fake issues
/// (and the token an `oauth1_token` connection is given).
pub const OAUTH1_TEMP_TOKEN: &str = "catalogue-temp-token";
pub const OAUTH1_TEMP_SECRET: &str = "catalogue&temp secret";
pub const OAUTH1_TOKEN: &str = "catalogue-oauth1-token";
pub const OAUTH1_TOKEN_SECRET: &str = "catalogue/oauth1&token-secret";
/// An RSA key for RS256 tests only (the fake checks with its public half).
pub const RSA_TEST_KEY: &str = include_str!("test-rsa-key.pem");

/// A field's test value: its default, the first allowed value, or one
/// that passes its rule.
pub fn sample_values(def: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(fields) = def["fields"].as_object() {
        for (name, decl) in fields {
            let v = if let Some(d) = decl["default"].as_str() {
                d.to_string()
            } else if let Some(first) = decl["one_of"].get(0).and_then(Value::as_str) {
                first.to_string()
            } else {
                match decl["rule"].as_str() {
                    Some("hostname") => "selfhosted.example.com".into(),
                    Some("id") => "acct1".into(),
                    _ => "acme".into(),
                }
            };
            out.insert(name.clone(), v);
        }
    }
    out
}

pub fn render(tpl: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = tpl.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// The `https://acme.<domain>` a token response names for a pattern.
pub fn token_origin_for(pattern: &str) -> String {
    match pattern.strip_prefix("https://*.") {
        Some(rest) => format!("https://acme.{rest}"),
        None => pattern.to_string(),
    }
}

/// Every URL a definition may produce, filled with its sample values.
fn urls(def: &Value) -> Vec<String> {
    let v = sample_values(def);
    let mut out = Vec::new();
    for key in [
        "authorize_url",
        "token_url",
        "refresh_url",
        "revocation_url",
        "introspection_url",
        "api_base",
        "issuer",
    ] {
        if let Some(u) = def[key].as_str() {
            out.push(render(u, &v));
        }
    }
    for u in [
        &def["verify"]["url"],
        &def["key_exchange"]["url"],
        &def["oauth1"]["request_token_url"],
    ] {
        if let Some(u) = u.as_str() {
            out.push(render(u, &v));
        }
    }
    for h in def["hosts"].as_array().into_iter().flatten() {
        if let Some(h) = h.as_str() {
            out.push(render(h, &v));
        }
    }
    if let Some(p) = def["token_origin"]["pattern"].as_str() {
        out.push(token_origin_for(p));
    }
    out
}

/// Host and path of a URL.
fn host_path(u: &str) -> Option<(String, String)> {
    let u = url::Url::parse(u).ok()?;
    Some((u.host_str()?.to_string(), u.path().to_string()))
}

/// What the fake saw that a real provider would refuse.
#[derive(Default)]
pub struct Ledger {
    pub errors: Vec<String>,
    pub requests: Vec<String>,
    pub access_token: String,
    pub refresh_token: String,
    /// The `oauth_callback` of the last OAuth 1.0a temporary-credential request.
    pub oauth1_callback: Option<String>,
    pub issued: usize,
}

struct Selected {
    def: Value,
    ledger: Ledger,
    /// The public halves of the test keys: RS256 (DER RSAPublicKey), ES256
    /// (uncompressed point).
    rsa_public: Vec<u8>,
    ec_public: Vec<u8>,
}

pub struct CatalogueFake {
    addr: SocketAddr,
    hosts: Vec<String>,
    pki: TestPki,
    state: Arc<Mutex<Selected>>,
    /// A P-256 key made for this run (PKCS#8 PEM), for ES256.
    ec_private_pem: String,
}

impl CatalogueFake {
    /// One server for every host `defs` can produce.
    pub async fn start(defs: &[Value]) -> std::io::Result<CatalogueFake> {
        let mut hosts: Vec<String> = defs
            .iter()
            .flat_map(urls)
            .filter_map(|u| host_path(&u).map(|(h, _)| h))
            .collect();
        hosts.sort();
        hosts.dedup();
        let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
        let pki = TestPki::new(&names);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let ec = rcgen::KeyPair::generate().expect("P-256 key");
        let rsa =
            ring::signature::RsaKeyPair::from_pkcs8(&pem_der(RSA_TEST_KEY)).expect("test RSA key");
        let state = Arc::new(Mutex::new(Selected {
            def: Value::Null,
            ledger: Ledger::default(),
            rsa_public: ring::signature::KeyPair::public_key(&rsa).as_ref().to_vec(),
            ec_public: ec.public_key_raw().to_vec(),
        }));
        let ec_private_pem = ec.serialize_pem();
        let st = state.clone();
        spawn_server(
            listener,
            Some(pki.acceptor()),
            Arc::new(AtomicUsize::new(0)),
            move |req| {
                let st = st.clone();
                async move { Ok::<_, Infallible>(handle(req, st).await) }
            },
        );
        Ok(CatalogueFake {
            addr,
            hosts,
            pki,
            state,
            ec_private_pem,
        })
    }

    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    /// The private key a definition's JWTs are signed with (its `jwt.alg`).
    pub fn private_key_for(&self, def: &Value) -> String {
        match def["jwt"]["alg"].as_str() {
            Some("ES256") => self.ec_private_pem.clone(),
            _ => RSA_TEST_KEY.to_string(),
        }
    }

    /// `--connect-to` values: every host's port 443 to this server.
    pub fn connect_to(&self) -> Vec<String> {
        self.hosts
            .iter()
            .map(|h| format!("{h}:443:127.0.0.1:{}", self.addr.port()))
            .collect()
    }

    /// Speaks `def` from now on, with a fresh ledger.
    pub fn select(&self, def: &Value) {
        let mut s = self.state.lock().unwrap();
        s.def = def.clone();
        s.ledger = Ledger::default();
    }

    pub fn ledger<T>(&self, f: impl FnOnce(&Ledger) -> T) -> T {
        f(&self.state.lock().unwrap().ledger)
    }
}

struct Seen {
    method: String,
    raw: Vec<u8>,
    raw_query: String,
    host: String,
    path: String,
    query: BTreeMap<String, String>,
    headers: BTreeMap<String, String>,
    form: BTreeMap<String, String>,
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    st: Arc<Mutex<Selected>>,
) -> Response<Full<Bytes>> {
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(|h| h.split(':').next().unwrap_or(h).to_string())
        .or_else(|| req.uri().host().map(str::to_string))
        .unwrap_or_default();
    let path = req.uri().path().to_string();
    let method = req.method().to_string();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let query: BTreeMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let seen = Seen {
        method,
        raw: body.to_vec(),
        raw_query,
        host,
        path,
        query,
        headers,
        form: url::form_urlencoded::parse(&body).into_owned().collect(),
    };
    let mut st = st.lock().unwrap();
    let def = st.def.clone();
    let keys = Keys {
        rsa: st.rsa_public.clone(),
        ec: st.ec_public.clone(),
    };
    let ledger = &mut st.ledger;
    ledger.requests.push(format!("{}{}", seen.host, seen.path));
    let mut problems = Vec::new();
    let resp = answer(&def, &seen, ledger, &mut problems, &keys);
    for p in problems {
        ledger
            .errors
            .push(format!("{} {}{}: {p}", def["id"], seen.host, seen.path));
    }
    resp
}

fn is(def: &Value, key: &str, seen: &Seen) -> bool {
    let values = sample_values(def);
    let url = match key {
        "verify" => def["verify"]["url"].as_str(),
        "key_exchange" => def["key_exchange"]["url"].as_str(),
        "request_token_url" => def["oauth1"]["request_token_url"].as_str(),
        k => def[k].as_str(),
    };
    url.and_then(|u| host_path(&render(u, &values)))
        .is_some_and(|(h, p)| h == seen.host && p == seen.path)
}

struct Keys {
    rsa: Vec<u8>,
    ec: Vec<u8>,
}

fn answer(
    def: &Value,
    seen: &Seen,
    l: &mut Ledger,
    problems: &mut Vec<String>,
    keys: &Keys,
) -> Response<Full<Bytes>> {
    let mode = def["auth_mode"].as_str().unwrap_or("");
    let values = sample_values(def);
    let is_refresh_url = def["refresh_url"].is_string() && is(def, "refresh_url", seen);
    if mode == "key_exchange" && is(def, "key_exchange", seen) {
        return key_exchange(def, seen, l, problems);
    }
    if mode == "oauth1" && (is(def, "request_token_url", seen) || is(def, "token_url", seen)) {
        return oauth1_step(def, seen, l, problems);
    }
    if is(def, "token_url", seen) || is_refresh_url {
        return token(def, seen, l, problems, &values, is_refresh_url, keys);
    }
    if is(def, "introspection_url", seen) {
        check_client(def, seen, problems, keys);
        let active = seen.form.get("token") == Some(&l.access_token);
        if !active {
            problems.push("introspection of a token the fake did not issue".into());
        }
        return json(200, json!({ "active": active }));
    }
    if is(def, "revocation_url", seen) {
        return json(200, json!({}));
    }
    // A resource request: the credentials where the definition says.
    check_credentials(def, seen, l, problems, &values);
    for (k, v) in def["headers"].as_object().into_iter().flatten() {
        let want = render(v.as_str().unwrap_or(""), &values);
        if seen.headers.get(&k.to_ascii_lowercase()) != Some(&want) {
            problems.push(format!(
                "header {k} should be `{want}`, got {:?}",
                seen.headers.get(&k.to_ascii_lowercase())
            ));
        }
    }
    for (k, v) in def["query"].as_object().into_iter().flatten() {
        let want = render(v.as_str().unwrap_or(""), &values);
        if seen.query.get(k) != Some(&want) {
            problems.push(format!("query {k} should be `{want}`"));
        }
    }
    if !problems.is_empty() {
        return json(
            401,
            json!({ "error": "invalid credentials", "problems": problems }),
        );
    }
    if is(def, "verify", seen) {
        let status = def["verify"]["expected_status"].as_u64().unwrap_or(200) as u16;
        let mut body = json!({});
        if let Some(ptr) = def["verify"]["label"].as_str().filter(|p| !p.is_empty()) {
            put(&mut body, ptr, json!(label_of(def)));
        }
        return json(status, body);
    }
    json(200, json!({ "ok": true, "path": seen.path }))
}

/// The account label the fake's verification endpoint answers.
pub fn label_of(def: &Value) -> String {
    format!("account-of-{}", def["id"].as_str().unwrap_or(""))
}

/// Sets `v` at an RFC 6901 pointer, creating objects and arrays.
fn put(root: &mut Value, ptr: &str, v: Value) {
    let parts: Vec<String> = ptr
        .split('/')
        .skip(1)
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut cur = root;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let next = if last {
            v.clone()
        } else if parts[i + 1].parse::<usize>().is_ok() {
            json!([])
        } else {
            json!({})
        };
        cur = match part.parse::<usize>() {
            Ok(n) if cur.is_array() => {
                let a = cur.as_array_mut().unwrap();
                while a.len() <= n {
                    a.push(next.clone());
                }
                if last {
                    a[n] = v.clone();
                }
                &mut a[n]
            }
            _ => {
                let o = cur.as_object_mut().unwrap();
                if last {
                    o.insert(part.clone(), v.clone());
                }
                o.entry(part.clone()).or_insert(next)
            }
        };
    }
}

fn check_credentials(
    def: &Value,
    seen: &Seen,
    l: &Ledger,
    problems: &mut Vec<String>,
    values: &BTreeMap<String, String>,
) {
    let mode = def["auth_mode"].as_str().unwrap_or("");
    match mode {
        "aws_sigv4" => {
            if let Err(e) = check_sigv4(def, seen, values) {
                problems.push(format!("SigV4: {e}"));
            }
        }
        "hmac" => {
            if let Err(e) = check_hmac(def, seen, values) {
                problems.push(format!("HMAC: {e}"));
            }
        }
        "oauth1" | "oauth1_token" => {
            let realm = def["oauth1"]["realm"].as_str().map(|r| render(r, values));
            match check_oauth1(def, seen, OAUTH1_TOKEN_SECRET) {
                Ok(p) if p.get("oauth_token").map(String::as_str) != Some(OAUTH1_TOKEN) => {
                    problems.push("OAuth 1.0a: not the token the fake issued".into())
                }
                Ok(p) if p.get("realm") != realm.as_ref() => {
                    problems.push(format!("OAuth 1.0a: realm should be {realm:?}"))
                }
                Ok(_) => {}
                Err(e) => problems.push(format!("OAuth 1.0a: {e}")),
            }
        }
        "api_key" => {
            let k = &def["api_key"];
            let name = k["name"].as_str().unwrap_or("");
            if let Some(second) = k.get("second").filter(|v| v.is_object()) {
                let n = second["name"].as_str().unwrap_or("");
                let want = format!("{}{APP_KEY}", second["prefix"].as_str().unwrap_or(""));
                let got = match second["in"].as_str() {
                    Some("query") => seen.query.get(n),
                    _ => seen.headers.get(&n.to_ascii_lowercase()),
                };
                if got != Some(&want) {
                    problems.push(format!("the second key should be in {n}"));
                }
            }
            match k["in"].as_str() {
                Some("basic_user") => {
                    let pw = k["password"].as_str().unwrap_or("");
                    if basic(seen) != Some((API_KEY.to_string(), pw.to_string())) {
                        problems.push(format!(
                            "the key should be the Basic user name, password `{pw}`"
                        ));
                    }
                }
                Some("header") => {
                    let want = format!("{}{API_KEY}", k["prefix"].as_str().unwrap_or(""));
                    if seen.headers.get(&name.to_ascii_lowercase()) != Some(&want) {
                        problems.push(format!(
                            "api key should be in header {name} as `{}…`",
                            k["prefix"].as_str().unwrap_or("")
                        ));
                    }
                }
                Some("query") => {
                    if seen.query.get(name).map(String::as_str) != Some(API_KEY) {
                        problems.push(format!("api key should be in query {name}"));
                    }
                }
                Some("basic") => {
                    let user = k["username"].as_str().unwrap_or("");
                    if basic(seen) != Some((user.to_string(), API_KEY.to_string())) {
                        problems.push(format!(
                            "api key should be the Basic password of user `{user}`"
                        ));
                    }
                }
                other => problems.push(format!("unknown api_key.in {other:?}")),
            }
        }
        "basic" => {
            if basic(seen) != Some((USERNAME.to_string(), PASSWORD.to_string())) {
                problems.push("Basic user:password expected".into());
            }
        }
        _ => {
            let t = &def["token"];
            let ok = match t["in"].as_str() {
                Some("query") => {
                    seen.query.get(t["name"].as_str().unwrap_or("")) == Some(&l.access_token)
                }
                _ => {
                    let name = t["name"]
                        .as_str()
                        .unwrap_or("Authorization")
                        .to_ascii_lowercase();
                    let prefix = t["prefix"].as_str().unwrap_or("Bearer ");
                    seen.headers.get(&name) == Some(&format!("{prefix}{}", l.access_token))
                }
            };
            if !ok || l.access_token.is_empty() {
                problems.push(format!(
                    "the access token it issued (`{}`) should be on the request per `token`",
                    l.access_token
                ));
            }
        }
    }
}

/// Client authentication at the token endpoint, per `client_auth`.
fn check_client(def: &Value, seen: &Seen, problems: &mut Vec<String>, keys: &Keys) {
    let how = def["client_auth"].as_str().unwrap_or("client_secret_basic");
    match how {
        "private_key_jwt" => {
            if seen.form.get("client_assertion_type").map(String::as_str)
                != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            {
                problems.push("private_key_jwt: client_assertion_type missing".into());
            }
            let aud = format!("https://{}{}", seen.host, seen.path);
            match check_jwt(
                def,
                seen.form
                    .get("client_assertion")
                    .map(String::as_str)
                    .unwrap_or(""),
                keys,
            ) {
                Ok(c)
                    if c["iss"] == CLIENT_ID
                        && c["sub"] == CLIENT_ID
                        && c["aud"] == aud.as_str()
                        && c["jti"].is_string() => {}
                Ok(c) => problems.push(format!("private_key_jwt: claims {c}")),
                Err(e) => problems.push(format!("private_key_jwt: {e}")),
            }
            if seen.form.contains_key("client_secret") || seen.headers.contains_key("authorization")
            {
                problems.push("private_key_jwt sends no client secret".into());
            }
        }
        "client_secret_post" => {
            if seen.form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
                || seen.form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
            {
                problems.push(
                    "client_secret_post: client_id and client_secret in the body expected".into(),
                );
            }
        }
        _ => {
            // `basic_credentials` undoes the form-encoding; our values need none.
            if basic(seen) != Some((CLIENT_ID.to_string(), CLIENT_SECRET.to_string())) {
                problems.push(format!("{how}: HTTP Basic client credentials expected"));
            }
            if seen.form.contains_key("client_secret") {
                problems.push("the client secret must not also be in the body".into());
            }
        }
    }
}

fn token(
    def: &Value,
    seen: &Seen,
    l: &mut Ledger,
    problems: &mut Vec<String>,
    values: &BTreeMap<String, String>,
    refresh_url: bool,
    keys: &Keys,
) -> Response<Full<Bytes>> {
    let grant_is_jwt = seen.form.get("grant_type").map(String::as_str)
        == Some("urn:ietf:params:oauth:grant-type:jwt-bearer");
    if !grant_is_jwt {
        check_client(def, seen, problems, keys);
    }
    let grant = seen.form.get("grant_type").cloned().unwrap_or_default();
    let mode = def["auth_mode"].as_str().unwrap_or("");
    let f = |k: &str| seen.form.get(k).cloned().unwrap_or_default();
    match grant.as_str() {
        "authorization_code" if mode == "oauth2" => {
            if f("code") != CODE {
                problems.push("wrong code".into());
            }
            let pkce = def["pkce"].as_bool().unwrap_or(true);
            if pkce != seen.form.contains_key("code_verifier") {
                problems.push(format!("code_verifier expected: {pkce}"));
            }
            if f("redirect_uri").is_empty() {
                problems.push("redirect_uri missing".into());
            }
        }
        "client_credentials" if mode == "oauth2_cc" => {}
        // RFC 7523 §2.1 and §3: the assertion is the grant.
        "urn:ietf:params:oauth:grant-type:jwt-bearer" if mode == "jwt_bearer" => {
            let aud = match def["jwt"]["audience"].as_str() {
                Some(a) => render(a, values),
                None => format!("https://{}{}", seen.host, seen.path),
            };
            match check_jwt(
                def,
                seen.form.get("assertion").map(String::as_str).unwrap_or(""),
                keys,
            ) {
                Ok(c) => {
                    let scopes: Vec<&str> = def["default_scopes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    let scope_claim = def["jwt"]["scope_claim"].as_bool().unwrap_or(false);
                    if c["iss"] != CLIENT_ID || c["aud"] != aud.as_str() {
                        problems.push(format!("jwt_bearer: iss/aud wrong in {c}"));
                    }
                    if scope_claim && !scopes.is_empty() && c["scope"] != scopes.join(" ").as_str()
                    {
                        problems.push(format!("jwt_bearer: scope claim wrong in {c}"));
                    }
                    for (k, v) in def["jwt"]["claims"].as_object().into_iter().flatten() {
                        let want = v
                            .as_str()
                            .map(|t| json!(render(t, values)))
                            .unwrap_or(v.clone());
                        if c[k] != want {
                            problems.push(format!("jwt_bearer: claim {k} should be {want}"));
                        }
                    }
                }
                Err(e) => problems.push(format!("jwt_bearer: {e}")),
            }
        }
        "password" if mode == "password" => {
            if f("username") != USERNAME || f("password") != PASSWORD {
                problems.push("wrong username or password".into());
            }
        }
        "refresh_token" => {
            if f("refresh_token") != l.refresh_token || l.refresh_token.is_empty() {
                problems.push("refresh with a token the fake did not issue".into());
            }
        }
        other => problems.push(format!("grant_type `{other}` for auth_mode {mode}")),
    }
    if def["refresh_url"].is_string() && grant == "refresh_token" && !refresh_url {
        problems.push("refresh sent to token_url, not refresh_url".into());
    }
    // `refresh_params` add to (and win over) `token_params` on refresh.
    let mut params = def["token_params"].as_object().cloned().unwrap_or_default();
    if grant == "refresh_token" {
        params.extend(
            def["refresh_params"]
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
    }
    for (k, v) in &params {
        if f(k) != render(v.as_str().unwrap_or(""), values) {
            problems.push(format!(
                "token param {k} should be `{}`",
                v.as_str().unwrap_or("")
            ));
        }
    }
    if !problems.is_empty() {
        return json(
            400,
            json!({"error": "invalid_request", "error_description": problems.join("; ")}),
        );
    }
    l.issued += 1;
    l.access_token = format!("at-{}-{}", def["id"].as_str().unwrap_or(""), l.issued);
    let mut body = json!({
        "access_token": l.access_token,
        "token_type": "Bearer",
        "expires_in": 3600,
    });
    if mode != "oauth2_cc" && mode != "jwt_bearer" {
        l.refresh_token = format!("rt-{}", l.issued);
        body["refresh_token"] = json!(l.refresh_token);
    }
    if let Some(p) = def["token_origin"]["pattern"].as_str() {
        let ptr = def["token_origin"]["pointer"]
            .as_str()
            .unwrap_or("/instance_url");
        put(&mut body, ptr, json!(token_origin_for(p)));
    }
    json(200, body)
}

fn key_exchange(
    def: &Value,
    seen: &Seen,
    l: &mut Ledger,
    problems: &mut Vec<String>,
) -> Response<Full<Bytes>> {
    let k = &def["key_exchange"];
    let param = k["param"].as_str().unwrap_or("api_key");
    if k["body"] == "json" {
        let body: Value = serde_json::from_slice(&seen.raw).unwrap_or(Value::Null);
        let ptr = k["key_pointer"].as_str().unwrap_or("/api_key");
        if body.pointer(ptr).and_then(Value::as_str) != Some(API_KEY) {
            problems.push(format!("the key should be at {ptr} of the JSON body"));
        }
        let values = {
            let mut v = sample_values(def);
            v.insert("username".into(), USERNAME.into());
            v
        };
        for (name, tpl) in k["json"].as_object().into_iter().flatten() {
            if let Some(t) = tpl.as_str() {
                if body[name] != render(t, &values).as_str() {
                    problems.push(format!("JSON body {name} should be {}", render(t, &values)));
                }
            }
        }
    } else if param.is_empty() {
        let user = k["username"].as_str().unwrap_or("");
        if basic(seen) != Some((user.to_string(), API_KEY.to_string())) {
            problems.push("the key should be the Basic password".into());
        }
    } else if seen.form.get(param).map(String::as_str) != Some(API_KEY) {
        problems.push(format!("the key should be form parameter {param}"));
    }
    if !problems.is_empty() {
        return json(401, json!({"error": "bad key"}));
    }
    l.issued += 1;
    l.access_token = format!("xt-{}-{}", def["id"].as_str().unwrap_or(""), l.issued);
    let mut body = json!({});
    put(
        &mut body,
        k["token_pointer"].as_str().unwrap_or("/access_token"),
        json!(l.access_token),
    );
    put(
        &mut body,
        k["expires_pointer"].as_str().unwrap_or("/expires_in"),
        json!(3600),
    );
    json(200, body)
}

fn basic(seen: &Seen) -> Option<(String, String)> {
    basic_credentials(seen.headers.get("authorization")?)
}

/// The DER inside a PEM block.
fn pem_der(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("PEM base64")
}

/// A JWT's claims once its signature checks with the test key of the
/// definition's `jwt.alg` (ring's verifiers, not the host's signer).
fn check_jwt(def: &Value, jwt: &str, keys: &Keys) -> Result<Value, String> {
    use base64::Engine as _;
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256};
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, sig] = parts[..] else {
        return Err(format!("not a JWT: `{jwt}`"));
    };
    let header: Value = serde_json::from_slice(&b64.decode(h).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let claims: Value = serde_json::from_slice(&b64.decode(c).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let sig = b64.decode(sig).map_err(|e| e.to_string())?;
    let alg = def["jwt"]["alg"].as_str().unwrap_or("RS256");
    if header["alg"] != alg {
        return Err(format!("header {header}, expected alg {alg}"));
    }
    let signed = format!("{h}.{c}");
    let ok = match alg {
        "ES256" => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &keys.ec)
            .verify(signed.as_bytes(), &sig),
        _ => UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &keys.rsa)
            .verify(signed.as_bytes(), &sig),
    };
    ok.map_err(|_| "the signature does not verify with the public key".to_string())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap_or(0),
        claims["exp"].as_u64().unwrap_or(0),
    );
    if iat > now + 60 || exp <= now || exp > iat + 3600 {
        return Err(format!("iat/exp wrong: {claims}"));
    }
    Ok(claims)
}

fn check_sigv4(def: &Value, seen: &Seen, values: &BTreeMap<String, String>) -> Result<(), String> {
    let region = render(def["aws"]["region"].as_str().unwrap_or("{region}"), values);
    crate::sigv4::check(
        &crate::sigv4::Received {
            method: &seen.method,
            host: &seen.host,
            path: &seen.path,
            raw_query: &seen.raw_query,
            headers: &seen.headers,
            body: &seen.raw,
        },
        AWS_ACCESS_KEY_ID,
        AWS_SECRET,
        &region,
        def["aws"]["service"].as_str().unwrap_or(""),
    )
}

/// An HMAC request signature rebuilt from what arrived: the string to
/// sign from the definition's template, the timestamp and nonce from
/// their headers, the MAC with ring (not the host's signer).
fn check_hmac(def: &Value, seen: &Seen, values: &BTreeMap<String, String>) -> Result<(), String> {
    use base64::Engine as _;
    let h = &def["hmac"];
    let header = |key: &str| {
        h[key]
            .as_str()
            .and_then(|n| seen.headers.get(&n.to_ascii_lowercase()).cloned())
    };
    let mut v = values.clone();
    v.insert(
        "timestamp".into(),
        header("timestamp_header").unwrap_or_default(),
    );
    v.insert("nonce".into(), header("nonce_header").unwrap_or_default());
    v.insert("method".into(), seen.method.clone());
    let path = if seen.raw_query.is_empty() {
        seen.path.clone()
    } else {
        format!("{}?{}", seen.path, seen.raw_query)
    };
    v.insert("path".into(), path);
    v.insert(
        "body".into(),
        String::from_utf8_lossy(&seen.raw).into_owned(),
    );
    v.insert("key_id".into(), HMAC_KEY_ID.into());
    if h["key_header"].is_string() && header("key_header").as_deref() != Some(HMAC_KEY_ID) {
        return Err("the key id header is missing".into());
    }
    let to_sign = render(h["string_to_sign"].as_str().unwrap_or(""), &v).replace("\\n", "\n");
    let alg = if h["algorithm"] == "hmac-sha1" {
        ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY
    } else {
        ring::hmac::HMAC_SHA256
    };
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(alg, HMAC_SECRET.as_bytes()),
        to_sign.as_bytes(),
    );
    let encoded = if h["encoding"] == "base64" {
        base64::engine::general_purpose::STANDARD.encode(mac.as_ref())
    } else {
        mac.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    };
    let want = format!("{}{encoded}", h["prefix"].as_str().unwrap_or(""));
    let got = header("header").unwrap_or_default();
    if got != want {
        return Err(format!(
            "signature `{got}`, expected `{want}` over {to_sign:?}"
        ));
    }
    if let Some(ts) = header("timestamp_header") {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let secs = ts.get(..10).and_then(|t| t.parse::<u64>().ok());
        if h["timestamp"].as_str().unwrap_or("unix") != "iso8601"
            && secs.is_none_or(|t| t.abs_diff(now) > 300)
        {
            return Err(format!("timestamp `{ts}` is not now"));
        }
    }
    Ok(())
}
