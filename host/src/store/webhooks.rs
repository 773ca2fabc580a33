//! Team webhooks: where connection events go. The signing secret is kept
//! sealed (the host needs it to sign); the document is tagged and bound
//! to its id. The delivery cursor is a tagged document too.

use super::crypto::{KeyRing, OpenError};
use super::signed::{self, Signed};
use super::versions::Versioned;
use super::Store;
use crate::error::{Error, Result};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};

/// A team's webhook (its secret never shown after creation).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Webhook {
    /// `wh_…`.
    pub id: String,
    pub team: String,
    /// An `https://` URL, reached under the host's network policy.
    pub url: String,
    pub created_at: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) secret: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) integrity: String,
}

impl Signed for Webhook {
    const DOMAIN: &'static [u8] = b"connhost:webhook:v1:";
    const WHAT: &'static str = "webhook";
    fn id(&self) -> &str {
        &self.id
    }
    fn integrity(&mut self) -> &mut String {
        &mut self.integrity
    }
}

#[derive(Clone, Default, Serialize, Deserialize)]
pub(crate) struct Cursor {
    id: String,
    /// The last audit sequence number whose events were delivered.
    pub(crate) seq: u64,
    #[serde(default)]
    integrity: String,
}

impl Signed for Cursor {
    const DOMAIN: &'static [u8] = b"connhost:events-cursor:v1:";
    const WHAT: &'static str = "events cursor";
    fn id(&self) -> &str {
        &self.id
    }
    fn integrity(&mut self) -> &mut String {
        &mut self.integrity
    }
}

/// Where one webhook's deliveries stand: the last audit sequence number
/// handed to it, and its failures (a failing endpoint waits `retry_at`
/// before its next try; its events wait for it, in order).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HookState {
    id: String,
    /// Every event up to this audit sequence number was delivered.
    pub delivered_through: u64,
    /// Failed rounds in a row (0: healthy).
    #[serde(default)]
    pub failures: u32,
    /// No delivery before this (Unix seconds) after a failure.
    #[serde(default)]
    pub retry_at: u64,
    #[serde(default)]
    integrity: String,
}

impl HookState {
    pub(crate) fn new(id: &str, delivered_through: u64) -> Self {
        HookState {
            id: id.to_string(),
            delivered_through,
            ..HookState::default()
        }
    }
}

impl Signed for HookState {
    const DOMAIN: &'static [u8] = b"connhost:webhook-state:v1:";
    const WHAT: &'static str = "webhook delivery state";
    fn id(&self) -> &str {
        &self.id
    }
    fn integrity(&mut self) -> &mut String {
        &mut self.integrity
    }
}

impl Versioned for HookState {
    const KIND: &'static str = "webhook-state";
}

impl Versioned for Webhook {
    const KIND: &'static str = "webhook";
}

impl Versioned for Cursor {
    const KIND: &'static str = "events-cursor";
}

fn aad(id: &str) -> Vec<u8> {
    format!("connhost:webhook-secret:v1:{id}").into_bytes()
}

impl Store {
    fn webhook_path(&self, id: &str) -> Result<String> {
        self.path_of("webhooks", id, "json", "webhook")
    }

    pub(crate) fn put_webhook(&self, hook: &mut Webhook, secret: &Secret) -> Result<()> {
        hook.secret = self.keys.seal(secret.expose().as_bytes(), &aad(&hook.id));
        let path = self.webhook_path(&hook.id)?;
        let _guard = self.guard()?;
        self.versions.put(&path, hook)
    }

