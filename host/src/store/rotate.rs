//! Key rotation, and the guard every write takes so that it cannot race
//! one.
//!
//! `rotate` re-wraps everything the old key made (each file: read with
//! both keys, written with the new one, atomically) and ends with the
//! `keycheck`, so afterwards the store opens with the new key only. A
//! marker (`rotation.json`, naming both key ids) is written first and
//! removed last: while it exists the store refuses to open, and running
//! the rotation again with the same keys finishes it, whatever step a
//! `kill -9` interrupted (each step is idempotent: HMAC tags are
//! deterministic and re-sealing a value under the new key is harmless).
//! With a key file, the new key is saved as `master.key.new` before
//! anything is re-wrapped, so a crash can never lose it.

use super::connections::ConnectionRecord;
use super::crypto::{KeyRing, MasterKey};
use super::signed::{self, Signed};
use super::{lock, FileLock, Store, KEYCHECK_AAD, KEYCHECK_TEXT};
use crate::error::{Error, Result};
use crate::util::write_atomic;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Names the two keys of a rotation that has not finished.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Marker {
    from: String,
    to: String,
}

/// What a rotation re-wrapped.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct RotationReport {
    /// The new key's id.
    pub key_id: String,
    /// Files re-wrapped (connections, both indexes, connectors, pending
    /// authorizations, providers, team lists, the audit log, keycheck).
    pub files: u64,
    /// Audit records re-tagged.
    pub audit_records: u64,
    /// Whether this run finished one a crash had interrupted.
    pub resumed: bool,
}

fn marker_path(home: &Path) -> PathBuf {
    home.join("rotation.json")
}

fn read_marker(home: &Path) -> Result<Option<Marker>> {
    let path = marker_path(home);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::Corrupt {
                path: path.display().to_string(),
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("read {}", path.display()))(e)),
    }
}

/// Refuses to open a store whose rotation has not finished.
pub(crate) fn refuse_if_rotating(home: &Path) -> Result<()> {
    match read_marker(home)? {
        Some(m) => Err(Error::RotationInProgress {
            from: m.from,
            to: m.to,
        }),
        None => Ok(()),
    }
}

/// The guard of every write: a shared lock a rotation takes exclusively,
/// then a check that the store is still under this process's key (a
/// process started before a rotation must not write with the old one).
pub(crate) fn write_guard(home: &Path, keys: &KeyRing) -> Result<FileLock> {
    let guard = FileLock::acquire_shared(&home.join("locks").join("key.lock"), lock::WRITE_WAIT)?;
    refuse_if_rotating(home)?;
    let check = std::fs::read_to_string(home.join("keycheck")).map_err(Error::io(format!(
        "read {}",
        home.join("keycheck").display()
    )))?;
    match connhost_seal::key_id_of(check.trim()) {
        Some(kid) if kid == keys.primary().id() => Ok(guard),
        // A store from before key ids: the keycheck opened at start.
        None => Ok(guard),
        Some(kid) => Err(Error::WrongMasterKey(format!(
            "the store's key was rotated to {kid} after this process started; restart it with the new key"
        ))),
    }
}

/// [`write_guard`] for a store in `backend`. Rotation runs on the
/// embedded store only (a database store is refused by `key rotate`), so
/// only that backend needs it.
pub(crate) fn guard(
    backend: &dyn super::Backend,
    home: &Path,
    keys: &KeyRing,
) -> Result<super::Held> {
    if backend.kind() != "file" {
        return Ok(super::Held::new(()));
    }
    write_guard(home, keys).map(super::Held::new)
}

/// Where the keys of a rotation come from.
pub enum NewKey {
    /// Given by the operator (both keys in the environment).
    Given { old: MasterKey, new: MasterKey },
    /// `home/master.key`: a new key is generated (or, on a resumed run,
    /// read back from `master.key.new`) and replaces the file at the end.
    KeyFile,
}

struct Run<'a> {
    home: &'a Path,
    crash_after: Option<u32>,
    steps: u32,
    report: RotationReport,
}

