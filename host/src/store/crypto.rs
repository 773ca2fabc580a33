//! The store's keys: `connhost-seal` does the cryptography (HKDF subkeys
//! with key ids, AES-256-GCM per-value keys, HMAC tags); this module
//! connects it to the store's errors.

pub use connhost_seal::{KeyRing, MasterKey, OpenError};

/// Environment variable holding the base64 master key.
pub const MASTER_KEY_ENV: &str = "CONNHOST_MASTER_KEY";

impl From<connhost_seal::BadKey> for crate::error::Error {
    fn from(e: connhost_seal::BadKey) -> Self {
        crate::error::Error::BadMasterKey(e.0)
    }
}
