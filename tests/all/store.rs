//! One conformance suite for both store backends: every test below runs
//! on the embedded file store and on PostgreSQL, with the same code. What
//! an attacker with write access to the disk or the database can do is
//! what [`connhost::Backend::write`] does, so that is how the tests
//! tamper, roll back and resurrect.
//!
//! Invariants: no plaintext secret is stored; an edited, moved, older or
//! deleted document is refused; of racing writers on different replicas
//! none loses an update; a lock excludes across replicas; a team's pages
//! list each of its connections once and nothing of another team's.

use crate::db::TestDb;
use connhost::{Backend, ConnectionRecord, MasterKey, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// A store location: a directory, or a schema of the test database.
struct Target {
    home: tempfile::TempDir,
    db: Option<TestDb>,
}

impl Target {
    fn file() -> Target {
        Target {
            home: tempfile::tempdir().unwrap(),
            db: None,
        }
    }

    fn postgres(test: &str) -> Option<Target> {
        Some(Target {
            home: tempfile::tempdir().unwrap(),
            db: Some(TestDb::new(test)?),
        })
    }

    /// A new backend instance: a replica of its own (own pool, own lock
    /// session, own file handles).
    fn backend(&self) -> Arc<dyn Backend> {
        match &self.db {
            Some(db) => db.backend(),
            None => Arc::new(connhost::FileBackend::new(self.home.path())),
        }
    }

    fn open(&self, key: &MasterKey) -> connhost::Result<Store> {
        // Each replica its own home: only the database is shared.
        match &self.db {
            Some(db) => {
                let home = tempfile::tempdir().unwrap().keep();
                Store::open_with(&home, Some(key.clone()), db.backend())
            }
            None => Store::open(self.home.path(), Some(key.clone())),
        }
    }

    fn store(&self) -> Store {
        self.open(&key(1)).unwrap()
    }
}

/// Runs `$name(target)` on both backends, as `$name::file` and
/// `$name::postgres`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn file() {
                super::$name(super::Target::file());
            }
            #[test]
            fn postgres() {
                if let Some(t) = super::Target::postgres(stringify!($name)) {
                    super::$name(t);
                }
            }
        }
    )*};
}

both!(
    secrets_are_sealed_and_round_trip,
    an_edited_record_is_refused,
    a_secret_moved_to_another_record_fails_to_open,
    stale_writes_conflict_and_deletes_stay_deleted,
    an_older_copy_put_back_is_refused,
    a_deleted_record_put_back_stays_deleted,
    a_wrong_key_is_refused_and_changes_nothing,
    replicas_racing_on_one_record_lose_no_update,
    a_lock_excludes_across_replicas_until_released,
    pages_list_each_connection_of_the_team_once,
    team_lists_and_providers_are_bound_to_their_team,
    the_expiry_listing_finds_what_is_due_and_only_that,
);

fn key(b: u8) -> MasterKey {
    MasterKey::from_bytes(&[b; 32]).unwrap()
}

fn record(id: &str, team: &str) -> ConnectionRecord {
    let mut r = ConnectionRecord::new(id.into(), team.into(), "celonis".into(), "Celonis 1".into());
    r.fields
        .insert("domain".into(), "acme.eu-1.celonis.cloud".into());
    r
}

fn insert(store: &Store, id: &str, team: &str, secret: &str) -> ConnectionRecord {
    let mut r = record(id, team);
    store.seal_secrets(
        &mut r,
        &BTreeMap::from([("api_key".into(), connhost::Secret::new(secret))]),
    );
    store.insert(&mut r).unwrap();
    r
}

fn raw(b: &dyn Backend, id: &str) -> Vec<u8> {
    b.read(&format!("connections/{id}.json")).unwrap().unwrap()
}

fn put_raw(b: &dyn Backend, id: &str, bytes: &[u8]) {
    b.write(&format!("connections/{id}.json"), bytes).unwrap()
}

fn secrets_are_sealed_and_round_trip(t: Target) {
    let store = t.store();
    insert(&store, "conn_a", "team-a", "PLANTED-SECRET-123");
    let r = store.get("conn_a").unwrap();
    let scope = store.open_secrets(&r).unwrap();
    assert_eq!(scope.get("api_key").unwrap().expose(), "PLANTED-SECRET-123");
    assert!(!String::from_utf8_lossy(&raw(&*t.backend(), "conn_a")).contains("PLANTED"));
    // Everything stored, not just the record.
    let everything = match &t.db {
        Some(db) => db.psql("SELECT encode(body, 'escape') FROM connhost_docs"),
        None => walk(t.home.path()),
    };
    assert!(everything.contains("conn_a"), "the dump has the record");
    assert!(
        !everything.contains("PLANTED-SECRET-123"),
        "plaintext stored"
    );
}

fn walk(p: &std::path::Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(p).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.push_str(&walk(&path));
        } else {
            out.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    out
}