    /// Every webhook that loads. A removed one's file put back is not a
    /// webhook; an older copy, or one failing its tag, is left out and
    /// logged (`connhost store check` names it).
    pub(crate) fn webhooks(&self) -> Result<Vec<Webhook>> {
        let mut out = Vec::new();
        for id in self.ids("webhooks", "json")? {
            match self.versions.get(&self.webhook_path(&id)?, &id) {
                Ok(h) => out.push(h),
                Err(Error::NotFound { .. }) => {}
                Err(e @ (Error::Corrupt { .. } | Error::Tampered(_))) => {
                    tracing::error!(webhook = %id, "webhook left out: {e}")
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Removes a webhook; its file put back later stays removed.
    pub(crate) fn remove_webhook(&self, id: &str) -> Result<bool> {
        let path = self.webhook_path(id)?;
        let state = self.hook_state_path(id)?;
        let _guard = self.guard()?;
        let removed = self.versions.remove::<Webhook>(&path, id)?;
        self.versions.remove::<HookState>(&state, id)?;
        Ok(removed)
    }

    fn hook_state_path(&self, id: &str) -> Result<String> {
        self.path_of("webhooks", id, "state", "webhook")
    }

    /// Where `id`'s deliveries stand; a webhook made before per-webhook
    /// state starts from the old shared cursor. An older copy put back is
    /// refused (it would deliver delivered events again).
    pub(crate) fn hook_state(&self, id: &str) -> Result<HookState> {
        match self
            .versions
            .get::<HookState>(&self.hook_state_path(id)?, id)
        {
            Ok(s) => Ok(s),
            Err(Error::NotFound { .. }) => Ok(HookState::new(id, self.events_cursor()?)),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn set_hook_state(&self, state: &mut HookState) -> Result<()> {
        let path = self.hook_state_path(&state.id)?;
        let _guard = self.guard()?;
        self.versions.put(&path, state)
    }

    pub(crate) fn webhook_secret(&self, hook: &Webhook) -> Result<Secret> {
        let plain = self
            .keys
            .open(&hook.secret, &aad(&hook.id))
            .map_err(|e| match e {
                OpenError::OtherKey(kid) => {
                    Error::WrongMasterKey(format!("webhook {} (key {kid})", hook.id))
                }
                OpenError::Invalid => Error::Tampered(format!("webhook {}", hook.id)),
            })?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| Error::Tampered(format!("webhook {}", hook.id)))
    }

    /// Where delivery attempts of `id` are logged (one JSON line each).
    pub(crate) fn delivery_log(&self, id: &str) -> Result<String> {
        self.path_of("webhooks", id, "deliveries", "webhook")
    }

    fn cursor_path(&self) -> &'static str {
        "events-cursor.json"
    }

    /// The delivery cursor all webhooks shared before each had its own
    /// state: where an older webhook starts.
    pub(crate) fn events_cursor(&self) -> Result<u64> {
        // An older cursor put back (or the cursor removed) would deliver
        // delivered events again: refused instead.
        match self.versions.get::<Cursor>(self.cursor_path(), "events") {
            Ok(c) => Ok(c.seq),
            Err(Error::NotFound { .. }) => Ok(0),
            Err(e) => Err(e),
        }
    }
}

/// Re-seals webhook secrets and re-tags webhooks and the cursor (key
/// rotation).
pub(crate) fn rewrap(store_home: &std::path::Path, ring: &KeyRing) -> Result<u64> {
    let mut n = 0;
    let dir = store_home.join("webhooks");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_some_and(|x| x == "state") {
                let id = path
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                let mut state: HookState = signed::get_file(ring, &path, &id)?;
                signed::put_file(ring, &path, &mut state)?;
                n += 1;
                continue;
            }
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let id = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let mut hook: Webhook = signed::get_file(ring, &path, &id)?;
            let plain = zeroize::Zeroizing::new(
                ring.open(&hook.secret, &aad(&id))
                    .map_err(|_| Error::Tampered(format!("webhook {id}")))?,
            );
            hook.secret = ring.seal(&plain, &aad(&id));
            signed::put_file(ring, &path, &mut hook)?;
            n += 1;
        }
    }
    let cursor = store_home.join("events-cursor.json");
    if cursor.exists() {
        let mut c: Cursor = signed::get_file(ring, &cursor, "events")?;
        signed::put_file(ring, &cursor, &mut c)?;
        n += 1;
    }
    Ok(n)
}
