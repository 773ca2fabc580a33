//! Listings: pointers that let a question be answered without reading
//! every record. `teams/<team>/connections/<id>` (a team's connections,
//! for pages) and `expiry/<expires_at>-<id>` (what a renewal sweep needs).
//! A pointer is a hint, written before its record and removed after it:
//! a crash leaves an extra one (skipped when read), never a missing one,
//! and a record must itself say it is what the pointer claims.

use super::{ConnectionRecord, Store};
use crate::error::{Error, Result};

impl Store {
    /// One page of `team`'s connections in id order: at most `limit`, with
    /// ids after `after`, and the cursor of the next page if there may be
    /// one. Reads the team's listing (`teams/<team>/connections/<id>`),
    /// never the other teams' records; a listing entry is only a pointer,
    /// the record it names must itself say it is the team's.
    pub fn list_page(
        &self,
        team: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<ConnectionRecord>, Option<String>)> {
        if !connhost_policy::ids::is_safe(team, 64) {
            return Ok((Vec::new(), None));
        }
        let ids = self
            .backend
            .list(&format!("teams/{team}/connections"), "", after, limit)?;
        let next = (limit > 0 && ids.len() == limit).then(|| ids[ids.len() - 1].clone());
        let ids: Vec<String> = ids
            .into_iter()
            .filter(|id| connhost_policy::ids::is_safe(id, 128))
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for (id, got) in ids.iter().zip(self.get_many(&ids)?) {
            match got {
                Ok(r) if r.team == team => out.push(r),
                // A pointer left by a crashed delete, or one put in the
                // wrong team's listing: not this team's connection.
                Ok(_) | Err(Error::NotFound { .. }) => {}
                Err(Error::Corrupt { .. } | Error::Tampered(_)) => self.quarantine(id)?,
                Err(e) => return Err(e),
            }
        }
        Ok((out, next))
    }

    /// Connections whose access expires at or before `until` (Unix
    /// seconds), soonest first, from the expiry listing
    /// (`expiry/<expires_at>-<id>`): a renewal sweep reads only those,
    /// not every record. Pointers are hints: the caller reads each record
    /// and decides on what it says; one that no longer matches its record
    /// is removed here.
    pub fn expiring_before(&self, until: u64) -> Result<Vec<ConnectionRecord>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        'pages: loop {
            let names = self.backend.list("expiry", "", after.as_deref(), 1000)?;
            let done = names.len() < 1000;
            for name in &names {
                let Some((at, id)) = name.split_once('-') else {
                    continue;
                };
                let Ok(at) = at.parse::<u64>() else { continue };
                if at > until {
                    break 'pages;
                }
                match self.get(id) {
                    Ok(r) if r.expires_at == Some(at) => out.push(r),
                    Ok(_) | Err(Error::NotFound { .. }) => {
                        self.backend.remove(&format!("expiry/{name}"))?;
                    }
                    Err(Error::Corrupt { .. } | Error::Tampered(_)) => self.quarantine(id)?,
                    Err(e) => return Err(e),
                }
            }
            if done {
                break;
            }
            after = names.last().cloned();
        }
        Ok(out)
    }

    pub(super) fn expiry_path(at: u64, id: &str) -> String {
        // Zero-padded, so names sort by time.
        format!("expiry/{at:012}-{id}")
    }

    /// Moves `id`'s expiry pointer from `old` to `new` (either may be none).
    pub(super) fn repoint(&self, id: &str, old: Option<u64>, new: Option<u64>) -> Result<()> {
        if old == new {
            return Ok(());
        }
        if let Some(at) = new {
            self.backend.touch(&Self::expiry_path(at, id))?;
        }
        if let Some(at) = old {
            self.backend.remove(&Self::expiry_path(at, id))?;
        }
        Ok(())
    }

    /// How many connections `team`'s listing names, counting at most
    /// `cap` (no record is read).
    pub fn team_size(&self, team: &str, cap: usize) -> Result<usize> {
        if !connhost_policy::ids::is_safe(team, 64) {
            return Ok(0);
        }
        Ok(self
            .backend
            .list(&format!("teams/{team}/connections"), "", None, cap)?
            .len())
    }

    pub(super) fn listing_path(team: &str, id: &str) -> Result<String> {
        if !connhost_policy::ids::is_safe(team, 64) {
            return Err(Error::invalid("team", "must match [A-Za-z0-9_-]{1,64}"));
        }
        Ok(format!("teams/{team}/connections/{id}"))
    }

    /// Lists every record in its team's listing, once, for a store made
    /// before team listings existed.
    pub(crate) fn build_team_listings(&self) -> Result<()> {
        const DONE: &str = "team-listings.json";
        if self.backend.read(DONE)?.is_some() {
            return Ok(());
        }
        for id in self.ids("connections", "json")? {
            if let Ok(r) = self.load(&id) {
                self.backend.touch(&Self::listing_path(&r.team, &id)?)?;
                self.repoint(&id, None, r.expires_at)?;
            }
        }
        self.backend.write(DONE, b"{}")
    }
}
