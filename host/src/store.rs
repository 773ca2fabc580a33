//! The embedded on-disk store: connectors, connection records and their
//! secrets under one home directory.
//!
//! Secrets are sealed with AES-256-GCM: a fresh random nonce per write, and
//! `connection id + secret name` as associated data, so a ciphertext moved
//! to another record or renamed fails to open. Each record also carries a
//! GMAC tag over its non-secret content: editing a field on disk (say, the
//! domain tokens are sent to) makes the record refuse to load. Every write
//! is a write-to-temp + fsync + rename: a crash leaves the old or the new
//! state, never half of one.

use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::secrets::{Secret, SecretScope};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Environment variable holding the base64 master key.
pub const MASTER_KEY_ENV: &str = "CONNHOST_MASTER_KEY";
const KEYCHECK_AAD: &[u8] = b"connhost:keycheck:v1";
const KEYCHECK_TEXT: &[u8] = b"connhost master key check";

/// The master key; `Debug` never shows it.
#[derive(Clone)]
pub struct MasterKey(Aes256Gcm);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// From 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != 32 {
            return Err(Error::BadMasterKey(format!(
                "must be 32 bytes, got {}",
                bytes.len()
            )));
        }
        Ok(MasterKey(
            Aes256Gcm::new_from_slice(bytes).expect("32-byte key"),
        ))
    }

    /// From base64 text (as in `CONNHOST_MASTER_KEY`).
    pub fn from_base64(text: &str) -> Result<Self> {
        let bytes = B64
            .decode(text.trim())
            .map_err(|e| Error::BadMasterKey(format!("{MASTER_KEY_ENV} is not base64: {e}")))?;
        Self::from_bytes(&bytes)
    }

    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> String {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-GCM encryption of in-memory data");
        let mut out = nonce.to_vec();
        out.extend(ct);
        B64.encode(out)
    }

    fn open(&self, sealed: &str, aad: &[u8]) -> Option<Vec<u8>> {
        let raw = B64.decode(sealed).ok()?;
        if raw.len() < 12 + 16 {
            return None;
        }
        let (nonce, ct) = raw.split_at(12);
        self.0
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .ok()
    }
}

/// Where a connection stands.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Created, not verified yet.
    Created,
    /// The last verify or refresh succeeded.
    Ok,
    /// The last verify or refresh failed (see `last_error`).
    Error,
    /// Access cannot be renewed without the user.
    ReauthorizationRequired,
}

/// The last failure of a connection.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LastError {
    pub kind: String,
    pub message: String,
    pub at: u64,
}

/// One connection as stored.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConnectionRecord {
    pub id: String,
    pub team: String,
    pub connector: String,
    pub name: String,
    /// Non-secret field values.
    pub fields: BTreeMap<String, String>,
    pub granted_scopes: Vec<String>,
    /// Unix seconds.
    pub expires_at: Option<u64>,
    pub status: Status,
    pub account_label: Option<String>,
    pub last_error: Option<LastError>,
    pub created_at: u64,
    pub updated_at: u64,
    pub verified_at: Option<u64>,
    /// Bumped whenever access tokens change; lets a caller that saw a 401
    /// tell whether someone else has refreshed since.
    #[serde(default)]
    pub token_generation: u64,
    /// Secret name → sealed value (base64 of nonce ‖ ciphertext ‖ tag).
    pub secrets: BTreeMap<String, String>,
    /// GMAC over the record with this field empty.
    #[serde(default)]
    pub integrity: String,
}

impl ConnectionRecord {
    /// Names of the secrets that are set.
    pub fn secret_names(&self) -> impl Iterator<Item = &str> {
        self.secrets.keys().map(String::as_str)
    }
}

/// An authorization-code flow between `authorize start` and the callback.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pending {
    /// Pending id (what `authorize finish` takes).
    pub id: String,
    /// The connection to create, or to update on reauthorization; its
    /// sealed secrets include `pkce_verifier` and `oauth_state`.
    pub record: ConnectionRecord,
    /// Set when reauthorizing an existing connection.
    pub reauthorize: bool,
    pub redirect_uri: String,
    pub requested_scopes: Vec<String>,
    /// Unix seconds after which the callback is refused.
    pub expires_at: u64,
    #[serde(default)]
    pub integrity: String,
}

/// A stored document that carries a GMAC tag over its own JSON.
trait Signed: Serialize + serde::de::DeserializeOwned + Clone {
    /// Domain separation for the tag.
    const DOMAIN: &'static [u8];
    /// What it is, for "not found" errors.
    const WHAT: &'static str;
    fn id(&self) -> &str;
    fn integrity(&mut self) -> &mut String;
}

