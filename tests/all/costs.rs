//! What an operation costs, counted by the runtime (instances) and the
//! store (record reads and writes): one component startup per operation,
//! and `verify` is one read, one instance, one write.

use connhost::{Error, HostConfig, Manager, NewConnection, Secret};
use connhost_testkit::celonis::{demo, FakeCelonis, FakeConfig};
use std::collections::BTreeMap;

async fn celonis(home: &std::path::Path, fake: &FakeCelonis) -> Manager {
    let m = Manager::open(crate::common::library_config(home, fake)).unwrap();
    let before = m.instantiations();
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    assert_eq!(
        m.instantiations() - before,
        1,
        "adding reads the manifest once"
    );
    m
}

fn oauth2() -> NewConnection {
    NewConnection {
        connector: "celonis".into(),
        name: Some("costs".into()),
        fields: BTreeMap::from([
            ("domain".into(), demo::DOMAIN.into()),
            ("auth_type".into(), "oauth2".into()),
            ("client_id".into(), demo::CLIENT_ID.into()),
            (
                "scopes".into(),
                "studio intelligence.knowledge-models:read".into(),
            ),
        ]),
        secrets: BTreeMap::from([("client_secret".into(), Secret::new(demo::CLIENT_SECRET))]),
        ..Default::default()
    }
}

/// Runs `op` and returns (instances, record reads, record writes) it cost.
async fn cost<T>(m: &Manager, op: impl std::future::Future<Output = T>) -> (T, [u64; 3]) {
    let (i, (r, w)) = (m.instantiations(), m.store_io());
    let out = op.await;
    let (i2, (r2, w2)) = (m.instantiations(), m.store_io());
    (out, [i2 - i, r2 - r, w2 - w])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_operation_starts_the_component_once() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = celonis(home.path(), &fake).await;

    let (record, c) = cost(&m, m.create(oauth2())).await;
    let record = record.unwrap();
    assert_eq!(c, [1, 0, 1], "create: one instance, no read, one write");
    assert_eq!(fake.token_requests(), 1);

    let (v, c) = cost(&m, m.verify(&record.id)).await;
    assert!(v.unwrap().account_label.contains(demo::TEAM));
    assert_eq!(c, [1, 1, 1], "verify: one instance, one read, one write");

    let (r, c) = cost(&m, m.refresh(&record.id)).await;
    r.unwrap();
    assert_eq!(c[0], 1, "refresh: one instance");
    assert_eq!(fake.token_requests(), 2);

    let (r, c) = cost(&m, m.check_scopes(&record.id, &["studio".into()])).await;
    r.unwrap();
    assert_eq!(c, [1, 1, 0], "scope check: one instance, one read");

    let (r, c) = cost(&m, async { m.rename(&record.id, "renamed") }).await;
    r.unwrap();
    assert_eq!(c, [0, 1, 1], "rename runs no component");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_racing_a_verify_is_kept() {
    // verify writes with compare-and-swap: a rename that lands between its
    // read and its write is re-read and kept, not overwritten.
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = std::sync::Arc::new(celonis(home.path(), &fake).await);
    let id = m.create(oauth2()).await.unwrap().id;
    for round in 0..20 {
        let name = format!("name {round}");
        let (a, b) = tokio::join!(m.verify(&id), async {
            tokio::task::yield_now().await;
            m.rename(&id, &name)
        });
        a.unwrap();
        b.unwrap();
        let stored = m.get(&id).unwrap();
        assert_eq!(stored.name, name, "round {round}: the rename was lost");
        assert!(stored.account_label.unwrap().contains(demo::TEAM));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_during_an_edit_stays_deleted() {
    // The edit reads the record, talks to the provider, then writes; a
    // delete in between must win: the write finds the record gone.
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = std::sync::Arc::new(celonis(home.path(), &fake).await);
    for round in 0..10u64 {
        let id = m.create(oauth2()).await.unwrap().id;
        let edit = {
            let (m, id) = (m.clone(), id.clone());
            tokio::spawn(async move { m.edit(&id, oauth2()).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(round % 4)).await;
        m.delete(&id).await.unwrap();
        match edit.await.unwrap() {
            Ok(_) | Err(Error::NotFound { .. }) => {}
            Err(e) => panic!("round {round}: {e}"),
        }
        assert!(
            matches!(m.get(&id), Err(Error::NotFound { .. })),
            "round {round}: the deleted connection came back"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_lived_token_is_renewed_once_by_many_callers() {
    // A 3 s token with the default 60 s margin: the margin is capped at
    // half the lifetime, so the renewed token is not "expiring" on arrival
    // and 20 callers after expiry share one token request.
    let fake = FakeCelonis::start(FakeConfig {
        token_lifetime: Some(3),
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = std::sync::Arc::new(celonis(home.path(), &fake).await);
    let id = m.create(oauth2()).await.unwrap().id;
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let before = fake.token_requests();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (m, id) = (m.clone(), id.clone());
            tokio::spawn(async move { m.verify(&id).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(fake.token_requests() - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_renewal_lock_gives_a_typed_timeout_not_a_hang() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let id = celonis(home.path(), &fake)
        .await
        .create(oauth2())
        .await
        .unwrap()
        .id;
    // Another process holds the connection's renewal lock.
    let lock = home.path().join("locks").join(format!("{id}.lock"));
    let mut holder = tokio::process::Command::new("flock")
        .arg(&lock)
        .args(["sleep", "30"])
        .kill_on_drop(true)
        .spawn()
        .expect("flock(1) from util-linux");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut cfg = HostConfig::new(home.path());
    cfg.runtime.call_timeout = std::time::Duration::from_millis(500);
    cfg.refresh_attempts = 1;
    let m = Manager::open(cfg).unwrap();
    let t = std::time::Instant::now();
    let err = m.refresh(&id).await.unwrap_err();
    assert_eq!(err.kind(), "lock-timeout", "{err}");
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    holder.kill().await.unwrap();
}
