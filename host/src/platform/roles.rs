//! What a team key's role allows. An admin does everything the team may;
//! a member never breaks a usage: no forced delete (in `team.rs`), no
//! narrowing or switching off usages (`consumers.rs`), no edit or
//! consent that drops a scope a usage needs (here), no team settings.

use super::team::TeamView;
use crate::error::{Error, Result};
use crate::manager::{AuthorizeStart, NewConnection};
use crate::store::Role;

impl TeamView<'_> {
    /// Acts with `role`'s rights (a team key's role).
    pub fn acting_as(mut self, role: Role) -> Self {
        self.role = role;
        self
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Refuses a member: team settings (return URLs, provider definitions,
    /// webhooks) are an admin's.
    pub fn admin_only(&self, what: &str) -> Result<()> {
        match self.role.is_admin() {
            true => Ok(()),
            false => Err(Error::Forbidden(format!("only a team admin may {what}"))),
        }
    }

    /// What a member's change must leave granted: the granted scopes that
    /// active or scheduled usages need (none for an admin).
    pub(super) fn grant_to_keep(&self, id: &str) -> Result<Vec<String>> {
        if self.role.is_admin() {
            return Ok(Vec::new());
        }
        let record = self.own(id)?;
        let mut needed: Vec<String> = self
            .blocking_usages(id)?
            .into_iter()
            .flat_map(|u| u.scopes)
            .filter(|s| record.granted_scopes.contains(s))
            .collect();
        needed.sort();
        needed.dedup();
        Ok(needed)
    }

    /// A member's consent must come back with the granted scopes that
    /// active or scheduled usages need (checked when it finishes).
    pub(super) fn keep_grant(&self, id: &str, start: &AuthorizeStart) -> Result<()> {
        let needed = self.grant_to_keep(id)?;
        match needed.is_empty() {
            true => Ok(()),
            false => self.m.require_grant(&start.pending_id, needed),
        }
    }

    /// A member's edit must not stop asking for a scope the connection's
    /// active or scheduled usages need (an admin may drop them).
    pub(super) fn keeps_usages_scopes(&self, id: &str, new: &NewConnection) -> Result<()> {
        if self.role.is_admin() {
            return Ok(());
        }
        let record = self.own(id)?;
        let manifest = self.m.connector(&record.connector)?;
        if manifest.scopes_field.is_none() {
            return Ok(());
        }
        // Dropped: asked for or granted before, needed by a usage, not
        // asked for now. (Asking for none means the provider's defaults,
        // which are not known here: then only what was asked for counts.)
        let asked = manifest.requested_scopes(&new.fields);
        let mut before = manifest.requested_scopes(&record.fields);
        if !asked.is_empty() {
            before.extend(record.granted_scopes.iter().cloned());
        }
        let mut dropped: Vec<String> = self
            .blocking_usages(id)?
            .into_iter()
            .flat_map(|u| u.scopes)
            .filter(|s| before.contains(s) && !asked.contains(s))
            .collect();
        dropped.sort();
        dropped.dedup();
        match dropped.is_empty() {
            true => Ok(()),
            false => Err(Error::Forbidden(format!(
                "usages still need {}; only a team admin may drop them",
                dropped.join(", ")
            ))),
        }
    }
}
