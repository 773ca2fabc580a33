//! API keys for `connhost serve`: a key is `chk_<id>_<secret>`, shown once
//! when created; a team key acts for its team only, an operator key for
//! connectors and settings only.

use super::Manager;
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::store::{ApiKey, Role};
use crate::util::{constant_time_eq, hex, now};
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "chk_";

fn digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

impl Manager {
    /// Makes a key for `team` (`None`: an operator key). The returned
    /// secret is the whole key; it is not stored and cannot be shown again.
    pub fn create_api_key(&self, team: Option<&str>, name: &str) -> Result<(ApiKey, Secret)> {
        self.create_api_key_as(team, name, Role::Admin)
    }

    /// [`Manager::create_api_key`] with a role (team keys only).
    pub fn create_api_key_as(
        &self,
        team: Option<&str>,
        name: &str,
        role: Role,
    ) -> Result<(ApiKey, Secret)> {
        if team.is_none() && role != Role::Admin {
            return Err(Error::invalid("role", "only a team key has a role"));
        }
        if let Some(t) = team {
            if !connhost_policy::ids::is_safe(t, 64) {
                return Err(Error::invalid("team", "must match [A-Za-z0-9_-]{1,64}"));
            }
        }
        let mut id = [0u8; 8];
        rand::rng().fill_bytes(&mut id);
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
        let mut key = ApiKey {
            id: format!("key_{}", hex(&id)),
            team: team.map(str::to_string),
            name: name.to_string(),
            created_at: now(),
            revoked_at: None,
            role,
            ui_sessions_after_ms: 0,
            secret_sha256: digest(&secret),
            integrity: String::new(),
        };
        self.store.put_apikey(&mut key)?;
        let token = Secret::new(format!("{PREFIX}{}_{secret}", key.id));
        key.secret_sha256.clear();
        key.integrity.clear();
        Ok((key, token))
    }

    /// Every key (never a secret), optionally only `team`'s.
    pub fn api_keys(&self, team: Option<&str>) -> Result<Vec<ApiKey>> {
        Ok(self
            .store
            .apikeys()?
            .into_iter()
            .filter(|k| team.is_none() || k.team.as_deref() == team)
            .map(|mut k| {
                k.secret_sha256.clear();
                k.integrity.clear();
                k
            })
            .collect())
    }

    /// Revokes a key: it authenticates nothing from now on.
    pub fn revoke_api_key(&self, id: &str) -> Result<ApiKey> {
        let mut key = self.store.update_apikey(id, |k| {
            k.revoked_at.get_or_insert_with(now);
        })?;
        key.secret_sha256.clear();
        key.integrity.clear();
        Ok(key)
    }

    /// Ends every page session signed in with key `id` until now (sign-out).
    pub fn end_ui_sessions(&self, id: &str) -> Result<()> {
        self.store
            .update_apikey(id, |k| {
                k.ui_sessions_after_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0)
            })
            .map(|_| ())
    }

    /// A live key by id: what a web session names instead of holding the
    /// key's secret. Revoked or unknown keys are `unauthenticated`.
    pub fn live_api_key(&self, id: &str) -> Result<ApiKey> {
        let denied = || Error::Unauthenticated("the session's key is revoked or unknown".into());
        let mut key = self.store.get_apikey(id).map_err(|_| denied())?;
        if key.revoked_at.is_some() {
            return Err(denied());
        }
        key.secret_sha256.clear();
        key.integrity.clear();
        Ok(key)
    }

    /// A tag under the store's key over `message`, for `purpose` (the web
    /// UI's session cookie and its CSRF tokens): what the server hands out
    /// and later takes back, unforgeable without the key.
    pub fn ui_tag(&self, purpose: &str, message: &str) -> String {
        self.store.keys().tag(&ui_message(purpose, message))
    }

    /// 128 random bits, hex: a pre-session nonce for the sign-in form.
    pub fn ui_nonce(&self) -> String {
        let mut n = [0u8; 16];
        rand::rng().fill_bytes(&mut n);
        hex(&n)
    }

    /// Whether `tag` is [`Manager::ui_tag`] of `message` for `purpose`.
    pub fn ui_tag_ok(&self, purpose: &str, message: &str, tag: &str) -> bool {
        self.store
            .keys()
            .check(&ui_message(purpose, message), tag)
            .is_ok()
    }

    /// The key a bearer token is, if it is a live one. Every failure is
    /// the same `unauthenticated` (no hint whether the id exists).
    pub fn authenticate(&self, token: &str) -> Result<ApiKey> {
        let denied = || Error::Unauthenticated("missing, unknown or revoked API key".into());
        let rest = token.strip_prefix(PREFIX).ok_or_else(denied)?;
        // `key_<16 hex>_<secret>`
        let (id, secret) = rest
            .get(..20)
            .zip(rest.get(21..))
            .filter(|_| rest.as_bytes().get(20) == Some(&b'_'))
            .ok_or_else(denied)?;
        let key = self.store.get_apikey(id).map_err(|_| denied())?;
        if key.revoked_at.is_some()
            || !constant_time_eq(digest(secret).as_bytes(), key.secret_sha256.as_bytes())
        {
            return Err(denied());
        }
        Ok(key)
    }
}

fn ui_message(purpose: &str, message: &str) -> Vec<u8> {
    format!("connhost:ui:{purpose}\0{message}").into_bytes()
}
