//! The generic connector against a fake OAuth 2.0 server (HTTPS on
//! loopback): consent with PKCE, state, refresh under concurrency,
//! rotation, revocation, discovery. Consent is driven headlessly: fetch the
//! authorize URL, submit the consent form, follow the redirect.

use connhost::net::{HttpsClient, NetConfig, OutRequest};
use connhost::AuthorizeStart;
use connhost::{
    ConnectionRecord, ConnectorError, Error, HostConfig, Manager, NewConnection, Secret, Status,
};
use connhost_testkit::oauth::{
    FakeOAuth, OAuthConfig, CLIENT_ID, CLIENT_SECRET, ISSUER, USER_EMAIL,
};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

const REDIRECT: &str = "http://127.0.0.1:1/callback";

pub(crate) struct Setup {
    fake: FakeOAuth,
    home: tempfile::TempDir,
    ca: PathBuf,
}

impl Setup {
    pub(crate) async fn new(cfg: OAuthConfig) -> Setup {
        let fake = FakeOAuth::start(cfg).await.unwrap();
        let home = tempfile::tempdir().unwrap();
        let ca = home.path().join("oauth-ca.pem");
        std::fs::write(&ca, fake.ca_pem()).unwrap();
        Setup { fake, home, ca }
    }

    fn net(&self) -> NetConfig {
        let mut net = NetConfig {
            connect_to: vec![self.fake.connect_to().parse().unwrap()],
            ..Default::default()
        };
        net.add_ca_file(&self.ca).unwrap();
        net
    }

    pub(crate) async fn manager(&self, tweak: impl FnOnce(&mut HostConfig)) -> Manager {
        let mut cfg = HostConfig::new(self.home.path());
        cfg.net = self.net();
        cfg.refresh_backoff = Duration::from_millis(20);
        tweak(&mut cfg);
        let m = Manager::open(cfg).unwrap();
        m.add_connector(connhost::builtin::GENERIC).await.unwrap();
        m.add_provider(
            connhost::DEFAULT_TEAM,
            "generic",
            &self.fake.definition().to_string(),
        )
        .await
        .unwrap();
        m
    }

    /// Plays the browser: opens the consent page and submits it.
    /// Returns where the provider redirected to.
    pub(crate) async fn consent(&self, authorize_url: &str, allow: bool) -> String {
        let client = HttpsClient::new(self.net()).unwrap();
        let page = client.send(get(authorize_url)).await.unwrap();
        assert_eq!(page.status, 200, "{}", String::from_utf8_lossy(&page.body));
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in hidden_inputs(&String::from_utf8_lossy(&page.body)) {
            form.append_pair(&k, &v);
        }
        form.append_pair("decision", if allow { "allow" } else { "deny" });
        let resp = client
            .send(OutRequest {
                method: hyper::Method::POST,
                url: url::Url::parse(&format!("{ISSUER}/authorize")).unwrap(),
                headers: vec![(
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                )],
                body: form.finish().into_bytes(),
                timeout: None,
            })
            .await
            .unwrap();
        assert_eq!(resp.status, 302);
        resp.headers
            .iter()
            .find(|(k, _)| k == "location")
            .unwrap()
            .1
            .clone()
    }

    /// A connection through the whole consent flow (library API).
    async fn connect(&self, m: &Manager, scopes: Option<&str>) -> ConnectionRecord {
        let start = start(m, scopes).await;
        let location = self.consent(&start.authorize_url, true).await;
        m.authorize_finish(&start.pending_id, &location)
            .await
            .unwrap()
    }

    fn cli(&self) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(crate::common::bin());
        c.arg("--home")
            .arg(self.home.path())
            .arg("--ca-file")
            .arg(&self.ca)
            .arg("--connect-to")
            .arg(self.fake.connect_to())
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .env_remove("CONNHOST_MASTER_KEY")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c
    }

    async fn cli_json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let out = self.cli().arg("--json").args(args).output().await.unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let v = serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("{e}: {text} {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code().unwrap_or(-1), v)
    }
}

fn get(url: &str) -> OutRequest {
    OutRequest {
        method: hyper::Method::GET,
        url: url::Url::parse(url).unwrap(),
        headers: vec![],
        body: vec![],
        timeout: None,
    }
}

fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        s.replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&amp;", "&")
    };
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .filter_map(|chunk| {
            let name = chunk.split("name=\"").nth(1)?.split('"').next()?;
            let value = chunk.split("value=\"").nth(1)?.split('"').next()?;
            Some((unescape(name), unescape(value)))
        })
        .collect()
}

fn new_conn(scopes: Option<&str>) -> NewConnection {
    let mut fields = BTreeMap::from([
        ("provider".to_string(), "fakeoauth".to_string()),
        ("client_id".to_string(), CLIENT_ID.to_string()),
    ]);
    if let Some(s) = scopes {
        fields.insert("scopes".into(), s.into());
    }
    NewConnection {
        connector: "generic".into(),
        fields,
        secrets: BTreeMap::from([("client_secret".into(), Secret::new(CLIENT_SECRET))]),
        ..Default::default()
    }
}

async fn start(m: &Manager, scopes: Option<&str>) -> AuthorizeStart {
    m.authorize_start(new_conn(scopes), REDIRECT, None)
        .await
        .unwrap()
}

/// Replaces one query parameter of a URL.
fn with_param(url: &str, key: &str, value: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == key {
                (k, value.to_string())
            } else {
                (k, v)
            }
        })
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}

