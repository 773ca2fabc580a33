//! Pending authorizations: a consent flow between `authorize start` and
//! the callback. The record inside carries the sealed client secret, PKCE
//! verifier and state; the whole document carries a tag.

use super::connections::ConnectionRecord;
use super::signed::Signed;
use super::versions::Versioned;
use super::Store;
use crate::error::Result;
use serde::{Deserialize, Serialize};

/// An authorization-code flow between `authorize start` and the callback.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pending {
    /// Pending id (what `authorize finish` takes).
    pub id: String,
    /// The connection to create, or to update on reauthorization; its
    /// sealed secrets include the PKCE verifier and the state.
    pub record: ConnectionRecord,
    /// Set when reauthorizing an existing connection.
    pub reauthorize: bool,
    /// The name an edit (data replaced through consent) gives the
    /// connection when consent succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rename: Option<String>,
    /// Scopes consent must grant again, or the reauthorization is refused
    /// (set for a member: what the connection's usages need).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub must_grant: Vec<String>,
    pub redirect_uri: String,
    pub requested_scopes: Vec<String>,
    /// Unix seconds after which the callback is refused.
    pub expires_at: u64,
    /// Where the callback sends the browser when done (checked against
    /// the team's allowed return URLs when the flow started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
    #[serde(default)]
    pub integrity: String,
}

impl Signed for Pending {
    const DOMAIN: &'static [u8] = b"connhost:pending:v1:";
    const WHAT: &'static str = "pending authorization";
    fn id(&self) -> &str {
        &self.id
    }
    fn integrity(&mut self) -> &mut String {
        &mut self.integrity
    }
}

impl Versioned for Pending {
    const KIND: &'static str = "pending";
}

impl Store {
    fn pending_path(&self, id: &str) -> Result<String> {
        self.path_of("pending", id, "json", "pending authorization")
    }

    /// Stores a pending authorization.
    pub fn put_pending(&self, pending: &mut Pending) -> Result<()> {
        let path = self.pending_path(&pending.id)?;
        let _guard = self.guard()?;
        self.versions.put(&path, pending)
    }

    pub fn get_pending(&self, id: &str) -> Result<Pending> {
        let path = self.pending_path(id)?;
        self.versions.get(&path, id)
    }

    /// Removes pending authorizations that expired before `now` (their
    /// sealed client secrets and PKCE verifiers with them); returns how many.
    pub fn prune_pending(&self, now: u64) -> Result<usize> {
        let mut removed = 0;
        for id in self.ids("pending", "json")? {
            if let Ok(p) = self.get_pending(&id) {
                if p.expires_at < now && self.take_pending(&id)? {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Removes a pending authorization; `true` if this call removed it (so
    /// of two racing callbacks only one proceeds). Its file put back later
    /// stays removed.
    pub fn take_pending(&self, id: &str) -> Result<bool> {
        let path = self.pending_path(id)?;
        // It writes a tombstone now: not with a key rotated away.
        let _guard = self.guard()?;
        self.versions.remove::<Pending>(&path, id)
    }
}
