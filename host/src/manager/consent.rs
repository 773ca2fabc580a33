//! The authorization-code flow (browser consent): `state` random, single
//! use, bound to the pending authorization and expiring; PKCE S256; the
//! callback's `error` and `iss` (RFC 9207) checked; the code redeemed with
//! the same redirect URI and verifier.

use super::connections::add_fields;
use super::{input_of, AuthorizeStart, Manager, NewConnection};
use crate::bindings::types as wit;
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::secret::{Secret, SecretScope};
use crate::store::{ConnectionRecord, Pending, Status};
use crate::util::{constant_time_eq, now, random_hex, random_token};
use std::collections::BTreeMap;

/// Host-owned secrets of a pending authorization. The `$` keeps them
/// apart from any secret a connector can declare (`[A-Za-z0-9_]+`).
const PKCE_VERIFIER: &str = "$pkce_verifier";
const OAUTH_STATE: &str = "$oauth_state";

fn failed(error: &str, description: impl Into<String>) -> Error {
    Error::Authorization {
        error: error.into(),
        description: description.into(),
    }
}

impl Manager {
    /// Starts the consent flow for a new connection: stores a pending
    /// authorization (state, PKCE verifier, the data given) and returns the
    /// provider's consent URL.
    pub async fn authorize_start(
        &self,
        mut new: NewConnection,
        redirect_uri: &str,
        return_url: Option<&str>,
    ) -> Result<AuthorizeStart> {
        let manifest = self.connector(&new.connector)?;
        let team = new
            .team
            .as_deref()
            .unwrap_or(super::DEFAULT_TEAM)
            .to_string();
        let approved = self.expand_definition(&team, &manifest, &mut new.fields)?;
        let resolved = super::connections::resolve(&manifest, &new, true)?;
        let mut record = self.new_record(&manifest, &new)?;
        record.fields = resolved.fields;
        record.definition_origins = approved;
        self.start_pending(
            &manifest,
            record,
            new.secrets,
            (redirect_uri, return_url),
            Reauthorize::No,
        )
        .await
    }

    /// Starts an edit of a consent connection: all its data replaced by
    /// `new` (secrets entered again), through the provider's consent. The
    /// stored connection is untouched until consent succeeds; then it
    /// takes the new data and tokens (same id) and the old are revoked.
    pub async fn edit_authorize_start(
        &self,
        id: &str,
        mut new: NewConnection,
        redirect_uri: &str,
        return_url: Option<&str>,
    ) -> Result<AuthorizeStart> {
        let old = self.store.get(id)?;
        let manifest = self.connector(&old.connector)?;
        if !new.connector.is_empty() && new.connector != old.connector {
            return Err(Error::invalid(
                "connector",
                format!("an edit keeps the connector (`{}`)", old.connector),
            ));
        }
        let name = new
            .name
            .as_deref()
            .map(super::connections::check_name)
            .transpose()?;
        let approved = self.expand_definition(&old.team, &manifest, &mut new.fields)?;
        let resolved = super::connections::resolve(&manifest, &new, true)?;
        let mut record = old;
        record.fields = resolved.fields;
        record.definition_origins = approved;
        self.start_pending(
            &manifest,
            record,
            new.secrets,
            (redirect_uri, return_url),
            Reauthorize::Edit(name),
        )
        .await
    }

    /// Runs consent again for an existing connection (same id); on finish
    /// the new tokens and scopes replace the old, which are revoked.
    pub async fn reauthorize_start(
        &self,
        id: &str,
        redirect_uri: &str,
        return_url: Option<&str>,
    ) -> Result<AuthorizeStart> {
        let mut record = self.store.get(id)?;
        let manifest = self.connector(&record.connector)?;
        let mut secrets = self.store.open_secrets(&record)?.into_values();
        for token in &manifest.token_secrets {
            secrets.remove(token);
        }
        // What the connector stored as fields (undeclared: a token's
        // identifier, an API origin, OAuth 1.0a's temporary token) belongs
        // to the grant being replaced; a connector never changes a field
        // once set, so the new consent starts without them.
        record
            .fields
            .retain(|name, _| manifest.field(name).is_some());
        self.start_pending(
            &manifest,
            record,
            secrets,
            (redirect_uri, return_url),
            Reauthorize::Same,
        )
        .await
    }

