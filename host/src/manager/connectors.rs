//! Connectors and the provider definitions data-driven ones read.

use super::{Manager, Prepared};
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::runtime::CallContext;
use crate::store::ConnectionRecord;
use std::collections::BTreeMap;
use std::sync::Arc;

impl Manager {
    /// Adds (or replaces) a connector from component bytes: compiled (or
    /// loaded from the cache), linked, its manifest read and validated.
    pub async fn add_connector(&self, wasm: &[u8]) -> Result<Manifest> {
        let runtime = self.runtime()?;
        let component = runtime.load_component(wasm)?;
        let probe = runtime.prepare("(new)", &component)?;
        let manifest: Manifest = runtime.manifest(&probe).await?.into();
        manifest.validate()?;
        self.store.put_connector(&manifest, wasm)?;
        let plugin = runtime.prepare(&manifest.id, &component)?;
        let prepared = Prepared {
            manifest: Arc::new(manifest.clone()),
            plugin,
        };
        self.plugins
            .lock()
            .unwrap()
            .insert(manifest.id.clone(), prepared);
        Ok(manifest)
    }

    pub fn connectors(&self) -> Result<Vec<Manifest>> {
        Ok(self
            .store
            .connectors()?
            .into_iter()
            .map(|c| c.manifest)
            .collect())
    }

    /// A connector's manifest (from memory once it has run).
    pub fn connector(&self, id: &str) -> Result<Manifest> {
        if let Some(p) = self.plugins.lock().unwrap().get(id) {
            return Ok((*p.manifest).clone());
        }
        Ok(self.store.connector(id)?.manifest)
    }

    pub(super) async fn prepared(&self, id: &str) -> Result<Prepared> {
        if let Some(p) = self.plugins.lock().unwrap().get(id) {
            return Ok(p.clone());
        }
        let (stored, bytes) = self.store.connector_with_code(id)?;
        let runtime = self.runtime()?;
        let component = runtime.load_component(&bytes)?;
        let prepared = Prepared {
            manifest: Arc::new(stored.manifest),
            plugin: runtime.prepare(id, &component)?,
        };
        self.plugins
            .lock()
            .unwrap()
            .insert(id.to_string(), prepared.clone());
        Ok(prepared)
    }

    /// For data-driven connectors (the manifest's `definitions`): a
    /// reference naming one of `team`'s stored definitions becomes the
    /// definition itself. Another team's definitions are never looked at.
    /// Returns the origins approved with that definition (none if the
    /// fields named no stored one).
    pub(super) fn expand_definition(
        &self,
        team: &str,
        manifest: &Manifest,
        fields: &mut BTreeMap<String, String>,
    ) -> Result<Vec<String>> {
        let Some(d) = &manifest.definitions else {
            return Ok(Vec::new());
        };
        if let Some(id) = fields.get(&d.reference).cloned() {
            if let Some((text, origins)) = self.store.provider(team, &id)? {
                fields.remove(&d.reference);
                fields.insert(d.content.clone(), text);
                return Ok(origins);
            }
        }
        Ok(Vec::new())
    }

    /// Validates a provider definition with `connector` (which must take
    /// definitions) and stores it for `team`. Returns its id. An id the
    /// connector ships (its reference field's allowed values) cannot be
    /// shadowed.
    pub async fn add_provider(&self, team: &str, connector: &str, json: &str) -> Result<String> {
        let prepared = self.prepared(connector).await?;
        let Some(d) = prepared.manifest.definitions.clone() else {
            return Err(Error::invalid(
                "connector",
                format!("`{connector}` does not take provider definitions"),
            ));
        };
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| Error::invalid("definition", format!("is not JSON: {e}")))?;
        let id = value
            .get("id")
            .and_then(|v| v.as_str())
            .ok_or_else(|| Error::invalid("definition.id", "is required"))?
            .to_string();
        let shipped = prepared
            .manifest
            .field(&d.reference)
            .is_some_and(|f| f.allowed_values.contains(&id));
        if shipped {
            return Err(Error::invalid(
                "definition.id",
                format!("`{id}` is a provider `{connector}` ships; choose another id"),
            ));
        }
        // The connector owns the format: `allowed-origins` parses and
        // checks the whole definition.
        let mut probe = probe_record(connector);
        probe.fields.insert(d.content, json.to_string());
        let ctx = CallContext {
            team: team.to_string(),
            ..CallContext::empty()
        };
        let mut instance = self.runtime()?.instantiate(&prepared.plugin, ctx).await?;
        // For a templated definition (`https://{subdomain}.zendesk.com`)
        // the answer holds patterns; each must be one the policy can bound.
        let origins = instance.allowed_origins(&super::input_of(&probe)).await?;
        let mut exact = Vec::new();
        for o in &origins {
            match connhost_policy::OriginPattern::parse(o) {
                Ok(connhost_policy::OriginPattern::Exact(_)) => exact.push(o.clone()),
                Ok(
                    connhost_policy::OriginPattern::Subdomains { .. }
                    | connhost_policy::OriginPattern::Field(_),
                ) => {}
                Ok(_) | Err(_) => {
                    return Err(Error::Plugin {
                        connector: connector.to_string(),
                        reason: format!(
                            "allowed-origins: `{o}` is not an origin or a bounded pattern"
                        ),
                    })
                }
            }
        }
        instance.allow_origins(&exact)?;
        self.store.put_provider(team, &id, json, &origins)?;
        Ok(id)
    }

    /// Ids of `team`'s provider definitions.
    pub fn providers(&self, team: &str) -> Result<Vec<String>> {
        self.store.providers(team)
    }

    /// The text of one of `team`'s provider definitions.
    pub fn provider_text(&self, team: &str, id: &str) -> Result<Option<String>> {
        Ok(self.store.provider(team, id)?.map(|(text, _)| text))
    }

    /// Removes one of `team`'s provider definitions.
    pub fn remove_provider(&self, team: &str, id: &str) -> Result<()> {
        if self.store.remove_provider(team, id)? {
            Ok(())
        } else {
            Err(Error::NotFound {
                what: "provider",
                id: id.to_string(),
            })
        }
    }
}

fn probe_record(connector: &str) -> ConnectionRecord {
    ConnectionRecord::new(
        "probe".into(),
        String::new(),
        connector.into(),
        String::new(),
    )
}
