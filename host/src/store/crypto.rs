//! The store's keys: `connhost-seal` does the cryptography (HKDF subkeys
//! with key ids, AES-256-GCM per-value keys, HMAC tags); this module
//! connects it to the store's errors and the runtime's artifact cache.

pub use connhost_seal::{KeyRing, MasterKey, OpenError};

/// Environment variable holding the base64 master key.
pub const MASTER_KEY_ENV: &str = "CONNHOST_MASTER_KEY";

impl From<connhost_seal::BadKey> for crate::error::Error {
    fn from(e: connhost_seal::BadKey) -> Self {
        crate::error::Error::BadMasterKey(e.0)
    }
}

/// The keys authenticate compiled artifacts in the runtime's cache.
impl crate::runtime::ArtifactKey for KeyRing {
    fn tag(&self, message: &[u8]) -> String {
        KeyRing::tag(self, message)
    }
    fn check(&self, message: &[u8], tag: &str) -> bool {
        KeyRing::check(self, message, tag).is_ok()
    }
}

/// One key alone authenticates a cache too (benchmarks, embedders).
impl crate::runtime::ArtifactKey for MasterKey {
    fn tag(&self, message: &[u8]) -> String {
        MasterKey::tag(self, message)
    }
    fn check(&self, message: &[u8], tag: &str) -> bool {
        KeyRing::new(self.clone()).check(message, tag).is_ok()
    }
}
