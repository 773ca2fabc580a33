//! Signed documents: `connhost-seal` tags and checks them, this module
//! reads and writes them through a backend (or, for key rotation, a file)
//! and names what went wrong.

use super::backend::Backend;
use super::crypto::KeyRing;
use crate::error::{Error, Result};
use crate::util::write_atomic;
pub(crate) use connhost_seal::signed::encode_at;
pub(crate) use connhost_seal::signed::Signed;
use connhost_seal::signed::{decode_at, encode, SignedError};
use std::path::Path;

/// Writes `doc` at `path` with a fresh tag over it.
pub(crate) fn put<T: Signed>(
    keys: &KeyRing,
    backend: &dyn Backend,
    path: &str,
    doc: &mut T,
) -> Result<()> {
    backend.write(path, &encode(keys, doc))
}

/// Reads a document, refusing it unless its tag and id check out.
pub(crate) fn get<T: Signed>(
    keys: &KeyRing,
    backend: &dyn Backend,
    path: &str,
    id: &str,
) -> Result<T> {
    match backend.read(path)? {
        Some(bytes) => check(keys, &bytes, id, path),
        None => Err(Error::NotFound {
            what: T::WHAT,
            id: id.to_string(),
        }),
    }
}

/// [`put`] for a file of the embedded store (key rotation).
pub(crate) fn put_file<T: Signed>(keys: &KeyRing, path: &Path, doc: &mut T) -> Result<()> {
    write_atomic(path, &encode(keys, doc), true)
}

/// [`get`] for a file of the embedded store (key rotation).
pub(crate) fn get_file<T: Signed>(keys: &KeyRing, path: &Path, id: &str) -> Result<T> {
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
    check(keys, &bytes, id, &path.display().to_string())
}

/// Decodes a document read elsewhere (a batch), as [`get`] would.
pub(crate) fn check<T: Signed>(keys: &KeyRing, bytes: &[u8], id: &str, path: &str) -> Result<T> {
    check_at(keys, bytes, id, path).map(|(doc, _)| doc)
}

/// [`check`], with the version the document was tagged at (0: none).
pub(crate) fn check_at<T: Signed>(
    keys: &KeyRing,
    bytes: &[u8],
    id: &str,
    path: &str,
) -> Result<(T, u64)> {
    decode_at(keys, bytes, id).map_err(|e| match e {
        SignedError::Corrupt(reason) => Error::Corrupt {
            path: path.to_string(),
            reason,
        },
        SignedError::Tampered => Error::Tampered(id.to_string()),
        SignedError::OtherKey(kid) => Error::WrongMasterKey(format!(
            "{} `{id}` was written with key {kid}, which this store no longer uses",
            T::WHAT
        )),
    })
}
