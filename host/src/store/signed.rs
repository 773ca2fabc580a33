//! Documents that carry a GMAC tag over their own JSON: editing any field
//! on disk, or moving a file to another id, makes it refuse to load.

use super::crypto::MasterKey;
use crate::error::{Error, Result};
use crate::util::write_atomic;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

/// A stored document with an integrity tag.
pub(crate) trait Signed: Serialize + DeserializeOwned + Clone {
    /// Domain separation for the tag.
    const DOMAIN: &'static [u8];
    /// What it is, for "not found" errors.
    const WHAT: &'static str;
    fn id(&self) -> &str;
    fn integrity(&mut self) -> &mut String;
}

fn aad<T: Signed>(doc: &T) -> Vec<u8> {
    let mut copy = doc.clone();
    copy.integrity().clear();
    let mut aad = T::DOMAIN.to_vec();
    aad.extend(serde_json::to_vec(&copy).expect("document serializes"));
    aad
}

/// Writes `doc` atomically (mode 0600) with a fresh tag over it.
pub(crate) fn put<T: Signed>(key: &MasterKey, path: &Path, doc: &mut T) -> Result<()> {
    doc.integrity().clear();
    *doc.integrity() = key.seal(b"", &aad(doc));
    let json = serde_json::to_vec_pretty(doc).expect("document serializes");
    write_atomic(path, &json, true)
}

/// Reads a document, refusing it unless its tag and id check out.
pub(crate) fn get<T: Signed>(key: &MasterKey, path: &Path, id: &str) -> Result<T> {
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
    if doc.id() != id || key.open(&tag, &aad(&doc)).is_none() {
        return Err(Error::Tampered(id.to_string()));
    }
    Ok(doc)
}
