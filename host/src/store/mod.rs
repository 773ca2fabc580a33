//! The embedded on-disk store: connectors, connection records and their
//! secrets, pending authorizations and provider definitions under one home
//! directory.
//!
//! * [`crypto`]: the master key, AES-256-GCM sealing;
//! * [`signed`]: documents with an integrity tag;
//! * [`lock`]: cross-process locks;
//! * [`index`]: committed versions and tombstones (anti-rollback);
//! * [`versions`]: the same for every other signed document;
//! * [`rotate`]: key rotation and the write guard;
//! * one module per kind of entity: [`connections`], [`connectors`],
//!   [`pending`], [`providers`], [`apikeys`], [`sessions`], [`webhooks`];
//! * what the team layer keeps: [`usage`] (a team's usages, dynamic
//!   connections and return URLs, one signed list each) and [`audit`]
//!   (the hash-chained audit log).
//!
//! Secrets are sealed under a per-value key (`connhost-seal`) with
//! `connection id + secret name` as associated data, so a ciphertext moved
//! to another record or renamed fails to open. Every document carries an
//! HMAC tag naming its key id. Every write is temp-file + fsync + rename:
//! a crash leaves the old or the new state, never half of one.

pub(crate) mod apikeys;
pub(crate) mod audit;
pub mod backend;
pub(crate) mod connections;
pub(crate) mod connectors;
pub(crate) mod crypto;
pub(crate) mod index;
pub(crate) mod listings;
pub(crate) mod lock;
pub mod migrate;
pub(crate) mod pending;
pub(crate) mod providers;
pub(crate) mod rotate;
pub(crate) mod sessions;
pub(crate) mod signed;
pub(crate) mod usage;
pub(crate) mod versions;
pub(crate) mod webhooks;

pub use apikeys::{ApiKey, Caller, Role};
pub use backend::{file::FileBackend, postgres::PostgresBackend, Backend, Held};
pub use connections::{ConnectionRecord, LastError, Status};
pub use crypto::{KeyRing, MasterKey, MASTER_KEY_ENV};
pub use lock::FileLock;
pub(crate) use lock::WRITE_WAIT;
pub use pending::Pending;
pub use rotate::{rotate, NewKey, RotationReport};
pub use sessions::ConnectSession;
pub use versions::Refused;
pub use webhooks::{HookState, Webhook};

use crate::error::{Error, Result};
use crate::util::write_atomic;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const KEYCHECK_AAD: &[u8] = b"connhost:keycheck:v1";
const KEYCHECK_TEXT: &[u8] = b"connhost master key check";
const SUBDIRS: [&str; 10] = [
    "apikeys",
    "connectors",
    "connections",
    "cache",
    "locks",
    "pending",
    "providers",
    "sessions",
    "versions",
    "webhooks",
];

/// Home and its folders: 0700 (best effort; the files are 0600).
fn private_dirs(home: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for dir in std::iter::once(home.to_path_buf()).chain(SUBDIRS.iter().map(|s| home.join(s))) {
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        }
    }
    #[cfg(not(unix))]
    let _ = home;
}

/// Temp files a crashed write left behind: complete signed copies of old
/// records, which must not pile up. Only those untouched for a while, so
/// a write in flight in another process keeps its file.
fn remove_orphans(home: &Path) {
    const AGE: std::time::Duration = std::time::Duration::from_secs(600);
    for sub in std::iter::once(".").chain(SUBDIRS) {
        let Ok(entries) = std::fs::read_dir(home.join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Name first: only temp files cost a stat at start-up.
            if !(name.starts_with('.') && name.ends_with(".tmp")) {
                continue;
            }
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > AGE));
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// A key file's key, `None` if there is no such file.
pub fn read_key_file(path: &Path) -> Result<Option<MasterKey>> {
    match std::fs::read_to_string(path).map(zeroize::Zeroizing::new) {
        Ok(t) => MasterKey::from_base64(&t)
            .map(Some)
            .map_err(|e| Error::BadMasterKey(format!("{}: {}", path.display(), e.0))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("read {}", path.display()))(e)),
    }
}

