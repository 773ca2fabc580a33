//! Findings of the attacker review (issue 19), one test each: what an
//! attacker could put in front of a user, store, or make the host call.

use crate::common::library_config;
use connhost::{Manager, NewConnection, Secret};
use connhost_testkit::celonis::{demo, FakeCelonis, FakeConfig};
use reqwest::{redirect, Client, StatusCode};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A browser on the Connections page, signed in with a team key: keeps
/// the cookies itself and follows no redirects (so each step is seen).
struct Browser {
    base: String,
    /// The team key it signed in with (for API calls).
    key: String,
    http: Client,
    cookies: std::sync::Mutex<BTreeMap<String, String>>,
}

/// One page's answer.
struct Seen {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

impl Browser {
    /// Serves `m` on loopback and signs in with a new key of `team`.
    async fn signed_in(m: Manager, team: &str) -> (Browser, Arc<Manager>) {
        let (_, key) = m.create_api_key(Some(team), "page").unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let m = Arc::new(m);
        let router = connhost_server::router(m.clone(), connhost_server::ServerConfig::new(&base));
        tokio::spawn(connhost_server::serve(
            listener,
            router,
            std::future::pending(),
        ));
        let b = Browser {
            base,
            key: key.expose().to_string(),
            http: Client::builder()
                .redirect(redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Default::default(),
        };
        let form = b.get("/signin").await;
        let csrf = csrf_of(&form.body);
        let signed = b
            .post("/signin", &[("key", key.expose()), ("csrf", &csrf)])
            .await;
        assert_eq!(
            signed.location.as_deref(),
            Some("/connections"),
            "{}",
            signed.body
        );
        (b, m)
    }

    fn keep_cookies(&self, resp: &reqwest::Response) {
        let mut jar = self.cookies.lock().unwrap();
        for v in resp.headers().get_all(reqwest::header::SET_COOKIE) {
            let pair = v.to_str().unwrap().split(';').next().unwrap().to_string();
            if let Some((k, v)) = pair.split_once('=') {
                jar.insert(k.to_string(), v.to_string());
            }
        }
    }

    fn cookie_header(&self) -> String {
        let jar = self.cookies.lock().unwrap();
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn seen(&self, resp: reqwest::Response) -> Seen {
        self.keep_cookies(&resp);
        Seen {
            status: resp.status(),
            location: resp
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|l| l.to_str().unwrap().to_string()),
            body: resp.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Seen {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.seen(resp).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Seen {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .unwrap();
        self.seen(resp).await
    }

    /// The CSRF token of the signed-in session (from the list page).
    async fn csrf(&self) -> String {
        csrf_of(&self.get("/connections").await.body)
    }
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form token") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

/// The text of the page's flash message, if it shows one.
fn flash_of(html: &str) -> Option<String> {
    let at = html.find("<p class=\"flash\" role=\"status\">")? + 31;
    Some(html[at..].split("</p>").next().unwrap().to_string())
}

async fn manager_with_celonis(home: &std::path::Path, fake: &FakeCelonis) -> Manager {
    let m = Manager::open(library_config(home, fake)).unwrap();
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    m
}

fn app_key(team: &str, key: &str) -> NewConnection {
    NewConnection {
        connector: "celonis".into(),
        name: Some("Acme".into()),
        team: Some(team.into()),
        fields: BTreeMap::from([
            ("domain".into(), demo::DOMAIN.into()),
            ("auth_type".into(), "app-key".into()),
        ]),
        secrets: BTreeMap::from([("app_key".into(), Secret::new(key))]),
    }
}

/// 1. `?flash=` is anyone's to write (a link from another site): the
/// list and show pages say only texts the server chose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_only_flash_messages_the_server_chose() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = manager_with_celonis(home.path(), &fake).await;
    let id = m.create(app_key("team-a", demo::APP_KEY)).await.unwrap().id;
    let (b, _m) = Browser::signed_in(m, "team-a").await;
    let evil = "Your session expired: call +1 555 0100 and read them your key";
    let q = url::form_urlencoded::byte_serialize(evil.as_bytes()).collect::<String>();
    for path in [
        format!("/connections?flash={q}"),
        format!("/connections/{id}?flash={q}"),
        format!("/connections/{id}?flash=replaced&secret={q}"),
    ] {
        let page = b.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            !page.body.contains("call +1 555"),
            "{path} shows the query's text"
        );
    }
    let page = b.get(&format!("/connections/{id}?flash={q}")).await;
    assert_eq!(flash_of(&page.body), None);
    // The server's own codes still say their texts.
    let page = b.get("/connections?flash=deleted").await;
    assert_eq!(
        flash_of(&page.body).as_deref(),
        Some("Deleted the connection.")
    );
    let page = b
        .get(&format!("/connections/{id}?flash=replaced&secret=app_key"))
        .await;
    assert_eq!(
        flash_of(&page.body).as_deref(),
        Some("Replaced app_key: the connection verified with it.")
    );
    // A secret it does not have is not named.
    let page = b
        .get(&format!("/connections/{id}?flash=replaced&secret=api_key"))
        .await;
    assert_eq!(
        flash_of(&page.body).as_deref(),
        Some("Replaced the secret: the connection verified with it.")
    );
    // Consent's failures come back in words of ours too.
    let page = b
        .get("/connections/consent-done?status=failed&error=call-support-now")
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/connections?flash=consent-failed")
    );
    // And the real flow lands on a code.
    let csrf = b.csrf().await;
    let done = b
        .post(
            &format!("/connections/{id}/secrets/app_key"),
            &[("value", demo::APP_KEY), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(
        done.location,
        Some(format!("/connections/{id}?flash=replaced&secret=app_key"))
    );
}

/// 2. Names are shown to people: invisible characters that reorder or
/// hide text (bidi controls, zero-width and other format characters,
/// line and paragraph separators) are refused as control characters are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_format_or_separator_characters_are_refused() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = manager_with_celonis(home.path(), &fake).await;
    let id = m.create(app_key("team-a", demo::APP_KEY)).await.unwrap().id;
    for c in [
        '\u{202E}',
        '\u{202A}',
        '\u{2066}',
        '\u{2069}',
        '\u{200B}',
        '\u{200D}',
        '\u{200E}',
        '\u{2028}',
        '\u{2029}',
        '\u{061C}',
        '\u{00AD}',
        '\u{FEFF}',
        '\u{2060}',
        '\u{E0041}',
        '\u{0007}',
    ] {
        let name = format!("Acme{c}prod");
        let mut new = app_key("team-a", demo::APP_KEY);
        new.name = Some(name.clone());
        match m.create(new).await {
            Err(connhost::Error::InvalidInput { field, .. }) => assert_eq!(field, "name"),
            other => panic!("U+{:04X} accepted: {other:?}", c as u32),
        }
        match m.rename(&id, &name) {
            Err(connhost::Error::InvalidInput { field, .. }) => assert_eq!(field, "name"),
            other => panic!("rename with U+{:04X} accepted: {other:?}", c as u32),
        }
    }
    assert_eq!(m.get(&id).unwrap().name, "Acme");
    assert_eq!(m.list(Some("team-a")).unwrap().len(), 1);
    // Letters of any script, emoji and their joiner-free forms are fine.
    m.rename(&id, "Acme – München 東京 🚀").unwrap();
}

/// 4. A webhook is called for every event, retried: one on the host's own
/// network (loopback, private, link-local, the cloud metadata address,
/// or a name resolving there) is refused when it is added.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_to_the_hosts_own_network_are_refused_when_added() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut cfg = library_config(home.path(), &fake);
    cfg.net
        .connect_to
        .push("hooks.example.com:443:127.0.0.1:9".parse().unwrap());
    let m = Manager::open(cfg).unwrap();
    for url in [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://127.0.0.1:8443/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://172.16.5.5/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/hook",
        "https://0.0.0.0/hook",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        "https://[fe80::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        // The override is for its port only.
        "https://hooks.example.com:8443/hook",
    ] {
        match m.add_webhook("team-a", url).await {
            Err(connhost::Error::InvalidInput { field, reason }) => {
                assert_eq!(field, "url", "{url}");
                assert!(reason.contains("public address"), "{url}: {reason}");
            }
            other => panic!("{url} accepted: {other:?}"),
        }
    }
    assert!(m.webhooks("team-a").unwrap().is_empty());
    // The operator's --connect-to still reaches a test receiver.
    let (hook, _) = m
        .add_webhook("team-a", "https://hooks.example.com/a")
        .await
        .unwrap();
    assert_eq!(hook.url, "https://hooks.example.com/a");
    assert_eq!(m.webhooks("team-a").unwrap().len(), 1);
}

fn client_credentials(team: &str) -> NewConnection {
    NewConnection {
        connector: "celonis".into(),
        name: None,
        team: Some(team.into()),
        fields: BTreeMap::from([
            ("domain".into(), demo::DOMAIN.into()),
            ("auth_type".into(), "oauth2".into()),
            ("client_id".into(), demo::CLIENT_ID.into()),
            ("scopes".into(), "studio".into()),
        ]),
        secrets: BTreeMap::from([("client_secret".into(), Secret::new(demo::CLIENT_SECRET))]),
    }
}

/// 5. A token response's `expires_in` of 2^64−1 or 1e308 is kept as at
/// most 10 years (so it is renewed some day and fits PostgreSQL's
/// bigint); a negative one is refused, not read as "never expires".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_lifetimes_are_clamped_and_negative_ones_refused() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = manager_with_celonis(home.path(), &fake).await;
    let ten_years = 10 * 365 * 24 * 3600;
    let body = |expires: &str| {
        format!("{{\"access_token\":\"t\",\"token_type\":\"Bearer\",\"expires_in\":{expires}}}")
    };
    for huge in [
        "18446744073709551615",
        "1e308",
        "\"18446744073709551615\"",
        "1e19",
    ] {
        fake.configure(|c| c.token_response = Some((200, body(huge))));
        let before = connhost_now();
        let r = m.create(client_credentials("team-a")).await.unwrap();
        let at = r.expires_at.expect("an expiry");
        assert!(
            at >= before + ten_years && at <= connhost_now() + ten_years,
            "expires_in {huge} stored as {at}"
        );
        assert!(i64::try_from(at).is_ok());
        assert_eq!(m.get(&r.id).unwrap().expires_at, Some(at));
    }
    let n = m.list(Some("team-a")).unwrap().len();
    for negative in ["-5", "-1e308", "\"-60\""] {
        fake.configure(|c| c.token_response = Some((200, body(negative))));
        match m.create(client_credentials("team-a")).await {
            Err(connhost::Error::Connector(connhost::ConnectorError::ProviderError {
                message,
                ..
            })) => assert!(message.contains("expires_in is negative"), "{message}"),
            other => panic!("expires_in {negative}: {other:?}"),
        }
    }
    assert_eq!(m.list(Some("team-a")).unwrap().len(), n, "nothing stored");
}

fn connhost_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// 10. The page saves only what verifies: a wrong key brings the form
/// back with the error next to the key, and nothing is stored. The API
/// keeps a connection in error unless asked `only_if_verified`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_stores_no_connection_that_does_not_verify() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = manager_with_celonis(home.path(), &fake).await;
    let (b, m) = Browser::signed_in(m, "team-a").await;
    let form = b
        .get("/connections/new?connector=celonis&auth=app-key")
        .await;
    let csrf = csrf_of(&form.body);
    let wrong = "wrong-app-key-PLANTED-7731";
    let post = |key: &'static str| {
        let csrf = csrf.clone();
        let b = &b;
        async move {
            b.post(
                "/connections/new",
                &[
                    ("csrf", csrf.as_str()),
                    ("connector", "celonis"),
                    ("auth_type", "app-key"),
                    ("name", "Acme wrong"),
                    ("domain", demo::DOMAIN),
                    ("secret:app_key", key),
                ],
            )
            .await
        }
    };
    let refused = post(wrong).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(refused.location, None);
    let at = refused
        .body
        .find("<p id=\"e-app_key\" class=\"error\" role=\"alert\">")
        .expect("the error is next to the key");
    let said = &refused.body[at..].split("</p>").next().unwrap();
    assert!(said.contains("✗ unauthorized"), "{said}");
    assert!(said.contains("nothing was saved"), "{said}");
    assert!(!refused.body.contains(wrong), "the secret is not sent back");
    // The values come back, the name too.
    assert!(refused.body.contains("value=\"Acme wrong\""));
    assert!(m.list(Some("team-a")).unwrap().is_empty(), "nothing stored");
    assert!(b.get("/connections").await.body.contains("No connections"));

