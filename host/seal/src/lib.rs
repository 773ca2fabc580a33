//! The keys for everything connhost keeps at rest, in plain Rust (no
//! wasmtime), so the store, a database backend and the fuzz targets share
//! one implementation.
//!
//! The operator's root key never touches data. HKDF-SHA256 derives from it
//! one subkey per purpose and a public key id:
//! * `seal`: AES-256-GCM, with a fresh key per value derived from a random
//!   128-bit salt, so a busy store never nears the 2^32-messages bound of
//!   one GCM key with random nonces;
//! * `mac`: HMAC-SHA256 tags (signed documents, audit records, compiled
//!   artifacts): deterministic, no nonce at all.
//!
//! Every sealed value and tag names its key id (`v2.<kid>.<data>`), so a
//! store half-way through a rotation knows which key opens what, and a
//! value under an old key is told apart from a tampered one. Values from
//! before key ids (no prefix: AES-GCM under the root key itself) still
//! open, so `connhost key rotate` can re-wrap them.

pub mod signed;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine as _;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroizing;

/// Why a sealed value or a tag did not open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// It was made with a key this ring does not hold (its id).
    OtherKey(String),
    /// Malformed, or altered, or bound to other associated data.
    Invalid,
}

/// Why a master key was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadKey(pub String);

impl fmt::Display for BadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const PREFIX: &str = "v2.";

/// One root key and its derived subkeys; `Debug` shows only the key id.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    seal: Zeroizing<[u8; 32]>,
    mac: Zeroizing<[u8; 32]>,
    /// The root key as a cipher, only to open values from before key ids.
    legacy: Box<Aes256Gcm>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

fn derive(root: &[u8; 32], info: &[u8], out: &mut [u8]) {
    Hkdf::<Sha256>::new(Some(b"connhost:hkdf:v2"), root)
        .expand(info, out)
        .expect("HKDF output within 255 blocks");
}

impl MasterKey {
    /// From 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BadKey> {
        let root: Zeroizing<[u8; 32]> = Zeroizing::new(
            bytes
                .try_into()
                .map_err(|_| BadKey(format!("must be 32 bytes, got {}", bytes.len())))?,
        );
        let mut id = [0u8; 6];
        derive(&root, b"key-id", &mut id);
        let mut seal = Zeroizing::new([0u8; 32]);
        derive(&root, b"seal", &mut seal[..]);
        let mut mac = Zeroizing::new([0u8; 32]);
        derive(&root, b"mac", &mut mac[..]);
        Ok(MasterKey {
            id: id.iter().map(|b| format!("{b:02x}")).collect(),
            seal,
            mac,
            legacy: Box::new(Aes256Gcm::new_from_slice(&root[..]).expect("32 bytes")),
        })
    }

    /// From base64 text (as in a key file or an environment variable).
    pub fn from_base64(text: &str) -> Result<Self, BadKey> {
        let bytes = Zeroizing::new(
            B64.decode(text.trim())
                .map_err(|e| BadKey(format!("not base64: {e}")))?,
        );
        Self::from_bytes(&bytes)
    }

    /// A fresh random key and its base64 text (for a key file).
    pub fn generate() -> (Self, Zeroizing<String>) {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(&mut bytes[..]);
        let key = Self::from_bytes(&bytes[..]).expect("32 bytes");
        (key, Zeroizing::new(B64.encode(&bytes[..])))
    }

    /// The public id of this key (12 hex digits), named in every value it
    /// seals or tags.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn value_key(&self, salt: &[u8]) -> Aes256Gcm {
        let mut k = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(Some(salt), &self.seal[..])
            .expand(b"connhost:value:v2", &mut k[..])
            .expect("32 bytes");
        Aes256Gcm::new_from_slice(&k[..]).expect("32 bytes")
    }

    fn bound_aad(&self, aad: &[u8]) -> Vec<u8> {
        let mut a = format!("{PREFIX}{}.", self.id).into_bytes();
        a.extend_from_slice(aad);
        a
    }

    /// Encrypts `plaintext`, bound to `aad`: `v2.<kid>.<salt‖nonce‖ct‖tag>`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> String {
        let mut salt_nonce = [0u8; 16 + 12];
        rand::rng().fill_bytes(&mut salt_nonce);
        let (salt, nonce) = salt_nonce.split_at(16);
        let ct = self
            .value_key(salt)
            .encrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: plaintext,
                    aad: &self.bound_aad(aad),
                },
            )
            .expect("AES-GCM encryption of in-memory data");
        let mut raw = salt_nonce.to_vec();
        raw.extend(ct);
        format!("{PREFIX}{}.{}", self.id, B64URL.encode(raw))
    }

    fn open_own(&self, data: &str, aad: &[u8]) -> Result<Vec<u8>, OpenError> {
        let raw = B64URL.decode(data).map_err(|_| OpenError::Invalid)?;
        if raw.len() < 16 + 12 + 16 {
            return Err(OpenError::Invalid);
        }
        let (salt, rest) = raw.split_at(16);
        let (nonce, ct) = rest.split_at(12);
        self.value_key(salt)
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: &self.bound_aad(aad),
                },
            )
            .map_err(|_| OpenError::Invalid)
    }

    fn open_legacy(&self, sealed: &str, aad: &[u8]) -> Option<Vec<u8>> {
        let raw = B64.decode(sealed).ok()?;
        if raw.len() < 12 + 16 {
            return None;
        }
        let (nonce, ct) = raw.split_at(12);
        self.legacy
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .ok()
    }

    fn hmac(&self, message: &[u8]) -> Hmac<Sha256> {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.mac[..]).expect("any length");
        m.update(message);
        m
    }

    /// An HMAC-SHA256 tag over `message`: `v2.<kid>.<tag>`.
    pub fn tag(&self, message: &[u8]) -> String {
        let t = self.hmac(message).finalize().into_bytes();
        format!("{PREFIX}{}.{}", self.id, B64URL.encode(t))
    }
}

