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
    pub registration_endpoint: Option<String>,
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
    /// With `resource` (an RFC 9728 protected resource, e.g. an MCP
    /// server): RFC 8707's `resource` on authorization and token requests,
    /// the resource as the API base, and no userinfo needed (verification
    /// asks the resource itself).
    pub fn into_definition(
        self,
        issuer: &str,
        auth_mode: AuthMode,
        resource: Option<&str>,
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
        let verify = match (resource, self.userinfo_endpoint.clone()) {
            (Some(_), _) => None,
            (None, Some(url)) => Some(VerifySpec {
                method: "GET".into(),
                url,
                expected_status: 200,
                label: Some("/email".into()),
            }),
            (None, None) => {
                return Err(invalid(
                    "issuer",
                    "the metadata has no userinfo_endpoint to verify with",
                ))
            }
        };
        let resource_param: BTreeMap<String, String> = resource
            .map(|r| BTreeMap::from([("resource".to_string(), r.to_string())]))
            .unwrap_or_default();
        let id: String = issuer
            .trim_start_matches("https://")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let d = Definition {
            format: resource.map(|_| 2),
            id,
            display_name: resource.map(|r| format!("MCP server {r}")),
            category: None,
            docs: None,
            fields: BTreeMap::new(),
            refresh_url: None,
            introspection_url: None,
            registration_url: resource.and(self.registration_endpoint),
            refresh_params: BTreeMap::new(),
            token: None,
            key_exchange: None,
            headers: BTreeMap::new(),
            query: BTreeMap::new(),
            api_base: resource.map(str::to_string),
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
            authorize_params: resource_param.clone(),
            token_params: resource_param,
            pkce: self.code_challenge_methods_supported.is_empty()
                || self
                    .code_challenge_methods_supported
                    .iter()
                    .any(|m| m == "S256"),
            default_lifetime: Some(3600),
            api_key: None,
            verify,
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
