//! Anti-rollback: the version each connection was last committed at, and
//! a tombstone for each deleted one, kept apart from the records in 256
//! tagged bucket files (`index/xx.json`, by the first byte of the id's
//! SHA-256).
//!
//! Invariant: a record loads only if its version is the committed one,
//! or one more (a write that crashed between the record and the index;
//! nobody but the key holder can make that record, and the next write
//! moves the index past it). So an older copy of a record put back, or a
//! deleted record's file restored, is refused. Rolling back a bucket
//! together with its records is not detected: that is a snapshot restore
//! of part of the store, which only an anchor outside the store (a
//! database, issue 11) can catch.
//!
//! Every other signed document has the same guarantee, and the same
//! limit, through [`super::versions`].

use super::signed::{self, Signed};
use super::{lock, Store};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Bucket {
    /// `index/xx` (`versions/xx` for the other documents' index).
    pub(super) id: String,
    /// Connection id → committed version.
    pub(super) live: BTreeMap<String, u64>,
    /// Deleted connection id → its last version.
    pub(super) deleted: BTreeMap<String, u64>,
    #[serde(default)]
    pub(super) integrity: String,
}

impl Signed for Bucket {
    const DOMAIN: &'static [u8] = b"connhost:index:v1:";
    const WHAT: &'static str = "index bucket";
    fn id(&self) -> &str {
        &self.id
    }
    fn integrity(&mut self) -> &mut String {
        &mut self.integrity
    }
}

/// Bucket name → the bytes last verified and the bucket they are.
pub(crate) type BucketCache =
    std::sync::Mutex<std::collections::HashMap<String, (Vec<u8>, Arc<Bucket>)>>;

/// A bucket (of this index or of `versions/`) from its bytes (`None`:
/// there is none yet, an empty bucket `id`). The last verified copy of
/// each bucket is kept: bytes identical to it are that bucket, so a read
/// costs a compare instead of a parse and a tag check (which grow with the
/// bucket).
pub(crate) fn decode_cached(
    keys: &super::crypto::KeyRing,
    cache: &BucketCache,
    id: &str,
    path: &str,
    name: &str,
    bytes: Option<Vec<u8>>,
) -> Result<Arc<Bucket>> {
    let Some(bytes) = bytes else {
        return Ok(Arc::new(Bucket {
            id: id.to_string(),
            ..Bucket::default()
        }));
    };
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((seen, b)) = cache.get(name) {
        if *seen == bytes {
            return Ok(b.clone());
        }
    }
    let b = Arc::new(signed::check::<Bucket>(keys, &bytes, id, path)?);
    cache.insert(name.to_string(), (bytes, b.clone()));
    Ok(b)
}

/// What the index says about one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Committed {
    Live(u64),
    Deleted,
    /// Never committed (or an insert that crashed before the index).
    Unknown,
}

/// Whether a record at `version` may load, given what the index says.
pub(crate) fn judge(id: &str, committed: Committed, version: u64) -> Result<()> {
    let refuse = |why: String| Err(Error::Tampered(format!("{id} ({why})")));
    match committed {
        Committed::Deleted => Err(Error::NotFound {
            what: "connection",
            id: id.to_string(),
        }),
        Committed::Live(v) if version == v || version == v + 1 => Ok(()),
        Committed::Live(v) if version < v => refuse(format!(
            "an older copy: version {version}, the store committed version {v}"
        )),
        Committed::Live(v) => refuse(format!(
            "version {version} was never committed (the store is at {v})"
        )),
        Committed::Unknown if version == 1 => Ok(()),
        Committed::Unknown => refuse(format!("version {version} was never committed")),
    }
}

fn lookup(b: &Bucket, id: &str) -> Committed {
    match (b.live.get(id), b.deleted.contains_key(id)) {
        (_, true) => Committed::Deleted,
        (Some(v), _) => Committed::Live(*v),
        (None, false) => Committed::Unknown,
    }
}

pub(super) fn bucket_name(id: &str) -> String {
    format!("{:02x}", Sha256::digest(id.as_bytes())[0])
}

