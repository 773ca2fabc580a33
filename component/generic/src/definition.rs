//! Provider definitions: the data that tells the generic connector how a
//! service authenticates. Parsed strictly; every error names the field.

use connhost_sdk::{invalid, ConnectorError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use url::Url;

/// Shipped definitions, checked against each provider's public docs.
pub const SHIPPED: &[(&str, &str)] = &[
    ("github", include_str!("../providers/github.json")),
    ("google", include_str!("../providers/google.json")),
    ("slack", include_str!("../providers/slack.json")),
    ("dropbox", include_str!("../providers/dropbox.json")),
    ("atlassian", include_str!("../providers/atlassian.json")),
    ("microsoft", include_str!("../providers/microsoft.json")),
];

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// Authorization code (browser consent), PKCE by default.
    Oauth2,
    /// Client credentials.
    Oauth2Cc,
    /// A static key in a header or the query.
    ApiKey,
    /// HTTP basic with a user name and password.
    Basic,
}

impl AuthMode {
    pub fn id(self) -> &'static str {
        match self {
            AuthMode::Oauth2 => "oauth2",
            AuthMode::Oauth2Cc => "oauth2_cc",
            AuthMode::ApiKey => "api_key",
            AuthMode::Basic => "basic",
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KeyLocation {
    Header,
    Query,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySpec {
    #[serde(rename = "in")]
    pub location: KeyLocation,
    /// Header or query parameter name.
    pub name: String,
    /// Text before the key (header only), e.g. `Bearer `.
    #[serde(default)]
    pub prefix: String,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VerifySpec {
    #[serde(default = "get")]
    pub method: String,
    pub url: String,
    #[serde(default = "ok200")]
    pub expected_status: u16,
    /// JSON pointer (RFC 6901) to the account label in the response.
    #[serde(default)]
    pub label: Option<String>,
}

fn get() -> String {
    "GET".into()
}
fn ok200() -> u16 {
    200
}
fn space() -> String {
    " ".into()
}
fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    pub auth_mode: AuthMode,
    /// RFC 8414 issuer identifier; checked against `iss` on callbacks.
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub authorize_url: Option<String>,
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub revocation_url: Option<String>,
    #[serde(default)]
    pub default_scopes: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default = "space")]
    pub scope_separator: String,
    /// `client_secret_basic` (default), `client_secret_basic_raw`, `client_secret_post`.
    #[serde(default)]
    pub client_auth: Option<String>,
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
    #[serde(default)]
    pub token_params: BTreeMap<String, String>,
    #[serde(default = "yes")]
    pub pkce: bool,
    /// Seconds a token lives when the token response has no `expires_in`.
    #[serde(default)]
    pub default_lifetime: Option<u64>,
    #[serde(default)]
    pub api_key: Option<ApiKeySpec>,
    pub verify: Option<VerifySpec>,
    /// Origins the connection may call besides the endpoints above.
    #[serde(default)]
    pub hosts: Vec<String>,
}

fn bad(field: &str, reason: impl Into<String>) -> ConnectorError {
    invalid(&format!("definition.{field}"), reason)
}

fn https_url(field: &str, v: &str) -> Result<Url, ConnectorError> {
    let u = Url::parse(v).map_err(|e| bad(field, format!("`{v}` is not a URL: {e}")))?;
    if u.scheme() != "https" {
        return Err(bad(field, format!("`{v}` must be https")));
    }
    if u.host_str().is_none() || !u.username().is_empty() || u.password().is_some() {
        return Err(bad(
            field,
            format!("`{v}` must have a host and no user info"),
        ));
    }
    public_host(field, v, &u)?;
    Ok(u)
}

/// A definition's endpoints are on the public internet: a host name of
/// RFC 1123 labels (no wildcard, at least two labels, not `localhost`
/// or a local-only suffix), or a public IP address (the host's own
/// address rules). Checked when the definition is added; egress checks
/// the resolved addresses again on every request.
fn public_host(field: &str, v: &str, u: &Url) -> Result<(), ConnectorError> {
    use connhost_policy::address::is_public;
    let refuse = |why: &str| Err(bad(field, format!("`{v}`: {why}")));
    let ip = match u.host() {
        Some(url::Host::Ipv4(a)) => std::net::IpAddr::V4(a),
        Some(url::Host::Ipv6(a)) => std::net::IpAddr::V6(a),
        Some(url::Host::Domain(name)) => {
            let name = name.to_ascii_lowercase();
            if !connhost_policy::origin::is_host_name(&name) || !name.contains('.') {
                return refuse("the host must be a full host name of letters, digits and hyphens (RFC 1123), no wildcard");
            }
            let tld = name.rsplit('.').next().unwrap_or_default();
            if ["localhost", "local", "internal", "localdomain", "arpa"].contains(&tld) {
                return refuse("a local-only host name is not allowed");
            }
            return Ok(());
        }
        None => return refuse("no host"),
    };
    if !is_public(ip) {
        return refuse("a loopback, private, link-local or reserved address is not allowed");
    }
    Ok(())
}

/// OAuth parameters the connector sets itself (RFC 6749, RFC 7636): a
/// definition's extra parameters must not replace them (a definition
/// that set `redirect_uri` or `state` would take the code elsewhere).
const RESERVED_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "client_secret",
    "redirect_uri",
    "scope",
    "state",
    "code",
    "code_challenge",
    "code_challenge_method",
    "code_verifier",
    "grant_type",
    "refresh_token",
    "client_assertion",
    "client_assertion_type",
    "assertion",
    "request",
    "request_uri",
    "iss",
];