fn an_edited_record_is_refused(t: Target) {
    let store = t.store();
    insert(&store, "conn_a", "team-a", "s");
    let b = t.backend();
    let text = String::from_utf8(raw(&*b, "conn_a")).unwrap();
    put_raw(
        &*b,
        "conn_a",
        text.replace("acme.eu-1.celonis.cloud", "evil.example.com")
            .as_bytes(),
    );
    let err = store.get("conn_a").unwrap_err();
    assert_eq!(err.kind(), "tampered", "{err}");
}

fn a_secret_moved_to_another_record_fails_to_open(t: Target) {
    let store = t.store();
    let a = insert(&store, "conn_a", "team-a", "secret-a");
    let mut b = insert(&store, "conn_b", "team-a", "secret-b");
    b.secrets = a.secrets.clone();
    store.replace(&mut b).unwrap(); // re-tagged, as if by a confused writer
    let b = store.get("conn_b").unwrap();
    assert_eq!(store.open_secrets(&b).unwrap_err().kind(), "tampered");
}

fn stale_writes_conflict_and_deletes_stay_deleted(t: Target) {
    let store = t.store();
    let first = insert(&store, "conn_a", "team-a", "s");
    assert_eq!(first.version, 1);
    let (mut a, mut b) = (first.clone(), first.clone());
    a.name = "renamed".into();
    store.replace(&mut a).unwrap();
    assert_eq!(a.version, 2);
    b.name = "edited".into();
    assert_eq!(store.replace(&mut b).unwrap_err().kind(), "conflict");
    assert_eq!(store.get("conn_a").unwrap().name, "renamed");
    assert_eq!(
        store.insert(&mut first.clone()).unwrap_err().kind(),
        "already-exists"
    );
    store.delete("conn_a").unwrap();
    assert_eq!(store.replace(&mut a).unwrap_err().kind(), "not-found");
    assert_eq!(store.get("conn_a").unwrap_err().kind(), "not-found");
    let mut again = record("conn_a", "team-a");
    assert_eq!(
        store.insert(&mut again).unwrap_err().kind(),
        "already-exists",
        "a deleted id is never reused"
    );
}

fn an_older_copy_put_back_is_refused(t: Target) {
    let store = t.store();
    let mut r = insert(&store, "conn_a", "team-a", "s");
    let b = t.backend();
    let v1 = raw(&*b, "conn_a");
    r.name = "second".into();
    store.replace(&mut r).unwrap();
    r.name = "third".into();
    store.replace(&mut r).unwrap();
    put_raw(&*b, "conn_a", &v1);
    let err = store.get("conn_a").unwrap_err();
    assert_eq!(err.kind(), "tampered");
    assert!(err.to_string().contains("older copy"), "{err}");
}

fn a_deleted_record_put_back_stays_deleted(t: Target) {
    let store = t.store();
    insert(&store, "conn_a", "team-a", "s");
    let b = t.backend();
    let saved = raw(&*b, "conn_a");
    store.delete("conn_a").unwrap();
    put_raw(&*b, "conn_a", &saved);
    b.write("teams/team-a/connections/conn_a", b"").unwrap();
    assert_eq!(store.get("conn_a").unwrap_err().kind(), "not-found");
    assert!(store.list_page("team-a", None, 10).unwrap().0.is_empty());
}

fn a_wrong_key_is_refused_and_changes_nothing(t: Target) {
    let store = t.store();
    insert(&store, "conn_a", "team-a", "s");
    let b = t.backend();
    let before = (raw(&*b, "conn_a"), b.read("keycheck").unwrap());
    let err = t.open(&key(2)).unwrap_err();
    assert_eq!(err.kind(), "wrong-master-key", "{err}");
    assert_eq!((raw(&*b, "conn_a"), b.read("keycheck").unwrap()), before);
}