impl Store {
    fn bucket_path(&self, name: &str) -> String {
        format!("index/{name}.json")
    }

    fn decode_bucket(&self, name: &str, bytes: Option<Vec<u8>>) -> Result<Arc<Bucket>> {
        decode_cached(
            &self.keys,
            &self.buckets,
            &format!("index/{name}"),
            &self.bucket_path(name),
            name,
            bytes,
        )
    }

    fn load_bucket(&self, name: &str) -> Result<Bucket> {
        let bytes = self.backend.read(&self.bucket_path(name))?;
        Ok((*self.decode_bucket(name, bytes)?).clone())
    }

    /// The path of the bucket that indexes `id`.
    pub(crate) fn bucket_path_of(&self, id: &str) -> String {
        self.bucket_path(&bucket_name(id))
    }

    /// What `id`'s bucket, already read (`None`: there is none), says.
    pub(crate) fn committed_in(&self, id: &str, bucket: Option<Vec<u8>>) -> Result<Committed> {
        let b = self.decode_bucket(&bucket_name(id), bucket)?;
        Ok(lookup(&b, id))
    }

    /// [`Store::committed`] of several ids, their buckets read at once.
    pub(crate) fn committed_many(&self, ids: &[String]) -> Result<Vec<Committed>> {
        let mut names: Vec<String> = ids.iter().map(|id| bucket_name(id)).collect();
        names.sort();
        names.dedup();
        let paths: Vec<String> = names.iter().map(|n| self.bucket_path(n)).collect();
        let mut buckets = std::collections::HashMap::new();
        for (name, bytes) in names.iter().zip(self.backend.read_many(&paths)?) {
            buckets.insert(name.clone(), self.decode_bucket(name, bytes)?);
        }
        Ok(ids
            .iter()
            .map(|id| lookup(&buckets[&bucket_name(id)], id))
            .collect())
    }

    pub(crate) fn committed(&self, id: &str) -> Result<Committed> {
        let name = bucket_name(id);
        let bytes = self.backend.read(&self.bucket_path(&name))?;
        Ok(lookup(&*self.decode_bucket(&name, bytes)?, id))
    }

    /// Records that `id` is now at `version` (`None`: deleted at
    /// `last`). Called with the connection's write lock held.
    pub(crate) fn note(&self, id: &str, version: Option<u64>, last: u64) -> Result<()> {
        let name = bucket_name(id);
        let _lock =
            self.backend
                .lock(&format!("locks/index-{name}.lock"), lock::WRITE_WAIT, true)?;
        let mut b = self.load_bucket(&name)?;
        match version {
            Some(v) => {
                b.live.insert(id.to_string(), v);
            }
            None => {
                b.live.remove(id);
                b.deleted.insert(id.to_string(), last);
            }
        }
        signed::put(&self.keys, &*self.backend, &self.bucket_path(&name), &mut b)
    }

    /// For a store made before the index: index the records it has, once
    /// (trust on first use), into a folder that appears whole.
    pub(crate) fn build_index(&self) -> Result<()> {
        let dir = self.home.join("index");
        if dir.exists() {
            return Ok(());
        }
        let tmp = self.home.join(".index.building");
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(Error::io(format!("create {}", tmp.display())))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o700));
        }
        let mut buckets: BTreeMap<String, Bucket> = BTreeMap::new();
        for id in self.ids("connections", "json")? {
            let path = self.home.join("connections").join(format!("{id}.json"));
            if let Ok(r) = signed::get_file::<super::ConnectionRecord>(&self.keys, &path, &id) {
                let name = bucket_name(&id);
                buckets
                    .entry(name.clone())
                    .or_insert_with(|| Bucket {
                        id: format!("index/{name}"),
                        ..Bucket::default()
                    })
                    .live
                    .insert(id, r.version.max(1));
            }
        }
        for (name, mut b) in buckets {
            signed::put_file(&self.keys, &tmp.join(format!("{name}.json")), &mut b)?;
        }
        std::fs::rename(&tmp, &dir).map_err(Error::io(format!("create {}", dir.display())))?;
        if let Ok(d) = std::fs::File::open(&self.home) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}
