//! Provider definitions: data for data-driven connectors, by id.

use super::Store;
use crate::error::{Error, Result};
use crate::util::write_atomic;

impl Store {
    /// Stores a provider definition (JSON text) under `id`.
    pub fn put_provider(&self, id: &str, json: &str) -> Result<()> {
        if !connhost_policy::ids::is_safe(id, 64) {
            return Err(Error::invalid(
                "id",
                "a provider id must match [A-Za-z0-9_-]{1,64}",
            ));
        }
        let path = self.path_of("providers", id, "json", "provider")?;
        write_atomic(&path, json.as_bytes(), false)
    }

    /// A stored provider definition's JSON text, if there is one.
    pub fn provider(&self, id: &str) -> Result<Option<String>> {
        let Ok(path) = self.path_of("providers", id, "json", "provider") else {
            return Ok(None);
        };
        match std::fs::read_to_string(&path) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("read {}", path.display()))(e)),
        }
    }

    /// Ids of stored provider definitions.
    pub fn providers(&self) -> Result<Vec<String>> {
        self.ids("providers", "json")
    }
}
