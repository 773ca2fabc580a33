//! Provider definitions (`Definition::parse` in the generic connector):
//! arbitrary JSON is accepted or refused with `invalid-input` naming the
//! field, never a panic.

#![no_main]

// The generic connector is a cdylib component; its definition module is
// plain Rust over the SDK's types, so it is compiled in here as is.
#[allow(dead_code)]
#[path = "../../../component/generic/src/definition.rs"]
mod definition;
#[allow(dead_code)]
#[path = "../../../component/generic/src/template.rs"]
mod template;
#[allow(dead_code)]
#[path = "../../../component/generic/src/spec.rs"]
mod spec;
#[path = "../../../component/generic/src/validate.rs"]
mod validate;
/// The shipped definitions are the unit tests' to check; none here.
mod shipped {
    pub const SHIPPED: &[(&str, &str)] = &[];
}

use connhost_policy::{Origin, OriginPattern};
use connhost_sdk::ConnectorError;
use definition::Definition;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = std::str::from_utf8(data) else {
        return;
    };
    let d = match Definition::parse(json) {
        Ok(d) => d,
        Err(ConnectorError::InvalidInput(f)) => {
            assert!(
                f.field == "definition" || f.field.starts_with("definition."),
                "error names {:?}",
                f.field
            );
            return;
        }
        Err(e) => panic!("not invalid-input: {e:?}"),
    };
    // Accepted: it writes out and reads back the same.
    let text = serde_json::to_string(&d).expect("serialize");
    let again = Definition::parse(&text).expect("a written definition parses");
    assert_eq!(serde_json::to_string(&again).unwrap(), text);
    // What it may call is what the host accepts as approved origins:
    // exact origins or bounded patterns, never `{definition}`/`{issuer}`.
    for o in d.origin_patterns() {
        match OriginPattern::parse(&o) {
            Ok(OriginPattern::Exact(_) | OriginPattern::Subdomains { .. } | OriginPattern::Field(_)) => {}
            other => panic!("origin {o:?} of an accepted definition refused by the host: {other:?}"),
        }
    }
    // Filled with values that pass their rules, every origin is a bare one.
    let values: std::collections::BTreeMap<String, String> = d
        .fields
        .iter()
        .filter_map(|(name, decl)| {
            let v = decl.default.clone().or(decl.one_of.first().cloned())?;
            Some((name.clone(), v))
        })
        .collect();
    if values.len() == d.fields.len() {
        for o in d.origins(&values, None) {
            if let Err(e) = Origin::parse_bare(&o) {
                panic!("origin {o:?} of an accepted definition refused by the host: {e}");
            }
        }
    }
});