/// Splits `v2.<kid>.<data>`; `None` for a value from before key ids.
fn split(value: &str) -> Option<(&str, &str)> {
    value.strip_prefix(PREFIX)?.split_once('.')
}

/// The key id a sealed value or tag names (`None`: from before key ids).
pub fn key_id_of(value: &str) -> Option<&str> {
    split(value).map(|(kid, _)| kid)
}

/// The keys a store opens values with: the primary one seals and tags;
/// others (only while a rotation runs) still open what they made.
#[derive(Clone, Debug)]
pub struct KeyRing {
    primary: MasterKey,
    others: Vec<MasterKey>,
}

impl KeyRing {
    pub fn new(primary: MasterKey) -> Self {
        KeyRing {
            primary,
            others: Vec::new(),
        }
    }

    /// A ring that also opens values made with `old`.
    pub fn with_old(primary: MasterKey, old: MasterKey) -> Self {
        KeyRing {
            primary,
            others: vec![old],
        }
    }

    pub fn primary(&self) -> &MasterKey {
        &self.primary
    }

    fn by_id(&self, kid: &str) -> Result<&MasterKey, OpenError> {
        std::iter::once(&self.primary)
            .chain(&self.others)
            .find(|k| k.id == kid)
            .ok_or_else(|| OpenError::OtherKey(kid.to_string()))
    }

    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> String {
        self.primary.seal(plaintext, aad)
    }

    pub fn open(&self, sealed: &str, aad: &[u8]) -> Result<Vec<u8>, OpenError> {
        match split(sealed) {
            Some((kid, data)) => self.by_id(kid)?.open_own(data, aad),
            None => std::iter::once(&self.primary)
                .chain(&self.others)
                .find_map(|k| k.open_legacy(sealed, aad))
                .ok_or(OpenError::Invalid),
        }
    }

    pub fn tag(&self, message: &[u8]) -> String {
        self.primary.tag(message)
    }

