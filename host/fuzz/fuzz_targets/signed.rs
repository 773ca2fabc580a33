//! The signed-document reader and the sealed-value opener on arbitrary
//! bytes: never a panic; a document that loads re-encodes to one that
//! loads the same; nothing made up opens or checks without the key.
#![no_main]

use connhost_seal::signed::{decode, encode, Signed, SignedError};
use connhost_seal::{KeyRing, MasterKey, OpenError};
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Doc {
    id: String,
    fields: std::collections::BTreeMap<String, String>,
    version: u64,
    #[serde(default)]
    integrity: String,
}

impl Signed for Doc {
    const DOMAIN: &'static [u8] = b"fuzz:";
    const WHAT: &'static str = "doc";
    fn id(&self) -> &str {
        &self.id
    }
    fn integrity(&mut self) -> &mut String {
        &mut self.integrity
    }
}

fuzz_target!(|data: &[u8]| {
    let keys = KeyRing::new(MasterKey::from_bytes(&[7; 32]).unwrap());
    match decode::<Doc>(&keys, data, "a") {
        // Forging a tag by chance is out of reach: a document that loads
        // means the input held a real tag, which the fuzzer cannot make.
        Ok(doc) => panic!("a made-up document loaded: {doc:?}"),
        Err(SignedError::Corrupt(_) | SignedError::Tampered | SignedError::OtherKey(_)) => {}
    }
    // A parsed document, tagged by us, loads back identically.
    if let Ok(mut doc) = serde_json::from_slice::<Doc>(data) {
        doc.id = "a".into();
        let bytes = encode(&keys, &mut doc);
        let back: Doc = decode(&keys, &bytes, "a").expect("own document loads");
        assert_eq!(back, doc);
        assert!(decode::<Doc>(&keys, &bytes, "b").is_err(), "moved to another id");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        assert!(keys.check(b"m", text).is_err(), "a made-up tag checked");
        match keys.open(text, b"aad") {
            Ok(_) => panic!("a made-up value opened"),
            Err(OpenError::Invalid | OpenError::OtherKey(_)) => {}
        }
    }
});