impl Run<'_> {
    /// One durable step done; the crash tests stop the process here.
    fn step(&mut self) {
        self.steps += 1;
        if self.crash_after == Some(self.steps) {
            std::process::abort();
        }
    }
}

/// Rotates the master key of the store at `home`; see the module docs.
/// `crash_after` aborts the process after that many durable steps (for
/// the crash tests only).
pub fn rotate(home: &Path, keys: NewKey, crash_after: Option<u32>) -> Result<RotationReport> {
    let _exclusive = FileLock::acquire(&home.join("locks").join("key.lock"), lock::WRITE_WAIT)?;
    let marker = read_marker(home)?;
    let key_path = home.join("master.key");
    let new_path = home.join("master.key.new");
    let check_kid = std::fs::read_to_string(home.join("keycheck"))
        .ok()
        .and_then(|c| connhost_seal::key_id_of(c.trim()).map(str::to_string));
    let mut run = Run {
        home,
        crash_after,
        steps: 0,
        report: RotationReport {
            resumed: marker.is_some(),
            ..RotationReport::default()
        },
    };
    let (old, new, from_file) = match keys {
        NewKey::Given { old, new } => (Some(old), new, false),
        NewKey::KeyFile => {
            let current = super::read_key_file(&key_path)?
                .ok_or_else(|| Error::BadMasterKey(format!("{} is missing", key_path.display())))?;
            match super::read_key_file(&new_path)? {
                Some(new) => (Some(current), new, true),
                // The new key already replaced the file: only the last
                // steps of an interrupted run are left.
                None if marker.as_ref().is_some_and(|m| m.to == current.id()) => {
                    (None, current, true)
                }
                None if marker.is_some() => {
                    return Err(Error::BadMasterKey(format!(
                        "a rotation is in progress but {} is missing; restore it from a backup",
                        new_path.display()
                    )))
                }
                None => {
                    let (new, text) = MasterKey::generate();
                    write_atomic(&new_path, text.as_bytes(), true)?;
                    run.step();
                    (Some(current), new, true)
                }
            }
        }
    };
    run.report.key_id = new.id().to_string();
    match &marker {
        Some(m) => {
            if m.to != new.id() || old.as_ref().is_some_and(|o| o.id() != m.from) {
                return Err(Error::BadMasterKey(format!(
                    "the rotation in progress is from key {} to key {}; give those keys to finish it",
                    m.from, m.to
                )));
            }
        }
        None => {
            let old = old.as_ref().expect("a new rotation has the old key");
            if old.id() == new.id() {
                return Err(Error::BadMasterKey(
                    "the new key is the key the store already uses".into(),
                ));
            }
            // Only the store's own key may start a rotation.
            super::check_key(home, old)?;
            let m = Marker {
                from: old.id().to_string(),
                to: new.id().to_string(),
            };
            write_atomic(
                &marker_path(home),
                &serde_json::to_vec(&m).expect("serializes"),
                true,
            )?;
            run.step();
        }
    }
    // The keycheck is re-sealed last of the re-wraps: once it names the
    // new key, everything else does too.
    if check_kid.as_deref() != Some(new.id()) {
        let old = old.ok_or_else(|| {
            Error::BadMasterKey("the old key is needed to finish this rotation".into())
        })?;
        let ring = KeyRing::with_old(new.clone(), old);
        rewrap_all(&ring, &mut run)?;
        write_atomic(
            &home.join("keycheck"),
            new.seal(KEYCHECK_TEXT, KEYCHECK_AAD).as_bytes(),
            true,
        )?;
        run.report.files += 1;
        run.step();
    }
    if from_file && new_path.exists() {
        std::fs::rename(&new_path, &key_path)
            .map_err(Error::io(format!("replace {}", key_path.display())))?;
        sync(home);
        run.step();
    }
    // Compiled artifacts are tagged with the old key: recompile.
    if let Ok(entries) = std::fs::read_dir(home.join("cache")) {
        for e in entries.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
    std::fs::remove_file(marker_path(home))
        .map_err(Error::io(format!("remove {}", marker_path(home).display())))?;
    sync(home);
    Ok(run.report)
}

fn sync(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Every `*.json` under `dir` (one level), sorted.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.extension().is_some_and(|x| x == "json")
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Reads a document with both keys and writes it back with the new one.
fn rewrap<T: Signed>(ring: &KeyRing, path: &Path, id: &str, run: &mut Run) -> Result<T> {
    let mut doc: T = signed::get_file(ring, path, id)?;
    signed::put_file(ring, path, &mut doc)?;
    run.report.files += 1;
    run.step();
    Ok(doc)
}

fn reseal(ring: &KeyRing, record: &mut ConnectionRecord) -> Result<()> {
    for (name, sealed) in record.secrets.iter_mut() {
        let aad = super::connections::secret_aad(&record.id, name);
        let plain = zeroize::Zeroizing::new(
            ring.open(sealed, &aad)
                .map_err(|_| Error::Tampered(format!("{} (secret `{name}`)", record.id)))?,
        );
        *sealed = ring.seal(&plain, &aad);
    }
    Ok(())
}

fn rewrap_all(ring: &KeyRing, run: &mut Run) -> Result<()> {
    let home = run.home;
    for path in json_files(&home.join("connections")) {
        let id = stem(&path);
        let mut r: ConnectionRecord = match signed::get_file(ring, &path, &id) {
            Ok(r) => r,
            // A bad record stays bad under any key; `list` quarantines it.
            Err(Error::Corrupt { .. } | Error::Tampered(_)) => continue,
            Err(e) => return Err(e),
        };
        reseal(ring, &mut r)?;
        signed::put_file(ring, &path, &mut r)?;
        run.report.files += 1;
        run.step();
    }
    for path in json_files(&home.join("index")) {
        rewrap::<super::index::Bucket>(ring, &path, &format!("index/{}", stem(&path)), run)?;
    }
    // The other documents' versions (re-tags keep each document's own).
    for path in json_files(&home.join("versions")) {
        rewrap::<super::index::Bucket>(ring, &path, &format!("versions/{}", stem(&path)), run)?;
    }
    for path in json_files(&home.join("connectors")) {
        rewrap::<super::connectors::ConnectorDoc>(ring, &path, &stem(&path), run)?;
    }
    for path in json_files(&home.join("apikeys")) {
        rewrap::<super::ApiKey>(ring, &path, &stem(&path), run)?;
    }
    for path in json_files(&home.join("sessions")) {
        rewrap::<super::ConnectSession>(ring, &path, &stem(&path), run)?;
    }
    for path in json_files(&home.join("pending")) {
        let id = stem(&path);
        let mut p: super::Pending = signed::get_file(ring, &path, &id)?;
        reseal(ring, &mut p.record)?;
        signed::put_file(ring, &path, &mut p)?;
        run.report.files += 1;
        run.step();
    }
    for team in subdirs(&home.join("providers")) {
        for path in json_files(&team) {
            let id = format!("{}/{}", stem(&team), stem(&path));
            rewrap::<super::providers::ProviderDoc>(ring, &path, &id, run)?;
        }
    }
    for team in subdirs(&home.join("teams")) {
        for path in json_files(&team) {
            let id = format!(
                "{}/{}",
                stem(&team),
                path.file_name().unwrap().to_string_lossy()
            );
            crate::store::usage::rewrap_list(ring, &path, &id)?;
            run.report.files += 1;
            run.step();
        }
    }
    run.report.files += super::webhooks::rewrap(home, ring)?;
    run.step();
    let log = crate::store::audit::AuditLog::new(
        std::sync::Arc::new(super::FileBackend::new(home)),
        home,
        ring.clone(),
    );
    run.report.audit_records = log.rewrap()?;
    run.report.files += 1;
    run.step();
    Ok(())
}

impl Store {
    /// The write guard for this store (see [`write_guard`]).
    pub(crate) fn guard(&self) -> Result<super::Held> {
        guard(&*self.backend, &self.home, &self.keys)
    }
}