fn check_params(field: &str, params: &BTreeMap<String, String>) -> Result<(), ConnectorError> {
    for (k, v) in params {
        let lower = k.to_ascii_lowercase();
        if RESERVED_PARAMS.contains(&lower.as_str()) {
            return Err(bad(
                &format!("{field}.{k}"),
                "is an OAuth parameter the connector sets itself; a definition may not set it",
            ));
        }
        if k.is_empty() || k.chars().chain(v.chars()).any(char::is_control) {
            return Err(bad(
                &format!("{field}.{k}"),
                "must be a non-empty name, and name and value without control characters",
            ));
        }
    }
    Ok(())
}

/// An HTTP field name (RFC 9110 §5.6.2 token) the definition may set: not
/// one that frames or routes the request.
fn check_header_name(field: &str, name: &str) -> Result<(), ConnectorError> {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(tchar) {
        return Err(bad(
            field,
            "must be an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)",
        ));
    }
    let lower = name.to_ascii_lowercase();
    let framing = [
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "upgrade",
        "te",
        "trailer",
        "keep-alive",
        "proxy-connection",
        "expect",
        "cookie",
    ];
    if framing.contains(&lower.as_str()) {
        return Err(bad(
            field,
            format!("`{name}` is the host's to set; choose another header"),
        ));
    }
    Ok(())
}

pub fn origin_of(u: &Url) -> String {
    match u.port() {
        Some(p) => format!("https://{}:{p}", u.host_str().unwrap_or("")),
        None => format!("https://{}", u.host_str().unwrap_or("")),
    }
}

impl Definition {
    /// Parses and checks a definition.
    pub fn parse(json: &str) -> Result<Definition, ConnectorError> {
        let d: Definition = serde_json::from_str(json).map_err(|e| {
            // serde names the field in its message ("unknown field `x`",
            // "missing field `y`").
            invalid("definition", e.to_string())
        })?;
        d.validate()?;
        Ok(d)
    }

