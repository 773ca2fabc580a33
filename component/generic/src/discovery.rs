//! RFC 8414 / OpenID Connect Discovery: a definition from an issuer's
//! metadata.

use crate::definition::Definition;
use crate::spec::*;
use connhost_sdk::{invalid, ConnectorError};
use serde::Deserialize;
use std::collections::BTreeMap;

/// RFC 8414 / OpenID Connect Discovery metadata (the fields we use).
#[derive(Deserialize)]
pub struct Metadata {
    pub issuer: String,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint: Option<String>,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
}

impl Metadata {
    /// A definition from discovered metadata; `issuer` must match exactly
    /// (RFC 8414 §3.3).
    pub fn into_definition(
        self,
        issuer: &str,
        auth_mode: AuthMode,
    ) -> Result<Definition, ConnectorError> {
        if self.issuer != issuer {
            return Err(invalid(
                "issuer",
                format!(
                    "discovery metadata names issuer `{}`, expected exactly `{issuer}` (RFC 8414 §3.3); refusing it",
                    self.issuer
                ),
            ));
        }
        let client_auth = if self.token_endpoint_auth_methods_supported.is_empty()
            || self
                .token_endpoint_auth_methods_supported
                .iter()
                .any(|m| m == "client_secret_basic")
        {
            "client_secret_basic"
        } else {
            "client_secret_post"
        };
        let verify_url = self.userinfo_endpoint.clone().ok_or_else(|| {
            invalid(
                "issuer",
                "the metadata has no userinfo_endpoint to verify with",
            )
        })?;
        let id: String = issuer
            .trim_start_matches("https://")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let d = Definition {
            format: None,
            id,
            display_name: None,
            category: None,
            docs: None,
            fields: BTreeMap::new(),
            refresh_url: None,
            introspection_url: None,
            refresh_params: BTreeMap::new(),
            token: None,
            key_exchange: None,
            headers: BTreeMap::new(),
            query: BTreeMap::new(),
            api_base: None,
            token_origin: None,
            self_hosted: false,
            aws: None,
            jwt: None,
            hmac: None,
            oauth1: None,
            auth_mode,
            issuer: Some(issuer.to_string()),
            authorize_url: self.authorization_endpoint,
            token_url: self.token_endpoint,
            revocation_url: self.revocation_endpoint,
            default_scopes: if self.scopes_supported.iter().any(|s| s == "openid") {
                vec!["openid".into()]
            } else {
                vec![]
            },
            scopes: self
                .scopes_supported
                .into_iter()
                .map(ScopeEntry::Name)
                .collect(),
            scope_separator: " ".into(),
            client_auth: Some(client_auth.into()),
            authorize_params: BTreeMap::new(),
            token_params: BTreeMap::new(),
            pkce: self.code_challenge_methods_supported.is_empty()
                || self
                    .code_challenge_methods_supported
                    .iter()
                    .any(|m| m == "S256"),
            default_lifetime: Some(3600),
            api_key: None,
            verify: Some(VerifySpec {
                method: "GET".into(),
                url: verify_url,
                expected_status: 200,
                label: Some("/email".into()),
            }),
            hosts: vec![],
        };
        d.validate().map_err(|e| match e {
            ConnectorError::InvalidInput(f) => invalid(
                "issuer",
                format!("discovered metadata: {} {}", f.field, f.reason),
            ),
            other => other,
        })?;
        Ok(d)
    }
}
