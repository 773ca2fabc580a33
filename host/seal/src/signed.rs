//! Documents that carry a tag over their own JSON: editing any field, or
//! moving a document to another id, makes it refuse to load. Pure
//! encoding and decoding; the store does the file I/O.

use crate::{KeyRing, OpenError};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A stored document with an integrity tag.
pub trait Signed: Serialize + DeserializeOwned + Clone {
    /// Domain separation for the tag.
    const DOMAIN: &'static [u8];
    /// What it is, for "not found" errors.
    const WHAT: &'static str;
    fn id(&self) -> &str;
    fn integrity(&mut self) -> &mut String;
}

/// Why a document was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum SignedError {
    /// Not a document of this kind (the parser's words).
    Corrupt(String),
    /// Its tag does not check out, or it names another id.
    Tampered,
    /// Tagged with a key this store does not hold (its id).
    OtherKey(String),
}

/// A document's write counter travels in its integrity field, in front of
/// the tag (`@<version>:<tag>`), and is part of what the tag covers; a
/// document without one (every document from before versions, and the
/// kinds that keep their own) is version 0 and reads as it always did.
/// `None`: a version prefix that does not parse.
fn split_version(integrity: &str) -> Option<(u64, &str)> {
    match integrity.strip_prefix('@') {
        None => Some((0, integrity)),
        Some(rest) => {
            let (n, tag) = rest.split_once(':')?;
            let n: u64 = n.parse().ok().filter(|n| *n > 0)?;
            Some((n, tag))
        }
    }
}

/// The version a document was tagged at (0: none), from its integrity
/// field as read; not checked until [`decode`].
pub fn version_of<T: Signed>(doc: &mut T) -> u64 {
    split_version(doc.integrity()).map_or(0, |(n, _)| n)
}

fn message<T: Signed>(doc: &T, version: u64) -> Vec<u8> {
    let mut copy = doc.clone();
    copy.integrity().clear();
    let mut m = T::DOMAIN.to_vec();
    if version > 0 {
        m.extend(format!("@{version}:").as_bytes());
    }
    m.extend(serde_json::to_vec(&copy).expect("document serializes"));
    m
}

/// Tags `doc` with the ring's primary key and returns its JSON; the
/// version it was at stays (a re-tag, as in key rotation, is not a write).
pub fn encode<T: Signed>(keys: &KeyRing, doc: &mut T) -> Vec<u8> {
    let version = version_of(doc);
    encode_at(keys, doc, version)
}

/// Tags `doc` at `version` (0: no version, the old form).
pub fn encode_at<T: Signed>(keys: &KeyRing, doc: &mut T, version: u64) -> Vec<u8> {
    doc.integrity().clear();
    let tag = keys.tag(&message(doc, version));
    *doc.integrity() = if version > 0 {
        format!("@{version}:{tag}")
    } else {
        tag
    };
    serde_json::to_vec_pretty(doc).expect("document serializes")
}

/// Reads a document, refusing it unless its tag and id check out.
pub fn decode<T: Signed>(keys: &KeyRing, bytes: &[u8], id: &str) -> Result<T, SignedError> {
    decode_at(keys, bytes, id).map(|(doc, _)| doc)
}

