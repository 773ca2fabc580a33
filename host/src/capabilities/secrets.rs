//! The `secrets` capability: storage scoped to the one connection a call
//! works on. The scope is opened from the store (decrypted) before the
//! call and sealed back only if the operation succeeds, so a component can
//! neither see another connection's secrets nor leave half a change behind.

use crate::bindings::secrets;
use std::collections::BTreeMap;
use std::fmt;
use wasmtime::component::{HasData, Linker};

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
    /// Whether the component set or removed anything.
    pub fn changed(&self) -> bool {
        self.changed
    }
    /// Names the component read in plain text, in order.
    pub fn reveals(&self) -> &[String] {
        &self.reveals
    }
}

/// What the capability works on for one call: the connection's scope.
pub struct SecretsView<'a> {
    /// Connection id, for log fields.
    pub connection: &'a str,
    pub scope: &'a mut SecretScope,
}

impl secrets::Host for SecretsView<'_> {
    #[tracing::instrument(name = "secrets.has", skip(self), fields(connection = %self.connection))]
    async fn has(&mut self, name: String) -> wasmtime::Result<bool> {
        Ok(self.scope.values.contains_key(&name))
    }

    #[tracing::instrument(name = "secrets.set", skip(self, value), fields(connection = %self.connection))]
    async fn set(&mut self, name: String, value: String) -> wasmtime::Result<()> {
        self.scope.values.insert(name, Secret::new(value));
        self.scope.changed = true;
        Ok(())
    }

    #[tracing::instrument(name = "secrets.remove", skip(self), fields(connection = %self.connection))]
    async fn remove(&mut self, name: String) -> wasmtime::Result<()> {
        if self.scope.values.remove(&name).is_some() {
            self.scope.changed = true;
        }
        Ok(())
    }

    #[tracing::instrument(name = "secrets.reveal", skip(self), fields(connection = %self.connection))]
    async fn reveal(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        // Recorded by name only: the value never reaches a log.
        tracing::info!("secret revealed to plugin");
        self.scope.reveals.push(name.clone());
        Ok(self.scope.values.get(&name).map(|s| s.expose().to_string()))
    }
}

struct HasSecrets;
impl HasData for HasSecrets {
    type Data<'a> = SecretsView<'a>;
}

/// Adds `connhost:connector/secrets` to `linker`; `view` picks the call's
/// scope out of the store data.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> SecretsView<'_>,
) -> wasmtime::Result<()> {
    secrets::add_to_linker::<T, HasSecrets>(linker, view)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrets::Host as _;

    #[test]
    fn debug_redacts() {
        let scope = SecretScope::new(BTreeMap::from([("k".into(), Secret::new("hunter2"))]));
        assert!(!format!("{scope:?}").contains("hunter2"));
        assert!(format!("{scope:?}").contains("redacted"));
    }

    #[tokio::test]
    async fn set_remove_reveal_track_changes_and_names() {
        let mut scope = SecretScope::new(BTreeMap::from([("k".into(), Secret::new("v"))]));
        let mut view = SecretsView {
            connection: "conn_x",
            scope: &mut scope,
        };
        assert!(view.has("k".into()).await.unwrap());
        assert_eq!(view.reveal("k".into()).await.unwrap().as_deref(), Some("v"));
        view.remove("missing".into()).await.unwrap();
        assert!(!scope.changed());
        let mut view = SecretsView {
            connection: "conn_x",
            scope: &mut scope,
        };
        view.set("t".into(), "tok".into()).await.unwrap();
        assert!(scope.changed());
        assert_eq!(scope.reveals(), ["k"]);
        assert_eq!(scope.get("t").unwrap().expose(), "tok");
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