    async fn start_pending(
        &self,
        manifest: &Manifest,
        mut record: ConnectionRecord,
        secrets: BTreeMap<String, Secret>,
        (redirect_uri, return_url): (&str, Option<&str>),
        reauthorize: Reauthorize,
    ) -> Result<AuthorizeStart> {
        check_redirect_uri(redirect_uri)?;
        if let Some(url) = return_url {
            connhost_policy::return_url::parse(url).map_err(|e| Error::invalid("return_url", e))?;
        }
        self.store.prune_pending(now())?;
        let pending_id = format!("pend_{}", random_hex(12));
        // The state names its pending authorization (so a callback server
        // finds it) and carries 256 random bits (so it cannot be guessed).
        let state = format!("{pending_id}.{}", random_token());
        let verifier = random_token();
        let requested = manifest.requested_scopes(&record.fields);
        let request = wit::AuthorizeRequest {
            redirect_uri: redirect_uri.to_string(),
            state: state.clone(),
            code_challenge: pkce_challenge(&verifier),
            scopes: requested.clone(),
        };
        let scope = SecretScope::new(secrets);
        let (_, mut instance) = self.instance_with_origins(&mut record, scope).await?;
        let authorization = instance.authorize_url(&input_of(&record), &request).await?;
        // What the connector stored on the way (OAuth 1.0a's temporary
        // secret) stays sealed with the pending authorization.
        let mut secrets = self.finish(&record, instance)?.into_values();
        add_fields(&mut record, authorization.fields);
        secrets.insert(PKCE_VERIFIER.into(), Secret::new(verifier));
        secrets.insert(OAUTH_STATE.into(), Secret::new(state));
        self.store.seal_secrets(&mut record, &secrets);
        let expires_at = now() + self.cfg.pending_ttl.as_secs();
        let mut pending = Pending {
            id: pending_id,
            record,
            reauthorize: !matches!(reauthorize, Reauthorize::No),
            rename: match reauthorize {
                Reauthorize::Edit(name) => name,
                _ => None,
            },
            must_grant: Vec::new(),
            redirect_uri: redirect_uri.to_string(),
            requested_scopes: requested,
            expires_at,
            return_url: return_url.map(str::to_string),
            integrity: String::new(),
        };
        self.store.put_pending(&mut pending)?;
        Ok(AuthorizeStart {
            pending_id: pending.id,
            connection_id: pending.record.id,
            authorize_url: authorization.url,
            redirect_uri: redirect_uri.to_string(),
            expires_at,
        })
    }

    /// Requires a pending reauthorization to come back with `scopes`
    /// granted (a member's: what the connection's usages need).
    pub fn require_grant(&self, pending_id: &str, scopes: Vec<String>) -> Result<()> {
        let mut pending = self.store.get_pending(pending_id)?;
        pending.must_grant = scopes;
        self.store.put_pending(&mut pending)
    }

    /// The team a pending authorization belongs to.
    pub fn pending_team(&self, pending_id: &str) -> Result<String> {
        Ok(self.store.get_pending(pending_id)?.record.team)
    }

    /// The return URL given when a pending authorization started.
    pub fn pending_return_url(&self, pending_id: &str) -> Result<Option<String>> {
        Ok(self.store.get_pending(pending_id)?.return_url)
    }

