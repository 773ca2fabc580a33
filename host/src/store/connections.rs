//! Connection records and their sealed secrets.
//!
//! Writes are versioned compare-and-swap: [`Store::insert`] only creates,
//! [`Store::replace`] only succeeds if the stored version is the one the
//! caller read, and [`Store::delete`] takes the same per-connection lock,
//! so a write can neither lose another's change nor bring back a deleted
//! record, on every backend (they are built on its documents and locks).

use super::backend;
use super::crypto::OpenError;
use super::signed::{self, Signed};
use super::Store;
use crate::error::{Error, Result};
use crate::secret::{Secret, SecretScope};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a connection stands.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
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
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct LastError {
    pub kind: String,
    pub message: String,
    pub at: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
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
    /// When the current access was obtained (Unix seconds), to size the
    /// renewal margin against the access's lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_issued_at: Option<u64>,
    /// Origins the connector added with `allowed-origins` when access was
    /// last set up (create, edit, refresh, reauthorization), covered by the
    /// record's tag.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub origins: Vec<String>,
    /// Origins the host approved for the team's stored definition this
    /// connection was made from (what `{definition}` patterns match).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub definition_origins: Vec<String>,
    /// Bumped by every write; a write must name the version it read.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub version: u64,
    /// Secret name → sealed value (base64 of nonce ‖ ciphertext ‖ tag).
    pub secrets: BTreeMap<String, String>,
    /// HMAC-SHA256 tag over the record with this field empty.
    #[serde(default)]
    pub integrity: String,
}

impl ConnectionRecord {
    /// A new, unverified record with no data yet (version 0: not stored).
    pub fn new(id: String, team: String, connector: String, name: String) -> Self {
        let t = crate::util::now();
        ConnectionRecord {
            id,
            team,
            connector,
            name,
            fields: BTreeMap::new(),
            granted_scopes: Vec::new(),
            expires_at: None,
            status: Status::Created,
            account_label: None,
            last_error: None,
            created_at: t,
            updated_at: t,
            verified_at: None,
            token_generation: 0,
            access_issued_at: None,
            origins: Vec::new(),
            definition_origins: Vec::new(),
            version: 0,
            secrets: BTreeMap::new(),
            integrity: String::new(),
        }
    }

    /// Names of the secrets that are set.
    pub fn secret_names(&self) -> impl Iterator<Item = &str> {
        self.secrets.keys().map(String::as_str)
    }
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

pub(crate) fn secret_aad(connection: &str, name: &str) -> Vec<u8> {
    format!("connhost:secret:v1:{connection}\0{name}").into_bytes()
}

impl Store {
    fn connection_path(&self, id: &str) -> Result<String> {
        self.path_of("connections", id, "json", "connection")
    }

    /// Loads a record, checking its integrity tag.
    pub fn get(&self, id: &str) -> Result<ConnectionRecord> {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.load(id)
    }

    /// A read inside a write (not counted as one of the caller's reads).
    pub(super) fn load(&self, id: &str) -> Result<ConnectionRecord> {
        let path = self.connection_path(id)?;
        // The index is read before the record and written after it, so a
        // write in flight shows as the record one version ahead; a reader
        // that raced more writes than that reads again. A rollback on
        // disk stays a rollback however often it is read.
        let mut tries = 0;
        loop {
            let committed = self.committed(id)?;
            let record: ConnectionRecord = signed::get(&self.keys, &*self.backend, &path, id)?;
            match super::index::judge(id, committed, record.version) {
                Err(Error::Tampered(_)) if tries < 3 => tries += 1,
                verdict => return verdict.map(|()| record),
            }
        }
    }

