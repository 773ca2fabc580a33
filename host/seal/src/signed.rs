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

fn message<T: Signed>(doc: &T) -> Vec<u8> {
    let mut copy = doc.clone();
    copy.integrity().clear();
    let mut m = T::DOMAIN.to_vec();
    m.extend(serde_json::to_vec(&copy).expect("document serializes"));
    m
}

/// Tags `doc` with the ring's primary key and returns its JSON.
pub fn encode<T: Signed>(keys: &KeyRing, doc: &mut T) -> Vec<u8> {
    doc.integrity().clear();
    *doc.integrity() = keys.tag(&message(doc));
    serde_json::to_vec_pretty(doc).expect("document serializes")
}

/// Reads a document, refusing it unless its tag and id check out.
pub fn decode<T: Signed>(keys: &KeyRing, bytes: &[u8], id: &str) -> Result<T, SignedError> {
    let mut doc: T =
        serde_json::from_slice(bytes).map_err(|e| SignedError::Corrupt(e.to_string()))?;
    let tag = doc.integrity().clone();
    if doc.id() != id {
        return Err(SignedError::Tampered);
    }
    match keys.check(&message(&doc), &tag) {
        Ok(()) => Ok(doc),
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
}