impl Signed for ConnectionRecord {
    const DOMAIN: &'static [u8] = b"connhost:record:v1:";
    const WHAT: &'static str = "connection";
    fn id(&self) -> &str {
        &self.id
    }
    fn integrity(&mut self) -> &mut String {
        &mut self.integrity
    }
}

impl Signed for Pending {
    const DOMAIN: &'static [u8] = b"connhost:pending:v1:";
    const WHAT: &'static str = "pending authorization";
    fn id(&self) -> &str {
        &self.id
    }
    fn integrity(&mut self) -> &mut String {
        &mut self.integrity
    }
}

/// An exclusive advisory lock on a file (`flock`), released on drop.
#[derive(Debug)]
pub struct FileLock {
    _file: std::fs::File,
}

impl FileLock {
    fn acquire(path: &Path) -> Result<FileLock> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(Error::io(format!("open {}", path.display())))?;
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            // SAFETY: flock on a descriptor we own; blocks until granted.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc != 0 {
                return Err(Error::io(format!("lock {}", path.display()))(
                    std::io::Error::last_os_error(),
                ));
            }
        }
        Ok(FileLock { _file: file })
    }
}

/// A connector as stored: its manifest and component bytes' path.
#[derive(Clone, Debug)]
pub struct StoredConnector {
    pub manifest: Manifest,
    pub wasm_path: PathBuf,
}

/// The store under one home directory.
#[derive(Debug)]
pub struct Store {
    home: PathBuf,
    key: MasterKey,
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Writes `data` to `path` atomically: temp file, fsync, rename, fsync dir.
pub fn write_atomic(path: &Path, data: &[u8], private: bool) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(Error::io(format!("create {}", dir.display())))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        rand::rng().next_u64()
    ));
    let ctx = || format!("write {}", path.display());
    let result = (|| -> std::io::Result<()> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    let _ = private;
    result.map_err(Error::io(ctx()))
}