    pub fn shipped(id: &str) -> Option<Definition> {
        SHIPPED
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, json)| Definition::parse(json).expect("shipped definitions are valid"))
    }

    pub fn validate(&self) -> Result<(), ConnectorError> {
        if self.id.is_empty()
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(bad("id", "must match [A-Za-z0-9_-]+"));
        }
        for (field, v) in [
            ("authorize_url", &self.authorize_url),
            ("token_url", &self.token_url),
            ("revocation_url", &self.revocation_url),
        ] {
            if let Some(v) = v {
                https_url(field, v)?;
            }
        }
        if let Some(i) = &self.issuer {
            https_url("issuer", i)?;
        }
        match self.auth_mode {
            AuthMode::Oauth2 => {
                if self.authorize_url.is_none() {
                    return Err(bad("authorize_url", "is required for auth_mode oauth2"));
                }
                if self.token_url.is_none() {
                    return Err(bad("token_url", "is required for auth_mode oauth2"));
                }
            }
            AuthMode::Oauth2Cc => {
                if self.token_url.is_none() {
                    return Err(bad("token_url", "is required for auth_mode oauth2_cc"));
                }
            }
            AuthMode::ApiKey => {
                let Some(k) = &self.api_key else {
                    return Err(bad("api_key", "is required for auth_mode api_key"));
                };
                if k.name.is_empty() {
                    return Err(bad("api_key.name", "must not be empty"));
                }
                match k.location {
                    KeyLocation::Header => check_header_name("api_key.name", &k.name)?,
                    KeyLocation::Query => {
                        if k.name.chars().any(char::is_control) {
                            return Err(bad("api_key.name", "must not hold control characters"));
                        }
                    }
                }
                // A header value: visible characters, spaces and tabs only
                // (RFC 9110 §5.5), so no CR/LF starts another header.
                if k.prefix.chars().any(|c| c.is_control() && c != '\t') {
                    return Err(bad(
                        "api_key.prefix",
                        "must not hold control characters (CR, LF, …)",
                    ));
                }
            }
            AuthMode::Basic => {}
        }
        if let Some(ca) = &self.client_auth {
            if !matches!(
                ca.as_str(),
                "client_secret_basic" | "client_secret_basic_raw" | "client_secret_post"
            ) {
                return Err(bad(
                    "client_auth",
                    format!("`{ca}`: expected client_secret_basic, client_secret_basic_raw or client_secret_post"),
                ));
            }
        }
        check_params("authorize_params", &self.authorize_params)?;
        check_params("token_params", &self.token_params)?;
        if self.scope_separator.is_empty() {
            return Err(bad("scope_separator", "must not be empty"));
        }
        let Some(v) = &self.verify else {
            return Err(bad(
                "verify",
                "is required: how to check a connection works",
            ));
        };
        https_url("verify.url", &v.url)?;
        if !matches!(v.method.as_str(), "GET" | "POST") {
            return Err(bad("verify.method", "must be GET or POST"));
        }
        if let Some(p) = &v.label {
            if !p.is_empty() && !p.starts_with('/') {
                return Err(bad("verify.label", "must be a JSON pointer such as /email"));
            }
        }
        for (i, h) in self.hosts.iter().enumerate() {
            let u = https_url(&format!("hosts[{i}]"), h)?;
            if u.path() != "/" || u.query().is_some() {
                return Err(bad(
                    &format!("hosts[{i}]"),
                    format!("`{h}` must be a bare origin"),
                ));
            }
        }
        Ok(())
    }

    /// Every origin this definition's endpoints live on, plus `hosts`.
    pub fn origins(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let urls = [
            &self.issuer,
            &self.authorize_url,
            &self.token_url,
            &self.revocation_url,
        ];
        let verify = self.verify.as_ref().map(|v| v.url.clone());
        for u in urls
            .into_iter()
            .flatten()
            .chain(verify.iter())
            .chain(self.hosts.iter())
        {
            if let Ok(parsed) = Url::parse(u) {
                let o = origin_of(&parsed);
                if !out.contains(&o) {
                    out.push(o);
                }
            }
        }
        out
    }
}

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
            id,
            display_name: None,
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
            scopes: self.scopes_supported,
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
