//! The master key and AES-256-GCM sealing. Every sealed value is base64 of
//! nonce ‖ ciphertext ‖ tag, bound to associated data that names what it
//! is, so a value moved elsewhere fails to open.

use crate::error::{Error, Result};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rand::RngCore;
use std::fmt;

/// Environment variable holding the base64 master key.
pub const MASTER_KEY_ENV: &str = "CONNHOST_MASTER_KEY";

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
        let cipher = Aes256Gcm::new_from_slice(bytes)
            .map_err(|_| Error::BadMasterKey(format!("must be 32 bytes, got {}", bytes.len())))?;
        Ok(MasterKey(cipher))
    }

    /// From base64 text (as in `CONNHOST_MASTER_KEY`).
    pub fn from_base64(text: &str) -> Result<Self> {
        let bytes = B64
            .decode(text.trim())
            .map_err(|e| Error::BadMasterKey(format!("{MASTER_KEY_ENV} is not base64: {e}")))?;
        Self::from_bytes(&bytes)
    }

    /// A fresh random key and its base64 text (for a new key file).
    pub(crate) fn generate() -> (Self, String) {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let key = Self::from_bytes(&bytes).expect("32 bytes");
        (key, B64.encode(bytes))
    }

    pub(crate) fn seal(&self, plaintext: &[u8], aad: &[u8]) -> String {
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

    pub(crate) fn open(&self, sealed: &str, aad: &[u8]) -> Option<Vec<u8>> {
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

impl MasterKey {
    /// A GMAC tag over `message` (fresh nonce).
    pub(crate) fn mac(&self, message: &[u8]) -> String {
        self.seal(b"", message)
    }

    /// Whether `tag` is this key's tag over `message`.
    pub(crate) fn verify_mac(&self, message: &[u8], tag: &str) -> bool {
        self.open(tag, message).is_some()
    }
}

/// The key authenticates compiled artifacts in the runtime's cache.
impl crate::runtime::ArtifactKey for MasterKey {
    fn tag(&self, message: &[u8]) -> String {
        self.mac(message)
    }
    fn check(&self, message: &[u8], tag: &str) -> bool {
        self.verify_mac(message, tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn sealed_values_are_bound_to_their_aad() {
        let (key, _) = MasterKey::generate();
        let sealed = key.seal(b"v", b"a");
        assert_eq!(key.open(&sealed, b"a").as_deref(), Some(&b"v"[..]));
        assert!(key.open(&sealed, b"b").is_none());
        assert!(!format!("{key:?}").contains("Aes"));
    }
}