/// Refuses `key` unless it opens the store's `keycheck`.
pub(crate) fn check_key(home: &Path, key: &MasterKey) -> Result<()> {
    let path = home.join("keycheck");
    let sealed =
        std::fs::read_to_string(&path).map_err(Error::io(format!("read {}", path.display())))?;
    let opened = KeyRing::new(key.clone()).open(sealed.trim(), KEYCHECK_AAD);
    if opened.ok().as_deref() != Some(KEYCHECK_TEXT) {
        return Err(Error::WrongMasterKey(format!(
            "store at {}",
            home.display()
        )));
    }
    Ok(())
}

/// The store: documents in a backend (files under the home directory by
/// default, or a database), plus the home directory for what stays on
/// this machine (the compile cache, a key file).
#[derive(Debug)]
pub struct Store {
    home: PathBuf,
    backend: Arc<dyn Backend>,
    keys: KeyRing,
    /// Record reads and writes so far (tests assert what an operation costs).
    reads: AtomicU64,
    writes: AtomicU64,
    /// The last verified copy of each index bucket (see `index.rs`).
    buckets: index::BucketCache,
    /// Versions of the other signed documents (see `versions.rs`).
    versions: versions::Versions,
}

impl Store {
    /// Opens (creating if needed) the store at `home`. The key comes from
    /// `key` if given, else `home/master.key`, created on first use with
    /// mode 0600. A key that does not open an existing store is refused
    /// before anything is read or written.
    pub fn open(home: &Path, key: Option<MasterKey>) -> Result<Store> {
        for sub in SUBDIRS {
            let d = home.join(sub);
            std::fs::create_dir_all(&d).map_err(Error::io(format!("create {}", d.display())))?;
        }
        private_dirs(home);
        remove_orphans(home);
        rotate::refuse_if_rotating(home)?;
        Self::open_with(home, key, Arc::new(FileBackend::new(home)))
    }

    /// Opens the store kept in `backend` (a database many replicas
    /// share); `home` keeps only this machine's compile cache and, when
    /// no key is given, the key file. A key that does not open the
    /// store's `keycheck` is refused before anything is written.
    pub fn open_with(
        home: &Path,
        key: Option<MasterKey>,
        backend: Arc<dyn Backend>,
    ) -> Result<Store> {
        let cache = home.join("cache");
        std::fs::create_dir_all(&cache)
            .map_err(Error::io(format!("create {}", cache.display())))?;
        private_dirs(home);
        // Two processes opening a new store at once must not each make a
        // key: the first makes it, the second reads it.
        let _init = backend.lock("locks/init.lock", lock::WRITE_WAIT, true)?;
        let sealed = backend.read("keycheck")?;
        let checked = sealed.is_some();
        let has_data = !backend.list("connections", "json", None, 1)?.is_empty()
            || !backend.list("connectors", "json", None, 1)?.is_empty();
        if !checked && has_data {
            // Writing a new keycheck would let any key in.
            return Err(Error::Corrupt {
                path: format!("keycheck in {}", backend.describe()),
                reason: "is missing while the store holds data; refusing to use an unverified key (restore keycheck from a backup)".into(),
            });
        }
        let key = match key {
            Some(k) => k,
            // A new key file only for a new store: an existing store
            // without its key file needs the key it was made with.
            None => Self::key_file(home, !checked)?,
        };
        match sealed {
            Some(sealed) => {
                let text = String::from_utf8_lossy(&sealed);
                let opened = KeyRing::new(key.clone()).open(text.trim(), KEYCHECK_AAD);
                if opened.ok().as_deref() != Some(KEYCHECK_TEXT) {
                    return Err(Error::WrongMasterKey(format!(
                        "store at {}",
                        backend.describe()
                    )));
                }
            }
            None => backend.write("keycheck", key.seal(KEYCHECK_TEXT, KEYCHECK_AAD).as_bytes())?,
        }
        let keys = KeyRing::new(key);
        let store = Store {
            home: home.to_path_buf(),
            versions: versions::Versions::new(backend.clone(), keys.clone()),
            backend,
            keys,
            reads: AtomicU64::new(0),
            buckets: Default::default(),
            writes: AtomicU64::new(0),
        };
        if store.backend.kind() == "file" {
            store.build_index()?;
        }
        store.adopt_documents()?;
        store.build_team_listings()?;
        Ok(store)
    }