fn param(url: &str, key: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == key)
        .unwrap()
        .1
        .to_string()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_flow_builds_a_pkce_url_and_stores_tokens() {
    let s = Setup::new(OAuthConfig::default()).await;
    let m = s.manager(|_| {}).await;
    let st = start(&m, Some("profile email files.write offline_access")).await;
    let u = url::Url::parse(&st.authorize_url).unwrap();
    let q: BTreeMap<String, String> = u.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["redirect_uri"], REDIRECT);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(
        q["code_challenge"].len(),
        43,
        "BASE64URL(SHA-256) without padding"
    );
    assert!(q["state"].len() >= 43);
    let location = s.consent(&st.authorize_url, true).await;
    assert_eq!(param(&location, "iss"), ISSUER);
    let rec = m.authorize_finish(&st.pending_id, &location).await.unwrap();
    assert_eq!(rec.id, st.connection_id);
    // files.write is not allowed for this client: granted is narrower.
    assert_eq!(rec.granted_scopes, ["profile", "email", "offline_access"]);
    assert!(rec.secrets.contains_key("access_token") && rec.secrets.contains_key("refresh_token"));
    assert!(
        rec.secrets
            .keys()
            .all(|k| !k.contains("pkce") && !k.contains("state")),
        "the PKCE verifier and state are spent with the pending authorization"
    );
    let exp = rec.expires_at.unwrap();
    assert!(exp >= now() + 3590 && exp <= now() + 3600);
    assert_eq!(m.verify(&rec.id).await.unwrap().account_label, USER_EMAIL);
    assert_eq!(s.fake.grants("authorization_code"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_cli_flow_waits_for_the_loopback_callback() {
    let s = Setup::new(OAuthConfig::default()).await;
    let defn = s.home.path().join("fake.json");
    std::fs::write(&defn, s.fake.definition().to_string()).unwrap();
    let (code, v) = s
        .cli_json(&["provider", "add", defn.to_str().unwrap()])
        .await;
    assert_eq!((code, v["id"].as_str()), (0, Some("fakeoauth")));

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let mut child = s
        .cli()
        .args([
            "--json",
            "connection",
            "create",
            "--connector",
            "generic",
            "--field",
            "provider=fakeoauth",
        ])
        .args([
            "--field",
            &format!("client_id={CLIENT_ID}"),
            "--secret",
            "client_secret=env:CLIENT_SECRET",
        ])
        .args(["--redirect-uri", &redirect])
        .spawn()
        .unwrap();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).await.unwrap();
    let started: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(started["redirect_uri"], redirect.as_str());
    let location = s
        .consent(started["authorize_url"].as_str().unwrap(), true)
        .await;
    assert!(location.starts_with(&redirect));

    // Another local page hits the listener first with a forged state: it
    // is ignored and the flow keeps waiting.
    let mut forged = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    forged
        .write_all(
            format!("GET /callback?code=x&state=forged HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut ignored = String::new();
    forged.read_to_string(&mut ignored).await.unwrap();
    assert!(ignored.starts_with("HTTP/1.1 200"), "{ignored}");

    // The browser follows the redirect to the CLI's listener.
    let target = url::Url::parse(&location).unwrap();
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let path = format!("{}?{}", target.path(), target.query().unwrap());
    tcp.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut page = String::new();
    tcp.read_to_string(&mut page).await.unwrap();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");

    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await.unwrap();
    let status = child.wait().await.unwrap();
    assert!(status.success(), "{rest}");
    let rec: serde_json::Value = serde_json::from_str(rest.trim()).unwrap();
    assert_eq!(rec["id"], started["connection_id"]);
    assert_eq!(rec["secrets"]["refresh_token"], "set");
    assert!(
        !rest.contains("rt-") && !first.contains("rt-"),
        "no token in output"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_step_cli_flow_and_a_replayed_callback_is_refused() {
    let s = Setup::new(OAuthConfig::default()).await;
    let defn = s.home.path().join("fake.json");
    std::fs::write(&defn, s.fake.definition().to_string()).unwrap();
    s.cli_json(&["provider", "add", defn.to_str().unwrap()])
        .await;
    let (code, started) = s
        .cli_json(&[
            "connection",
            "authorize",
            "start",
            "--connector",
            "generic",
            "--field",
            "provider=fakeoauth",
            "--field",
            &format!("client_id={CLIENT_ID}"),
            "--secret",
            "client_secret=env:CLIENT_SECRET",
            "--redirect-uri",
            "https://app.example.net/oauth/callback",
        ])
        .await;
    assert_eq!(code, 0, "{started}");
    let pending = started["pending_id"].as_str().unwrap();
    let location = s
        .consent(started["authorize_url"].as_str().unwrap(), true)
        .await;
    let (code, rec) = s
        .cli_json(&[
            "connection",
            "authorize",
            "finish",
            pending,
            "--redirect-url",
            &location,
        ])
        .await;
    assert_eq!(code, 0, "{rec}");
    assert_eq!(rec["status"], "created");
    let (code, err) = s
        .cli_json(&[
            "connection",
            "authorize",
            "finish",
            pending,
            "--redirect-url",
            &location,
        ])
        .await;
    assert_eq!(code, 1);
    assert_eq!(err["error"]["kind"], "authorization-failed");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("unknown_authorization"));
    assert_eq!(
        s.fake.grants("authorization_code"),
        1,
        "the code was not redeemed twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_state_is_refused_and_the_right_one_still_works() {
    let s = Setup::new(OAuthConfig::default()).await;
    let m = s.manager(|_| {}).await;
    let st = start(&m, None).await;
    let location = s.consent(&st.authorize_url, true).await;
    let real = param(&location, "state");
    // Forgeries that keep the real state's prefix (or are one of its
    // prefixes): a comparison of a prefix only would take them.
    let mut chars: Vec<char> = real.chars().collect();
    let last = chars.pop().unwrap();
    let flipped: String = chars
        .iter()
        .chain(std::iter::once(&if last == 'A' { 'B' } else { 'A' }))
        .collect();
    for bad in [
        "forged-state".to_string(),
        format!("{real}x"),
        real[..real.len() - 1].to_string(),
        flipped,
        String::new(),
    ] {
        let forged = with_param(&location, "state", &bad);
        match m.authorize_finish(&st.pending_id, &forged).await {
            Err(Error::Authorization { error, .. }) => {
                assert_eq!(error, "state_mismatch", "state {bad:?}")
            }
            other => panic!("state {bad:?}: {other:?}"),
        }
    }
    assert_eq!(s.fake.grants("authorization_code"), 0);
    m.authorize_finish(&st.pending_id, &location).await.unwrap();
}

/// RFC 6749 §3.1: a parameter included more than once (a second
/// `state`, `code`, …) is refused, and the pending authorization is not
/// spent by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_callback_parameter_is_refused() {
    let s = Setup::new(OAuthConfig::default()).await;
    let m = s.manager(|_| {}).await;
    let st = start(&m, None).await;
    let location = s.consent(&st.authorize_url, true).await;
    let state = param(&location, "state");
    let code = param(&location, "code");
    for (k, v) in [
        ("state", state.as_str()),
        ("state", "forged-state"),
        ("code", code.as_str()),
        ("code", "other-code"),
        ("iss", ISSUER),
    ] {
        let mut repeated = url::Url::parse(&location).unwrap();
        repeated.query_pairs_mut().append_pair(k, v);
        match m.authorize_finish(&st.pending_id, repeated.as_str()).await {
            Err(Error::InvalidInput { field, reason }) => {
                assert_eq!(field, "redirect-url");
                assert!(reason.contains(&format!("`{k}`")), "{reason}");
            }
            other => panic!("a repeated `{k}` was accepted: {other:?}"),
        }
    }
    assert_eq!(s.fake.grants("authorization_code"), 0);
    assert!(m.list(None).unwrap().is_empty());
    m.authorize_finish(&st.pending_id, &location).await.unwrap();
}

/// A definition may not set what the connector sets itself (the OAuth
/// parameters that bind the flow), headers that frame or route the
/// request (or CR/LF in one), wildcard or malformed hosts, or endpoints
/// on loopback or private addresses: refused when added, naming the
/// field, and nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_definitions_may_not_set_reserved_parameters_headers_or_local_hosts() {
    let s = Setup::new(OAuthConfig::default()).await;
    let m = s.manager(|_| {}).await;
    let before = m.providers(connhost::DEFAULT_TEAM).unwrap();
    let api_key = |name: &str, prefix: &str| {
        serde_json::json!({
            "id": "keyed",
            "auth_mode": "api_key",
            "api_key": {"in": "header", "name": name, "prefix": prefix},
            "verify": {"url": "https://api.example.com/me"},
        })
    };
    let mut cases: Vec<(serde_json::Value, &str)> = Vec::new();
    for p in [
        "redirect_uri",
        "state",
        "client_id",
        "grant_type",
        "client_secret",
        "code_verifier",
        "code_challenge",
        "response_type",
        "Redirect_URI",
    ] {
        for (at, field) in [
            ("authorize_params", "authorize_params"),
            ("token_params", "token_params"),
        ] {
            let mut d = s.fake.definition();
            d["id"] = "evil".into();
            d[at] = serde_json::json!({ p: "https://evil.example.net/cb" });
            cases.push((d, field));
        }
    }
    cases.push((api_key("Host", ""), "definition.api_key.name"));
    cases.push((
        api_key(
            "X-Key
X-Evil: 1",
            "",
        ),
        "definition.api_key.name",
    ));
    cases.push((api_key("X Key", ""), "definition.api_key.name"));
    cases.push((api_key("Transfer-Encoding", ""), "definition.api_key.name"));
    cases.push((
        api_key(
            "Authorization",
            "Bearer
X-Evil: 1 ",
        ),
        "definition.api_key.prefix",
    ));
    cases.push((
        api_key(
            "Authorization",
            "Bearer
",
        ),
        "definition.api_key.prefix",
    ));
    for (field, url) in [
        ("hosts[0]", "https://*"),
        ("hosts[0]", "https://*.example.com"),
        ("hosts[0]", "https://a..example.com"),
        ("hosts[0]", "https://-.example.com"),
        ("hosts[0]", "https://10.0.0.1"),
        ("token_url", "https://127.0.0.1/token"),
        ("token_url", "https://localhost/token"),
        ("token_url", "https://metadata.internal/token"),
        ("token_url", "https://169.254.169.254/latest/meta-data"),
        ("token_url", "https://[::1]/token"),
        ("token_url", "https://[fd00::1]/token"),
        ("token_url", "https://192.168.1.1/token"),
        ("token_url", "https://intranet/token"),
        ("authorize_url", "https://10.0.0.1/authorize"),
        ("revocation_url", "https://172.16.0.1/revoke"),
        ("issuer", "https://127.0.0.1"),
        ("verify.url", "https://100.64.0.1/me"),
    ] {
        let mut d = s.fake.definition();
        d["id"] = "evil".into();
        match field.strip_prefix("hosts") {
            Some(_) => d["hosts"] = serde_json::json!([url]),
            None if field == "verify.url" => d["verify"]["url"] = url.into(),
            None => d[field] = url.into(),
        }
        cases.push((d, field));
    }
    for (d, field) in cases {
        let field = match field.strip_prefix("definition.") {
            Some(_) => field.to_string(),
            None => format!("definition.{field}"),
        };
        match m
            .add_provider(connhost::DEFAULT_TEAM, "generic", &d.to_string())
            .await
        {
            Err(Error::Connector(ConnectorError::InvalidInput { field: f, .. })) => {
                assert!(f.starts_with(&field), "{d}: named {f}, expected {field}")
            }
            other => panic!("{d} was added: {other:?}"),
        }
    }
    assert_eq!(m.providers(connhost::DEFAULT_TEAM).unwrap(), before);
    // What definitions need is still fine.
    let mut d = s.fake.definition();
    d["id"] = "fine".into();
    d["authorize_params"] = serde_json::json!({"prompt": "consent", "access_type": "offline"});
    d["hosts"] = serde_json::json!(["https://api.example.com", "https://8.8.8.8"]);
    m.add_provider(connhost::DEFAULT_TEAM, "generic", &d.to_string())
        .await
        .unwrap();
    let keyed = api_key("X-Api-Key", "Token ");
    m.add_provider(connhost::DEFAULT_TEAM, "generic", &keyed.to_string())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_authorization_is_refused_and_pruned() {
    let s = Setup::new(OAuthConfig::default()).await;
    let m = s.manager(|c| c.pending_ttl = Duration::ZERO).await;
    let st = start(&m, None).await;
    let location = s.consent(&st.authorize_url, true).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    match m.authorize_finish(&st.pending_id, &location).await {
        Err(Error::Authorization { error, .. }) => assert_eq!(error, "expired"),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.fake.grants("authorization_code"), 0);
    // Abandoned flows do not pile up: starting another prunes them.
    let abandoned = start(&m, None).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    start(&m, None).await;
    match m
        .authorize_finish(&abandoned.pending_id, "http://127.0.0.1/cb")
        .await
    {
        Err(Error::Authorization { error, .. }) => assert_eq!(error, "unknown_authorization"),
        other => panic!("the abandoned flow should be pruned: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_and_issuer_mismatch_are_reported() {
    let s = Setup::new(OAuthConfig::default()).await;
    let m = s.manager(|_| {}).await;
    let st = start(&m, None).await;
    let location = s.consent(&st.authorize_url, false).await;
    let err = m
        .authorize_finish(&st.pending_id, &location)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "access-denied");
    assert!(err.to_string().contains("denied"), "{err}");
    assert!(m.list(None).unwrap().is_empty());

    // A provider that says only `error=access_denied` still gets the
    // denial told as one, not as a generic refusal.
    let st = start(&m, None).await;
    let location = s.consent(&st.authorize_url, false).await;
    let mut bare = url::Url::parse(&location).unwrap();
    let pairs: Vec<(String, String)> = bare
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != "error_description")
        .collect();
    bare.query_pairs_mut().clear().extend_pairs(pairs);
    let err = m
        .authorize_finish(&st.pending_id, bare.as_str())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "access-denied");
    assert!(
        err.to_string().contains("denied access"),
        "a bare access_denied should read as a denial: {err}"
    );

    // RFC 9207: a callback claiming another issuer is refused.
    let st = start(&m, None).await;
    let location = s.consent(&st.authorize_url, true).await;
    let mixed_up = with_param(&location, "iss", "https://evil.example.net");
    match m.authorize_finish(&st.pending_id, &mixed_up).await {
        Err(Error::Authorization { error, .. }) => assert_eq!(error, "issuer_mismatch"),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.fake.grants("authorization_code"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkce_binds_the_code_to_its_verifier_and_codes_are_single_use() {
    let s = Setup::new(OAuthConfig::default()).await;
    let m = s.manager(|_| {}).await;
    // A code obtained for flow A, injected into flow B (B's state, B's
    // verifier): PKCE makes the server refuse it.
    let a = start(&m, None).await;
    let b = start(&m, None).await;
    let loc_a = s.consent(&a.authorize_url, true).await;
    let injected = with_param(&loc_a, "state", &param(&b.authorize_url, "state"));
    let err = m
        .authorize_finish(&b.pending_id, &injected)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Connector(ConnectorError::ReauthorizationRequired { .. })
        ),
        "{err:?}"
    );
    assert!(s.fake.ledger(|l| l
        .token_errors
        .iter()
        .any(|e| e.contains("PKCE verification failed"))));

    // Code replay: A's code, already spent on the failed attempt above, is
    // refused for A too.
    let c = start(&m, None).await;
    let loc_c = s.consent(&c.authorize_url, true).await;
    m.authorize_finish(&c.pending_id, &loc_c).await.unwrap();
    let d = start(&m, None).await;
    let replay = with_param(&loc_c, "state", &param(&d.authorize_url, "state"));
    assert!(m.authorize_finish(&d.pending_id, &replay).await.is_err());
    assert!(s.fake.ledger(|l| l
        .token_errors
        .iter()
        .any(|e| e.contains("code already used"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_the_old_refresh_token_is_dead() {
    let s = Setup::new(OAuthConfig::default()).await;
    let m = s.manager(|_| {}).await;
    let rec = s.connect(&m, None).await;
    let first_rt = s.fake.ledger(|l| l.refresh_tokens[0].clone());
    match m.refresh(&rec.id).await.unwrap() {
        connhost::Refreshed::Refreshed { granted_scopes, .. } => {
            assert_eq!(granted_scopes, ["profile", "offline_access"])
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.fake.ledger(|l| l.refresh_tokens.len()), 2);
    // The old one is refused by the provider now.
    let client = HttpsClient::new(s.net()).unwrap();
    let form = format!("grant_type=refresh_token&refresh_token={first_rt}&client_id={CLIENT_ID}&client_secret=fake%3Asecret%2F%2B%25");
    let resp = client
        .send(OutRequest {
            method: hyper::Method::POST,
            url: url::Url::parse(&format!("{ISSUER}/token")).unwrap(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: form.into_bytes(),
            timeout: None,
        })
        .await
        .unwrap();
    assert_eq!(resp.status, 400);
    assert!(String::from_utf8_lossy(&resp.body).contains("invalid_grant"));
    // And our connection still refreshes with the new one.
    m.refresh(&rec.id).await.unwrap();
    assert_eq!(m.verify(&rec.id).await.unwrap().account_label, USER_EMAIL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_callers_share_one_refresh() {
    let s = Setup::new(OAuthConfig {
        // Past half its life a token is "expiring" (the margin is capped
        // at half the lifetime).
        token_lifetime: Some(2),
        refresh_delay: Duration::from_millis(100),
        ..Default::default()
    })
    .await;
    let m = Arc::new(s.manager(|_| {}).await);
    let rec = s.connect(&m, None).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.fake.configure(|c| c.token_lifetime = Some(3600));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (m, id) = (m.clone(), rec.id.clone());
        tasks.push(tokio::spawn(async move { m.ensure_fresh(&id).await }));
    }
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        assert!(r.expires_at.unwrap() > now() + 3000);
    }
    assert_eq!(
        s.fake.grants("refresh_token"),
        1,
        "exactly one token request for this expiry"
    );
    assert_eq!(m.get(&rec.id).unwrap().status, Status::Created);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_refresh() {
    let s = Setup::new(OAuthConfig {
        token_lifetime: Some(2),
        refresh_delay: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let m = s.manager(|_| {}).await;
    let rec = s.connect(&m, None).await;
    drop(m);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.fake.configure(|c| c.token_lifetime = Some(3600));
    let run = || {
        s.cli()
            .args(["--json", "connection", "verify", &rec.id])
            .output()
    };
    let (a, b) = tokio::join!(run(), run());
    for out in [a.unwrap(), b.unwrap()] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["account_label"], USER_EMAIL);
    }
    assert_eq!(
        s.fake.grants("refresh_token"),
        1,
        "exactly one token request across processes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_grant_means_reauthorization_and_reauthorize_keeps_the_id() {
    let s = Setup::new(OAuthConfig::default()).await;
    let m = s.manager(|_| {}).await;
    let rec = s.connect(&m, Some("profile")).await;
    s.fake.revoke_consent();
    let (code, err) = s.cli_json(&["connection", "refresh", &rec.id]).await;
    assert_eq!(
        (code, err["error"]["kind"].as_str()),
        (1, Some("reauthorization-required"))
    );
    let (_, shown) = s.cli_json(&["connection", "show", &rec.id]).await;
    assert_eq!(shown["status"], "reauthorization-required");
    assert_eq!(shown["last_error"]["kind"], "reauthorization-required");
    assert_eq!(s.fake.grants("refresh_token"), 1, "permanent: not retried");

    // Reauthorize with more scopes: same id, scopes replaced, old revoked.
    let revoked_before = s.fake.ledger(|l| l.revocations.len());
    let st = m.reauthorize_start(&rec.id, REDIRECT, None).await.unwrap();
    assert_eq!(st.connection_id, rec.id);
    let location = s
        .consent(
            &with_param(&st.authorize_url, "scope", "profile email"),
            true,
        )
        .await;
    let after = m.authorize_finish(&st.pending_id, &location).await.unwrap();
    assert_eq!(after.id, rec.id);
    assert_eq!(after.status, Status::Ok);
    assert_eq!(after.granted_scopes, ["profile", "email"]);
    assert!(s.fake.ledger(|l| l.revocations.len()) > revoked_before);
    assert_eq!(m.verify(&rec.id).await.unwrap().account_label, USER_EMAIL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_through_consent_changes_nothing_until_consent_then_replaces_in_place() {
    let s = Setup::new(OAuthConfig::default()).await;
    let m = s.manager(|_| {}).await;
    let rec = s.connect(&m, Some("profile")).await;
    let mut edit = new_conn(Some("profile email"));
    edit.name = Some("Renamed by edit".into());
    // Started, then denied: the stored connection is exactly as before.
    let st = m
        .edit_authorize_start(&rec.id, edit.clone(), REDIRECT, None)
        .await
        .unwrap();
    assert_eq!(st.connection_id, rec.id);
    let denied = s.consent(&st.authorize_url, false).await;
    assert!(m.authorize_finish(&st.pending_id, &denied).await.is_err());
    let kept = m.get(&rec.id).unwrap();
    assert_eq!(
        (kept.name.as_str(), kept.fields.get("scopes")),
        (rec.name.as_str(), rec.fields.get("scopes"))
    );
    // Started again and allowed: same id, new name and scopes, old tokens
    // revoked, and still one connection.
    let revoked_before = s.fake.ledger(|l| l.revocations.len());
    let st = m
        .edit_authorize_start(&rec.id, edit, REDIRECT, None)
        .await
        .unwrap();
    assert_eq!(m.get(&rec.id).unwrap().name, rec.name, "untouched mid-flow");
    let location = s.consent(&st.authorize_url, true).await;
    let after = m.authorize_finish(&st.pending_id, &location).await.unwrap();
    assert_eq!(after.id, rec.id);
    assert_eq!(after.name, "Renamed by edit");
    assert_eq!(after.fields["scopes"], "profile email");
    assert_eq!(after.granted_scopes, ["profile", "email"]);
    assert!(s.fake.ledger(|l| l.revocations.len()) > revoked_before);
    assert_eq!(m.list(None).unwrap().len(), 1);
    assert_eq!(m.verify(&rec.id).await.unwrap().account_label, USER_EMAIL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cannot_narrow_what_usages_need_by_edit_or_consent() {
    let s = Setup::new(OAuthConfig::default()).await;
    let m = s.manager(|_| {}).await;
    let rec = s.connect(&m, Some("profile email")).await;
    assert_eq!(rec.granted_scopes, ["profile", "email"]);
    let view = |actor: &str, role| {
        m.team(connhost::Caller {
            team: connhost::DEFAULT_TEAM.into(),
            actor: actor.into(),
        })
        .unwrap()
        .acting_as(role)
    };
    let (admin, member) = (
        view("admin", connhost::Role::Admin),
        view("member", connhost::Role::Member),
    );
    admin
        .add_usage(connhost::Usage {
            consumer: "mail-flow".into(),
            connection: rec.id.clone(),
            scopes: vec!["email".into()],
            state: connhost::UsageState::Active,
        })
        .unwrap();
    // An edit that stops asking for `email`: refused before consent.
    let err = member
        .edit_authorize_start(&rec.id, new_conn(Some("profile")), REDIRECT, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "forbidden", "{err}");
    // An edit that keeps asking for what the usage needs is a member's to
    // make (mutants: a scope kept counted as dropped).
    member
        .edit_authorize_start(&rec.id, new_conn(Some("profile email")), REDIRECT, None)
        .await
        .unwrap();
    // So is one that keeps asking for the provider's defaults, as the
    // connection did (what they grant is not known before consent).
    let defaults = s.connect(&m, None).await;
    admin
        .add_usage(connhost::Usage {
            consumer: "profile-flow".into(),
            connection: defaults.id.clone(),
            scopes: vec![defaults.granted_scopes[0].clone()],
            state: connhost::UsageState::Active,
        })
        .unwrap();
    member
        .edit_authorize_start(&defaults.id, new_conn(None), REDIRECT, None)
        .await
        .unwrap();
    // The usage narrowed first: refused too.
    let err = member
        .add_usage(connhost::Usage {
            consumer: "mail-flow".into(),
            connection: rec.id.clone(),
            scopes: vec![],
            state: connhost::UsageState::Active,
        })
        .unwrap_err();
    assert_eq!(err.kind(), "forbidden", "{err}");
    // Reauthorize where the user grants less: refused at the finish, the
    // narrower tokens revoked, the connection as it was.
    let st = member
        .reauthorize_start(&rec.id, REDIRECT, None)
        .await
        .unwrap();
    let revoked_before = s.fake.ledger(|l| l.revocations.len());
    let location = s
        .consent(&with_param(&st.authorize_url, "scope", "profile"), true)
        .await;
    let err = member
        .authorize_finish(&st.pending_id, &location)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "forbidden", "{err}");
    assert!(s.fake.ledger(|l| l.revocations.len()) > revoked_before);
    let kept = m.get(&rec.id).unwrap();
    assert_eq!(kept.granted_scopes, ["profile", "email"]);
    assert_eq!(kept.token_generation, rec.token_generation);
    assert_eq!(m.verify(&rec.id).await.unwrap().account_label, USER_EMAIL);
    // An admin may narrow it.
    let st = admin
        .reauthorize_start(&rec.id, REDIRECT, None)
        .await
        .unwrap();
    let location = s
        .consent(&with_param(&st.authorize_url, "scope", "profile"), true)
        .await;
    let after = admin
        .authorize_finish(&st.pending_id, &location)
        .await
        .unwrap();
    assert_eq!(after.granted_scopes, ["profile"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_refreshes_once_and_retries() {
    let s = Setup::new(OAuthConfig::default()).await;
    let m = s.manager(|_| {}).await;
    let rec = s.connect(&m, None).await;
    s.fake.drop_access_tokens();
    let v = m.verify(&rec.id).await.unwrap();
    assert_eq!(v.account_label, USER_EMAIL);
    assert!(v.refreshed_first);
    assert_eq!(s.fake.grants("refresh_token"), 1);
    // Without a refresh token to fall back on, the 401 stands.
    s.fake.drop_access_tokens();
    s.fake.revoke_consent();
    let err = m.verify(&rec.id).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Connector(ConnectorError::ReauthorizationRequired { .. })
        ),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_refresh_failures_retry_and_leave_status_alone() {
    let s = Setup::new(OAuthConfig::default()).await;
    let m = s.manager(|_| {}).await;
    let rec = s.connect(&m, None).await;
    m.verify(&rec.id).await.unwrap();
    s.fake.configure(|c| c.refresh_503 = 2);
    m.refresh(&rec.id).await.unwrap();
    assert_eq!(s.fake.grants("refresh_token"), 3, "two 503s, then success");
    s.fake.configure(|c| c.refresh_503 = 10);
    let err = m.refresh(&rec.id).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Connector(ConnectorError::ProviderError { status: 503, .. })
        ),
        "{err:?}"
    );
    let after = m.get(&rec.id).unwrap();
    assert_eq!(after.status, Status::Ok, "transient: status unchanged");
    assert_eq!(after.last_error.unwrap().kind, "provider-error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_response_variants() {
    let s = Setup::new(OAuthConfig {
        token_lifetime: None,
        token_type: "bearer".into(),
        ..Default::default()
    })
    .await;
    let m = s.manager(|_| {}).await;
    let rec = s.connect(&m, None).await;
    // No expires_in: the definition's default lifetime (1800 s).
    let exp = rec.expires_at.unwrap();
    assert!(exp >= now() + 1790 && exp <= now() + 1800, "{exp}");
    assert_eq!(m.verify(&rec.id).await.unwrap().account_label, USER_EMAIL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_revokes_tokens_retrying_503_and_reports_failure() {
    let s = Setup::new(OAuthConfig::default()).await;
    let m = s.manager(|_| {}).await;
    let rec = s.connect(&m, None).await;
    s.fake.configure(|c| c.revoke_503 = 1);
    let d = m.delete(&rec.id).await.unwrap();
    assert_eq!(d.revocation_error, None);
    assert_eq!(
        s.fake.ledger(|l| l.revocations.clone()),
        ["refresh_token", "access_token"]
    );
    assert!(m.get(&rec.id).is_err());

    let rec = s.connect(&m, None).await;
    s.fake.configure(|c| c.revoke_status = Some(400));
    let d = m.delete(&rec.id).await.unwrap();
    assert!(d.revocation_error.unwrap().contains("400"));
    assert!(m.get(&rec.id).is_err(), "deleted anyway");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_builds_the_flow_and_refuses_a_mismatched_issuer() {
    let s = Setup::new(OAuthConfig::default()).await;
    let m = s.manager(|_| {}).await;
    let by_issuer = |issuer: &str| NewConnection {
        connector: "generic".into(),
        fields: BTreeMap::from([
            ("issuer".to_string(), issuer.to_string()),
            ("client_id".to_string(), CLIENT_ID.to_string()),
            ("scopes".to_string(), "profile".to_string()),
        ]),
        secrets: BTreeMap::from([("client_secret".into(), Secret::new(CLIENT_SECRET))]),
        ..Default::default()
    };
    let st = m
        .authorize_start(by_issuer(ISSUER), REDIRECT, None)
        .await
        .unwrap();
    assert!(st
        .authorize_url
        .starts_with(&format!("{ISSUER}/authorize?")));
    let location = s.consent(&st.authorize_url, true).await;
    let rec = m.authorize_finish(&st.pending_id, &location).await.unwrap();
    assert_eq!(m.verify(&rec.id).await.unwrap().account_label, USER_EMAIL);

    s.fake
        .configure(|c| c.metadata_issuer = "https://evil.example.net".into());
    match m.authorize_start(by_issuer(ISSUER), REDIRECT, None).await {
        Err(Error::Connector(ConnectorError::InvalidInput { field, reason })) => {
            assert_eq!(field, "issuer");
            assert!(reason.contains("RFC 8414"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_definitions_are_validated_naming_the_field() {
    let s = Setup::new(OAuthConfig::default()).await;
    let m = s.manager(|_| {}).await;
    let mut d = s.fake.definition();
    d["token_url"] = "http://oauth.example.com/token".into();
    let err = m
        .add_provider(connhost::DEFAULT_TEAM, "generic", &d.to_string())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Connector(ConnectorError::InvalidInput { field, .. }) if field == "definition.token_url"),
        "{err:?}"
    );
    let mut d = s.fake.definition();
    d.as_object_mut().unwrap().remove("verify");
    let err = m
        .add_provider(connhost::DEFAULT_TEAM, "generic", &d.to_string())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("definition.verify"), "{err}");
    let mut d = s.fake.definition();
    d["colour"] = "blue".into();
    let err = m
        .add_provider(connhost::DEFAULT_TEAM, "generic", &d.to_string())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("colour"), "{err}");
    let err = m
        .add_provider(connhost::DEFAULT_TEAM, "generic", "{not json")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "invalid-input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_providers_build_their_consent_urls() {
    let s = Setup::new(OAuthConfig::default()).await;
    let m = s.manager(|_| {}).await;
    let cases = [
        (
            "google",
            "https://accounts.google.com/o/oauth2/v2/auth?",
            "access_type=offline",
        ),
        (
            "github",
            "https://github.com/login/oauth/authorize?",
            "scope=read%3Auser",
        ),
        (
            "slack",
            "https://slack.com/oauth/v2/authorize?",
            "scope=channels%3Aread%2Cchat%3Awrite",
        ),
        (
            "dropbox",
            "https://www.dropbox.com/oauth2/authorize?",
            "token_access_type=offline",
        ),
        (
            "atlassian",
            "https://auth.atlassian.com/authorize?",
            "audience=api.atlassian.com",
        ),
        (
            "microsoft",
            "https://login.microsoftonline.com/common/oauth2/v2.0/authorize?",
            "offline_access",
        ),
    ];
    for (provider, prefix, expect) in cases {
        let mut new = new_conn(None);
        new.fields.insert("provider".into(), provider.into());
        let st = m
            .authorize_start(new, "http://127.0.0.1:8765/callback", None)
            .await
            .unwrap();
        assert!(
            st.authorize_url.starts_with(prefix),
            "{provider}: {}",
            st.authorize_url
        );
        assert!(
            st.authorize_url.contains(expect),
            "{provider}: {}",
            st.authorize_url
        );
    }
    // Unknown shipped id: refused by the manifest, naming the field.
    let mut new = new_conn(None);
    new.fields.insert("provider".into(), "nope".into());
    let err = m.authorize_start(new, REDIRECT, None).await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { field, .. } if field == "provider"),
        "{err:?}"
    );
    // A redirect URI that is neither https nor loopback is refused.
    let err = m
        .authorize_start(new_conn(None), "http://app.example.net/cb", None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { field, .. } if field == "redirect-uri"),
        "{err:?}"
    );
}

/// The generic connector's static-credential modes, against the fake
/// Celonis (which takes a key as Bearer, as a Basic password or as
/// `?api_key=`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_api_key_and_basic_modes() {
    use connhost_testkit::celonis::{demo, FakeCelonis, FakeConfig};
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let ca = home.path().join("ca.pem");
    std::fs::write(&ca, fake.ca_pem()).unwrap();
    let mut cfg = HostConfig::new(home.path());
    cfg.net.connect_to = vec![fake.connect_to(demo::DOMAIN).parse().unwrap()];
    cfg.net.add_ca_file(&ca).unwrap();
    let m = Manager::open(cfg).unwrap();
    m.add_connector(connhost::builtin::GENERIC).await.unwrap();
    let verify = serde_json::json!({"url": format!("https://{}/api/cloud", demo::DOMAIN), "label": "/userEmail"});
    let cases = [
        (
            "key-header",
            "api_key",
            serde_json::json!({"in": "header", "name": "Authorization", "prefix": "Bearer "}),
        ),
        (
            "key-query",
            "api_key",
            serde_json::json!({"in": "query", "name": "api_key"}),
        ),
        ("basic", "basic", serde_json::Value::Null),
    ];
    for (id, mode, key) in cases {
        let mut def = serde_json::json!({"id": id, "auth_mode": mode, "verify": verify});
        if !key.is_null() {
            def["api_key"] = key;
        }
        m.add_provider(connhost::DEFAULT_TEAM, "generic", &def.to_string())
            .await
            .unwrap();
        let (secret, mut fields) = if mode == "basic" {
            (
                "password",
                BTreeMap::from([("username".to_string(), "api".to_string())]),
            )
        } else {
            ("api_key", BTreeMap::new())
        };
        fields.insert("provider".into(), id.into());
        fields.insert("auth_mode".into(), mode.into());
        let rec = m
            .create(NewConnection {
                connector: "generic".into(),
                fields,
                secrets: BTreeMap::from([(secret.to_string(), Secret::new(demo::API_KEY))]),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            m.verify(&rec.id).await.unwrap().account_label,
            demo::USER,
            "{id}"
        );
        // Static credentials: nothing to refresh, and it says so.
        assert!(matches!(
            m.refresh(&rec.id).await.unwrap(),
            connhost::Refreshed::NotNeeded { .. }
        ));
    }
    // The auth mode must match the definition's.
    let err = m
        .create(NewConnection {
            connector: "generic".into(),
            fields: BTreeMap::from([
                ("provider".to_string(), "basic".to_string()),
                ("auth_mode".to_string(), "api_key".to_string()),
            ]),
            secrets: BTreeMap::from([("api_key".to_string(), Secret::new("k"))]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Connector(ConnectorError::InvalidInput { field, .. }) if field == "auth_mode"),
        "{err:?}"
    );
}

/// Client credentials: the same scopes asked for, but a client the
/// provider now grants less. A member's edit (or secret change) is
/// refused before anything is kept; an admin's goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_s_client_credentials_edit_cannot_narrow_the_grant() {
    let s = Setup::new(OAuthConfig::default()).await;
    let m = s.manager(|_| {}).await;
    let mut cc = s.fake.definition();
    cc["id"] = "fakecc".into();
    cc["auth_mode"] = "oauth2_cc".into();
    m.add_provider(connhost::DEFAULT_TEAM, "generic", &cc.to_string())
        .await
        .unwrap();
    let conn = || {
        let mut c = new_conn(Some("profile email"));
        c.fields.insert("provider".into(), "fakecc".into());
        c.fields.insert("auth_mode".into(), "oauth2_cc".into());
        c
    };
    let view = |role| {
        m.team(connhost::Caller {
            team: connhost::DEFAULT_TEAM.into(),
            actor: "t".into(),
        })
        .unwrap()
        .acting_as(role)
    };
    let (admin, member) = (view(connhost::Role::Admin), view(connhost::Role::Member));
    let rec = admin.create(conn()).await.unwrap();
    assert_eq!(rec.granted_scopes, ["profile", "email"]);
    admin
        .add_usage(connhost::Usage {
            consumer: "mail-flow".into(),
            connection: rec.id.clone(),
            scopes: vec!["email".into()],
            state: connhost::UsageState::Active,
        })
        .unwrap();
    // The provider stops granting `email` to this client.
    s.fake
        .configure(|c| c.allowed_scopes.retain(|x| x != "email"));
    let before = m.get(&rec.id).unwrap();
    let err = member.edit(&rec.id, conn()).await.unwrap_err();
    assert_eq!(err.kind(), "forbidden", "{err}");
    assert!(err.to_string().contains("email"), "{err}");
    let err = member
        .set_secret(&rec.id, "client_secret", Secret::new(CLIENT_SECRET))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "forbidden", "{err}");
    let kept = m.get(&rec.id).unwrap();
    assert_eq!(kept.granted_scopes, before.granted_scopes);
    assert_eq!(kept.version, before.version, "nothing was written");
    // An admin may narrow it.
    let after = admin.edit(&rec.id, conn()).await.unwrap();
    assert_eq!(after.granted_scopes, ["profile"]);
}

/// Mutation testing found these unchecked (scripts/mutants.sh consent): a
/// pending authorization expires after the configured time, and an edit
/// keeps the connection's connector.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_consent_lives_its_ttl_and_an_edit_keeps_the_connector() {
    let s = Setup::new(OAuthConfig::default()).await;
    let m = s
        .manager(|c| c.pending_ttl = Duration::from_secs(300))
        .await;
    let before = now();
    let st = start(&m, None).await;
    assert!(
        (before + 300..=now() + 300).contains(&st.expires_at),
        "{}",
        st.expires_at
    );
    let rec = s.connect(&m, None).await;
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    let mut other = new_conn(None);
    other.connector = "celonis".into();
    match m.edit_authorize_start(&rec.id, other, REDIRECT, None).await {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "connector"),
        r => panic!(
            "expected the connector refused, got {:?}",
            r.map(|a| a.pending_id)
        ),
    }
    // The callback must come back to the redirect URI: same origin and
    // path, each checked (another port or path is refused, nothing spent).
    let st = start(&m, None).await;
    let location = s.consent(&st.authorize_url, true).await;
    for (from, to) in [
        ("127.0.0.1:1/callback", "127.0.0.1:1/elsewhere"),
        ("127.0.0.1:1/", "127.0.0.1:2/"),
    ] {
        let wrong = location.replacen(from, to, 1);
        assert_ne!(wrong, location);
        match m.authorize_finish(&st.pending_id, &wrong).await {
            Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "redirect-url"),
            r => panic!("expected {wrong} refused, got {:?}", r.map(|c| c.id)),
        }
    }
    m.authorize_finish(&st.pending_id, &location).await.unwrap();
    // The same connector, named or left empty, is an edit.
    let mut same = new_conn(None);
    same.connector = String::new();
    m.edit_authorize_start(&rec.id, same, REDIRECT, None)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_team_cannot_finish_a_teams_consent() {
    let s = Setup::new(OAuthConfig::default()).await;
    let m = s.manager(|_| {}).await;
    let st = start(&m, None).await;
    let location = s.consent(&st.authorize_url, true).await;
    let as_team = |team: &str| {
        m.team(connhost::Caller {
            team: team.into(),
            actor: "user:1".into(),
        })
        .unwrap()
    };
    // Even with the real callback, another team's finish is not-found
    // and leaves the authorization unspent.
    let err = as_team("other")
        .authorize_finish(&st.pending_id, &location)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "not-found", "{err}");
    assert_eq!(s.fake.grants("authorization_code"), 0);
    assert!(m.list(None).unwrap().is_empty());
    let rec = as_team(connhost::DEFAULT_TEAM)
        .authorize_finish(&st.pending_id, &location)
        .await
        .unwrap();
    assert_eq!(rec.team, connhost::DEFAULT_TEAM);
}
