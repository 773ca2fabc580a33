//! Connectors as a caller adds them, and the team's provider definitions (data for data-driven connectors): each
//! team adds its own; no team can shadow a shipped provider or reach
//! another team's. Every change is audited.

use super::roles::Operation;
use super::team::TeamView;
use crate::error::Result;

impl TeamView<'_> {
    /// Adds (or replaces) a connector component, audited as this caller.
    pub async fn add_connector(&self, wasm: &[u8]) -> Result<crate::manifest::Manifest> {
        let r = self.m.add_connector(wasm).await;
        let id = r.as_ref().ok().map(|m| m.id.clone());
        self.log("connector.add", None, id.as_deref(), None, r)
    }

    /// Checks a definition with `connector` and stores it for this team.
    pub async fn add_provider(&self, connector: &str, json: &str) -> Result<String> {
        let r = match self.may(Operation::AddProvider) {
            Ok(()) => {
                self.m
                    .add_provider(&self.caller.team, connector, json)
                    .await
            }
            Err(e) => Err(e),
        };
        let id = r.as_ref().ok().map(|id| format!("provider:{id}"));
        self.log("provider.add", None, Some(connector), id, r)
    }

    /// This team's provider definitions.
    pub fn providers(&self) -> Result<Vec<String>> {
        self.m.providers(&self.caller.team)
    }

    /// This team's providers and the shipped catalogue, filtered: `query`
    /// in the id or name, `category` exactly. The team's come first.
    pub fn provider_catalogue(
        &self,
        query: Option<&str>,
        category: Option<&str>,
    ) -> Result<Vec<crate::catalogue::ProviderSummary>> {
        let mut out = Vec::new();
        for id in self.providers()? {
            if let Some(d) = self
                .m
                .provider_text(&self.caller.team, &id)?
                .and_then(|t| crate::catalogue::describe(&t, "added"))
            {
                out.push(d.summary);
            }
        }
        out.extend(
            crate::catalogue::shipped()
                .iter()
                .map(|d| d.summary.clone()),
        );
        out.retain(|p| crate::catalogue::matches(p, query, category));
        Ok(out)
    }

    /// One provider: this team's definition of that id, else the shipped one.
    pub fn provider_detail(&self, id: &str) -> Result<crate::catalogue::ProviderDetail> {
        if let Some(d) = self
            .m
            .provider_text(&self.caller.team, id)?
            .and_then(|t| crate::catalogue::describe(&t, "added"))
        {
            return Ok(d);
        }
        crate::catalogue::shipped()
            .iter()
            .find(|d| d.summary.id == id)
            .cloned()
            .ok_or_else(|| crate::error::Error::NotFound {
                what: "provider",
                id: id.to_string(),
            })
    }

    /// Removes one of this team's provider definitions.
    pub fn remove_provider(&self, id: &str) -> Result<()> {
        let r = self
            .may(Operation::RemoveProvider)
            .and_then(|()| self.m.remove_provider(&self.caller.team, id));
        self.log(
            "provider.remove",
            None,
            None,
            Some(format!("provider:{id}")),
            r,
        )
    }
}