    let saved = post(demo::APP_KEY).await;
    let to = saved.location.expect("to the new connection");
    let id = to.strip_prefix("/connections/").unwrap();
    let r = m.get(id).unwrap();
    assert_eq!(r.status, connhost::Status::Ok);
    assert!(r.verified_at.is_some());
    assert_eq!(m.list(Some("team-a")).unwrap().len(), 1);

    // The API: only_if_verified stores nothing on failure; without it the
    // connection is kept, in error, as before.
    let http = Client::new();
    let body = |only: Option<bool>| {
        let mut v = serde_json::json!({
            "connector": "celonis",
            "fields": {"domain": demo::DOMAIN, "auth_type": "app-key"},
            "secrets": {"app_key": wrong},
        });
        if let Some(o) = only {
            v["only_if_verified"] = o.into();
        }
        v
    };
    let resp = http
        .post(format!("{}/v1/connections", b.base))
        .bearer_auth(&b.key)
        .json(&body(Some(true)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    let e: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(e["error"]["kind"], "unauthorized", "{e}");
    assert!(!e.to_string().contains(wrong), "{e}");
    assert_eq!(m.list(Some("team-a")).unwrap().len(), 1);
    let resp = http
        .post(format!("{}/v1/connections", b.base))
        .bearer_auth(&b.key)
        .json(&body(None))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(m.list(Some("team-a")).unwrap().len(), 2);
}

/// The page offers the generic connector's catalogue: a search, then the
/// chosen provider's own fields as it labels them (no definition text,
/// no issuer, no other provider's fields), its auth mode preselected; a
/// value that leaves the provider's domain comes back next to its field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_offers_the_catalogue_then_the_provider_s_own_fields() {
    let home = tempfile::tempdir().unwrap();
    let m = Manager::open(connhost::HostConfig::new(home.path())).unwrap();
    m.add_connector(connhost::builtin::GENERIC).await.unwrap();
    let (b, _m) = Browser::signed_in(m, "team-a").await;
    let all = b.get("/connections/new?connector=generic").await;
    assert_eq!(all.status, StatusCode::OK);
    assert!(
        all.body.contains("providers, the first 60 shown"),
        "{}",
        all.body
    );
    let found = b.get("/connections/new?connector=generic&q=zEnD").await;
    assert!(found.body.contains("1 providers."), "{}", found.body);
    assert!(
        found.body.contains("provider=zendesk\">Zendesk</a>"),
        "{}",
        found.body
    );
    let none = b
        .get("/connections/new?connector=generic&q=%3Cscript%3E")
        .await;
    assert!(
        none.body.contains("No provider matches “&lt;script&gt;”"),
        "{}",
        none.body
    );

    let form = b
        .get("/connections/new?connector=generic&provider=zendesk")
        .await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.body.contains("<strong>Zendesk</strong>"),
        "{}",
        form.body
    );
    assert!(
        form.body.contains("Zendesk subdomain"),
        "the provider's own label"
    );
    assert!(form.body.contains("id=\"f-subdomain\""));
    for absent in [
        "id=\"f-definition\"",
        "id=\"f-issuer\"",
        "id=\"f-region\"",
        "id=\"f-host\"",
    ] {
        assert!(!form.body.contains(absent), "{absent} shown");
    }
    assert!(
        form.body.contains("<option value=\"oauth2\" selected>"),
        "auth mode preselected"
    );

    let csrf = csrf_of(&form.body);
    let post = b
        .post(
            "/connections/new",
            &[
                ("csrf", csrf.as_str()),
                ("connector", "generic"),
                ("auth_mode", "api_key"),
                ("provider", "okta"),
                ("name", "Okta"),
                ("subdomain", "evil.com#"),
                ("secret:api_key", "k"),
            ],
        )
        .await;
    assert_eq!(post.status, StatusCode::BAD_REQUEST, "{}", post.body);
    assert!(post.body.contains("id=\"e-subdomain\""), "{}", post.body);
    assert!(post.body.contains("must be one DNS label"), "{}", post.body);
}
