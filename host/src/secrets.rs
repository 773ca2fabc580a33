//! The `secrets` capability: storage scoped to the one connection a call
//! works on. The scope is loaded from the store (decrypted) before the call
//! and written back (encrypted) only if the operation succeeds, so a
//! component can neither see another connection's secrets nor leave half a
//! change behind.

use crate::bindings::secrets;
use crate::runtime::PluginState;
use std::collections::BTreeMap;
use std::fmt;

/// A secret value; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The plain value. Call sites are few and named: HTTP substitution,
    /// `reveal`, and encryption.
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
    pub fn new(values: BTreeMap<String, Secret>) -> Self {
        SecretScope {
            values,
            changed: false,
            reveals: Vec::new(),
        }
    }
    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.values.get(name)
    }
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }
    pub fn values(&self) -> &BTreeMap<String, Secret> {
        &self.values
    }
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

impl secrets::Host for PluginState {
    async fn has(&mut self, name: String) -> wasmtime::Result<bool> {
        Ok(self.secrets.values.contains_key(&name))
    }

    async fn set(&mut self, name: String, value: String) -> wasmtime::Result<()> {
        tracing::debug!(connection = %self.connection_id, secret = %name, "secret set");
        self.secrets.values.insert(name, Secret(value));
        self.secrets.changed = true;
        Ok(())
    }

    async fn remove(&mut self, name: String) -> wasmtime::Result<()> {
        if self.secrets.values.remove(&name).is_some() {
            self.secrets.changed = true;
        }
        Ok(())
    }

    async fn reveal(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        // Recorded by name only: the value never reaches a log.
        tracing::info!(connection = %self.connection_id, secret = %name, "secret revealed to plugin");
        self.secrets.reveals.push(name.clone());
        Ok(self.secrets.values.get(&name).map(|s| s.0.clone()))
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
}
