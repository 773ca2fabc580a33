//! `cargo bench -p connhost --bench store [-- --counts 1000,10000,100000
//! --backends file,postgres]`: the store's figures on the embedded file
//! store and on PostgreSQL (`CONNHOST_TEST_DATABASE_URL`, default the
//! loopback server `scripts/postgres.sh` starts; a schema of its own,
//! dropped afterwards), as the number of connections grows.
//!
//! At each count N, team `big` holds N connections and 100 other teams
//! hold N/10 between them. Goals (not asserted): first page of 100 of a
//! 100,000-connection team ≤ 100 ms, create ≤ 2 ms p50 (file) and ≤ 5 ms
//! (PostgreSQL), get ≤ 1 ms p50.

use connhost::{ConnectionRecord, HostConfig, Manager, MasterKey, Secret, Store};
use connhost_testkit::celonis::{demo, FakeCelonis, FakeConfig};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn p50(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn record(store: &Store, id: String, team: &str) -> ConnectionRecord {
    let mut r = ConnectionRecord::new(id, team.into(), "celonis".into(), "Celonis".into());
    r.fields.insert("domain".into(), demo::DOMAIN.into());
    r.fields.insert("auth_type".into(), "app-key".into());
    store.seal_secrets(
        &mut r,
        &BTreeMap::from([("app_key".into(), Secret::new(demo::APP_KEY))]),
    );
    r
}

/// Grows the store from `from` to `to` connections in `big` (and a tenth
/// of that across 100 other teams), 2 writers; the create times.
fn fill(store: &Arc<Store>, from: usize, to: usize) -> Vec<Duration> {
    let work: Vec<(String, String)> = (from..to)
        .map(|i| (format!("conn_big{i:07}"), "big".to_string()))
        .chain((from / 10..to / 10).map(|i| (format!("conn_t{i:07}"), format!("t{:03}", i % 100))))
        .collect();
    let chunks: Vec<Vec<(String, String)>> = work
        .chunks(work.len().div_ceil(2).max(1))
        .map(<[_]>::to_vec)
        .collect();
    let threads: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut times = Vec::with_capacity(chunk.len());
                for (id, team) in chunk {
                    let mut r = record(&store, id, &team);
                    let t = Instant::now();
                    store.insert(&mut r).unwrap();
                    times.push(t.elapsed());
                }
                times
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect()
}

fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let counts: Vec<usize> = arg("--counts")
        .unwrap_or("1000,10000,100000".into())
        .split(',')
        .map(|c| c.parse().expect("--counts: numbers"))
        .collect();
    let backends = arg("--backends").unwrap_or("file,postgres".into());
    let key = MasterKey::from_bytes(&[9; 32]).unwrap();
    println!(
        "{:<9} {:>7} {:>10} {:>9} {:>12} {:>10} {:>12} {:>11}",
        "backend",
        "N",
        "create p50",
        "get p50",
        "page 1 (100)",
        "full list",
        "small team",
        "files/rows"
    );
    for backend in backends.split(',') {
        let home = tempfile::tempdir().unwrap();
        let mut db_url = None;
        let store = match backend {
            "file" => Store::open(home.path(), Some(key.clone())).unwrap(),
            "postgres" => {
                let base = std::env::var("CONNHOST_TEST_DATABASE_URL")
                    .unwrap_or("postgres://postgres@127.0.0.1:5432/test".into());
                let url = format!("{base}?schema=bench_{}", std::process::id());
                let db = match connhost::PostgresBackend::connect(&url) {
                    Ok(db) => db,
                    Err(e) => {
                        println!("postgres: skipped ({e})");
                        continue;
                    }
                };
                db_url = Some(url);
                Store::open_with(home.path(), Some(key.clone()), Arc::new(db)).unwrap()
            }
            other => panic!("unknown backend {other}"),
        };
        let store = Arc::new(store);
        let mut have = 0;
        for &n in &counts {
            let mut creates = fill(&store, have, n);
            have = n;
            let mut gets: Vec<Duration> = (0..1000)
                .map(|i| {
                    let id = format!("conn_big{:07}", (i * 7919) % n);
                    let t = Instant::now();
                    store.get(&id).unwrap();
                    t.elapsed()
                })
                .collect();
            let mut firsts: Vec<Duration> = (0..20)
                .map(|_| {
                    let t = Instant::now();
                    let (page, _) = store.list_page("big", None, 100).unwrap();
                    assert_eq!(page.len(), 100.min(n));
                    t.elapsed()
                })
                .collect();
            let t = Instant::now();
            let (mut all, mut after) = (0, None);
            loop {
                let (page, next) = store.list_page("big", after.as_deref(), 1000).unwrap();
                all += page.len();
                match next {
                    Some(x) => after = Some(x),
                    None => break,
                }
            }
            let full = t.elapsed();
            assert_eq!(all, n);
            let mut small: Vec<Duration> = (0..20)
                .map(|_| {
                    let t = Instant::now();
                    store.list_page("t042", None, 100).unwrap();
                    t.elapsed()
                })
                .collect();
            let stored = store.backend().walk().map(|w| w.len()).unwrap_or(0);
            println!(
                "{:<9} {:>7} {:>7} ms {:>6} ms {:>9} ms {:>7} ms {:>9} ms {:>11}",
                backend,
                n,
                ms(p50(&mut creates)),
                ms(p50(&mut gets)),
                ms(p50(&mut firsts)),
                ms(full),
                ms(p50(&mut small)),
                stored
            );
        }
        // Through the manager, on the full store: verify against a fake
        // provider answering at once (so the figure is connhost's own
        // work plus one loopback TLS round trip), and the renewal sweep.
        let fake = FakeCelonis::start(FakeConfig {
            token_lifetime: Some(2),
            ..FakeConfig::default()
        })
        .await
        .unwrap();
        let mut cfg = HostConfig::new(home.path());
        cfg.database = db_url.clone();
        cfg.master_key = Some(key.clone());
        cfg.net.connect_to = vec![fake.connect_to(demo::DOMAIN).parse().unwrap()];
        let ca = home.path().join("ca.pem");
        std::fs::write(&ca, fake.ca_pem()).unwrap();
        cfg.net.add_ca_file(&ca).unwrap();
        drop(store);
        let m = Arc::new(Manager::open(cfg).unwrap());
        m.add_connector(connhost::builtin::CELONIS).await.unwrap();
        let mut new = connhost::NewConnection {
            connector: "celonis".into(),
            team: Some("big".into()),
            ..Default::default()
        };
        new.fields.insert("domain".into(), demo::DOMAIN.into());
        new.fields.insert("auth_type".into(), "app-key".into());
        new.secrets
            .insert("app_key".into(), Secret::new(demo::APP_KEY));
        let id = m.create(new).await.unwrap().id;
        m.verify(&id).await.unwrap();
        let mut verifies = Vec::new();
        for _ in 0..50 {
            let t = Instant::now();
            m.verify(&id).await.unwrap();
            verifies.push(t.elapsed());
        }
        let renewing = 100;
        for _ in 0..renewing {
            let mut oauth = connhost::NewConnection {
                connector: "celonis".into(),
                team: Some("big".into()),
                ..Default::default()
            };
            for (k, v) in [
                ("domain", demo::DOMAIN),
                ("auth_type", "oauth2"),
                ("client_id", demo::CLIENT_ID),
                ("scopes", "studio"),
            ] {
                oauth.fields.insert(k.into(), v.into());
            }
            oauth
                .secrets
                .insert("client_secret".into(), Secret::new(demo::CLIENT_SECRET));
            m.create(oauth).await.unwrap();
        }
        let t = Instant::now();
        let sweep = m.renew_due(16).await.unwrap();
        let took = t.elapsed();
        let (rss, hwm) = rss_mib();
        println!(
            "{backend:<9} at {have}: verify p50 {} ms; renewal sweep: {} due of {} renewed in {} ms ({:.0}/s); process RSS {rss:.0} MiB (peak {hwm:.0} MiB)",
            ms(p50(&mut verifies)),
            sweep.renewed,
            have + have / 10 + renewing + 1,
            took.as_millis(),
            sweep.renewed as f64 / took.as_secs_f64().max(1e-9),
        );
        drop(m);
        if let Some(url) = db_url {
            if let Ok(db) = connhost::PostgresBackend::connect(&url) {
                let _ = db.drop_schema();
            }
        }
    }
    let _ = Duration::ZERO;
}
