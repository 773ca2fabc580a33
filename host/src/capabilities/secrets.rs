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
}
