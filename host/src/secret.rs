//! Secret values in memory: a value whose `Debug` never shows it, the
//! secrets of one connection for the length of a call, and the scrubbing
//! of those values out of text. The store seals them; the `secrets`
//! capability hands them to a component; neither layer owns the type.

use std::collections::BTreeMap;
use std::fmt;

/// A secret value; `Debug` never shows it, and its memory is wiped when
/// it is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(zeroize::Zeroizing<String>);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(zeroize::Zeroizing::new(value.into()))
    }
    /// The plain value. Call sites are few and named: HTTP substitution,
    /// `reveal`, and sealing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What stands where a secret was.
pub const REDACTED: &str = "[redacted]";

/// Runs of base64 (standard or URL-safe) that decode to text holding one
/// of `values`, replaced.
fn scrub_base64(text: &str, values: &[&str]) -> String {
    use base64::Engine as _;
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || "+/=_-".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let trimmed = run.trim_end_matches('=');
        let decoded = [
            base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed),
        ]
        .into_iter()
        .flatten()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .any(|d| values.iter().any(|v| d.contains(v)));
        if run.len() >= 8 && decoded {
            out.push_str(REDACTED);
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if is_b64(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// The secrets of one connection, in memory for the length of a call.
#[derive(Clone, Debug, Default)]
pub struct SecretScope {
    values: BTreeMap<String, Secret>,
    changed: bool,
    reveals: Vec<String>,
}

impl SecretScope {
    /// A scope holding `values`, unchanged so far.
    pub fn new(values: BTreeMap<String, Secret>) -> Self {
        SecretScope {
            values,
            changed: false,
            reveals: Vec::new(),
        }
    }
    /// One secret by name.
    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.values.get(name)
    }
    /// All values.
    /// `text` with every value of this scope taken out: as is,
    /// form-encoded, and inside base64 (a Basic header a provider echoed).
    /// Providers repeat what they were sent in their errors; what a
    /// connector reports reaches logs, records and people.
    pub fn scrub(&self, text: &str) -> String {
        // Shorter values (a fixed `X` password) are no secret and would
        // mangle ordinary words.
        const MIN: usize = 6;
        let values: Vec<&str> = self
            .values
            .values()
            .map(|s| s.expose())
            .filter(|v| v.len() >= MIN)
            .collect();
        if values.is_empty() {
            return text.to_string();
        }
        // Each value as is and form-encoded (RFC 6749 §2.3.1 encodes a
        // client secret before Basic's base64).
        let mut forms: Vec<String> = Vec::new();
        for v in &values {
            let encoded: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
            forms.extend([v.to_string(), encoded.replace('+', "%20"), encoded]);
        }
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        forms.dedup();
        let mut out = text.to_string();
        for form in &forms {
            out = out.replace(form.as_str(), REDACTED);
        }
        let forms: Vec<&str> = forms.iter().map(String::as_str).collect();
        scrub_base64(&out, &forms)
    }

    pub fn values(&self) -> &BTreeMap<String, Secret> {
        &self.values
    }
    /// The values, consuming the scope.
    pub fn into_values(self) -> BTreeMap<String, Secret> {
        self.values
    }
    /// Sets `name` (the component's `secrets.set`).
    pub(crate) fn set(&mut self, name: String, value: Secret) {
        self.values.insert(name, value);
        self.changed = true;
    }
    /// Removes `name`; whether it was there.
    pub(crate) fn remove(&mut self, name: &str) -> bool {
        let had = self.values.remove(name).is_some();
        self.changed |= had;
        had
    }
    /// `name` in plain text, recorded by name (the component's `secrets.reveal`).
    pub(crate) fn reveal(&mut self, name: &str) -> Option<&Secret> {
        self.reveals.push(name.to_string());
        self.values.get(name)
    }
    /// Whether the component set or removed anything.
    pub fn changed(&self) -> bool {
        self.changed
    }
    /// Names the component read in plain text, in order.
    pub fn reveals(&self) -> &[String] {
        &self.reveals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts() {
        let scope = SecretScope::new(BTreeMap::from([("k".into(), Secret::new("hunter2"))]));
        assert!(!format!("{scope:?}").contains("hunter2"));
        assert!(format!("{scope:?}").contains("redacted"));
    }

    #[test]
    fn scrub_takes_out_values_encoded_and_in_base64() {
        use base64::Engine as _;
        let scope = SecretScope::new(BTreeMap::from([
            ("client_secret".into(), Secret::new("s3cr:et/+%&=x")),
            ("short".into(), Secret::new("X")),
        ]));
        let basic = base64::engine::general_purpose::STANDARD.encode("client-id:s3cr:et/+%&=x");
        let basic_encoded =
            base64::engine::general_purpose::STANDARD.encode("client-id:s3cr%3Aet%2F%2B%25%26%3Dx");
        let form: String = url::form_urlencoded::byte_serialize(b"s3cr:et/+%&=x").collect();
        let text = format!(
            "bad client s3cr:et/+%&=x; body client_secret={form}; header Basic {basic} or {basic_encoded}; X stays"
        );
        let clean = scope.scrub(&text);
        assert!(!clean.contains("s3cr"), "{clean}");
        for leaked in [&form, &basic, &basic_encoded] {
            assert!(!clean.contains(leaked.as_str()), "{clean}");
        }
        assert_eq!(clean.matches(REDACTED).count(), 4, "{clean}");
        assert!(clean.ends_with("X stays"), "{clean}");
        assert_eq!(scope.scrub("nothing here"), "nothing here");
    }
}
