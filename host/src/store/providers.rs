//! Provider definitions: data for data-driven connectors, kept per team
//! (`providers/<team>/<id>.json`): one team's definition can never be
//! what another team's connection resolves to.

use super::signed::Signed;
use super::versions::{State, Versioned};
use super::Store;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// A definition as stored: tagged, and bound to its team and id, so one
/// edited or copied from another team's folder is refused.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct ProviderDoc {
    /// `team/id`.
    id: String,
    definition: String,
    /// The origins approved when it was added (`allowed-origins`).
    #[serde(default)]
    origins: Vec<String>,
    #[serde(default)]
    integrity: String,
}

impl Signed for ProviderDoc {
    const DOMAIN: &'static [u8] = b"connhost:provider:v1:";
    const WHAT: &'static str = "provider";
    fn id(&self) -> &str {
        &self.id
    }
    fn integrity(&mut self) -> &mut String {
        &mut self.integrity
    }
}

impl Versioned for ProviderDoc {
    const KIND: &'static str = "provider";
}

impl Store {
    fn provider_path(&self, team: &str, id: &str) -> Result<String> {
        if !connhost_policy::ids::is_safe(team, 64) {
            return Err(Error::invalid("team", "must match [A-Za-z0-9_-]{1,64}"));
        }
        if !connhost_policy::ids::is_safe(id, 64) {
            return Err(Error::invalid(
                "definition.id",
                "a provider id must match [A-Za-z0-9_-]{1,64}",
            ));
        }
        Ok(format!("providers/{team}/{id}.json"))
    }

    /// Stores `team`'s provider definition (JSON text) under `id`, with
    /// the origins approved for it.
    pub fn put_provider(&self, team: &str, id: &str, json: &str, origins: &[String]) -> Result<()> {
        let mut doc = ProviderDoc {
            id: format!("{team}/{id}"),
            definition: json.to_string(),
            origins: origins.to_vec(),
            integrity: String::new(),
        };
        let _guard = self.guard()?;
        self.versions.put(&self.provider_path(team, id)?, &mut doc)
    }

    /// `team`'s provider definition with that id and its approved
    /// origins, if there is one.
    pub fn provider(&self, team: &str, id: &str) -> Result<Option<(String, Vec<String>)>> {
        let Ok(path) = self.provider_path(team, id) else {
            return Ok(None);
        };
        match self
            .versions
            .get::<ProviderDoc>(&path, &format!("{team}/{id}"))
        {
            Ok(doc) => Ok(Some((doc.definition, doc.origins))),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes `team`'s provider definition; `false` if there was none.
    /// Its file put back later stays removed.
    pub fn remove_provider(&self, team: &str, id: &str) -> Result<bool> {
        let path = self.provider_path(team, id)?;
        let _guard = self.guard()?;
        self.versions
            .remove::<ProviderDoc>(&path, &format!("{team}/{id}"))
    }

    /// Ids of `team`'s provider definitions.
    pub fn providers(&self, team: &str) -> Result<Vec<String>> {
        if !connhost_policy::ids::is_safe(team, 64) {
            return Ok(Vec::new());
        }
        // A removed definition's file put back is not listed.
        let mut out = Vec::new();
        for id in self.ids(&format!("providers/{team}"), "json")? {
            let kind = <ProviderDoc as Versioned>::KIND;
            if !matches!(
                self.versions.state(kind, &format!("{team}/{id}"))?,
                State::Deleted(_)
            ) {
                out.push(id);
            }
        }
        Ok(out)
    }
}
