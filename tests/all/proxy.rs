//! Using a connection: requests a platform makes through it. The
//! connector adds the credentials inside the sandbox, the host sends with
//! the connection's policy, access is renewed ahead of expiry and once on
//! a 401, and a consumer's scopes are checked first.

use crate::common::{library_config, Env};
use connhost::{ApiRequest, Caller, ConnectorError, Error, Manager, NewConnection, Secret};
use connhost_testkit::celonis::{demo, FakeCelonis, FakeConfig};
use std::collections::BTreeMap;
use std::sync::Arc;

async fn celonis(home: &std::path::Path, fake: &FakeCelonis) -> Manager {
    let m = Manager::open(library_config(home, fake)).unwrap();
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    m
}

/// A fake Celonis issuing `secs`-second tokens, and a store with the
/// Celonis connector in a temporary home.
pub(crate) async fn short_lived(secs: u64) -> (FakeCelonis, tempfile::TempDir, Manager) {
    let fake = FakeCelonis::start(FakeConfig {
        token_lifetime: Some(secs),
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = celonis(home.path(), &fake).await;
    (fake, home, m)
}

pub(crate) fn connection(auth_type: &str) -> NewConnection {
    let mut fields = BTreeMap::from([
        ("domain".to_string(), demo::DOMAIN.to_string()),
        ("auth_type".to_string(), auth_type.to_string()),
    ]);
    let secrets = match auth_type {
        "app-key" => BTreeMap::from([("app_key".into(), Secret::new(demo::APP_KEY))]),
        _ => {
            fields.insert("client_id".into(), demo::CLIENT_ID.into());
            fields.insert(
                "scopes".into(),
                "studio intelligence.knowledge-models:read".into(),
            );
            BTreeMap::from([("client_secret".into(), Secret::new(demo::CLIENT_SECRET))])
        }
    };
    NewConnection {
        connector: "celonis".into(),
        fields,
        secrets,
        ..Default::default()
    }
}

fn get(url: &str) -> ApiRequest {
    ApiRequest {
        method: "GET".into(),
        url: url.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_carries_the_connections_credentials_and_comes_back_whole() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = celonis(home.path(), &fake).await;
    for auth in ["app-key", "oauth2"] {
        let id = m.create(connection(auth)).await.unwrap().id;
        // A path is resolved against the connection's origin.
        let r = m.request(&id, &get("/api/cloud")).await.unwrap();
        assert_eq!(r.status, 200, "{auth}");
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["userEmail"], demo::USER, "{auth}");
        assert!(r
            .headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.contains("json")));
        // An absolute URL on the connection's origin works too.
        let abs = format!("https://{}/api/cloud", demo::DOMAIN);
        assert_eq!(m.request(&id, &get(&abs)).await.unwrap().status, 200);
    }
    let id = m.create(connection("app-key")).await.unwrap().id;
    // Another origin is the connection's policy's to refuse.
    match m.request(&id, &get("https://evil.example.com/steal")).await {
        Err(Error::Connector(ConnectorError::DeniedHost { target })) => {
            assert!(target.contains("evil.example.com"), "{target}")
        }
        other => panic!("{other:?}"),
    }
    // Credentials are the connection's to set, and the method must be real.
    let mut with_auth = get("/api/cloud");
    with_auth.headers = vec![("Authorization".into(), "Bearer mine".into())];
    let err = m.request(&id, &with_auth).await.unwrap_err();
    assert_eq!(err.kind(), "invalid-input");
    assert!(err.to_string().contains("headers"), "{err}");
    let mut bad = get("/api/cloud");
    bad.method = "TRACE".into();
    assert!(m
        .request(&id, &bad)
        .await
        .unwrap_err()
        .to_string()
        .contains("method"));
    let err = m.request(&id, &get("api/cloud")).await.unwrap_err();
    assert!(err.to_string().contains("url"), "{err}");
    // A provider's error status is a response, not an error.
    let r = m.request(&id, &get("/nope")).await.unwrap();
    assert_eq!(r.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_requests_reuse_one_kept_alive_connection() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = celonis(home.path(), &fake).await;
    let id = m.create(connection("app-key")).await.unwrap().id;
    let before = fake.connections();
    for _ in 0..30 {
        assert_eq!(
            m.request(&id, &get("/api/cloud")).await.unwrap().status,
            200
        );
    }
    let used = fake.connections() - before;
    println!("30 requests used {used} new connection(s)");
    assert!(used <= 1, "{used} connections for 30 sequential requests");
    // A body over the cap ends that connection; the next request gets a
    // fresh one and still succeeds.
    let big = m.request(&id, &get("/api/huge")).await;
    assert!(big.is_err() || big.unwrap().status != 200);
    assert_eq!(
        m.request(&id, &get("/api/cloud")).await.unwrap().status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_renewed_once_and_the_request_retried() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = celonis(home.path(), &fake).await;
    let id = m.create(connection("oauth2")).await.unwrap().id;
    let before = fake.token_requests();
    let r = m.request(&id, &get("/api/cloud")).await.unwrap();
    assert!(!r.renewed);
    fake.revoke_tokens();
    let r = m.request(&id, &get("/api/cloud")).await.unwrap();
    assert_eq!(r.status, 200);
    assert!(r.renewed);
    assert_eq!(fake.token_requests() - before, 1, "one renewal");
    // A static key that the provider refuses is the caller's 401: no loop.
    let id = m.create(connection("app-key")).await.unwrap().id;
    fake.configure(|c| {
        c.keys.remove(demo::APP_KEY);
    });
    let r = m.request(&id, &get("/api/cloud")).await.unwrap();
    assert_eq!((r.status, r.renewed), (401, false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_is_checked_for_its_scopes_before_the_request() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = celonis(home.path(), &fake).await;
    let team = m
        .team(Caller {
            team: "ops".into(),
            actor: "flow-runner".into(),
        })
        .unwrap();
    let id = team.create(connection("oauth2")).await.unwrap().id;
    for (consumer, scopes) in [
        ("reader", vec!["studio".to_string()]),
        ("admin", vec!["audit.log:read".to_string()]),
    ] {
        team.add_usage(connhost::Usage {
            consumer: consumer.into(),
            connection: id.clone(),
            scopes,
            state: connhost::UsageState::Active,
        })
        .unwrap();
    }
    let none = BTreeMap::new();
    let ok = team
        .request(&id, &get("/api/cloud"), Some("reader"), &none)
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    let before = fake.requests().len();
    let err = team
        .request(&id, &get("/api/cloud"), Some("admin"), &none)
        .await
        .unwrap_err();
    assert_eq!(
        connhost::is_account_validation(&err),
        Some(&["audit.log:read".to_string()][..]),
        "{err:?}"
    );
    assert_eq!(fake.requests().len(), before, "refused before any call");
    // Another team reaches nothing.
    let other = m
        .team(Caller {
            team: "other".into(),
            actor: "x".into(),
        })
        .unwrap();
    let err = other
        .request(&id, &get("/api/cloud"), None, &none)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "connection-deleted", "{err:?}");
    let audit = team.audit(Some(&id), None).unwrap();
    assert!(
        audit
            .iter()
            .filter(|r| r.operation == "connection.request")
            .count()
            >= 2,
        "{audit:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_requests_across_an_expiry_make_one_token_request() {
    // An 8 s token: renewal is due 4 s after issue (the margin is capped
    // at half the lifetime). Four bursts of 50 simultaneous requests, at
    // 0, 1.5, 4.5 and 6 s: all succeed, and the third burst's 50 share one
    // renewal (the new token is due at 8.5 s: 2.5 s of slack each way).
    let (fake, _home, m) = short_lived(8).await;
    let m = Arc::new(m);
    let id = m.create(connection("oauth2")).await.unwrap().id;
    let before = fake.token_requests();
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..200u64)
        .map(|i| {
            let (m, id) = (m.clone(), id.clone());
            tokio::spawn(async move {
                let at = [0, 1500, 4500, 6000][(i / 50) as usize];
                tokio::time::sleep(std::time::Duration::from_millis(at)).await;
                m.request(&id, &get("/api/cloud")).await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        assert_eq!(r.status, 200);
        ok += 1;
    }
    let renewals = fake.token_requests() - before;
    eprintln!(
        "proxy load: {ok} requests in {:.1} s, {renewals} token request(s), 0 errors",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(ok, 200);
    assert_eq!(renewals, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_calls_an_api_through_a_connection() {
    let env = Env::new().await;
    env.add_celonis().await;
    let id = env
        .create(
            &["domain=acme.eu-1.celonis.cloud", "auth_type=app-key"],
            &["app_key=env:APP_KEY"],
        )
        .await;
    let text = env
        .run(&["connection", "request", &id, "GET", "/api/cloud"])
        .await
        .ok();
    assert!(text.stdout.starts_with("HTTP 200"), "{text:?}");
    assert!(text.stdout.contains(demo::USER), "{text:?}");
    let json = env
        .run(&["--json", "connection", "request", &id, "GET", "/api/cloud"])
        .await
        .ok();
    assert_eq!(json.json()["status"], 200);
    let body = json.json()["body"].as_str().unwrap().to_string();
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    assert!(String::from_utf8_lossy(&decoded).contains(demo::USER));
    let refused = env
        .run(&[
            "--json",
            "connection",
            "request",
            &id,
            "GET",
            "/api/cloud",
            "--header",
            "authorization: Bearer x",
        ])
        .await;
    assert_eq!(refused.error()["kind"], "invalid-input");
    assert!(!env.transcript.lock().unwrap().contains(demo::APP_KEY));
}