    /// All records that load, in id order. A record that is corrupt,
    /// fails its tag or is an older copy is moved to `quarantine/` (and
    /// logged for the operator: `connhost store check`), so it breaks
    /// neither other records nor other teams, and no team sees its id.
    pub fn list(&self) -> Result<Vec<ConnectionRecord>> {
        let mut out = Vec::new();
        for id in self.ids("connections", "json")? {
            match self.get(&id) {
                Ok(r) => out.push(r),
                Err(Error::NotFound { .. }) => {}
                Err(Error::Corrupt { .. } | Error::Tampered(_)) => self.quarantine(&id)?,
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// [`Store::get`] of several records: their index buckets in one read,
    /// then the records in one (the same order as one get), each judged
    /// alone. One that looks like a rollback is read again on its own, as
    /// a write may have raced the batch.
    pub fn get_many(&self, ids: &[String]) -> Result<Vec<Result<ConnectionRecord>>> {
        // An id that cannot be a record's is simply not found.
        let ids: Vec<String> = ids
            .iter()
            .filter(|id| connhost_policy::ids::is_safe(id, 128))
            .cloned()
            .collect();
        let ids = &ids[..];
        let paths: Vec<String> = ids
            .iter()
            .map(|id| format!("connections/{id}.json"))
            .collect();
        let committed = self.committed_many(ids)?;
        let bytes = self.backend.read_many(&paths)?;
        self.reads
            .fetch_add(ids.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(ids
            .iter()
            .zip(paths.iter().zip(committed.into_iter().zip(bytes)))
            .map(|(id, (path, (c, b)))| {
                let Some(b) = b else {
                    return Err(Error::NotFound {
                        what: "connection",
                        id: id.clone(),
                    });
                };
                let record: ConnectionRecord = signed::check(&self.keys, &b, id, path)?;
                match super::index::judge(id, c, record.version) {
                    Ok(()) => Ok(record),
                    Err(Error::Tampered(_)) => self.get(id),
                    Err(e) => Err(e),
                }
            })
            .collect())
    }

    /// Moves a bad record out of `connections/`, if it is still bad once
    /// its write lock is held (a writer may have just replaced it).
    pub(super) fn quarantine(&self, id: &str) -> Result<()> {
        let _lock = self.write_lock(id)?;
        let e = match self.load(id) {
            Err(e @ (Error::Corrupt { .. } | Error::Tampered(_))) => e,
            _ => return Ok(()),
        };
        let to = format!("quarantine/{id}.json.{}", crate::util::now());
        self.backend.rename(&self.connection_path(id)?, &to)?;
        tracing::error!(connection = %id, "moved to {to}: {e}");
        Ok(())
    }

    /// Files moved to `quarantine/` so far (for the operator).
    pub fn quarantined(&self) -> Result<Vec<String>> {
        backend::list_all(&*self.backend, "quarantine", "")
    }

    /// Stores a new record (version 1); fails if the id exists.
    pub fn insert(&self, record: &mut ConnectionRecord) -> Result<()> {
        let path = self.connection_path(&record.id)?;
        let _guard = self.guard()?;
        let _lock = self.write_lock(&record.id)?;
        // Record and index bucket in one read.
        let bucket = self.bucket_path_of(&record.id);
        let found = self.backend.read_many(&[path.clone(), bucket])?;
        if found[0].is_some() {
            return Err(Error::AlreadyExists {
                what: "connection",
                id: record.id.clone(),
            });
        }
        if self.committed_in(&record.id, found[1].clone())? == super::index::Committed::Deleted {
            return Err(Error::AlreadyExists {
                what: "connection",
                id: record.id.clone(),
            });
        }
        record.version = 1;
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Listed first: a crash in between leaves a pointer to nothing
        // (skipped), never a record its team cannot list.
        self.backend
            .touch(&Self::listing_path(&record.team, &record.id)?)?;
        self.repoint(&record.id, None, record.expires_at)?;
        signed::put(&self.keys, &*self.backend, &path, record)?;
        self.note(&record.id, Some(1), 1)
    }

    /// Replaces a record if the stored one is still at `record.version`;
    /// the version is then bumped. [`Error::Conflict`] if another write
    /// came first, [`Error::NotFound`] if it was deleted.
    pub fn replace(&self, record: &mut ConnectionRecord) -> Result<()> {
        let path = self.connection_path(&record.id)?;
        let _guard = self.guard()?;
        let _lock = self.write_lock(&record.id)?;
        let current = self.load(&record.id)?;
        // A write that crashed before its index entry is committed now,
        // so the index never falls two versions behind.
        if self.committed(&record.id)? != super::index::Committed::Live(current.version) {
            self.note(&record.id, Some(current.version), current.version)?;
        }
        if current.version != record.version {
            return Err(Error::Conflict {
                what: "connection",
                id: record.id.clone(),
            });
        }
        record.version += 1;
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The new pointer before the record, the old one after it: a
        // crash leaves an extra pointer (dropped when read), never none.
        let moved = current.expires_at != record.expires_at;
        if moved {
            self.repoint(&record.id, None, record.expires_at)?;
        }
        signed::put(&self.keys, &*self.backend, &path, record)?;
        self.note(&record.id, Some(record.version), record.version)?;
        if moved {
            self.repoint(&record.id, current.expires_at, None)?;
        }
        Ok(())
    }

    /// Removes a record; a write racing it finds it gone, and its file
    /// put back later stays deleted (the tombstone comes first).
    pub fn delete(&self, id: &str) -> Result<()> {
        let path = self.connection_path(id)?;
        let _guard = self.guard()?;
        let _lock = self.write_lock(id)?;
        let (last, team, expires) = match self.load(id) {
            Ok(r) => (r.version, Some(r.team), r.expires_at),
            // A bad record can be deleted too: that is how it is cleared.
            Err(Error::Corrupt { .. } | Error::Tampered(_)) => (0, None, None),
            Err(e) => return Err(e),
        };
        self.note(id, None, last)?;
        if !self.backend.remove(&path)? {
            return Err(Error::NotFound {
                what: "connection",
                id: id.to_string(),
            });
        }
        if let Some(team) = team {
            self.backend.remove(&Self::listing_path(&team, id)?)?;
        }
        self.repoint(id, expires, None)
    }

    /// Replaces the record's sealed secrets with `values`.
    pub fn seal_secrets(&self, record: &mut ConnectionRecord, values: &BTreeMap<String, Secret>) {
        record.secrets = values
            .iter()
            .map(|(name, value)| {
                let aad = secret_aad(&record.id, name);
                (
                    name.clone(),
                    self.keys.seal(value.expose().as_bytes(), &aad),
                )
            })
            .collect();
    }

    /// Decrypts a record's secrets into a scope for one call.
    pub fn open_secrets(&self, record: &ConnectionRecord) -> Result<SecretScope> {
        let mut values = BTreeMap::new();
        for (name, sealed) in &record.secrets {
            let tampered = || Error::Tampered(format!("{} (secret `{name}`)", record.id));
            let plain = match self.keys.open(sealed, &secret_aad(&record.id, name)) {
                Ok(p) => p,
                Err(OpenError::OtherKey(kid)) => {
                    return Err(Error::WrongMasterKey(format!(
                        "secret `{name}` of `{}` was sealed with key {kid}, which this store no longer uses",
                        record.id
                    )))
                }
                Err(OpenError::Invalid) => return Err(tampered()),
            };
            // On a bad value the bytes are wiped, not just freed.
            let text = String::from_utf8(plain).map_err(|e| {
                zeroize::Zeroize::zeroize(&mut e.into_bytes());
                tampered()
            })?;
            values.insert(name.clone(), Secret::new(text));
        }
        Ok(SecretScope::new(values))
    }
}
