//! Several `connhost serve` replicas on one PostgreSQL database, as an
//! integration platform runs them behind a load balancer.
//!
//! Invariants: one renewal per expiry however many callers on however
//! many replicas ask (so a rotating refresh token is never spent twice);
//! a replica killed with `kill -9` in the middle of a renewal loses
//! nothing, and another replica finishes it.

use crate::common::library_config;
use crate::db::TestDb;
use connhost::{Manager, MasterKey};
use connhost_testkit::celonis::{demo, FakeCelonis, FakeConfig};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;

const KEY: [u8; 32] = [7; 32];

fn key_b64() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(KEY)
}

/// The database set up by one library instance: the Celonis connector,
/// an OAuth connection, and a team key. Returns (connection id, key).
async fn seed(db: &TestDb, fake: &FakeCelonis, home: &std::path::Path) -> (String, String) {
    let mut cfg = library_config(home, fake);
    cfg.database = Some(db.url.clone());
    cfg.master_key = Some(MasterKey::from_bytes(&KEY).unwrap());
    let m = Manager::open(cfg).unwrap();
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    let id = m
        .create(crate::proxy::connection("oauth2"))
        .await
        .unwrap()
        .id;
    let (_, key) = m.create_api_key(Some("default"), "replicas").unwrap();
    (id, key.expose().to_string())
}

struct Replica {
    child: tokio::process::Child,
    base: String,
    _home: tempfile::TempDir,
}

/// `connhost serve` on the database with a home (compile cache) of its own.
async fn replica(db: &TestDb, fake: &FakeCelonis, renew_every: u64) -> Replica {
    let home = tempfile::tempdir().unwrap();
    let ca = home.path().join("ca.pem");
    std::fs::write(&ca, fake.ca_pem()).unwrap();
    let mut child = tokio::process::Command::new(crate::common::bin())
        .arg("--home")
        .arg(home.path())
        .arg("--ca-file")
        .arg(&ca)
        .arg("--connect-to")
        .arg(fake.connect_to(demo::DOMAIN))
        .args(["--json", "serve", "--listen", "127.0.0.1:0"])
        .args(["--renew-every-secs", &renew_every.to_string()])
        .env("CONNHOST_DATABASE_URL", &db.url)
        .env("CONNHOST_MASTER_KEY", key_b64())
        .env_remove("CONNHOST_HOME")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn connhost serve");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("serve started")
        .unwrap()
        .expect("serve printed its address");
    let v: Value = serde_json::from_str(&first).unwrap();
    Replica {
        child,
        base: format!("http://{}", v["listen"].as_str().unwrap()),
        _home: home,
    }
}

async fn request(http: &reqwest::Client, base: &str, key: &str, id: &str) -> (u16, Value) {
    let r = http
        .post(format!("{base}/v1/connections/{id}/request"))
        .bearer_auth(key)
        .json(&json!({"method": "GET", "url": "/api/cloud"}))
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

async fn show(http: &reqwest::Client, base: &str, key: &str, id: &str) -> Value {
    let r = http
        .get(format!("{base}/v1/connections/{id}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_calls_across_two_replicas_and_an_expiry_make_one_token_request() {
    let Some(db) = TestDb::new("replicas_load") else {
        return;
    };
    // Four bursts of 50 at 0, 1.5, 4.5 and 6 s on an 8 s token (due at
    // 4 s), alternating between the replicas: the third burst, 25 calls
    // on each replica, shares one renewal.
    let fake = FakeCelonis::start(FakeConfig {
        token_lifetime: Some(8),
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let seed_home = tempfile::tempdir().unwrap();
    let (id, key) = seed(&db, &fake, seed_home.path()).await;
    // Only the callers renew here.
    let replicas = [replica(&db, &fake, 0).await, replica(&db, &fake, 0).await];
    let bases: Arc<Vec<String>> = Arc::new(replicas.iter().map(|r| r.base.clone()).collect());
    let http = reqwest::Client::new();
    // Warm both (connector compiled, pools open) before the clock starts.
    for b in bases.iter() {
        assert_eq!(request(&http, b, &key, &id).await.0, 200);
    }
    let before = fake.token_requests();
    let start = Instant::now();
    let tasks: Vec<_> = (0..200u64)
        .map(|i| {
            let (http, bases, key, id) = (http.clone(), bases.clone(), key.clone(), id.clone());
            tokio::spawn(async move {
                let at = [0, 1500, 4500, 6000][(i / 50) as usize];
                tokio::time::sleep_until((start + Duration::from_millis(at)).into()).await;
                request(&http, &bases[(i % 2) as usize], &key, &id).await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        let (st, r) = t.await.unwrap();
        assert_eq!((st, r["status"].as_u64()), (200, Some(200)), "{r}");
        ok += 1;
    }
    let renewals = fake.token_requests() - before;
    println!("2 replicas on PostgreSQL: {ok} requests, {renewals} token request(s), 0 errors");
    assert_eq!((ok, renewals), (200, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_renewal_leaves_it_to_another_and_loses_nothing() {
    let Some(db) = TestDb::new("replicas_kill") else {
        return;
    };
    // A 6 s token, due 3 s after issue. Replica A renews in the background
    // and is SIGKILLed while the token endpoint holds its request; B,
    // which was waiting on the same renewal lock, gets it when A's
    // database session dies, finds the record not yet renewed, and
    // renews it with one token request.
    let fake = FakeCelonis::start(FakeConfig {
        token_lifetime: Some(6),
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let seed_home = tempfile::tempdir().unwrap();
    let (id, key) = seed(&db, &fake, seed_home.path()).await;
    let http = reqwest::Client::new();
    fake.configure(|c| c.token_delay = Some(Duration::from_secs(3)));
    let issued = fake.token_requests();
    let mut a = replica(&db, &fake, 1).await;
    let before = show(&http, &a.base, &key, &id).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while fake.token_requests() == issued {
        assert!(Instant::now() < deadline, "no background renewal");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A's token request is in flight and held. B starts and asks too.
    let b = replica(&db, &fake, 1).await;
    fake.configure(|c| c.token_delay = None);
    a.child.start_kill().unwrap(); // SIGKILL
    a.child.wait().await.unwrap();
    let after_kill = fake.token_requests();
    let deadline = Instant::now() + Duration::from_secs(20);
    let renewed = loop {
        let now = show(&http, &b.base, &key, &id).await;
        if now["expires_at"] != before["expires_at"] {
            break now;
        }
        assert!(Instant::now() < deadline, "not renewed by B: {now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let by_b = fake.token_requests() - after_kill;
    assert_eq!(by_b, 1, "B renewed with exactly one token request");
    assert_eq!(
        renewed["token_generation"].as_u64(),
        before["token_generation"].as_u64().map(|g| g + 1),
        "one new token, kept: {renewed}"
    );
    assert!(renewed["last_error"].is_null(), "{renewed}");
    let (st, r) = request(&http, &b.base, &key, &id).await;
    assert_eq!((st, r["status"].as_u64()), (200, Some(200)), "{r}");
    // The store is whole: the audit chain verifies over the database.
    let mut cfg = library_config(seed_home.path(), &fake);
    cfg.database = Some(db.url.clone());
    cfg.master_key = Some(MasterKey::from_bytes(&KEY).unwrap());
    let m = Manager::open(cfg).unwrap();
    let chain = m.verify_audit().unwrap();
    assert!(chain.broken.is_none(), "{chain:?}");
    println!(
        "kill -9 mid-renewal: A's request held, A killed, B renewed with {by_b} token request; audit chain of {} records intact",
        chain.verified
    );
}