fn replicas_racing_on_one_record_lose_no_update(t: Target) {
    // 4 replicas, each its own store (and pool and lock session), each
    // adding 1 to a counter 25 times with read, compare-and-swap, retry.
    let first = t.store();
    insert(&first, "conn_a", "team-a", "s");
    let t = Arc::new(t);
    let conflicts = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (t, conflicts) = (t.clone(), conflicts.clone());
            std::thread::spawn(move || {
                let store = t.store();
                for _ in 0..25 {
                    loop {
                        let mut r = store.get("conn_a").unwrap();
                        let n: u64 = r.fields.get("n").map_or(0, |v| v.parse().unwrap());
                        r.fields.insert("n".into(), (n + 1).to_string());
                        match store.replace(&mut r) {
                            Ok(()) => break,
                            Err(e) if e.kind() == "conflict" => {
                                conflicts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    let r = first.get("conn_a").unwrap();
    assert_eq!(r.fields["n"], "100", "an update was lost");
    assert_eq!(r.version, 101);
    println!(
        "4 replicas x 25 increments: n = 100, version 101, {} conflicts retried",
        conflicts.load(std::sync::atomic::Ordering::Relaxed)
    );
}

fn a_lock_excludes_across_replicas_until_released(t: Target) {
    let (a, b) = (t.backend(), t.backend());
    let held = a
        .lock("locks/x.lock", Duration::from_secs(1), true)
        .unwrap();
    let err = b
        .lock("locks/x.lock", Duration::from_millis(200), true)
        .unwrap_err();
    assert_eq!(err.kind(), "lock-timeout");
    // Within one replica too: another thread waits.
    let err = a
        .lock("locks/x.lock", Duration::from_millis(100), true)
        .unwrap_err();
    assert_eq!(err.kind(), "lock-timeout");
    // Shared holders share, and keep an exclusive one out.
    let other = b
        .lock("locks/y.lock", Duration::from_secs(1), false)
        .unwrap();
    let also = a
        .lock("locks/y.lock", Duration::from_secs(1), false)
        .unwrap();
    assert_eq!(
        a.lock("locks/y.lock", Duration::from_millis(100), true)
            .unwrap_err()
            .kind(),
        "lock-timeout"
    );
    drop((other, also));
    drop(held);
    let _now = b
        .lock("locks/x.lock", Duration::from_secs(2), true)
        .unwrap();
    let _y = a
        .lock("locks/y.lock", Duration::from_secs(2), true)
        .unwrap();
}

fn pages_list_each_connection_of_the_team_once(t: Target) {
    let store = t.store();
    for i in 0..250 {
        insert(&store, &format!("conn_a{i:04}"), "team-a", "s");
    }
    for i in 0..30 {
        insert(&store, &format!("conn_b{i:04}"), "team-b", "s");
    }
    store.delete("conn_a0007").unwrap();
    // A pointer to team A's record put in team B's listing shows nothing.
    t.backend()
        .write("teams/team-b/connections/conn_a0001", b"")
        .unwrap();
    let (mut seen, mut after, mut pages) = (Vec::new(), None, 0);
    loop {
        let (page, next) = store.list_page("team-a", after.as_deref(), 100).unwrap();
        pages += 1;
        assert!(page.iter().all(|r| r.team == "team-a"));
        seen.extend(page.into_iter().map(|r| r.id));
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "in order, each once");
    assert_eq!(seen.len(), 249);
    assert!(!seen.contains(&"conn_a0007".to_string()));
    let (b, next) = store.list_page("team-b", None, 100).unwrap();
    assert_eq!(
        b.len(),
        30,
        "team B sees its own 30, not the planted pointer"
    );
    assert!(next.is_none());
}

fn team_lists_and_providers_are_bound_to_their_team(t: Target) {
    let store = t.store();
    store
        .put_provider("team-a", "acme", r#"{"id":"acme"}"#, &[])
        .unwrap();
    assert_eq!(
        store.provider("team-a", "acme").unwrap().unwrap().0,
        r#"{"id":"acme"}"#
    );
    let b = t.backend();
    let doc = b.read("providers/team-a/acme.json").unwrap().unwrap();
    // Copied into another team: refused, not served to that team.
    b.write("providers/team-b/acme.json", &doc).unwrap();
    assert_eq!(
        store.provider("team-b", "acme").unwrap_err().kind(),
        "tampered"
    );
    let edited = String::from_utf8(doc)
        .unwrap()
        .replace("acme\\\"", "evil\\\"");
    b.write("providers/team-a/acme.json", edited.as_bytes())
        .unwrap();
    assert_eq!(
        store.provider("team-a", "acme").unwrap_err().kind(),
        "tampered"
    );
}

fn the_expiry_listing_finds_what_is_due_and_only_that(t: Target) {
    let store = t.store();
    let now = 1_800_000_000u64;
    for (i, at) in [Some(now + 10), Some(now + 30), Some(now + 500), None]
        .into_iter()
        .enumerate()
    {
        let mut r = record(&format!("conn_e{i}"), "team-a");
        r.expires_at = at;
        store.insert(&mut r).unwrap();
    }
    let due = |until| -> Vec<String> {
        store
            .expiring_before(until)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect()
    };
    assert_eq!(due(now + 60), ["conn_e0", "conn_e1"], "soonest first");
    // Renewed: moves out of the window; deleted: gone.
    let mut r = store.get("conn_e0").unwrap();
    r.expires_at = Some(now + 3600);
    store.replace(&mut r).unwrap();
    store.delete("conn_e1").unwrap();
    assert!(due(now + 60).is_empty());
    assert_eq!(due(now + 3600), ["conn_e2", "conn_e0"]);
    // A pointer that does not match its record (planted, or left by a
    // crash) is not followed, and is cleared.
    let b = t.backend();
    b.write(&format!("expiry/{:012}-conn_e3", now + 5), b"")
        .unwrap();
    assert!(due(now + 60).is_empty());
    assert!(b.list("expiry", "", None, 100).unwrap().len() == 2);
}