    fn key_file(home: &Path, may_create: bool) -> Result<MasterKey> {
        let path = home.join("master.key");
        match read_key_file(&path)? {
            Some(key) => Ok(key),
            None if may_create => {
                let (key, text) = MasterKey::generate();
                write_atomic(&path, text.as_bytes(), true)?;
                Ok(key)
            }
            None => Err(Error::BadMasterKey(format!(
                "this store has no {} and {MASTER_KEY_ENV} is not set; nothing was changed",
                path.display()
            ))),
        }
    }

    /// The store's keys (the runtime authenticates its cache with them).
    pub(crate) fn keys(&self) -> &KeyRing {
        &self.keys
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Where the store's documents live.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.home.join("cache")
    }

    /// Connection record reads and writes so far, in this process.
    pub fn io_counts(&self) -> (u64, u64) {
        (
            self.reads.load(Ordering::Relaxed),
            self.writes.load(Ordering::Relaxed),
        )
    }

    /// `sub/id.ext`, for an id that cannot escape `sub` (the one id check
    /// of the store); anything else is "not found".
    fn path_of(&self, sub: &str, id: &str, ext: &str, what: &'static str) -> Result<String> {
        if !connhost_policy::ids::is_safe(id, 128) {
            return Err(Error::NotFound {
                what,
                id: id.to_string(),
            });
        }
        Ok(format!("{sub}/{id}.{ext}"))
    }

    /// Ids of `sub/*.ext`, sorted.
    fn ids(&self, sub: &str, ext: &str) -> Result<Vec<String>> {
        backend::list_all(&*self.backend, sub, ext)
    }

    /// The lock every write of connection `id` takes (short-lived).
    fn write_lock(&self, id: &str) -> Result<Held> {
        let path = self.path_of("locks", id, "write", "connection")?;
        self.backend.lock(&path, lock::WRITE_WAIT, true)
    }
}

