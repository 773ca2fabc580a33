//! API keys for `connhost serve`: only a SHA-256 of each key's secret
//! part is stored (the secret is 256 random bits, so a plain hash is
//! enough), in a tagged document per key, bound to its team.

use super::signed::Signed;
use super::versions::Versioned;
use super::Store;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// One API key, as stored and listed (never its secret).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApiKey {
    /// `key_…`: the public part of the key.
    pub id: String,
    /// The team the key acts for; `None` for an operator key.
    pub team: Option<String>,
    pub name: String,
    pub created_at: u64,
    pub revoked_at: Option<u64>,
    /// What a team key may do. Absent (admin) in keys made before roles,
    /// so their tags still check; stripping it from a member's key breaks
    /// the tag.
    #[serde(default, skip_serializing_if = "Role::is_admin")]
    pub role: Role,
    /// Page sessions signed in at or before this (Unix milliseconds) are
    /// over: set when someone signs out with this key.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ui_sessions_after_ms: u64,
    /// SHA-256 (hex) of the key's secret part.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub(crate) secret_sha256: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) integrity: String,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Who is asking: the platform maps its users onto a team and an actor
/// (an API key names both).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub team: String,
    pub actor: String,
}

/// A team key's role, after the platforms' team roles.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything the team may do, including deleting a connection that
    /// usages still need (`force`).
    #[default]
    Admin,
    /// Creates, verifies, edits and deletes connections, but never breaks
    /// a usage: a delete that usages block stays refused.
    Member,
}

impl Role {
    pub fn is_admin(&self) -> bool {
        *self == Role::Admin
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Role> {
        match s {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            _ => Err(Error::invalid(
                "role",
                format!("`{s}` is not admin or member"),
            )),
        }
    }
}

impl Signed for ApiKey {
    const DOMAIN: &'static [u8] = b"connhost:apikey:v1:";
    const WHAT: &'static str = "api key";
    fn id(&self) -> &str {
        &self.id
    }
    fn integrity(&mut self) -> &mut String {
        &mut self.integrity
    }
}

impl Versioned for ApiKey {
    const KIND: &'static str = "apikey";
}

impl Store {
    fn apikey_path(&self, id: &str) -> Result<String> {
        self.path_of("apikeys", id, "json", "api key")
    }

    pub(crate) fn put_apikey(&self, key: &mut ApiKey) -> Result<()> {
        let path = self.apikey_path(&key.id)?;
        let _guard = self.guard()?;
        self.versions.put(&path, key)
    }

    /// A locked read-modify-write of key `id` (a revoke and a sign-out at
    /// once both land).
    pub(crate) fn update_apikey(&self, id: &str, f: impl FnOnce(&mut ApiKey)) -> Result<ApiKey> {
        let lock = self.path_of("locks", id, "apikey", "api key")?;
        let _held = self.backend.lock(&lock, super::lock::WRITE_WAIT, true)?;
        let mut key = self.get_apikey(id)?;
        f(&mut key);
        self.put_apikey(&mut key)?;
        Ok(key)
    }

    pub(crate) fn get_apikey(&self, id: &str) -> Result<ApiKey> {
        self.versions.get(&self.apikey_path(id)?, id)
    }

    pub(crate) fn apikeys(&self) -> Result<Vec<ApiKey>> {
        let mut out = Vec::new();
        for id in self.ids("apikeys", "json")? {
            match self.get_apikey(&id) {
                Ok(k) => out.push(k),
                // A revoked-and-removed key's file put back: not a key.
                Err(Error::NotFound { .. }) => {}
                Err(e @ (Error::Corrupt { .. } | Error::Tampered(_))) => {
                    tracing::error!(key = %id, "api key left out: {e}")
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}
