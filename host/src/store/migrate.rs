//! `store migrate`: copies a whole store from one backend to another
//! (a directory to PostgreSQL, or back) and proves the copy.
//!
//! Documents are copied as they are (sealed and tagged: nothing is opened
//! or re-sealed on the way), so the destination needs the same master
//! key. The copy is idempotent: a run that was interrupted is resumed by
//! running it again, which skips what is already there byte for byte.
//! `keycheck` is written last, so a half-copied destination refuses to
//! open ("keycheck is missing while the store holds data") until a run
//! finishes. Afterwards every document is compared, every connection is
//! opened through the destination's store (tag, version index), every
//! other signed document is checked against the destination's version
//! index (copied with them) and the audit chain is verified there.

use super::backend::{is_log, Backend};
use super::{KeyRing, MasterKey, Store, KEYCHECK_AAD, KEYCHECK_TEXT};
use crate::error::{Error, Result};
use std::path::Path;
use std::sync::Arc;

/// What a migration copied and checked.
#[derive(Clone, Debug, Default, serde::Serialize, PartialEq, Eq)]
pub struct MigrationReport {
    /// Documents in the source (logs not counted).
    pub documents: u64,
    /// Of those, written to the destination by this run.
    pub copied: u64,
    /// Logs (the audit log, webhook delivery logs).
    pub logs: u64,
    /// Connections opened through the destination store (tag checked).
    pub connections_verified: u64,
    /// Other signed documents checked at the destination (tag, version
    /// index).
    pub documents_verified: u64,
    /// Audit records whose chain verified at the destination.
    pub audit_records: u64,
}

fn opens(keys: &KeyRing, sealed: &[u8]) -> bool {
    let text = String::from_utf8_lossy(sealed);
    keys.open(text.trim(), KEYCHECK_AAD).ok().as_deref() == Some(KEYCHECK_TEXT)
}

/// Copies everything in `from` to `to` and verifies the copy; `key` must
/// open both (a destination made by another key is refused untouched).
/// `from_home` / `to_home` are the machines' local homes (key file, cache).
pub fn migrate(
    from: Arc<dyn Backend>,
    from_home: &Path,
    to: Arc<dyn Backend>,
    to_home: &Path,
    key: &MasterKey,
) -> Result<MigrationReport> {
    let keys = KeyRing::new(key.clone());
    let source_check = from.read("keycheck")?.ok_or_else(|| Error::Corrupt {
        path: format!("keycheck in {}", from.describe()),
        reason: "is missing: the source is not a connhost store".into(),
    })?;
    if !opens(&keys, &source_check) {
        return Err(Error::WrongMasterKey(format!(
            "store at {}",
            from.describe()
        )));
    }
    if let Some(dest_check) = to.read("keycheck")? {
        if !opens(&keys, &dest_check) {
            return Err(Error::WrongMasterKey(format!(
                "the destination {} is another store",
                to.describe()
            )));
        }
    }
    // Writers of an embedded source share this lock; holding it keeps
    // them out while the copy runs. (Stop a database's replicas first.)
    let _quiet = from.lock("locks/key.lock", super::WRITE_WAIT, true)?;
    let mut report = MigrationReport::default();
    let paths = from.walk()?;
    for path in &paths {
        if path == "keycheck" {
            continue;
        }
        if is_log(path) {
            report.logs += 1;
            let text = from.read_log(path)?;
            if to.read_log(path)? != text {
                to.replace_log(path, &text)?;
            }
            continue;
        }
        report.documents += 1;
        let Some(bytes) = from.read(path)? else {
            continue;
        };
        if to.read(path)?.as_deref() != Some(bytes.as_slice()) {
            to.write(path, &bytes)?;
            report.copied += 1;
        }
    }
    report.documents += 1;
    if to.read("keycheck")?.as_deref() != Some(source_check.as_slice()) {
        to.write("keycheck", &source_check)?;
        report.copied += 1;
    }
    drop(_quiet);

    // The proof: the same bytes at every path, and the destination's own
    // store opens every connection and verifies the audit chain.
    for path in &paths {
        let same = if is_log(path) {
            from.read_log(path)? == to.read_log(path)?
        } else {
            from.read(path)? == to.read(path)?
        };
        if !same {
            return Err(Error::Conflict {
                what: "document",
                id: format!("{path} (changed during the migration; run it again)"),
            });
        }
    }
    let _ = from_home;
    let expected = paths
        .iter()
        .filter(|p| p.starts_with("connections/") && p.ends_with(".json"))
        .count();
    let dest = Store::open_with(to_home, Some(key.clone()), to)?;
    // Each record opened: its tag, its secrets' binding, its version.
    let mut verified = 0;
    for path in paths
        .iter()
        .filter(|p| p.starts_with("connections/") && p.ends_with(".json"))
    {
        let id = &path["connections/".len()..path.len() - ".json".len()];
        match dest.get(id) {
            Ok(r) => {
                dest.open_secrets(&r)?;
                verified += 1;
            }
            Err(e) => {
                return Err(Error::Tampered(format!(
                    "connection {id} does not verify at the destination ({e}); the source holds it so too: `connhost store check` there"
                )))
            }
        }
    }
    debug_assert_eq!(verified, expected);
    report.connections_verified = verified as u64;
    // Every other signed document against the destination's version
    // index (copied with them).
    if let Some(r) = dest.refused_documents()?.into_iter().next() {
        return Err(Error::Tampered(format!(
            "{} at the destination: {}; the source holds it so too: `connhost store check` there",
            r.path, r.problem
        )));
    }
    report.documents_verified = paths
        .iter()
        .filter(|p| super::versions::Kind::of(p).is_some())
        .count() as u64;
    let chain = crate::store::audit::AuditLog::of(&dest).verify()?;
    if let Some((line, why)) = chain.broken {
        return Err(Error::Tampered(format!(
            "audit log at the destination, record {line}: {why}"
        )));
    }
    report.audit_records = chain.verified;
    Ok(report)
}