impl Store {
    /// Opens (creating if needed) the store at `home`. The key comes from
    /// `key` if given, else `home/master.key`, created on first use with
    /// mode 0600. A key that does not open an existing store is refused
    /// before anything is read or written.
    pub fn open(home: &Path, key: Option<MasterKey>) -> Result<Store> {
        for sub in [
            "connectors",
            "connections",
            "cache",
            "locks",
            "pending",
            "providers",
        ] {
            let d = home.join(sub);
            std::fs::create_dir_all(&d).map_err(Error::io(format!("create {}", d.display())))?;
        }
        let key = match key {
            Some(k) => k,
            None => Self::key_file(home)?,
        };
        let check_path = home.join("keycheck");
        match std::fs::read_to_string(&check_path) {
            Ok(sealed) => {
                if key.open(sealed.trim(), KEYCHECK_AAD).as_deref() != Some(KEYCHECK_TEXT) {
                    return Err(Error::WrongMasterKey(format!(
                        "store at {}",
                        home.display()
                    )));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                write_atomic(
                    &check_path,
                    key.seal(KEYCHECK_TEXT, KEYCHECK_AAD).as_bytes(),
                    true,
                )?;
            }
            Err(e) => return Err(Error::io(format!("read {}", check_path.display()))(e)),
        }
        Ok(Store {
            home: home.to_path_buf(),
            key,
        })
    }

    fn key_file(home: &Path) -> Result<MasterKey> {
        let path = home.join("master.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => MasterKey::from_base64(&text)
                .map_err(|e| Error::BadMasterKey(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                rand::rng().fill_bytes(&mut bytes);
                write_atomic(&path, B64.encode(bytes).as_bytes(), true)?;
                MasterKey::from_bytes(&bytes)
            }
            Err(e) => Err(Error::io(format!("read {}", path.display()))(e)),
        }
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.home.join("cache")
    }

    // ---- connectors ----

    fn connector_paths(&self, id: &str) -> (PathBuf, PathBuf) {
        let dir = self.home.join("connectors");
        (
            dir.join(format!("{id}.wasm")),
            dir.join(format!("{id}.json")),
        )
    }

    /// Saves a connector (replacing one with the same id).
    pub fn put_connector(&self, manifest: &Manifest, wasm: &[u8]) -> Result<StoredConnector> {
        let (wasm_path, json_path) = self.connector_paths(&manifest.id);
        write_atomic(&wasm_path, wasm, false)?;
        let json = serde_json::to_vec_pretty(manifest).expect("manifest serializes");
        write_atomic(&json_path, &json, false)?;
        Ok(StoredConnector {
            manifest: manifest.clone(),
            wasm_path,
        })
    }

    pub fn connector(&self, id: &str) -> Result<StoredConnector> {
        let (wasm_path, json_path) = self.connector_paths(id);
        let text = match std::fs::read(&json_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound {
                    what: "connector",
                    id: id.to_string(),
                })
            }
            Err(e) => return Err(Error::io(format!("read {}", json_path.display()))(e)),
        };
        let manifest = serde_json::from_slice(&text).map_err(|e| Error::Corrupt {
            path: json_path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(StoredConnector {
            manifest,
            wasm_path,
        })
    }

    pub fn connectors(&self) -> Result<Vec<StoredConnector>> {
        let mut out = Vec::new();
        for id in self.ids("connectors", "json")? {
            out.push(self.connector(&id)?);
        }
        Ok(out)
    }

    fn ids(&self, sub: &str, ext: &str) -> Result<Vec<String>> {
        let dir = self.home.join(sub);
        let mut ids = Vec::new();
        for entry in
            std::fs::read_dir(&dir).map_err(Error::io(format!("list {}", dir.display())))?
        {
            let entry = entry.map_err(Error::io(format!("list {}", dir.display())))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if let Some(id) = name.strip_suffix(&format!(".{ext}")) {
                if !id.starts_with('.') {
                    ids.push(id.to_string());
                }
            }
        }
        ids.sort();
        Ok(ids)
    }

    // ---- connections ----

    fn connection_path(&self, id: &str) -> Result<PathBuf> {
        // Ids name files: refuse anything that could escape the directory.
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(Error::NotFound {
                what: "connection",
                id: id.to_string(),
            });
        }
        Ok(self.home.join("connections").join(format!("{id}.json")))
    }

    /// Loads a record, checking its integrity tag.
    pub fn get(&self, id: &str) -> Result<ConnectionRecord> {
        let path = self.connection_path(id)?;
        self.get_signed(&path, id)
    }

    /// All records, in id order.
    pub fn list(&self) -> Result<Vec<ConnectionRecord>> {
        self.ids("connections", "json")?
            .iter()
            .map(|id| self.get(id))
            .collect()
    }

    /// Writes a record atomically, sealing its integrity tag.
    pub fn put(&self, record: &mut ConnectionRecord) -> Result<()> {
        let path = self.connection_path(&record.id)?;
        self.put_signed(&path, record)
    }

    pub fn delete(&self, id: &str) -> Result<()> {
        let path = self.connection_path(id)?;
        std::fs::remove_file(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound {
                what: "connection",
                id: id.to_string(),
            },
            _ => Error::io(format!("delete {}", path.display()))(e),
        })
    }

    // ---- provider definitions (data for data-driven connectors) ----

