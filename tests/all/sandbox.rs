//! The sandbox, through the library: a misbehaving real component (the
//! testbed connector) against the real runtime.

use connhost::{ConnectorError, Error, HostConfig, Manager, NewConnection, Secret};
use connhost_testkit::celonis::{demo, FakeCelonis, FakeConfig};
use std::collections::BTreeMap;
use std::time::Duration;

async fn manager(
    home: &std::path::Path,
    fake: &FakeCelonis,
    tweak: impl FnOnce(&mut HostConfig),
) -> Manager {
    let mut cfg = crate::common::library_config(home, fake);
    tweak(&mut cfg);
    let m = Manager::open(cfg).unwrap();
    let manifest = m.add_connector(connhost::builtin::TESTBED).await.unwrap();
    assert_eq!(manifest.id, "testbed");
    m
}

async fn testbed(m: &Manager, action: &str, url: Option<&str>, token: &str) -> String {
    let mut fields = BTreeMap::from([
        ("domain".to_string(), demo::DOMAIN.to_string()),
        ("action".to_string(), action.to_string()),
    ]);
    if let Some(u) = url {
        fields.insert("url".into(), u.into());
    }
    m.create(NewConnection {
        connector: "testbed".into(),
        fields,
        secrets: BTreeMap::from([("token".into(), Secret::new(token))]),
        ..Default::default()
    })
    .await
    .unwrap()
    .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_outside_the_allowlist_are_denied_and_name_the_target() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = manager(home.path(), &fake, |_| {}).await;
    for (url, target) in [
        ("https://evil.example.com/x", "https://evil.example.com:443"),
        (
            "https://acme.eu-1.celonis.cloud:8443/x",
            "https://acme.eu-1.celonis.cloud:8443",
        ),
        (
            "http://acme.eu-1.celonis.cloud/x",
            "http://acme.eu-1.celonis.cloud:80",
        ),
        ("https://127.0.0.1/x", "https://127.0.0.1:443"),
    ] {
        let id = testbed(&m, "call-url", Some(url), "t").await;
        match m.verify(&id).await {
            Err(Error::Connector(ConnectorError::DeniedHost { target: t })) => {
                assert_eq!(t, target)
            }
            other => panic!("{url}: expected denied-host, got {other:?}"),
        }
    }
    assert!(
        fake.requests().is_empty(),
        "nothing reached the network: {:?}",
        fake.requests()
    );
    // The allowed origin goes through (the fake rejects the unknown token).
    let id = testbed(
        &m,
        "call-url",
        Some("https://acme.eu-1.celonis.cloud/nothing"),
        "t",
    )
    .await;
    assert_eq!(m.verify(&id).await.unwrap().account_label, "status 401");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_plugin_is_stopped_and_the_host_lives_on() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = manager(home.path(), &fake, |c| {
        c.runtime.call_timeout = Duration::from_millis(300)
    })
    .await;
    let looping = testbed(&m, "loop", None, "t").await;
    let started = std::time::Instant::now();
    match m.verify(&looping).await {
        Err(Error::Plugin { connector, reason }) => {
            assert_eq!(connector, "testbed");
            assert!(reason.contains("time limit of 300 ms"), "{reason}");
        }
        other => panic!("expected a plugin failure, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let ok = testbed(&m, "ok", None, "t").await;
    assert_eq!(m.verify(&ok).await.unwrap().account_label, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_greedy_plugin_hits_the_memory_limit() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = manager(home.path(), &fake, |c| {
        c.runtime.max_memory_bytes = 16 << 20
    })
    .await;
    let greedy = testbed(&m, "alloc", None, "t").await;
    match m.verify(&greedy).await {
        Err(Error::Plugin { reason, .. }) => assert!(reason.contains("memory"), "{reason}"),
        other => panic!("expected a plugin failure, got {other:?}"),
    }
    let ok = testbed(&m, "ok", None, "t").await;
    assert!(m.verify(&ok).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_scoped_to_their_connection() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = manager(home.path(), &fake, |_| {}).await;
    let a = testbed(&m, "reveal", None, "aaaa").await;
    let b = testbed(&m, "reveal", None, "bbbbbbbbbb").await;
    assert_eq!(
        m.verify(&a).await.unwrap().account_label,
        "revealed 4 chars"
    );
    assert_eq!(
        m.verify(&b).await.unwrap().account_label,
        "revealed 10 chars"
    );
    // Every reveal is audited by name (never value), as the connector.
    let team = m
        .team(connhost::Caller {
            team: "default".into(),
            actor: "t".into(),
        })
        .unwrap();
    let reveals: Vec<_> = team
        .audit(Some(&a), None)
        .unwrap()
        .into_iter()
        .filter(|r| r.operation == "secret.reveal")
        .collect();
    assert_eq!(reveals.len(), 1, "{reveals:?}");
    assert_eq!(reveals[0].via.as_deref(), Some("secret:token"));
    assert_eq!(reveals[0].actor, "connector:testbed");
    let log = std::fs::read_to_string(home.path().join("audit.log")).unwrap();
    assert!(!log.contains("aaaa") && !log.contains("bbbbbbbbbb"));
    assert!(m.verify_audit().unwrap().broken.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_components_are_cached_on_disk() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = manager(home.path(), &fake, |_| {}).await;
    let cached: Vec<_> = std::fs::read_dir(home.path().join("cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".cwasm"))
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    drop(m);
    // A second host on the same store loads from the cache and works.
    let m = manager(home.path(), &fake, |_| {}).await;
    let ok = testbed(&m, "ok", None, "t").await;
    assert!(m.verify(&ok).await.is_ok());
    // A corrupt cache entry is recompiled, not trusted.
    let path = home.path().join("cache").join(&cached[0]);
    std::fs::write(&path, b"garbage").unwrap();
    drop(m);
    let m = manager(home.path(), &fake, |_| {}).await;
    assert!(m.verify(&ok).await.is_ok());
    assert!(std::fs::read(&path).unwrap().len() > 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_cannot_rewrite_the_fields_its_allowlist_comes_from() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = manager(home.path(), &fake, |_| {}).await;
    let id = testbed(&m, "rewrite-domain", None, "t").await;
    let rec = m.get(&id).unwrap();
    assert_eq!(rec.fields["domain"], demo::DOMAIN, "existing value kept");
    assert_eq!(
        rec.fields["url"], "https://added.example.com/",
        "new values may be added"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origins_a_plugin_asks_for_must_be_bare_https() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = manager(home.path(), &fake, |_| {}).await;
    for bad in [
        "http://plain.example.com",
        "https://x.example.com/path",
        "https://user@x.example.com",
    ] {
        let err = m
            .create(NewConnection {
                connector: "testbed".into(),
                fields: BTreeMap::from([
                    ("domain".to_string(), demo::DOMAIN.to_string()),
                    ("action".to_string(), "ok".to_string()),
                    ("extra_origin".to_string(), bad.to_string()),
                ]),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Plugin { reason, .. } if reason.contains("allowed-origins")),
            "{bad}: {err:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_addresses_are_refused_with_one_error() {
    // A connection pointed at the host's own network: loopback, the cloud
    // metadata address, a private address. All are refused after
    // resolution with the same text, so errors cannot map the network.
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = manager(home.path(), &fake, |_| {}).await;
    for domain in ["localhost", "169.254.169.254", "10.0.0.1", "127.0.0.1"] {
        let mut fields = BTreeMap::from([
            ("domain".to_string(), domain.to_string()),
            ("action".to_string(), "call-url".to_string()),
            (
                "url".to_string(),
                format!("https://{domain}/latest/meta-data"),
            ),
        ]);
        fields.insert("auth_type".into(), "token".into());
        let id = m
            .create(NewConnection {
                connector: "testbed".into(),
                fields,
                secrets: BTreeMap::from([("token".into(), Secret::new("t"))]),
                ..Default::default()
            })
            .await
            .unwrap()
            .id;
        match m.verify(&id).await {
            Err(Error::Connector(ConnectorError::Network { message })) => {
                assert_eq!(message, format!("{domain}: not a public address; refused"))
            }
            other => panic!("{domain}: expected a refusal, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_origins_must_match_the_manifests_patterns_and_are_audited() {
    // The testbed declares `https://*.example.com`: an origin under it is
    // added, shown and audited; any other is `denied-host`, and nothing
    // is stored.
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = manager(home.path(), &fake, |_| {}).await;
    let new = |origin: &str| NewConnection {
        connector: "testbed".into(),
        fields: BTreeMap::from([
            ("domain".to_string(), demo::DOMAIN.to_string()),
            ("action".to_string(), "ok".to_string()),
            ("extra_origin".to_string(), origin.to_string()),
        ]),
        ..Default::default()
    };
    for evil in [
        "https://evil.example.net",
        "https://example.com.evil.net",
        "https://api.example.com:8443",
    ] {
        match m.create(new(evil)).await {
            Err(Error::Connector(ConnectorError::DeniedHost { target })) => {
                assert!(
                    evil.starts_with(target.trim_end_matches(":443")),
                    "{target}"
                )
            }
            other => panic!("{evil}: {other:?}"),
        }
    }
    assert!(m.list(None).unwrap().is_empty(), "nothing stored");
    let rec = m.create(new("https://api.example.com")).await.unwrap();
    assert_eq!(rec.origins, ["https://api.example.com"]);
    let log = std::fs::read_to_string(home.path().join("audit.log")).unwrap();
    assert!(
        log.lines().any(|l| l.contains("connection.origins")
            && l.contains("https://api.example.com")
            && l.contains("connector:testbed")),
        "{log}"
    );
}