/// The lock renewal of connection `id` takes, shared by every process
/// using the store, held across the token request (single flight).
pub fn renewal_lock(backend: &dyn Backend, id: &str, wait: std::time::Duration) -> Result<Held> {
    if !connhost_policy::ids::is_safe(id, 128) {
        return Err(Error::NotFound {
            what: "connection",
            id: id.to_string(),
        });
    }
    backend.lock(&format!("locks/{id}.lock"), wait, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use std::collections::BTreeMap;

    fn record(id: &str) -> ConnectionRecord {
        ConnectionRecord {
            id: id.into(),
            team: "default".into(),
            connector: "celonis".into(),
            name: "Celonis 1".into(),
            fields: BTreeMap::from([("domain".into(), "acme.eu-1.celonis.cloud".into())]),
            granted_scopes: vec![],
            expires_at: None,
            status: Status::Created,
            account_label: None,
            last_error: None,
            created_at: 1,
            updated_at: 1,
            verified_at: None,
            token_generation: 0,
            access_issued_at: None,
            origins: vec![],
            definition_origins: vec![],
            version: 0,
            secrets: BTreeMap::new(),
            integrity: String::new(),
        }
    }

    fn key(b: u8) -> MasterKey {
        MasterKey::from_bytes(&[b; 32]).unwrap()
    }

    fn with_secret(store: &Store, id: &str, value: &str) -> ConnectionRecord {
        let mut r = record(id);
        store.seal_secrets(
            &mut r,
            &BTreeMap::from([("api_key".into(), Secret::new(value))]),
        );
        store.insert(&mut r).unwrap();
        r
    }

    #[test]
    fn round_trip_and_no_plaintext_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(key(1))).unwrap();
        with_secret(&store, "conn_a", "PLANTED-SECRET-123");
        let r = store.get("conn_a").unwrap();
        let scope = store.open_secrets(&r).unwrap();
        assert_eq!(scope.get("api_key").unwrap().expose(), "PLANTED-SECRET-123");
        for entry in walk(dir.path()) {
            let bytes = std::fs::read(&entry).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains("PLANTED-SECRET-123"),
                "plaintext secret in {}",
                entry.display()
            );
        }
    }

    fn walk(p: &Path) -> Vec<PathBuf> {
        let mut out = vec![];
        for e in std::fs::read_dir(p).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }

    #[test]
    fn tampered_field_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(key(1))).unwrap();
        with_secret(&store, "conn_a", "s");
        let path = dir.path().join("connections/conn_a.json");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace("acme.eu-1.celonis.cloud", "evil.example.com"),
        )
        .unwrap();
        assert!(matches!(store.get("conn_a"), Err(Error::Tampered(id)) if id == "conn_a"));
    }

    #[test]
    fn secret_moved_to_another_record_fails_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(key(1))).unwrap();
        let a = with_secret(&store, "conn_a", "secret-a");
        let mut b = with_secret(&store, "conn_b", "secret-b");
        b.secrets = a.secrets.clone();
        store.replace(&mut b).unwrap(); // re-tagged as if by a confused writer
        let b = store.get("conn_b").unwrap();
        assert!(matches!(store.open_secrets(&b), Err(Error::Tampered(_))));
    }

    #[test]
    fn wrong_key_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(key(1))).unwrap();
        with_secret(&store, "conn_a", "s");
        let before = std::fs::read(dir.path().join("connections/conn_a.json")).unwrap();
        let check_before = std::fs::read(dir.path().join("keycheck")).unwrap();
        let err = Store::open(dir.path(), Some(key(2))).unwrap_err();
        assert_eq!(err.kind(), "wrong-master-key");
        assert_eq!(
            std::fs::read(dir.path().join("connections/conn_a.json")).unwrap(),
            before
        );
        assert_eq!(
            std::fs::read(dir.path().join("keycheck")).unwrap(),
            check_before
        );
    }

    #[test]
    fn key_file_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path(), None).unwrap();
        let path = dir.path().join("master.key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let store = Store::open(dir.path(), None).unwrap();
        with_secret(&store, "conn_a", "s");
        let store = Store::open(dir.path(), None).unwrap();
        assert!(store.get("conn_a").is_ok());
    }

    #[test]
    fn path_traversal_ids_are_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(key(1))).unwrap();
        assert!(matches!(
            store.get("../keycheck"),
            Err(Error::NotFound { .. })
        ));
    }

    #[test]
    fn stale_writes_conflict_and_deleted_records_stay_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(key(1))).unwrap();
        let first = with_secret(&store, "conn_a", "s");
        assert_eq!(first.version, 1);
        let mut a = first.clone();
        let mut b = first.clone();
        a.name = "renamed".into();
        store.replace(&mut a).unwrap();
        assert_eq!(a.version, 2);
        b.name = "edited".into();
        assert!(matches!(store.replace(&mut b), Err(Error::Conflict { .. })));
        assert_eq!(store.get("conn_a").unwrap().name, "renamed");
        assert!(matches!(
            store.insert(&mut first.clone()),
            Err(Error::AlreadyExists { .. })
        ));
        store.delete("conn_a").unwrap();
        assert!(matches!(store.replace(&mut a), Err(Error::NotFound { .. })));
        assert!(matches!(store.get("conn_a"), Err(Error::NotFound { .. })));
    }

    #[test]
    fn a_deleted_keycheck_does_not_let_a_wrong_key_in() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(key(1))).unwrap();
        with_secret(&store, "conn_a", "s");
        std::fs::remove_file(dir.path().join("keycheck")).unwrap();
        let err = Store::open(dir.path(), Some(key(2))).unwrap_err();
        assert_eq!(err.kind(), "corrupt-store", "{err}");
        assert!(!dir.path().join("keycheck").exists(), "nothing written");
    }

    #[test]
    fn an_existing_store_without_its_key_file_is_not_given_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).unwrap();
        with_secret(&store, "conn_a", "s");
        std::fs::remove_file(dir.path().join("master.key")).unwrap();
        let err = Store::open(dir.path(), None).unwrap_err();
        assert_eq!(err.kind(), "bad-master-key", "{err}");
        assert!(!dir.path().join("master.key").exists(), "no key created");
    }

    #[test]
    fn a_corrupt_record_is_quarantined_and_left_out_of_listings() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(key(1))).unwrap();
        with_secret(&store, "conn_a", "s");
        with_secret(&store, "conn_b", "s");
        std::fs::write(dir.path().join("connections/conn_a.json"), b"{not json").unwrap();
        assert_eq!(store.get("conn_a").unwrap_err().kind(), "corrupt-store");
        let ids: Vec<String> = store.list().unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["conn_b"]);
        let q = store.quarantined().unwrap();
        assert_eq!(q.len(), 1);
        assert!(q[0].starts_with("conn_a.json."), "{q:?}");
        assert!(!dir.path().join("connections/conn_a.json").exists());
    }

    #[test]
    fn an_older_copy_of_a_record_put_back_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(key(1))).unwrap();
        let mut r = with_secret(&store, "conn_a", "s");
        let path = dir.path().join("connections/conn_a.json");
        let v1 = std::fs::read(&path).unwrap();
        r.name = "second".into();
        store.replace(&mut r).unwrap();
        r.name = "third".into();
        store.replace(&mut r).unwrap();
        std::fs::write(&path, &v1).unwrap();
        let err = store.get("conn_a").unwrap_err();
        assert_eq!(err.kind(), "tampered");
        assert!(err.to_string().contains("older copy"), "{err}");
    }

    #[test]
    fn a_deleted_records_file_put_back_stays_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(key(1))).unwrap();
        with_secret(&store, "conn_a", "s");
        let path = dir.path().join("connections/conn_a.json");
        let saved = std::fs::read(&path).unwrap();
        store.delete("conn_a").unwrap();
        std::fs::write(&path, &saved).unwrap();
        assert!(matches!(store.get("conn_a"), Err(Error::NotFound { .. })));
        assert!(store.list().unwrap().is_empty());
        let mut again = record("conn_a");
        assert!(matches!(
            store.insert(&mut again),
            Err(Error::AlreadyExists { .. })
        ));
    }

    #[test]
    fn a_write_that_crashed_before_the_index_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(key(1))).unwrap();
        let mut r = with_secret(&store, "conn_a", "s");
        let bucket = std::fs::read_dir(dir.path().join("index"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let before = std::fs::read(&bucket).unwrap();
        r.name = "second".into();
        store.replace(&mut r).unwrap();
        // As if the process died between the record and the index.
        std::fs::write(&bucket, &before).unwrap();
        assert_eq!(store.get("conn_a").unwrap().name, "second");
        r.name = "third".into();
        store.replace(&mut r).unwrap();
        assert_eq!(store.get("conn_a").unwrap().version, 3);
    }

    #[test]
    fn a_store_from_before_the_index_is_indexed_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(key(1))).unwrap();
        let mut r = with_secret(&store, "conn_a", "s");
        r.name = "second".into();
        store.replace(&mut r).unwrap();
        std::fs::remove_dir_all(dir.path().join("index")).unwrap();
        let store = Store::open(dir.path(), Some(key(1))).unwrap();
        assert_eq!(store.get("conn_a").unwrap().version, 2);
        assert!(dir.path().join("index").is_dir());
    }

    #[test]
    fn provider_definitions_and_team_lists_are_tagged() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(key(1))).unwrap();
        store
            .put_provider("team-a", "acme", r#"{"id":"acme"}"#, &[])
            .unwrap();
        assert_eq!(
            store.provider("team-a", "acme").unwrap().unwrap().0,
            r#"{"id":"acme"}"#
        );
        let a = dir.path().join("providers/team-a/acme.json");
        let edited = std::fs::read_to_string(&a).unwrap().replace("acme", "evil");
        std::fs::write(&a, edited).unwrap();
        assert_eq!(
            store.provider("team-a", "acme").unwrap_err().kind(),
            "tampered"
        );
        // A definition copied into another team's folder is refused too.
        store
            .put_provider("team-a", "acme", r#"{"id":"acme"}"#, &[])
            .unwrap();
        std::fs::create_dir_all(dir.path().join("providers/team-b")).unwrap();
        std::fs::copy(&a, dir.path().join("providers/team-b/acme.json")).unwrap();
        assert_eq!(
            store.provider("team-b", "acme").unwrap_err().kind(),
            "tampered"
        );
    }

    #[test]
    fn after_a_rotation_only_the_new_key_opens_and_old_processes_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let before = Store::open(dir.path(), Some(key(1))).unwrap();
        let mut r = with_secret(&before, "conn_a", "PLANTED");
        let report = rotate(
            dir.path(),
            NewKey::Given {
                old: key(1),
                new: key(2),
            },
            None,
        )
        .unwrap();
        assert_eq!(report.key_id, key(2).id());
        assert!(report.files >= 3, "{report:?}");
        // A process still holding the old key must not write with it.
        r.name = "late".into();
        assert_eq!(
            before.replace(&mut r).unwrap_err().kind(),
            "wrong-master-key"
        );
        assert_eq!(
            Store::open(dir.path(), Some(key(1))).unwrap_err().kind(),
            "wrong-master-key"
        );
        let after = Store::open(dir.path(), Some(key(2))).unwrap();
        let r = after.get("conn_a").unwrap();
        assert_eq!(
            after
                .open_secrets(&r)
                .unwrap()
                .get("api_key")
                .unwrap()
                .expose(),
            "PLANTED"
        );
        // Nothing on disk names the old key any more.
        for f in walk(dir.path()) {
            let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
            assert!(
                !text.contains(&format!("v2.{}.", key(1).id())),
                "{}",
                f.display()
            );
        }
        // Rotating to the key in use, or with a key that is not the
        // store's, is refused.
        let same = NewKey::Given {
            old: key(2),
            new: key(2),
        };
        assert_eq!(
            rotate(dir.path(), same, None).unwrap_err().kind(),
            "bad-master-key"
        );
        let wrong = NewKey::Given {
            old: key(3),
            new: key(4),
        };
        assert_eq!(
            rotate(dir.path(), wrong, None).unwrap_err().kind(),
            "wrong-master-key"
        );
    }

    #[test]
    #[cfg(unix)]
    fn the_home_and_its_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let store = Store::open(&home, Some(key(1))).unwrap();
        with_secret(&store, "conn_a", "s");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&home), 0o700);
        assert_eq!(mode(&home.join("connections")), 0o700);
        assert_eq!(mode(&home.join("connections/conn_a.json")), 0o600);
        assert_eq!(mode(&home.join("keycheck")), 0o600);
    }

    #[test]
    fn orphaned_temp_files_are_removed_but_fresh_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path(), Some(key(1))).unwrap();
        let old = dir.path().join("connections/.conn_a.json.1.tmp");
        let fresh = dir.path().join("connections/.conn_b.json.2.tmp");
        std::fs::write(&old, b"{}").unwrap();
        std::fs::write(&fresh, b"{}").unwrap();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        Store::open(dir.path(), Some(key(1))).unwrap();
        assert!(!old.exists(), "an orphan of a crashed write is cleaned");
        assert!(fresh.exists(), "a write in flight keeps its temp file");
    }
}