    /// Checks a tag in constant time.
    pub fn check(&self, message: &[u8], tag: &str) -> Result<(), OpenError> {
        match split(tag) {
            Some((kid, data)) => {
                let raw = B64URL.decode(data).map_err(|_| OpenError::Invalid)?;
                self.by_id(kid)?
                    .hmac(message)
                    .verify_slice(&raw)
                    .map_err(|_| OpenError::Invalid)
            }
            // Before key ids, a tag was a GMAC: AES-GCM of nothing.
            None => self.open(tag, message).map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> MasterKey {
        MasterKey::from_bytes(&[b; 32]).unwrap()
    }

    #[test]
    fn bad_keys_are_explained() {
        assert!(MasterKey::from_base64("not base64!")
            .unwrap_err()
            .0
            .contains("base64"));
        assert!(MasterKey::from_base64("AAAA")
            .unwrap_err()
            .0
            .contains("32 bytes"));
    }

    #[test]
    fn values_are_bound_to_aad_and_name_their_key() {
        let ring = KeyRing::new(key(1));
        let sealed = ring.seal(b"v", b"a");
        assert_eq!(key_id_of(&sealed), Some(key(1).id()));
        assert_eq!(ring.open(&sealed, b"a").unwrap(), b"v");
        assert_eq!(ring.open(&sealed, b"b"), Err(OpenError::Invalid));
        // Two seals of one value differ (fresh salt and nonce).
        assert_ne!(sealed, ring.seal(b"v", b"a"));
        let other = KeyRing::new(key(2));
        assert_eq!(
            other.open(&sealed, b"a"),
            Err(OpenError::OtherKey(key(1).id().into()))
        );
        assert!(!format!("{:?}", key(1)).contains("legacy"));
    }

    #[test]
    fn short_or_truncated_values_are_invalid_never_a_panic() {
        let ring = KeyRing::new(key(1));
        // Salt (16) + nonce (12) + GCM tag (16) is the least a value holds.
        for n in 0..=44 {
            let short = format!("{PREFIX}{}.{}", key(1).id(), B64URL.encode(vec![0u8; n]));
            assert_eq!(
                ring.open(&short, b"a"),
                Err(OpenError::Invalid),
                "{n} bytes"
            );
        }
    }

    #[test]
    fn a_bad_key_says_why_and_a_key_shows_only_its_id() {
        assert_eq!(BadKey("why".into()).to_string(), "why");
        assert_eq!(
            format!("{:?}", key(1)),
            format!("MasterKey({})", key(1).id())
        );
    }

    #[test]
    fn a_forged_key_id_does_not_open_with_the_named_key() {
        let ring = KeyRing::with_old(key(2), key(1));
        let sealed = key(1).seal(b"v", b"a");
        let forged = sealed.replace(key(1).id(), key(2).id());
        assert_eq!(ring.open(&forged, b"a"), Err(OpenError::Invalid));
        assert_eq!(ring.open(&sealed, b"a").unwrap(), b"v");
    }

    #[test]
    fn tags_check_and_old_keys_are_named() {
        let ring = KeyRing::new(key(1));
        let t = ring.tag(b"msg");
        assert_eq!(t, ring.tag(b"msg"), "deterministic");
        assert!(ring.check(b"msg", &t).is_ok());
        assert_eq!(ring.check(b"msG", &t), Err(OpenError::Invalid));
        assert_eq!(
            KeyRing::new(key(2)).check(b"msg", &t),
            Err(OpenError::OtherKey(key(1).id().into()))
        );
        assert!(KeyRing::with_old(key(2), key(1)).check(b"msg", &t).is_ok());
    }

    #[test]
    fn values_from_before_key_ids_still_open() {
        // The 0.2 format: base64(nonce ‖ AES-GCM under the root key).
        let root = Aes256Gcm::new_from_slice(&[1; 32]).unwrap();
        let nonce = [7u8; 12];
        let ct = root
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: b"old",
                    aad: b"a",
                },
            )
            .unwrap();
        let legacy = B64.encode([&nonce[..], &ct].concat());
        let ring = KeyRing::new(key(1));
        assert_eq!(ring.open(&legacy, b"a").unwrap(), b"old");
        assert_eq!(key_id_of(&legacy), None);
        let gmac = root
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: b"",
                    aad: b"m",
                },
            )
            .unwrap();
        let tag = B64.encode([&nonce[..], &gmac].concat());
        assert!(ring.check(b"m", &tag).is_ok());
        assert!(ring.check(b"n", &tag).is_err());
    }
}
