//! Connect sessions: short-lived, single-use tokens that let an end user
//! create one connection of one connector in one team without the team's
//! key. Stored like API keys: a SHA-256 of the secret part, tagged.

use super::signed::Signed;
use super::versions::Versioned;
use super::Store;
use crate::error::Result;
use serde::{Deserialize, Serialize};

/// One connect session (never its secret).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConnectSession {
    /// `cs_…`.
    pub id: String,
    pub team: String,
    /// The one connector the session may create a connection of.
    pub connector: String,
    pub expires_at: u64,
    /// The connection it created, once used.
    pub connection: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) secret_sha256: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) integrity: String,
}

impl Signed for ConnectSession {
    const DOMAIN: &'static [u8] = b"connhost:connect-session:v1:";
    const WHAT: &'static str = "connect session";
    fn id(&self) -> &str {
        &self.id
    }
    fn integrity(&mut self) -> &mut String {
        &mut self.integrity
    }
}

impl Versioned for ConnectSession {
    const KIND: &'static str = "session";
}

impl Store {
    fn session_path(&self, id: &str) -> Result<String> {
        self.path_of("sessions", id, "json", "connect session")
    }

    pub(crate) fn put_session(&self, s: &mut ConnectSession) -> Result<()> {
        let path = self.session_path(&s.id)?;
        let _guard = self.guard()?;
        self.versions.put(&path, s)
    }

    pub(crate) fn get_session(&self, id: &str) -> Result<ConnectSession> {
        self.versions.get(&self.session_path(id)?, id)
    }

    /// The lock a use of session `id` holds (single use across processes).
    pub(crate) fn session_lock(&self, id: &str) -> Result<super::Held> {
        let path = self.path_of("locks", id, "session", "connect session")?;
        self.backend.lock(&path, super::lock::WRITE_WAIT, true)
    }
}
