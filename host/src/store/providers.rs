//! Provider definitions: data for data-driven connectors, kept per team
//! (`providers/<team>/<id>.json`): one team's definition can never be
//! what another team's connection resolves to.

use super::Store;
use crate::error::{Error, Result};
use crate::util::write_atomic;
use std::path::PathBuf;

impl Store {
    fn provider_path(&self, team: &str, id: &str) -> Result<PathBuf> {
        if !connhost_policy::ids::is_safe(team, 64) {
            return Err(Error::invalid("team", "must match [A-Za-z0-9_-]{1,64}"));
        }
        if !connhost_policy::ids::is_safe(id, 64) {
            return Err(Error::invalid(
                "definition.id",
                "a provider id must match [A-Za-z0-9_-]{1,64}",
            ));
        }
        Ok(self
            .home
            .join("providers")
            .join(team)
            .join(format!("{id}.json")))
    }

    /// Stores `team`'s provider definition (JSON text) under `id`.
    pub fn put_provider(&self, team: &str, id: &str, json: &str) -> Result<()> {
        write_atomic(&self.provider_path(team, id)?, json.as_bytes(), true)
    }

    /// `team`'s provider definition with that id, if there is one.
    pub fn provider(&self, team: &str, id: &str) -> Result<Option<String>> {
        let Ok(path) = self.provider_path(team, id) else {
            return Ok(None);
        };
        match std::fs::read_to_string(&path) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("read {}", path.display()))(e)),
        }
    }

    /// Removes `team`'s provider definition; `false` if there was none.
    pub fn remove_provider(&self, team: &str, id: &str) -> Result<bool> {
        let path = self.provider_path(team, id)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(format!("delete {}", path.display()))(e)),
        }
    }

    /// Ids of `team`'s provider definitions.
    pub fn providers(&self, team: &str) -> Result<Vec<String>> {
        if !connhost_policy::ids::is_safe(team, 64) {
            return Ok(Vec::new());
        }
        self.ids(&format!("providers/{team}"), "json")
    }
}