/// [`decode`], with the version the document was tagged at.
pub fn decode_at<T: Signed>(
    keys: &KeyRing,
    bytes: &[u8],
    id: &str,
) -> Result<(T, u64), SignedError> {
    let mut doc: T =
        serde_json::from_slice(bytes).map_err(|e| SignedError::Corrupt(e.to_string()))?;
    let integrity = doc.integrity().clone();
    if doc.id() != id {
        return Err(SignedError::Tampered);
    }
    let (version, tag) = split_version(&integrity).ok_or(SignedError::Tampered)?;
    match keys.check(&message(&doc, version), tag) {
        Ok(()) => Ok((doc, version)),
        Err(OpenError::OtherKey(kid)) => Err(SignedError::OtherKey(kid)),
        Err(OpenError::Invalid) => Err(SignedError::Tampered),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MasterKey;
    use serde::Deserialize;

    #[derive(Clone, Serialize, Deserialize)]
    struct Doc {
        id: String,
        n: u32,
        #[serde(default)]
        integrity: String,
    }
    impl Signed for Doc {
        const DOMAIN: &'static [u8] = b"test:";
        const WHAT: &'static str = "doc";
        fn id(&self) -> &str {
            &self.id
        }
        fn integrity(&mut self) -> &mut String {
            &mut self.integrity
        }
    }

    #[test]
    fn an_unversioned_tag_is_the_old_form_and_a_version_0_prefix_is_refused() {
        let keys = KeyRing::new(MasterKey::from_bytes(&[1; 32]).unwrap());
        let mut d = Doc {
            id: "a".into(),
            n: 1,
            integrity: String::new(),
        };
        let bytes = encode_at(&keys, &mut d, 0);
        // The tag a store from before versions wrote: domain ‖ JSON.
        let mut old = b"test:".to_vec();
        old.extend(br#"{"id":"a","n":1,"integrity":""}"#);
        assert_eq!(d.integrity, keys.tag(&old));
        assert_eq!(decode_at::<Doc>(&keys, &bytes, "a").unwrap().1, 0);
        // `@0:` is no version at all: refused, not read as version 0.
        let text = String::from_utf8(bytes).unwrap();
        let zero = text.replace(&d.integrity, &format!("@0:{}", d.integrity));
        assert_eq!(
            decode::<Doc>(&keys, zero.as_bytes(), "a").err(),
            Some(SignedError::Tampered)
        );
    }

    #[test]
    fn edits_moves_and_other_keys_are_refused() {
        let keys = KeyRing::new(MasterKey::from_bytes(&[1; 32]).unwrap());
        let mut d = Doc {
            id: "a".into(),
            n: 1,
            integrity: String::new(),
        };
        let bytes = encode(&keys, &mut d);
        assert_eq!(decode::<Doc>(&keys, &bytes, "a").unwrap().n, 1);
        assert_eq!(
            decode::<Doc>(&keys, &bytes, "b").err(),
            Some(SignedError::Tampered)
        );
        let edited = String::from_utf8(bytes.clone())
            .unwrap()
            .replace("\"n\": 1", "\"n\": 2");
        assert_eq!(
            decode::<Doc>(&keys, edited.as_bytes(), "a").err(),
            Some(SignedError::Tampered)
        );
        let other = KeyRing::new(MasterKey::from_bytes(&[2; 32]).unwrap());
        assert!(matches!(
            decode::<Doc>(&other, &bytes, "a"),
            Err(SignedError::OtherKey(_))
        ));
        assert!(matches!(
            decode::<Doc>(&keys, b"{", "a"),
            Err(SignedError::Corrupt(_))
        ));
    }

    #[test]
    fn the_version_is_covered_by_the_tag_and_kept_by_a_re_tag() {
        let keys = KeyRing::new(MasterKey::from_bytes(&[1; 32]).unwrap());
        let mut d = Doc {
            id: "a".into(),
            n: 1,
            integrity: String::new(),
        };
        let old_form = encode(&keys, &mut d);
        assert_eq!(decode_at::<Doc>(&keys, &old_form, "a").unwrap().1, 0);
        let v3 = encode_at(&keys, &mut d, 3);
        let (mut back, v) = decode_at::<Doc>(&keys, &v3, "a").unwrap();
        assert_eq!(v, 3);
        assert_eq!(version_of(&mut back), 3);
        // Another version claimed over the same tag is refused.
        let text = String::from_utf8(v3.clone()).unwrap();
        for forged in [text.replace("\"@3:", "\"@9:"), text.replace("\"@3:", "\"")] {
            assert_eq!(
                decode_at::<Doc>(&keys, forged.as_bytes(), "a").err(),
                Some(SignedError::Tampered),
                "{forged}"
            );
        }
        // A re-tag (key rotation) keeps the version.
        let other = KeyRing::new(MasterKey::from_bytes(&[2; 32]).unwrap());
        let retagged = encode(&other, &mut back);
        assert_eq!(decode_at::<Doc>(&other, &retagged, "a").unwrap().1, 3);
    }
}
