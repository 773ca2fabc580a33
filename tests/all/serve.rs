//! `connhost serve` over real HTTP on loopback: keys, the team boundary on
//! every route, the resources, the proxy, and the OAuth callback against
//! the fake OAuth server.

use crate::common::library_config;
use base64::Engine as _;
use connhost::{Manager, DEFAULT_TEAM};
use connhost_testkit::celonis::{demo, FakeCelonis, FakeConfig};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

pub(crate) struct Server {
    pub(crate) base: String,
    pub(crate) http: Client,
    /// Every response body seen, for leak checks.
    seen: std::sync::Mutex<String>,
}

/// A server for `m` on a loopback port; `tweak` adjusts its config.
pub(crate) async fn start(
    m: Manager,
    tweak: impl FnOnce(&mut connhost_server::ServerConfig),
) -> (Server, Arc<Manager>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let m = Arc::new(m);
    let mut cfg = connhost_server::ServerConfig::new(&base);
    tweak(&mut cfg);
    let router = connhost_server::router(m.clone(), cfg);
    tokio::spawn(connhost_server::serve(
        listener,
        router,
        std::future::pending(),
    ));
    (
        Server {
            base,
            http: Client::new(),
            seen: Default::default(),
        },
        m,
    )
}

impl Server {
    pub(crate) async fn call(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        self.seen.lock().unwrap().push_str(&text);
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

pub(crate) fn app_key_connection() -> Value {
    json!({
        "connector": "celonis",
        "name": "Acme",
        "fields": {"domain": demo::DOMAIN, "auth_type": "app-key"},
        "secrets": {"app_key": demo::APP_KEY},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_needs_a_key_and_a_team_key_reaches_only_its_team() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = Manager::open(library_config(home.path(), &fake)).unwrap();
    let (_, op) = m.create_api_key(None, "ops").unwrap();
    let (_, a) = m.create_api_key(Some("team-a"), "a").unwrap();
    let (_, b) = m.create_api_key(Some("team-b"), "b").unwrap();
    let (revoked_key, revoked) = m.create_api_key(Some("team-a"), "old").unwrap();
    m.revoke_api_key(&revoked_key.id).unwrap();
    let (member_key, member) = m
        .create_api_key_as(Some("team-a"), "member", connhost::Role::Member)
        .unwrap();
    let (s, _m) = start(m, |_| {}).await;
    let (op, a, b, revoked) = (op.expose(), a.expose(), b.expose(), revoked.expose());
    let member = member.expose();

    assert_eq!(
        s.call(None, Method::GET, "/healthz", None).await.0,
        StatusCode::OK
    );
    // The operator adds the connector; a team key may not.
    let upload = |key: &str| {
        s.http
            .post(format!("{}/v1/connectors", s.base))
            .bearer_auth(key)
            .body(connhost::builtin::CELONIS.to_vec())
            .send()
    };
    assert_eq!(upload(a).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(upload(op).await.unwrap().status(), StatusCode::OK);
    let (st, list) = s.call(Some(a), Method::GET, "/v1/connectors", None).await;
    assert_eq!(
        (st, list[0]["id"].as_str()),
        (StatusCode::OK, Some("celonis"))
    );

    let (st, created) = s
        .call(
            Some(a),
            Method::POST,
            "/v1/connections",
            Some(app_key_connection()),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["secret_names"], json!(["app_key"]));
    assert!(created.get("secrets").is_none());

    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/v1/connections/{id}"), None),
        (
            Method::PATCH,
            format!("/v1/connections/{id}"),
            Some(json!({"name": "Renamed"})),
        ),
        (Method::POST, format!("/v1/connections/{id}/verify"), None),
        (Method::POST, format!("/v1/connections/{id}/refresh"), None),
        (
            Method::POST,
            format!("/v1/connections/{id}/check"),
            Some(json!({"scopes": []})),
        ),
        (
            Method::POST,
            format!("/v1/connections/{id}/request"),
            Some(json!({"method": "GET", "url": "/api/cloud"})),
        ),
        (
            Method::PUT,
            format!("/v1/connections/{id}/secrets/app_key"),
            Some(json!({"value": demo::APP_KEY})),
        ),
        (
            Method::PUT,
            format!("/v1/connections/{id}"),
            Some(app_key_connection()),
        ),
    ];
    for (method, path, body) in &routes {
        // No key, a revoked key, a made-up key: 401. Another team: 404.
        for key in [None, Some(revoked), Some("chk_key_0000000000000000_x")] {
            let (st, e) = s.call(key, method.clone(), path, body.clone()).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "{method} {path} {e}");
            assert_eq!(e["error"]["kind"], "unauthenticated");
        }
        let (st, e) = s.call(Some(b), method.clone(), path, body.clone()).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{method} {path}: team B got {e}");
        let (st, _) = s.call(Some(op), method.clone(), path, body.clone()).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{method} {path}: operator key");
        let (st, v) = s.call(Some(a), method.clone(), path, body.clone()).await;
        assert_eq!(st, StatusCode::OK, "{method} {path}: {v}");
    }
    let (_, v) = s
        .call(
            Some(a),
            Method::POST,
            &format!("/v1/connections/{id}/verify"),
            None,
        )
        .await;
    assert_eq!(
        v["account_label"].as_str().unwrap(),
        format!("{} ({})", demo::USER, demo::TEAM)
    );
    let (_, r) = s
        .call(
            Some(a),
            Method::POST,
            &format!("/v1/connections/{id}/request"),
            Some(json!({"method": "GET", "url": "/api/cloud"})),
        )
        .await;
    assert_eq!(r["status"], 200);
    let body = base64::engine::general_purpose::STANDARD
        .decode(r["body"].as_str().unwrap())
        .unwrap();
    assert!(String::from_utf8_lossy(&body).contains(demo::USER));
    let (st, lb) = s.call(Some(b), Method::GET, "/v1/connections", None).await;
    assert_eq!((st, lb), (StatusCode::OK, json!([])));

    // A usage blocks the delete (409 naming it) until forced.
    let (st, _) = s
        .call(
            Some(a),
            Method::POST,
            "/v1/usages",
            Some(json!({"consumer": "flow-1", "connection": id, "scopes": [], "state": "active"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, e) = s
        .call(
            Some(a),
            Method::DELETE,
            &format!("/v1/connections/{id}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    assert!(e["error"]["consumers"][0]
        .as_str()
        .unwrap()
        .contains("flow-1"));
    // The API's advice is in its own terms, never a CLI flag.
    let advice = e["error"]["advice"].as_str().unwrap();
    assert!(advice.contains("force=true"), "{advice}");
    assert!(!e.to_string().contains("--force"), "{e}");
    let (st, _) = s
        .call(
            Some(b),
            Method::DELETE,
            &format!("/v1/connections/{id}?force=true"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // A member of the team may not break a usage: 403, the connection stays.
    let (st, e) = s
        .call(
            Some(member),
            Method::DELETE,
            &format!("/v1/connections/{id}?force=true"),
            None,
        )
        .await;
    assert_eq!(
        (st, e["error"]["kind"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden")),
        "{e}"
    );
    let (st, _) = s
        .call(Some(a), Method::GET, &format!("/v1/connections/{id}"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    // Nor may a member switch the usage off, or remove it, to delete the
    // connection without force.
    let (st, e) = s
        .call(
            Some(member),
            Method::POST,
            "/v1/usages",
            Some(
                json!({"consumer": "flow-1", "connection": id, "scopes": [], "state": "inactive"}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    let (st, e) = s
        .call(
            Some(member),
            Method::DELETE,
            &format!("/v1/usages?consumer=flow-1&connection={id}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    let (st, e) = s
        .call(
            Some(member),
            Method::DELETE,
            &format!("/v1/connections/{id}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    // A member may widen a usage, not narrow it, and may not change the
    // team's settings.
    let usage = |scopes: Value| json!({"consumer": "flow-2", "connection": id, "scopes": scopes, "state": "active"});
    let (st, _) = s
        .call(
            Some(a),
            Method::POST,
            "/v1/usages",
            Some(usage(json!(["studio"]))),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = s
        .call(
            Some(member),
            Method::POST,
            "/v1/usages",
            Some(usage(json!([]))),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = s
        .call(
            Some(member),
            Method::POST,
            "/v1/usages",
            Some(usage(json!(["studio", "audit.log:read"]))),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = s
        .call(
            Some(member),
            Method::PUT,
            "/v1/settings/return-urls",
            Some(json!(["https://evil.example/"])),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = s
        .call(
            Some(member),
            Method::POST,
            "/v1/webhooks",
            Some(json!({"url": "https://hooks.example.com/x"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Taking the role out of the member's stored key (to make it an
    // admin's) breaks its tag: the key stops working.
    let key_file = home
        .path()
        .join("apikeys")
        .join(format!("{}.json", member_key.id));
    let text = std::fs::read_to_string(&key_file).unwrap();
    assert!(text.contains("\"role\": \"member\""), "{text}");
    std::fs::write(&key_file, text.replace("\"role\": \"member\",", "")).unwrap();
    let (st, _) = s
        .call(Some(member), Method::GET, "/v1/connections", None)
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = s
        .call(
            Some(a),
            Method::DELETE,
            &format!("/v1/connections/{id}?force=true"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);

    // The audit log pages; team B sees none of team A's records.
    let (_, page) = s
        .call(Some(a), Method::GET, "/v1/audit?limit=3", None)
        .await;
    assert_eq!(page["records"].as_array().unwrap().len(), 3);
    let next = page["next"].as_u64().unwrap();
    let (_, page2) = s
        .call(
            Some(a),
            Method::GET,
            &format!("/v1/audit?limit=3&after={next}"),
            None,
        )
        .await;
    assert!(page2["records"][0]["seq"].as_u64().unwrap() > next);
    let (_, pb) = s.call(Some(b), Method::GET, "/v1/audit", None).await;
    assert!(pb["records"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["team"] == "team-b"));
    // Bad input is a typed 400 naming the field.
    let (st, e) = s
        .call(
            Some(a),
            Method::POST,
            "/v1/connections",
            Some(json!({"connector": "celonis", "fields": {"domain": "x y"}})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"]["kind"], "invalid-input");
    assert!(
        !s.seen.lock().unwrap().contains(demo::APP_KEY),
        "a secret came back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_over_http_ends_at_the_servers_callback() {
    use connhost_testkit::oauth::{OAuthConfig, CLIENT_ID, CLIENT_SECRET};
    let setup = crate::oauth::Setup::new(OAuthConfig::default()).await;
    let m = setup.manager(|_| {}).await;
    let (_, key) = m.create_api_key(Some(DEFAULT_TEAM), "web").unwrap();
    let (s, _m) = start(m, |_| {}).await;
    let key = key.expose();
    let (st, started) = s
        .call(
            Some(key),
            Method::POST,
            "/v1/connections/authorize",
            Some(json!({
                "connector": "generic",
                "fields": {"provider": "fakeoauth", "client_id": CLIENT_ID, "scopes": "profile"},
                "secrets": {"client_secret": CLIENT_SECRET},
            })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{started}");
    assert_eq!(
        started["redirect_uri"],
        format!("{}/oauth/callback", s.base)
    );
    let location = setup
        .consent(started["authorize_url"].as_str().unwrap(), true)
        .await;
    assert!(
        location.starts_with(&format!("{}/oauth/callback?", s.base)),
        "{location}"
    );
    // The browser follows the redirect: no key, bound by state.
    let path = location.strip_prefix(&s.base).unwrap();
    let (st, done) = s.call(None, Method::GET, path, None).await;
    assert_eq!(st, StatusCode::OK, "{done}");
    let id = done["connection"]["id"].as_str().unwrap().to_string();
    assert_eq!(id, started["connection_id"].as_str().unwrap());
    // Replayed: the state is spent.
    let (st, e) = s.call(None, Method::GET, path, None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    let (st, v) = s
        .call(
            Some(key),
            Method::POST,
            &format!("/v1/connections/{id}/verify"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(!s.seen.lock().unwrap().contains(CLIENT_SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_returns_the_browser_only_to_the_teams_allowed_return_urls() {
    use connhost_testkit::oauth::{OAuthConfig, CLIENT_ID, CLIENT_SECRET};
    let setup = crate::oauth::Setup::new(OAuthConfig::default()).await;
    let m = setup.manager(|_| {}).await;
    let (_, key) = m.create_api_key(Some(DEFAULT_TEAM), "web").unwrap();
    let (_, other) = m.create_api_key(Some("team-b"), "web").unwrap();
    let (s, _m) = start(m, |_| {}).await;
    let (key, other) = (key.expose(), other.expose());
    let put = |k, list: Value| s.call(Some(k), Method::PUT, "/v1/settings/return-urls", Some(list));
    let (st, e) = put(key, json!(["javascript:alert(1)"])).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("return_urls"),
        "{e}"
    );
    let (st, v) = put(key, json!(["https://app.example.com/connections"])).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // Another team's list is its own.
    let (_, theirs) = s
        .call(Some(other), Method::GET, "/v1/settings/return-urls", None)
        .await;
    assert_eq!(theirs, json!([]));
    let body = |return_url: &str| {
        json!({
            "connector": "generic",
            "fields": {"provider": "fakeoauth", "client_id": CLIENT_ID, "scopes": "profile"},
            "secrets": {"client_secret": CLIENT_SECRET},
            "return_url": return_url,
        })
    };
    for bad in [
        "https://evil.example.net/connections",
        "https://app.example.com/connectionsX",
        "http://app.example.com/connections",
    ] {
        let (st, e) = s
            .call(
                Some(key),
                Method::POST,
                "/v1/connections/authorize",
                Some(body(bad)),
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("return_url"),
            "{e}"
        );
    }
    // Team B may not return to team A's prefixes.
    let (st, _) = s
        .call(
            Some(other),
            Method::POST,
            "/v1/connections/authorize",
            Some(body("https://app.example.com/connections")),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    let browser = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for approve in [true, false] {
        let (st, started) = s
            .call(
                Some(key),
                Method::POST,
                "/v1/connections/authorize",
                Some(body("https://app.example.com/connections/done?tab=1")),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{started}");
        let location = setup
            .consent(started["authorize_url"].as_str().unwrap(), approve)
            .await;
        let resp = browser.get(&location).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "approve={approve}");
        let back = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
        assert_eq!(back.host_str(), Some("app.example.com"));
        assert_eq!(back.path(), "/connections/done");
        let q: std::collections::BTreeMap<String, String> =
            back.query_pairs().into_owned().collect();
        assert_eq!(q["tab"], "1");
        if approve {
            assert_eq!(q["status"], "connected", "{back}");
            assert_eq!(q["connection"], started["connection_id"].as_str().unwrap());
        } else {
            assert_eq!(q["status"], "failed", "{back}");
            assert_eq!(q["error"], "access-denied", "{back}");
            assert!(!q.contains_key("connection"));
        }
        assert!(!back.as_str().contains(CLIENT_SECRET));
        // The state is spent: a replay is refused and goes nowhere.
        let again = browser.get(&location).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_renews_expiring_access_before_anyone_asks() {
    // An 8 s token is due for renewal 4 s after issue (the new one at
    // 8 s); the server sweeps every 300 ms. Nobody calls the API, yet by
    // 5.5 s the token has been renewed exactly once.
    let (fake, _home, m) = crate::proxy::short_lived(8).await;
    let rec = m.create(crate::proxy::connection("oauth2")).await.unwrap();
    let before = fake.token_requests();
    let (_s, m) = start(m, |c| {
        c.renew_every = Some(std::time::Duration::from_millis(300))
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(5500)).await;
    assert_eq!(
        fake.token_requests() - before,
        1,
        "renewed once, in the background"
    );
    let after = m.get(&rec.id).unwrap();
    assert!(after.expires_at > rec.expires_at, "{after:?}");
    assert_eq!(after.token_generation, rec.token_generation + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_get_signed_events_of_their_team_only_and_failures_are_retried() {
    use connhost_testkit::webhook::WebhookReceiver;
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let hooks = WebhookReceiver::start(1).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut cfg = library_config(home.path(), &fake);
    cfg.net.connect_to.push(hooks.connect_to().parse().unwrap());
    let ca = home.path().join("hooks-ca.pem");
    std::fs::write(&ca, hooks.ca_pem()).unwrap();
    cfg.net.add_ca_file(&ca).unwrap();
    let m = Manager::open(cfg).unwrap();
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    let (_, a) = m.create_api_key(Some("team-a"), "a").unwrap();
    let (_, b) = m.create_api_key(Some("team-b"), "b").unwrap();
    let (s, _m) = start(m, |c| {
        c.deliver_every = Some(std::time::Duration::from_millis(200))
    })
    .await;
    let (a, b) = (a.expose(), b.expose());
    let (st, hook) = s
        .call(
            Some(a),
            Method::POST,
            "/v1/webhooks",
            Some(json!({"url": "https://hooks.example.com/a"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_string();
    let hook_id = hook["id"].as_str().unwrap().to_string();
    s.call(
        Some(b),
        Method::POST,
        "/v1/webhooks",
        Some(json!({"url": "https://hooks.example.com/b"})),
    )
    .await;
    let (st, bad) = s
        .call(
            Some(a),
            Method::POST,
            "/v1/webhooks",
            Some(json!({"url": "http://hooks.example.com/a"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}");
    let (_, listed) = s.call(Some(a), Method::GET, "/v1/webhooks", None).await;
    assert!(listed[0].get("secret").is_none(), "{listed}");

    let (_, c) = s
        .call(
            Some(a),
            Method::POST,
            "/v1/connections",
            Some(app_key_connection()),
        )
        .await;
    let id = c["id"].as_str().unwrap().to_string();
    s.call(
        Some(a),
        Method::POST,
        &format!("/v1/connections/{id}/verify"),
        None,
    )
    .await;
    s.call(
        Some(a),
        Method::DELETE,
        &format!("/v1/connections/{id}"),
        None,
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let wanted = [
        "connection.created",
        "connection.verified",
        "connection.deleted",
    ];
    let ok_events = loop {
        let got: Vec<Value> = hooks
            .received()
            .iter()
            .map(|d| serde_json::from_slice(&d.body).unwrap())
            .collect();
        let types: Vec<&str> = got.iter().filter_map(|e| e["type"].as_str()).collect();
        if wanted.iter().all(|w| types.contains(w)) || std::time::Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let received = hooks.received();
    // Every delivery went to team A's URL, and is signed with its secret.
    for (d, e) in received.iter().zip(&ok_events) {
        assert_eq!(d.path, "/a", "team B's webhook got {e}");
        assert_eq!(e["team"], "team-a");
        assert_eq!(e["connection"], id.as_str());
        let header = |n: &str| d.headers.iter().find(|(k, _)| k == n).unwrap().1.clone();
        let sig = header("connhost-signature");
        let t: u64 = sig
            .split(',')
            .next()
            .unwrap()
            .strip_prefix("t=")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(sig, connhost::webhook_signature(&secret, t, &d.body));
        assert_eq!(header("connhost-event-id"), e["id"].as_str().unwrap());
        assert!(!String::from_utf8_lossy(&d.body).contains(demo::APP_KEY));
    }
    let types: Vec<&str> = ok_events
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    for w in wanted {
        assert!(types.contains(&w), "{w} missing from {types:?}");
    }
    // The first delivery got a 500 and was retried: same event id twice.
    assert_eq!(ok_events[0]["id"], ok_events[1]["id"]);
    let (_, log) = s
        .call(
            Some(a),
            Method::GET,
            &format!("/v1/webhooks/{hook_id}/deliveries"),
            None,
        )
        .await;
    assert_eq!(log[0]["ok"], false);
    assert_eq!(log[0]["status"], 500);
    assert_eq!(log[1]["ok"], true);
    let (st, _) = s
        .call(
            Some(b),
            Method::GET,
            &format!("/v1/webhooks/{hook_id}/deliveries"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_endpoints_count_and_trace_requests() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = Manager::open(library_config(home.path(), &fake)).unwrap();
    let (_, op) = m.create_api_key(None, "ops").unwrap();
    let (_, a) = m.create_api_key(Some("team-a"), "a").unwrap();
    let (s, _m) = start(m, |_| {}).await;
    let (st, r) = s.call(None, Method::GET, "/readyz", None).await;
    assert_eq!((st, r["ready"].as_bool()), (StatusCode::OK, Some(true)));
    s.call(
        Some(a.expose()),
        Method::GET,
        "/v1/connections/conn_nope",
        None,
    )
    .await;
    // A request id comes back: the caller's, or a new one.
    let resp = s
        .http
        .get(format!("{}/healthz", s.base))
        .header("x-request-id", "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "trace-123");
    let resp = s
        .http
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert!(resp.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .starts_with("req-"));
    // Metrics need an operator key.
    let (st, _) = s
        .call(Some(a.expose()), Method::GET, "/metrics", None)
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let text = s
        .http
        .get(format!("{}/metrics", s.base))
        .bearer_auth(op.expose())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("connhost_http_requests_total{method=\"GET\",status=\"404\"}"),
        "{text}"
    );
    assert!(
        text.contains("connhost_errors_total{kind=\"not-found\"}"),
        "{text}"
    );
    assert!(
        text.contains("connhost_plugin_instantiations_total"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_exactly_the_routes_served() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = Manager::open(library_config(home.path(), &fake)).unwrap();
    let (_, a) = m.create_api_key(Some("team-a"), "a").unwrap();
    let (s, _m) = start(m, |_| {}).await;
    let (st, doc) = s
        .call(Some(a.expose()), Method::GET, "/v1/openapi.json", None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, methods) in paths {
        for (method, op) in methods.as_object().unwrap() {
            operations += 1;
            let concrete = path.replace("{id}", "x").replace("{name}", "y");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (st, body) = s.call(None, m, &concrete, None).await;
            // Served: never 404/405 for want of a route. Keyed: 401 first.
            assert!(
                st != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} not served"
            );
            if op["x-connhost-key"] == "none" {
                assert!(
                    st != StatusCode::NOT_FOUND || path == "/oauth/callback",
                    "{method} {path}: {st}"
                );
            } else {
                assert_eq!(st, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
            }
        }
    }
    assert_eq!(operations, connhost_server::routes::ROUTES.len());
    assert!(operations >= 30, "{operations}");

    // Bodies and query parameters come from the types the handlers read.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let body_of = |method: &str, path: &str| {
        doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"].clone()
    };
    assert_eq!(
        body_of("post", "/v1/connections")["$ref"],
        "#/components/schemas/ConnectionBody"
    );
    let conn = &schemas["ConnectionBody"]["properties"];
    for field in ["connector", "name", "fields", "secrets", "return_url"] {
        assert!(conn.get(field).is_some(), "ConnectionBody.{field}: {conn}");
    }
    let request = &schemas["RequestBody"];
    let text = request.to_string();
    for field in ["method", "url", "headers", "body", "consumer", "context"] {
        assert!(
            text.contains(&format!("\"{field}\"")),
            "RequestBody.{field}: {request}"
        );
    }
    let delete = &doc["paths"]["/v1/connections/{id}"]["delete"]["parameters"];
    assert!(
        delete
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "force"
                && p["in"] == "query"
                && p["required"] == false
                && p["schema"]["type"] == "boolean"),
        "{delete}"
    );
    // Every reference resolves.
    let all = doc.to_string();
    for r in all.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = r.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "dangling $ref {name}");
    }
    // A documented body is one its handler reads: a body of the wrong shape
    // is refused before the handler runs.
    let mut bodies = 0;
    for (path, methods) in paths {
        for (method, op) in methods.as_object().unwrap() {
            if op.get("requestBody").is_none() || op["x-connhost-key"] != "team" {
                continue;
            }
            bodies += 1;
            let concrete = path.replace("{id}", "x").replace("{name}", "y");
            let wrong = if body_of(method, path)["type"] == "array" {
                json!({"not": "a list"})
            } else {
                json!([1, 2])
            };
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (st, _) = s.call(Some(a.expose()), m, &concrete, Some(wrong)).await;
            assert!(
                st == StatusCode::UNPROCESSABLE_ENTITY || st == StatusCode::BAD_REQUEST,
                "{method} {path} took a body of the wrong shape: {st}"
            );
        }
    }
    assert!(bodies >= 12, "{bodies}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_types_answers_names_operations_and_states_limits() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = Manager::open(library_config(home.path(), &fake)).unwrap();
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    let (_, a) = m.create_api_key(Some("team-a"), "a").unwrap();
    let (s, _m) = start(m, |_| {}).await;
    let a = a.expose();
    let (_, doc) = s.call(Some(a), Method::GET, "/v1/openapi.json", None).await;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let tags = [
        "audit",
        "connect",
        "connections",
        "connectors",
        "ops",
        "providers",
        "settings",
        "usages",
        "webhooks",
    ];
    let declared: Vec<_> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(declared, tags);

    // Every operation: a unique operationId, one known tag, a typed 200.
    let mut ids = std::collections::BTreeSet::new();
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for (method, op) in methods.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(!id.is_empty(), "{method} {path}: no operationId");
            assert!(ids.insert(id.to_string()), "{method} {path}: {id} twice");
            let tag = op["tags"][0].as_str().unwrap_or_default();
            assert!(
                tags.contains(&tag) && op["tags"].as_array().unwrap().len() == 1,
                "{method} {path}: tags {}",
                op["tags"]
            );
            let ok = &op["responses"]["200"]["content"];
            let schema = ok
                .get("application/json")
                .or_else(|| ok.get("text/plain"))
                .map(|c| &c["schema"]);
            assert!(
                schema.is_some_and(|s| s.as_object().is_some_and(|o| !o.is_empty())),
                "{method} {path}: untyped 200: {ok}"
            );
            if op["x-connhost-key"] != "none" {
                for code in ["401", "403", "429"] {
                    assert!(
                        op["responses"].get(code).is_some(),
                        "{method} {path}: no {code}"
                    );
                }
            }
            // What limits.rs answers for a body: too large, too slow.
            if op.get("requestBody").is_some() {
                for code in ["408", "413"] {
                    assert!(
                        op["responses"].get(code).is_some(),
                        "{method} {path}: no {code}"
                    );
                }
                assert!(op["x-connhost-max-body-bytes"].as_u64().unwrap() > 0);
            }
        }
    }
    assert_eq!(ids.len(), connhost_server::routes::ROUTES.len());
    let op = |method: &str, path: &str| doc["paths"][path][method].clone();
    assert_eq!(
        op("get", "/v1/connections/{id}")["operationId"],
        "getConnection"
    );
    assert_eq!(
        op("get", "/v1/connections")["operationId"],
        "listConnections"
    );
    assert_eq!(
        op("post", "/v1/providers")["x-connhost-max-body-bytes"],
        256 * 1024
    );
    assert_eq!(
        op("post", "/v1/connectors")["x-connhost-max-body-bytes"],
        16 * 1024 * 1024
    );

    // GET /v1/connections/{id}: the Connection type, secret names only.
    let show = op("get", "/v1/connections/{id}");
    assert_eq!(
        show["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Connection"
    );
    let connection = &schemas["Connection"];
    assert!(connection["properties"].get("secret_names").is_some());
    assert!(connection["properties"].get("secrets").is_none());
    let list = op("get", "/v1/connections");
    assert_eq!(
        list["responses"]["200"]["content"]["application/json"]["schema"]["items"]["$ref"],
        "#/components/schemas/Connection"
    );
    // Path ids: what the store accepts.
    let id = &show["parameters"][0];
    assert_eq!(id["name"], "id");
    assert_eq!(id["schema"]["pattern"], "^[A-Za-z0-9_-]{1,128}$");

    // `limit`: 1 to 1000, as the handlers take it.
    let param = |op: &Value, name: &str| {
        op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {op}"))
    };
    for (path, name) in [
        ("/v1/connections", "limit"),
        ("/v1/audit", "limit"),
        ("/v1/webhooks/{id}/deliveries", "limit"),
    ] {
        let p = param(&op("get", path), name);
        assert_eq!(p["in"], "query");
        assert_eq!(p["schema"]["type"], "integer", "{path}: {p}");
        assert_eq!(p["schema"]["minimum"], 1, "{path}: {p}");
        assert_eq!(p["schema"]["maximum"], 1000, "{path}: {p}");
    }
    for limit in ["0", "1001"] {
        let (st, body) = s
            .call(
                Some(a),
                Method::GET,
                &format!("/v1/connections?limit={limit}"),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    }

    // A real answer has what its schema requires and nothing it does not
    // name.
    let (st, created) = s
        .call(
            Some(a),
            Method::POST,
            "/v1/connections",
            Some(app_key_connection()),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{created}");
    let id = created["id"].as_str().unwrap();
    let (_, shown) = s
        .call(Some(a), Method::GET, &format!("/v1/connections/{id}"), None)
        .await;
    let props = connection["properties"].as_object().unwrap();
    for field in connection["required"].as_array().unwrap() {
        assert!(
            shown.get(field.as_str().unwrap()).is_some(),
            "{field} missing"
        );
    }
    for field in shown.as_object().unwrap().keys() {
        assert!(props.contains_key(field), "{field} not in the schema");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_session_creates_exactly_one_connection_in_its_team() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = Manager::open(library_config(home.path(), &fake)).unwrap();
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    let (_, a) = m.create_api_key(Some("team-a"), "a").unwrap();
    let (_, b) = m.create_api_key(Some("team-b"), "b").unwrap();
    let (s, _m) = start(m, |_| {}).await;
    let (a, b) = (a.expose(), b.expose());
    let (st, session) = s
        .call(
            Some(a),
            Method::POST,
            "/v1/connect-sessions",
            Some(json!({"connector": "celonis"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{session}");
    let token = session["token"].as_str().unwrap().to_string();
    let (st, form) = s
        .call(Some(&token), Method::GET, "/v1/connect/session", None)
        .await;
    assert_eq!(st, StatusCode::OK, "{form}");
    assert_eq!(form["connector"]["id"], "celonis");
    // The session token is no team key.
    let (st, _) = s
        .call(Some(&token), Method::GET, "/v1/connections", None)
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let mut other = app_key_connection();
    other["connector"] = "generic".into();
    let (st, _) = s
        .call(
            Some(&token),
            Method::POST,
            "/v1/connect/connections",
            Some(other),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, created) = s
        .call(
            Some(&token),
            Method::POST,
            "/v1/connect/connections",
            Some(app_key_connection()),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["team"], "team-a");
    // Spent: a second use is refused; team A owns the connection, B does not see it.
    let (st, _) = s
        .call(
            Some(&token),
            Method::POST,
            "/v1/connect/connections",
            Some(app_key_connection()),
        )
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(
        s.call(Some(a), Method::GET, &format!("/v1/connections/{id}"), None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        s.call(Some(b), Method::GET, &format!("/v1/connections/{id}"), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, audit) = s
        .call(
            Some(a),
            Method::GET,
            &format!("/v1/audit?connection={id}"),
            None,
        )
        .await;
    assert!(audit["records"][0]["actor"]
        .as_str()
        .unwrap()
        .starts_with("connect-session:"));
    // Two end users racing with one token: exactly one connection.
    let (_, race) = s
        .call(
            Some(a),
            Method::POST,
            "/v1/connect-sessions",
            Some(json!({"connector": "celonis"})),
        )
        .await;
    let race = race["token"].as_str().unwrap().to_string();
    let (r1, r2) = tokio::join!(
        s.call(
            Some(&race),
            Method::POST,
            "/v1/connect/connections",
            Some(app_key_connection())
        ),
        s.call(
            Some(&race),
            Method::POST,
            "/v1/connect/connections",
            Some(app_key_connection())
        ),
    );
    let mut statuses = [r1.0, r2.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::UNAUTHORIZED],
        "{r1:?} {r2:?}"
    );
    // An expired session is refused.
    let (_, short) = s
        .call(
            Some(a),
            Method::POST,
            "/v1/connect-sessions",
            Some(json!({"connector": "celonis", "ttl_secs": 1})),
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (st, _) = s
        .call(
            Some(short["token"].as_str().unwrap()),
            Method::GET,
            "/v1/connect/session",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_proxy_requests_across_an_expiry_make_one_token_request() {
    // Through the server this time: four bursts of 50 simultaneous
    // requests at 0, 1.5, 4.5 and 6 s on an 8 s token (due for renewal at
    // 4 s; the new one at 8.5 s): all succeed and the third burst shares
    // one renewal. The windows leave 2.5 s of slack for a loaded machine.
    let (fake, _home, m) = crate::proxy::short_lived(8).await;
    let (_, key) = m.create_api_key(Some("load"), "load").unwrap();
    // Only the callers renew here.
    let (s, _m) = start(m, |c| c.renew_every = None).await;
    let s = Arc::new(s);
    let key = key.expose().to_string();
    let (st, c) = s
        .call(
            Some(&key),
            Method::POST,
            "/v1/connections",
            Some(json!({
                "connector": "celonis",
                "fields": {"domain": demo::DOMAIN, "auth_type": "oauth2", "client_id": demo::CLIENT_ID, "scopes": "studio"},
                "secrets": {"client_secret": demo::CLIENT_SECRET},
            })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    let path = format!("/v1/connections/{}/request", c["id"].as_str().unwrap());
    let before = fake.token_requests();
    let tasks: Vec<_> = (0..200u64)
        .map(|i| {
            let (s, key, path) = (s.clone(), key.clone(), path.clone());
            tokio::spawn(async move {
                let at = [0, 1500, 4500, 6000][(i / 50) as usize];
                tokio::time::sleep(std::time::Duration::from_millis(at)).await;
                s.call(
                    Some(&key),
                    Method::POST,
                    &path,
                    Some(json!({"method": "GET", "url": "/api/cloud"})),
                )
                .await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        let (st, r) = t.await.unwrap();
        assert_eq!(
            (st, r["status"].as_u64()),
            (StatusCode::OK, Some(200)),
            "{r}"
        );
        ok += 1;
    }
    let renewals = fake.token_requests() - before;
    eprintln!("serve proxy load: {ok} requests, {renewals} token request(s), 0 errors");
    assert_eq!((ok, renewals), (200, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_connections_over_http_pick_a_connection_by_context() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = Manager::open(library_config(home.path(), &fake)).unwrap();
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    let (_, a) = m.create_api_key(Some("team-a"), "a").unwrap();
    let (_, b) = m.create_api_key(Some("team-b"), "b").unwrap();
    let (s, _m) = start(m, |_| {}).await;
    let (a, b) = (a.expose(), b.expose());
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (_, c) = s
            .call(
                Some(a),
                Method::POST,
                "/v1/connections",
                Some(app_key_connection()),
            )
            .await;
        ids.push(c["id"].as_str().unwrap().to_string());
    }
    let d = json!({"name": "by-dept", "connector": "celonis", "key": "department",
        "choices": {"sales": ids[0], "ops": ids[1]}, "default": null});
    let (st, e) = s
        .call(
            Some(b),
            Method::POST,
            "/v1/dynamic-connections",
            Some(d.clone()),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "team B cannot point at A's connections: {e}"
    );
    let (st, _) = s
        .call(Some(a), Method::POST, "/v1/dynamic-connections", Some(d))
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, r) = s
        .call(
            Some(a),
            Method::POST,
            "/v1/connections/dynamic:by-dept/request",
            Some(json!({"method": "GET", "url": "/api/cloud", "context": {"department": "ops"}})),
        )
        .await;
    assert_eq!(r["status"], 200, "{r}");
    let (_, audit) = s
        .call(
            Some(a),
            Method::GET,
            &format!("/v1/audit?connection={}", ids[1]),
            None,
        )
        .await;
    assert!(audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["operation"] == "connection.request" && r["via"] == "dynamic:by-dept"));
    let (st, e) = s
        .call(
            Some(a),
            Method::POST,
            "/v1/connections/dynamic:by-dept/request",
            Some(json!({"method": "GET", "url": "/api/cloud", "context": {"department": "hr"}})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(
        s.call(Some(b), Method::GET, "/v1/dynamic-connections", None)
            .await
            .1,
        json!([])
    );
    let (st, _) = s
        .call(
            Some(a),
            Method::DELETE,
            "/v1/dynamic-connections/by-dept",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_renewal_loses_nothing_after_restart() {
    // A 6 s token is due 3 s after issue. The first server is killed
    // (SIGKILL) while its background renewal waits on the token endpoint;
    // a second server on the same store renews it once, and the
    // connection, the store and the audit chain are all intact.
    let env = crate::common::Env::with(FakeConfig {
        token_lifetime: Some(6),
        token_delay: Some(std::time::Duration::from_secs(3)),
        ..FakeConfig::default()
    })
    .await;
    env.add_celonis().await;
    env.fake.configure(|c| c.token_delay = None);
    let id = env
        .create(
            &[
                "domain=acme.eu-1.celonis.cloud",
                "auth_type=oauth2",
                "client_id=demo-client",
                "scopes=studio intelligence.knowledge-models:read",
            ],
            &["client_secret=env:CLIENT_SECRET"],
        )
        .await;
    let shown = || {
        let (id, env) = (id.clone(), &env);
        async move {
            env.run(&["--json", "connection", "show", &id])
                .await
                .ok()
                .json()
        }
    };
    let before = shown().await;
    env.fake
        .configure(|c| c.token_delay = Some(std::time::Duration::from_secs(3)));
    let serve = |env: &crate::common::Env| {
        let mut cmd = tokio::process::Command::new(crate::common::bin());
        cmd.arg("--home")
            .arg(env.home())
            .arg("--ca-file")
            .arg(env.home().join("test-ca.pem"))
            .arg("--connect-to")
            .arg(env.fake.connect_to(demo::DOMAIN))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--renew-every-secs",
                "1",
            ])
            .env_remove("CONNHOST_MASTER_KEY")
            .env_remove("CONNHOST_HOME")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        cmd.spawn().expect("spawn connhost serve")
    };
    let tokens = env.fake.token_requests();
    let mut first = serve(&env);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while env.fake.token_requests() == tokens {
        assert!(
            std::time::Instant::now() < deadline,
            "no background renewal"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The token request has arrived and is being held: kill now.
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    let mid = shown().await;
    assert_eq!(mid["expires_at"], before["expires_at"], "{mid}");

    env.fake.configure(|c| c.token_delay = None);
    let after_kill = env.fake.token_requests();
    let mut second = serve(&env);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let renewed = loop {
        let now = shown().await;
        if now["expires_at"] != before["expires_at"] {
            break now;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not renewed after restart: {now}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    second.start_kill().unwrap();
    second.wait().await.unwrap();
    assert_eq!(
        env.fake.token_requests() - after_kill,
        1,
        "one token request after restart"
    );
    assert!(renewed["expires_at"].as_u64() > before["expires_at"].as_u64());
    // Nothing lost or damaged: the store checks out and the connection works.
    let check = env.run(&["--json", "store", "check"]).await.ok().json();
    assert_eq!(check["quarantined"], json!([]), "{check}");
    assert_eq!(check["audit"]["broken"], Value::Null, "{check}");
    let v = env
        .run(&["--json", "connection", "verify", &id])
        .await
        .ok()
        .json();
    assert_eq!(v["ok"], true, "{v}");
}

/// A key revoked while someone signs out with it stays revoked (both are
/// read-modify-writes of the key's record; the record lock orders them).
#[test]
fn a_revoke_and_a_sign_out_at_once_both_land() {
    let home = tempfile::tempdir().unwrap();
    let m = Arc::new(Manager::open(connhost::HostConfig::new(home.path())).unwrap());
    for round in 0..40 {
        let (key, _) = m.create_api_key(Some("team-a"), "k").unwrap();
        let (a, b) = (m.clone(), m.clone());
        let (ida, idb) = (key.id.clone(), key.id.clone());
        let revoke = std::thread::spawn(move || a.revoke_api_key(&ida).unwrap());
        let sign_out = std::thread::spawn(move || b.end_ui_sessions(&idb).unwrap());
        revoke.join().unwrap();
        sign_out.join().unwrap();
        let after = m
            .api_keys(Some("team-a"))
            .unwrap()
            .into_iter()
            .find(|k| k.id == key.id)
            .unwrap();
        assert!(
            after.revoked_at.is_some(),
            "round {round}: the revoke was lost"
        );
        assert!(
            after.ui_sessions_after_ms > 0,
            "round {round}: the sign-out was lost"
        );
    }
}