    /// Stores a provider definition (JSON text) under `id`.
    pub fn put_provider(&self, id: &str, json: &str) -> Result<()> {
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::invalid(
                "id",
                "a provider id must match [A-Za-z0-9_-]+",
            ));
        }
        write_atomic(
            &self.home.join("providers").join(format!("{id}.json")),
            json.as_bytes(),
            false,
        )
    }

    /// A stored provider definition's JSON text, if there is one.
    pub fn provider(&self, id: &str) -> Result<Option<String>> {
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Ok(None);
        }
        let path = self.home.join("providers").join(format!("{id}.json"));
        match std::fs::read_to_string(&path) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("read {}", path.display()))(e)),
        }
    }

    /// Ids of stored provider definitions.
    pub fn providers(&self) -> Result<Vec<String>> {
        self.ids("providers", "json")
    }

    // ---- cross-process locks ----

    /// Takes the exclusive lock of connection `id` (blocking), shared by
    /// every process using this store. Released when the guard drops.
    pub fn lock_at(home: &Path, id: &str) -> Result<FileLock> {
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(Error::NotFound {
                what: "connection",
                id: id.to_string(),
            });
        }
        FileLock::acquire(&home.join("locks").join(format!("{id}.lock")))
    }

    // ---- pending authorizations ----

    fn pending_path(&self, id: &str) -> Result<PathBuf> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::NotFound {
                what: "pending authorization",
                id: id.to_string(),
            });
        }
        Ok(self.home.join("pending").join(format!("{id}.json")))
    }

    /// Stores a pending authorization. Its record's secrets (client secret,
    /// PKCE verifier, state) are sealed like a connection's; the whole file
    /// carries an integrity tag.
    pub fn put_pending(&self, pending: &mut Pending) -> Result<()> {
        let path = self.pending_path(&pending.id)?;
        self.put_signed(&path, pending)
    }

    pub fn get_pending(&self, id: &str) -> Result<Pending> {
        let path = self.pending_path(id)?;
        self.get_signed(&path, id)
    }

    /// Removes pending authorizations that expired before `now` (their
    /// sealed client secrets and PKCE verifiers with them); returns how many.
    pub fn prune_pending(&self, now: u64) -> Result<usize> {
        let mut removed = 0;
        for id in self.ids("pending", "json")? {
            if let Ok(p) = self.get_pending(&id) {
                if p.expires_at < now && self.take_pending(&id)? {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Removes a pending authorization; `true` if this call removed it (so
    /// of two racing callbacks only one proceeds).
    pub fn take_pending(&self, id: &str) -> Result<bool> {
        let path = self.pending_path(id)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(format!("delete {}", path.display()))(e)),
        }
    }

    // ---- signed documents ----

    fn signed_aad<T: Signed>(doc: &T) -> Vec<u8> {
        let mut copy = doc.clone();
        copy.integrity().clear();
        let mut aad = T::DOMAIN.to_vec();
        aad.extend(serde_json::to_vec(&copy).expect("document serializes"));
        aad
    }

    /// Writes `doc` atomically (mode 0600) with a fresh GMAC tag over it.
    fn put_signed<T: Signed>(&self, path: &Path, doc: &mut T) -> Result<()> {
        doc.integrity().clear();
        *doc.integrity() = self.key.seal(b"", &Self::signed_aad(doc));
        let json = serde_json::to_vec_pretty(doc).expect("document serializes");
        write_atomic(path, &json, true)
    }

    /// Reads a document, refusing it unless its tag and id check out.
    fn get_signed<T: Signed>(&self, path: &Path, id: &str) -> Result<T> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound {
                    what: T::WHAT,
                    id: id.to_string(),
                })
            }
            Err(e) => return Err(Error::io(format!("read {}", path.display()))(e)),
        };
        let mut doc: T = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let tag = doc.integrity().clone();
        if doc.id() != id || self.key.open(&tag, &Self::signed_aad(&doc)).is_none() {
            return Err(Error::Tampered(id.to_string()));
        }
        Ok(doc)
    }

    // ---- secrets ----

    fn secret_aad(connection: &str, name: &str) -> Vec<u8> {
        format!("connhost:secret:v1:{connection}\0{name}").into_bytes()
    }

    /// Replaces the record's sealed secrets with `scope`'s values.
    pub fn seal_secrets(&self, record: &mut ConnectionRecord, scope: &BTreeMap<String, Secret>) {
        record.secrets = scope
            .iter()
            .map(|(name, value)| {
                let aad = Self::secret_aad(&record.id, name);
                (name.clone(), self.key.seal(value.expose().as_bytes(), &aad))
            })
            .collect();
    }

    /// Decrypts a record's secrets into a scope for one call.
    pub fn open_secrets(&self, record: &ConnectionRecord) -> Result<SecretScope> {
        let mut values = BTreeMap::new();
        for (name, sealed) in &record.secrets {
            let plain = self
                .key
                .open(sealed, &Self::secret_aad(&record.id, name))
                .ok_or_else(|| Error::Tampered(format!("{} (secret `{name}`)", record.id)))?;
            let text = String::from_utf8(plain)
                .map_err(|_| Error::Tampered(format!("{} (secret `{name}`)", record.id)))?;
            values.insert(name.clone(), Secret::new(text));
        }
        Ok(SecretScope::new(values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        store.put(&mut r).unwrap();
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
        store.put(&mut b).unwrap(); // re-tagged as if by a confused writer
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
    fn atomic_replace_leaves_no_temp_and_old_or_new() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        write_atomic(&path, b"old", false).unwrap();
        write_atomic(&path, b"new", false).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .collect();
        assert!(leftovers.is_empty());
        // A failed write (target is a directory) keeps the old state.
        let sub = dir.path().join("d");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("x"), b"").unwrap();
        assert!(write_atomic(&sub, b"new", false).is_err());
        assert!(sub.is_dir());
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
    fn bad_master_key_env_is_explained() {
        assert!(MasterKey::from_base64("not base64!")
            .unwrap_err()
            .to_string()
            .contains("base64"));
        assert!(MasterKey::from_base64("AAAA")
            .unwrap_err()
            .to_string()
            .contains("32 bytes"));
    }
}