    /// Completes the consent flow with the URL the provider redirected the
    /// browser to. Checks `state` (single use, bound to this pending
    /// authorization, expiring), the provider's `error` (RFC 6749
    /// §4.1.2.1) and `iss` (RFC 9207), then redeems the code with the same
    /// redirect URI and PKCE verifier.
    pub async fn authorize_finish(
        &self,
        pending_id: &str,
        redirect_url: &str,
    ) -> Result<ConnectionRecord> {
        let pending = self.store.get_pending(pending_id).map_err(|e| match e {
            Error::NotFound { .. } => failed(
                "unknown_authorization",
                format!("no pending authorization `{pending_id}` (already used, expired or never started)"),
            ),
            other => other,
        })?;
        let url = url::Url::parse(redirect_url)
            .map_err(|e| Error::invalid("redirect-url", e.to_string()))?;
        let expected = url::Url::parse(&pending.redirect_uri)
            .map_err(|e| Error::invalid("redirect-uri", e.to_string()))?;
        if url.origin() != expected.origin() || url.path() != expected.path() {
            return Err(Error::invalid(
                "redirect-url",
                format!("does not match the redirect URI {}", pending.redirect_uri),
            ));
        }
        // RFC 6749 §3.1: parameters must not be included more than once
        // (a second `state` or `code` would be read by one check and not
        // another).
        let mut params: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in url.query_pairs() {
            if params.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(Error::invalid(
                    "redirect-url",
                    format!("repeats the parameter `{k}` (RFC 6749 §3.1); refused"),
                ));
            }
        }
        let mut secrets = self.store.open_secrets(&pending.record)?.into_values();
        let take = |secrets: &mut BTreeMap<String, Secret>, name: &str| {
            secrets
                .remove(name)
                .map(|s| s.expose().to_string())
                .unwrap_or_default()
        };
        let state = take(&mut secrets, OAUTH_STATE);
        let verifier = take(&mut secrets, PKCE_VERIFIER);
        let given = params.get("state").map(String::as_str).unwrap_or("");
        if !constant_time_eq(given.as_bytes(), state.as_bytes()) {
            return Err(failed(
                "state_mismatch",
                "the callback's state does not match this authorization; ignored",
            ));
        }
        // From here the pending authorization is spent, whatever happens.
        if !self.store.take_pending(pending_id)? {
            return Err(failed(
                "unknown_authorization",
                format!("authorization `{pending_id}` was already used"),
            ));
        }
        if pending.expires_at < now() {
            return Err(failed(
                "expired",
                "the authorization took too long; start again",
            ));
        }
        // OAuth 1.0a servers (X, Tumblr) say a refusal with `denied`.
        if params.contains_key("denied") && !params.contains_key("oauth_verifier") {
            return Err(failed(
                "access_denied",
                "the user or the provider denied access",
            ));
        }
        if let Some(err) = params.get("error") {
            let description = params.get("error_description").cloned().unwrap_or_else(|| {
                match err.as_str() {
                    "access_denied" => "the user or the provider denied access",
                    _ => "the provider refused the authorization request",
                }
                .into()
            });
            return Err(failed(err, description));
        }
        let mut record = pending.record.clone();
        let manifest = self.connector(&record.connector)?;
        let issuer = manifest
            .issuer_field
            .as_ref()
            .and_then(|f| record.fields.get(f));
        if let (Some(iss), Some(issuer)) = (params.get("iss"), issuer) {
            if iss != issuer {
                return Err(failed(
                    "issuer_mismatch",
                    format!("callback from issuer `{iss}`, expected `{issuer}` (RFC 9207)"),
                ));
            }
        }
        // OAuth 1.0a's callback carries `oauth_verifier` (RFC 5849 §2.2).
        let code = params
            .get("code")
            .or_else(|| params.get("oauth_verifier"))
            .ok_or_else(|| Error::invalid("redirect-url", "has no `code` parameter"))?;
        // Only what the user gave goes into the exchange; old tokens stay out.
        for token in &manifest.token_secrets {
            secrets.remove(token);
        }
        let exchange = wit::CodeExchange {
            code: code.clone(),
            redirect_uri: pending.redirect_uri.clone(),
            code_verifier: verifier,
            requested_scopes: pending.requested_scopes.clone(),
        };
        let (manifest, mut instance) = self.instance(&record, SecretScope::new(secrets)).await?;
        let state = instance
            .exchange_code(&input_of(&record), &exchange)
            .await?;
        let added_fields = !state.fields.is_empty();
        record.granted_scopes.clear();
        super::renewal::apply_state(&mut record, state);
        if added_fields {
            self.origins_after_state(&manifest, &mut record, &mut instance)
                .await?;
        }
        let secrets = self.finish(&record, instance)?;
        record.updated_at = now();
        if !pending.reauthorize {
            self.store.seal_secrets(&mut record, secrets.values());
            self.store.insert(&mut record)?;
            return Ok(record);
        }
        // A member's consent must keep what usages need: less granted
        // leaves the connection as it was (the new tokens are revoked).
        let missing: Vec<&String> = pending
            .must_grant
            .iter()
            .filter(|s| !record.granted_scopes.contains(s))
            .collect();
        if !missing.is_empty() {
            let mut fresh = record.clone();
            self.store.seal_secrets(&mut fresh, secrets.values());
            if let Err(e) = self.revoke(&fresh).await {
                tracing::warn!(connection = %fresh.id, "revoking the narrower tokens failed: {e}");
            }
            return Err(Error::Forbidden(format!(
                "the provider granted less than usages need (missing {}); only a team admin may narrow it, and the connection is unchanged",
                missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        let old = self.store.get(&record.id)?;
        let written = self.commit(old.clone(), |r| {
            super::take_access(r, &record);
            if let Some(n) = &pending.rename {
                r.name.clone_from(n);
            }
            r.status = Status::Ok;
            r.last_error = None;
            r.updated_at = record.updated_at;
            self.store.seal_secrets(r, secrets.values());
            Ok(())
        })?;
        // Only once the new tokens are stored are the old ones revoked.
        if let Err(e) = self.revoke(&old).await {
            tracing::warn!(connection = %old.id, "revoking the replaced tokens failed: {e}");
        }
        Ok(written)
    }
}

/// What a pending authorization does to an existing connection.
enum Reauthorize {
    /// Nothing: it creates one.
    No,
    /// New tokens for the same data.
    Same,
    /// New data and tokens, and the new name if one was given.
    Edit(Option<String>),
}

/// RFC 7636 §4.2: BASE64URL(SHA256(verifier)).
pub fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// https anywhere, or http on a loopback address (RFC 8252 §7.3).
fn check_redirect_uri(uri: &str) -> Result<()> {
    let url = url::Url::parse(uri).map_err(|e| Error::invalid("redirect-uri", e.to_string()))?;
    let loopback = matches!(
        url.host_str(),
        Some("127.0.0.1") | Some("[::1]") | Some("localhost")
    );
    if url.scheme() == "https" || (url.scheme() == "http" && loopback) {
        if url.fragment().is_some() {
            return Err(Error::invalid("redirect-uri", "must not have a fragment"));
        }
        Ok(())
    } else {
        Err(Error::invalid(
            "redirect-uri",
            "must be https, or http on 127.0.0.1/[::1]",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_is_base64url_sha256_without_padding() {
        // Expected value computed independently (Python hashlib + base64).
        assert_eq!(
            pkce_challenge("connhost-test-verifier-0123456789abcdefghijklm"),
            "30VY6muJ32XOuEFJ6GXuEi84L8488dlZhUcX7HQurUg"
        );
    }

    #[test]
    fn redirect_uris_must_be_https_or_loopback_http() {
        assert!(check_redirect_uri("https://app.example.com/cb").is_ok());
        assert!(check_redirect_uri("http://127.0.0.1:8765/cb").is_ok());
        assert!(check_redirect_uri("http://app.example.com/cb").is_err());
        assert!(check_redirect_uri("https://app.example.com/cb#x").is_err());
    }
}
