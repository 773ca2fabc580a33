//! Provider definitions: the data that tells the generic connector how a
//! service authenticates. Parsed strictly; every error names the field.

use crate::template::{self, FieldDecl, Shape, Values};
use connhost_sdk::{invalid, ConnectorError, Fields};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use url::Url;

pub use crate::shipped::SHIPPED;

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
    /// Resource-owner password grant (RFC 6749 §4.3).
    Password,
    /// A key exchanged at a token endpoint for a short-lived token.
    KeyExchange,
    /// AWS Signature Version 4 on every request.
    AwsSigv4,
    /// RFC 7523 §2.1: a JWT signed with the user's private key is the grant.
    JwtBearer,
    /// An HMAC of each request (a provider's own string to sign) in a header.
    Hmac,
}

impl AuthMode {
    pub fn id(self) -> &'static str {
        match self {
            AuthMode::Oauth2 => "oauth2",
            AuthMode::Oauth2Cc => "oauth2_cc",
            AuthMode::ApiKey => "api_key",
            AuthMode::Basic => "basic",
            AuthMode::Password => "password",
            AuthMode::KeyExchange => "key_exchange",
            AuthMode::AwsSigv4 => "aws_sigv4",
            AuthMode::JwtBearer => "jwt_bearer",
            AuthMode::Hmac => "hmac",
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KeyLocation {
    Header,
    Query,
    /// HTTP Basic: the key as the password, a fixed user name.
    Basic,
    /// HTTP Basic: the key as the user name, an empty or fixed password.
    BasicUser,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySpec {
    #[serde(rename = "in")]
    pub location: KeyLocation,
    /// Header or query parameter name.
    #[serde(default)]
    pub name: String,
    /// Text before the key (header only), e.g. `Bearer `.
    #[serde(default)]
    pub prefix: String,
    /// The fixed user name (`in: basic` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The fixed password (`in: basic_user` only; empty when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A second key (secret `app_key`) on every request, header or query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second: Option<SecondKey>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecondKey {
    #[serde(rename = "in")]
    pub location: KeyLocation,
    pub name: String,
    #[serde(default)]
    pub prefix: String,
}

/// `aws_sigv4`: the service and region a request is signed for.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSpec {
    /// The signing name, e.g. `sts`, `execute-api`.
    pub service: String,
    /// A template, usually `{region}`.
    #[serde(default = "region_tpl")]
    pub region: String,
}

fn region_tpl() -> String {
    "{region}".into()
}

/// `hmac`: how a provider signs a request with the connection's secret
/// `signing_secret` (the host computes the MAC).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HmacSpec {
    /// `hmac-sha256` (default) or `hmac-sha1`.
    #[serde(default = "sha256_alg")]
    pub algorithm: String,
    /// `hex` (default) or `base64`.
    #[serde(default = "hex_enc")]
    pub encoding: String,
    /// A template over `{timestamp}`, `{nonce}`, `{method}`, `{path}`
    /// (with the query), `{body}`, `{key_id}` and the declared fields;
    /// `\n` is a newline.
    pub string_to_sign: String,
    /// Header carrying the signature, with `prefix` before it.
    pub header: String,
    #[serde(default)]
    pub prefix: String,
    /// Header carrying the connection's `key_id`, if the provider wants one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_header: Option<String>,
    /// `unix` (default), `unix_ms` or `iso8601`.
    #[serde(default = "unix")]
    pub timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce_header: Option<String>,
}

fn sha256_alg() -> String {
    "hmac-sha256".into()
}
fn hex_enc() -> String {
    "hex".into()
}
fn unix() -> String {
    "unix".into()
}

/// A JWT the connector builds and the host signs (`jwt_bearer`,
/// `private_key_jwt`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSpec {
    #[serde(default = "rs256")]
    pub alg: String,
    /// `aud`; the token endpoint when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    #[serde(default = "hour")]
    pub lifetime: u64,
    /// Extra claims; string values are templates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claims: BTreeMap<String, serde_json::Value>,
    /// Scopes as the `scope` claim (Google) rather than a form parameter.
    #[serde(default)]
    pub scope_claim: bool,
}

fn rs256() -> String {
    "RS256".into()
}
fn hour() -> u64 {
    3600
}

/// Where an access token goes on requests.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    #[serde(rename = "in")]
    pub location: KeyLocation,
    #[serde(default = "authorization")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

fn authorization() -> String {
    "Authorization".into()
}

/// `key_exchange`: where the key is traded for a token.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyExchange {
    pub url: String,
    /// Form parameter carrying the key; empty: Basic with `username`.
    #[serde(default = "api_key_param")]
    pub param: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default = "access_token_ptr")]
    pub token_pointer: String,
    #[serde(default = "expires_ptr")]
    pub expires_pointer: String,
    /// `form` (default) or `json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The JSON body (`body: json`); string values are templates, and
    /// `{username}` is the connection's user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<serde_json::Value>,
    /// Where the key goes in the JSON body, e.g. `/secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_pointer: Option<String>,
}

fn api_key_param() -> String {
    "api_key".into()
}
fn access_token_ptr() -> String {
    "/access_token".into()
}
fn expires_ptr() -> String {
    "/expires_in".into()
}

/// An API origin the token response names (Salesforce's `instance_url`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenOrigin {
    pub pointer: String,
    /// `https://*.my.salesforce.com`: what the answer must match.
    pub pattern: String,
}

/// One scope of the catalogue: a bare name (v1) or described (v2).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ScopeEntry {
    Name(String),
    Spec(ScopeSpec),
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeSpec {
    pub name: String,
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub description: String,
}

impl ScopeEntry {
    pub fn name(&self) -> &str {
        match self {
            ScopeEntry::Name(n) => n,
            ScopeEntry::Spec(s) => &s.name,
        }
    }
}

pub const CATEGORIES: &[&str] = &[
    "crm",
    "support",
    "marketing",
    "communication",
    "dev-tools",
    "cloud",
    "monitoring",
    "security",
    "storage",
    "productivity",
    "project-management",
    "hr",
    "finance",
    "payments",
    "e-commerce",
    "analytics",
    "forms",
    "documents",
    "design",
    "social",
    "ai",
    "other",
];

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
    /// 2 for this format; absent is version 1 (no v2 keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<u8>,
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs: Option<String>,
    pub auth_mode: AuthMode,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, FieldDecl>,
    /// RFC 8414 issuer identifier; checked against `iss` on callbacks.
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub authorize_url: Option<String>,
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_url: Option<String>,
    #[serde(default)]
    pub revocation_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_url: Option<String>,
    #[serde(default)]
    pub default_scopes: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<ScopeEntry>,
    #[serde(default = "space")]
    pub scope_separator: String,
    /// `client_secret_basic` (default), `client_secret_basic_raw`, `client_secret_post`.
    #[serde(default)]
    pub client_auth: Option<String>,
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
    #[serde(default)]
    pub token_params: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub refresh_params: BTreeMap<String, String>,
    #[serde(default = "yes")]
    pub pkce: bool,
    /// Seconds a token lives when the token response has no `expires_in`.
    #[serde(default)]
    pub default_lifetime: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenSpec>,
    #[serde(default)]
    pub api_key: Option<ApiKeySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_exchange: Option<KeyExchange>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base: Option<String>,
    #[serde(default)]
    pub verify: Option<VerifySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_origin: Option<TokenOrigin>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub self_hosted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac: Option<HmacSpec>,
    /// Origins the connection may call besides the endpoints above.
    #[serde(default)]
    pub hosts: Vec<String>,
}

/// The state field holding an origin a token response named.
pub const API_ORIGIN: &str = "api_origin";

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

    fn v2(&self) -> bool {
        self.format == Some(2)
    }

    /// Keys version 1 does not have, set in a version 1 definition.
    fn v2_keys_set(&self) -> Option<&'static str> {
        let scope_specs = self.scopes.iter().any(|s| matches!(s, ScopeEntry::Spec(_)));
        let keyed_basic = self.api_key.as_ref().is_some_and(|k| {
            matches!(k.location, KeyLocation::Basic | KeyLocation::BasicUser) || k.second.is_some()
        }) || self.client_auth.as_deref() == Some("private_key_jwt");
        [
            ("category", self.category.is_some()),
            ("docs", self.docs.is_some()),
            ("fields", !self.fields.is_empty()),
            ("refresh_url", self.refresh_url.is_some()),
            ("introspection_url", self.introspection_url.is_some()),
            ("refresh_params", !self.refresh_params.is_empty()),
            ("token", self.token.is_some()),
            ("key_exchange", self.key_exchange.is_some()),
            ("headers", !self.headers.is_empty()),
            ("query", !self.query.is_empty()),
            ("api_base", self.api_base.is_some()),
            ("token_origin", self.token_origin.is_some()),
            ("self_hosted", self.self_hosted),
            ("aws", self.aws.is_some()),
            ("jwt", self.jwt.is_some()),
            ("hmac", self.hmac.is_some()),
            ("scopes", scope_specs),
            ("api_key.in", keyed_basic),
            (
                "auth_mode",
                matches!(
                    self.auth_mode,
                    AuthMode::Password
                        | AuthMode::KeyExchange
                        | AuthMode::AwsSigv4
                        | AuthMode::JwtBearer
                        | AuthMode::Hmac
                ),
            ),
            ("verify", self.verify.is_none()),
        ]
        .into_iter()
        .find(|(_, set)| *set)
        .map(|(k, _)| k)
    }

    /// Every URL template with the name of its key.
    fn url_templates(&self) -> Vec<(String, &str)> {
        let mut out: Vec<(String, &str)> = [
            ("authorize_url", &self.authorize_url),
            ("token_url", &self.token_url),
            ("refresh_url", &self.refresh_url),
            ("revocation_url", &self.revocation_url),
            ("introspection_url", &self.introspection_url),
            ("api_base", &self.api_base),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k.to_string(), v)))
        .collect();
        if let Some(v) = &self.verify {
            out.push(("verify.url".into(), &v.url));
        }
        if let Some(k) = &self.key_exchange {
            out.push(("key_exchange.url".into(), &k.url));
        }
        for (i, h) in self.hosts.iter().enumerate() {
            out.push((format!("hosts[{i}]"), h));
        }
        out
    }

    pub fn validate(&self) -> Result<(), ConnectorError> {
        match self.format {
            None | Some(1) => {
                if let Some(k) = self.v2_keys_set() {
                    let what = if k == "verify" {
                        "is required in format 1; add \"format\": 2 to leave it out".to_string()
                    } else {
                        "is a format 2 key: add \"format\": 2".to_string()
                    };
                    return Err(bad(k, what));
                }
            }
            Some(2) => {}
            Some(n) => return Err(bad("format", format!("`{n}`: expected 1 or 2"))),
        }
        if self.id.is_empty()
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(bad("id", "must match [A-Za-z0-9_-]+"));
        }
        if let Some(c) = &self.category {
            if !CATEGORIES.contains(&c.as_str()) {
                return Err(bad(
                    "category",
                    format!("`{c}`: expected one of {}", CATEGORIES.join(", ")),
                ));
            }
        }
        if let Some(d) = &self.docs {
            https_url("docs", d)?;
        }
        for (name, decl) in &self.fields {
            decl.validate(name, self.self_hosted)?;
        }
        for (field, tpl) in self.url_templates() {
            let (sample, shape) = template::check_url(&field, tpl, &self.fields, self.self_hosted)?;
            if let Shape::Finite(origins) = &shape {
                for o in origins {
                    https_url(&field, o)?;
                }
            }
            let u = https_url(&field, &sample)?;
            if field.starts_with("hosts[") && (u.path() != "/" || u.query().is_some()) {
                return Err(bad(&field, format!("`{tpl}` must be a bare origin")));
            }
        }
        if let Some(i) = &self.issuer {
            https_url("issuer", i)?;
        }
        let verify_optional = self.v2()
            && matches!(
                self.auth_mode,
                AuthMode::Oauth2
                    | AuthMode::Oauth2Cc
                    | AuthMode::Password
                    | AuthMode::KeyExchange
                    | AuthMode::JwtBearer
            );
        match self.auth_mode {
            AuthMode::Oauth2 => {
                if self.authorize_url.is_none() {
                    return Err(bad("authorize_url", "is required for auth_mode oauth2"));
                }
                if self.token_url.is_none() {
                    return Err(bad("token_url", "is required for auth_mode oauth2"));
                }
            }
            AuthMode::AwsSigv4 => {
                let Some(a) = &self.aws else {
                    return Err(bad("aws", "is required for auth_mode aws_sigv4: {\"service\": …, \"region\": \"{region}\"}"));
                };
                if a.service.is_empty()
                    || !a
                        .service
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-')
                {
                    return Err(bad(
                        "aws.service",
                        "must be a signing name such as sts or execute-api",
                    ));
                }
                template::check_value("aws.region", &a.region, &self.fields)?;
            }
            AuthMode::Hmac => {
                let Some(h) = &self.hmac else {
                    return Err(bad(
                        "hmac",
                        "is required for auth_mode hmac: {\"string_to_sign\": …, \"header\": …}",
                    ));
                };
                if !matches!(h.algorithm.as_str(), "hmac-sha256" | "hmac-sha1") {
                    return Err(bad("hmac.algorithm", "must be hmac-sha256 or hmac-sha1"));
                }
                if !matches!(h.encoding.as_str(), "hex" | "base64") {
                    return Err(bad("hmac.encoding", "must be hex or base64"));
                }
                if !matches!(h.timestamp.as_str(), "unix" | "unix_ms" | "iso8601") {
                    return Err(bad("hmac.timestamp", "must be unix, unix_ms or iso8601"));
                }
                check_header_name("hmac.header", &h.header)?;
                for (f, name) in [
                    ("hmac.key_header", &h.key_header),
                    ("hmac.timestamp_header", &h.timestamp_header),
                    ("hmac.nonce_header", &h.nonce_header),
                ] {
                    if let Some(n) = name {
                        check_header_name(f, n)?;
                    }
                }
                let builtin = ["timestamp", "nonce", "method", "path", "body", "key_id"];
                // The provider must be able to rebuild what was signed.
                for (name, header) in [
                    ("timestamp", &h.timestamp_header),
                    ("nonce", &h.nonce_header),
                ] {
                    if h.string_to_sign.contains(&format!("{{{name}}}")) && header.is_none() {
                        return Err(bad(
                            &format!("hmac.{name}_header"),
                            format!("is required: the string to sign uses {{{name}}}, so it must be sent"),
                        ));
                    }
                }
                for n in template::placeholders("hmac.string_to_sign", &h.string_to_sign)? {
                    if !builtin.contains(&n) && !self.fields.contains_key(n) {
                        return Err(bad(
                            "hmac.string_to_sign",
                            format!(
                                "`{{{n}}}` is neither a declared field nor one of {}",
                                builtin.join(", ")
                            ),
                        ));
                    }
                }
            }
            AuthMode::JwtBearer => {
                if self.token_url.is_none() {
                    return Err(bad("token_url", "is required for auth_mode jwt_bearer"));
                }
            }
            AuthMode::Oauth2Cc | AuthMode::Password => {
                if self.token_url.is_none() {
                    return Err(bad(
                        "token_url",
                        format!("is required for auth_mode {}", self.auth_mode.id()),
                    ));
                }
            }
            AuthMode::KeyExchange => {
                let Some(k) = &self.key_exchange else {
                    return Err(bad(
                        "key_exchange",
                        "is required for auth_mode key_exchange",
                    ));
                };
                if k.param.is_empty() && k.username.is_none() {
                    return Err(bad(
                        "key_exchange.param",
                        "name the form parameter for the key, or give `username` to send it as a Basic password",
                    ));
                }
                for (f, p) in [
                    ("key_exchange.token_pointer", &k.token_pointer),
                    ("key_exchange.expires_pointer", &k.expires_pointer),
                ] {
                    if !p.starts_with('/') {
                        return Err(bad(f, "must be a JSON pointer such as /access_token"));
                    }
                }
            }
            AuthMode::ApiKey => {
                let Some(k) = &self.api_key else {
                    return Err(bad("api_key", "is required for auth_mode api_key"));
                };
                match k.location {
                    KeyLocation::Header => check_header_name("api_key.name", &k.name)?,
                    KeyLocation::Query => {
                        if k.name.is_empty() || k.name.chars().any(char::is_control) {
                            return Err(bad(
                                "api_key.name",
                                "must be a parameter name without control characters",
                            ));
                        }
                    }
                    KeyLocation::BasicUser => {
                        if k.password
                            .as_deref()
                            .unwrap_or_default()
                            .chars()
                            .any(char::is_control)
                        {
                            return Err(bad(
                                "api_key.password",
                                "must not hold control characters",
                            ));
                        }
                    }
                    KeyLocation::Basic => {
                        let Some(u) = &k.username else {
                            return Err(bad(
                                "api_key.username",
                                "is required with \"in\": \"basic\" (the fixed user name; \"\" for none)",
                            ));
                        };
                        if u.contains(':') || u.chars().any(char::is_control) {
                            return Err(bad(
                                "api_key.username",
                                "must not hold `:` or control characters (RFC 7617)",
                            ));
                        }
                    }
                }
                if let Some(second) = &k.second {
                    match second.location {
                        KeyLocation::Header => {
                            check_header_name("api_key.second.name", &second.name)?
                        }
                        KeyLocation::Query if !second.name.is_empty() => {}
                        _ => {
                            return Err(bad(
                                "api_key.second.in",
                                "must be header or query, with a name",
                            ))
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
        if let Some(j) = &self.jwt {
            if !matches!(j.alg.as_str(), "RS256" | "ES256") {
                return Err(bad(
                    "jwt.alg",
                    format!("`{}`: expected RS256 or ES256", j.alg),
                ));
            }
            if j.lifetime == 0 || j.lifetime > 3600 {
                return Err(bad("jwt.lifetime", "must be 1 to 3600 seconds"));
            }
            if let Some(a) = &j.audience {
                template::check_value("jwt.audience", a, &self.fields)?;
            }
            for k in j.claims.keys() {
                if ["iss", "sub", "aud", "iat", "exp", "jti"].contains(&k.as_str()) {
                    return Err(bad(
                        &format!("jwt.claims.{k}"),
                        "is a claim the connector sets itself",
                    ));
                }
            }
        }
        if let Some(k) = &self.key_exchange {
            match k.body.as_deref() {
                None | Some("form") => {}
                Some("json") => {
                    if !k.json.as_ref().is_none_or(|v| v.is_object()) {
                        return Err(bad("key_exchange.json", "must be a JSON object"));
                    }
                    if !k.key_pointer.as_deref().is_some_and(|p| p.starts_with('/')) {
                        return Err(bad(
                            "key_exchange.key_pointer",
                            "is required with body json: a JSON pointer such as /secret",
                        ));
                    }
                }
                Some(other) => {
                    return Err(bad(
                        "key_exchange.body",
                        format!("`{other}`: expected form or json"),
                    ))
                }
            }
        }
        if let Some(t) = &self.token {
            match t.location {
                KeyLocation::Header => check_header_name("token.name", &t.name)?,
                KeyLocation::Query => {
                    if t.name.is_empty() || t.name.chars().any(char::is_control) {
                        return Err(bad("token.name", "must be a parameter name"));
                    }
                }
                KeyLocation::Basic | KeyLocation::BasicUser => {
                    return Err(bad("token.in", "must be header or query"));
                }
            }
            if t.prefix
                .as_deref()
                .unwrap_or_default()
                .chars()
                .any(|c| c.is_control() && c != '\t')
            {
                return Err(bad("token.prefix", "must not hold control characters"));
            }
        }
        if let Some(ca) = &self.client_auth {
            if !matches!(
                ca.as_str(),
                "client_secret_basic"
                    | "client_secret_basic_raw"
                    | "client_secret_post"
                    | "private_key_jwt"
            ) {
                return Err(bad(
                    "client_auth",
                    format!("`{ca}`: expected client_secret_basic, client_secret_basic_raw, client_secret_post or private_key_jwt"),
                ));
            }
        }
        for (name, params) in [
            ("authorize_params", &self.authorize_params),
            ("token_params", &self.token_params),
            ("refresh_params", &self.refresh_params),
        ] {
            check_params(name, params)?;
            for (k, v) in params {
                template::check_value(&format!("{name}.{k}"), v, &self.fields)?;
            }
        }
        for (k, v) in &self.headers {
            check_header_name(&format!("headers.{k}"), k)?;
            if k.eq_ignore_ascii_case("authorization") {
                return Err(bad(
                    &format!("headers.{k}"),
                    "credentials go in `api_key` or `token`, never in a static header",
                ));
            }
            template::check_value(&format!("headers.{k}"), v, &self.fields)?;
        }
        for (k, v) in &self.query {
            if k.is_empty() || k.chars().any(char::is_control) {
                return Err(bad(&format!("query.{k}"), "must be a parameter name"));
            }
            template::check_value(&format!("query.{k}"), v, &self.fields)?;
        }
        if self.scope_separator.is_empty() {
            return Err(bad("scope_separator", "must not be empty"));
        }
        for (i, s) in self.scopes.iter().enumerate() {
            let n = s.name();
            if n.is_empty() || n.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad(
                    &format!("scopes[{i}]"),
                    "a scope name is non-empty text without spaces",
                ));
            }
        }
        if let Some(o) = &self.token_origin {
            if !o.pointer.starts_with('/') {
                return Err(bad(
                    "token_origin.pointer",
                    "must be a JSON pointer such as /instance_url",
                ));
            }
            match connhost_policy::OriginPattern::parse(&o.pattern) {
                Ok(
                    connhost_policy::OriginPattern::Subdomains { .. }
                    | connhost_policy::OriginPattern::Exact(_),
                ) => {}
                _ => {
                    return Err(bad(
                        "token_origin.pattern",
                        format!(
                            "`{}`: must be https://host or https://*.domain.tld",
                            o.pattern
                        ),
                    ))
                }
            }
        }
        match &self.verify {
            None if verify_optional => {}
            None => {
                return Err(bad(
                    "verify",
                    format!(
                        "is required for auth_mode {}: how to check a connection works",
                        self.auth_mode.id()
                    ),
                ))
            }
            Some(v) => {
                if !matches!(v.method.as_str(), "GET" | "POST") {
                    return Err(bad("verify.method", "must be GET or POST"));
                }
                if let Some(p) = &v.label {
                    if !p.is_empty() && !p.starts_with('/') {
                        return Err(bad("verify.label", "must be a JSON pointer such as /email"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The values of the fields this definition declares, checked; an
    /// error names the missing or malformed field.
    pub fn values(&self, f: &Fields) -> Result<Values, ConnectorError> {
        let mut out = Values::new();
        for (name, decl) in &self.fields {
            let v = match f.get(name).or(decl.default.as_deref()) {
                Some(v) => v.trim(),
                None => {
                    return Err(invalid(
                        name,
                        format!(
                            "is required by provider `{}` ({}{})",
                            self.id,
                            decl.label,
                            decl.help
                                .as_deref()
                                .map(|h| format!(": {h}"))
                                .unwrap_or_default()
                        ),
                    ))
                }
            };
            decl.check(name, v)?;
            out.insert(name.clone(), v.to_string());
        }
        Ok(out)
    }

    /// A URL template filled from `values`.
    pub fn url(&self, tpl: &str, values: &Values) -> String {
        template::fill(tpl, values)
    }

    /// Every origin this connection may call: `api_base`'s first, then
    /// the endpoints and `hosts`, filled from `values`; the API origin a
    /// token response named, when it matches `token_origin.pattern`.
    pub fn origins(&self, values: &Values, api_origin: Option<&str>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |o: String| {
            if !out.contains(&o) {
                out.push(o);
            }
        };
        if let Some(o) = api_origin.filter(|o| self.token_origin_allows(o)) {
            push(o.to_string());
        }
        let mut urls: Vec<&str> = Vec::new();
        urls.extend(self.api_base.as_deref());
        urls.extend(self.issuer.as_deref());
        for (_, u) in self.url_templates() {
            urls.push(u);
        }
        for u in urls {
            if let Ok(parsed) = Url::parse(&template::fill(u, values)) {
                push(origin_of(&parsed));
            }
        }
        out
    }

    /// What this definition's connections may call, before any field is
    /// known: exact origins, `https://*.domain` for templated hosts,
    /// `{field:host}` for a self-hosted host, and the `token_origin`
    /// pattern. The host keeps these as the definition's approved origins.
    pub fn origin_patterns(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |o: String| {
            if !out.contains(&o) {
                out.push(o);
            }
        };
        if let Some(o) = &self.token_origin {
            push(o.pattern.clone());
        }
        if let Some(i) = &self.issuer {
            if let Ok(u) = Url::parse(i) {
                push(origin_of(&u));
            }
        }
        for (field, tpl) in self.url_templates() {
            match template::check_url(&field, tpl, &self.fields, self.self_hosted) {
                Ok((_, Shape::Exact)) => {
                    if let Ok(u) = Url::parse(tpl) {
                        push(origin_of(&u));
                    }
                }
                Ok((_, Shape::Under(p))) => push(p),
                Ok((_, Shape::Field(name))) => push(format!("{{field:{name}}}")),
                Ok((_, Shape::Finite(origins))) => origins.into_iter().for_each(&mut push),
                Err(_) => {}
            }
        }
        out
    }

    pub fn token_origin_allows(&self, origin: &str) -> bool {
        let Some(t) = &self.token_origin else {
            return false;
        };
        let (Ok(p), Ok(o)) = (
            connhost_policy::OriginPattern::parse(&t.pattern),
            connhost_policy::Origin::parse_bare(origin),
        ) else {
            return false;
        };
        p.matches(&o, &connhost_policy::pattern::MatchScope::none())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shipped definition parses, is format 2 (or one of the first
    /// six, format 1), names its category and docs page, and keeps its
    /// origins bounded: each is an exact origin, a subdomain pattern of a
    /// domain of at least two labels, or (self-hosted) the host field.
    #[test]
    fn every_shipped_definition_parses_and_is_bounded() {
        let mut failures = Vec::new();
        for (id, json) in SHIPPED {
            let d = match Definition::parse(json) {
                Ok(d) => d,
                Err(e) => {
                    failures.push(format!("{id}: {e:?}"));
                    continue;
                }
            };
            if d.id != *id {
                failures.push(format!("{id}: the file is named for `{}`", d.id));
            }
            if d.v2() && (d.category.is_none() || d.docs.is_none() || d.display_name.is_none()) {
                failures.push(format!(
                    "{id}: a shipped definition needs display_name, category and docs"
                ));
            }
            for p in d.origin_patterns() {
                match connhost_policy::OriginPattern::parse(&p) {
                    Ok(connhost_policy::OriginPattern::Exact(_))
                    | Ok(connhost_policy::OriginPattern::Subdomains { .. }) => {}
                    Ok(connhost_policy::OriginPattern::Field(f))
                        if d.self_hosted && f == "host" => {}
                    other => failures.push(format!("{id}: origin `{p}` is not bounded: {other:?}")),
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} bad:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn version_one_keeps_loading_and_refuses_v2_keys() {
        let v1 = r#"{"id":"x","auth_mode":"api_key","api_key":{"in":"header","name":"X-Key"},"verify":{"url":"https://api.x.io/me"}}"#;
        Definition::parse(v1).unwrap();
        let with_headers = v1.replace(r#""id":"x""#, r#""id":"x","headers":{"X-V":"1"}"#);
        let e = Definition::parse(&with_headers).unwrap_err();
        assert!(
            matches!(&e, ConnectorError::InvalidInput(f) if f.field == "definition.headers"),
            "{e:?}"
        );
        let v2 = with_headers.replace(r#""id":"x""#, r#""format":2,"id":"x""#);
        Definition::parse(&v2).unwrap();
    }

    #[test]
    fn v2_errors_name_the_field() {
        let base = serde_json::json!({
            "format": 2, "id": "z", "auth_mode": "oauth2",
            "fields": {"subdomain": {"label": "Subdomain", "rule": "dns_label"}},
            "authorize_url": "https://{subdomain}.zendesk.com/oauth/authorizations/new",
            "token_url": "https://{subdomain}.zendesk.com/oauth/tokens",
        });
        let d = Definition::parse(&base.to_string()).unwrap();
        assert_eq!(
            d.origin_patterns(),
            vec!["https://*.zendesk.com".to_string()]
        );
        let values = Values::from([("subdomain".to_string(), "acme".to_string())]);
        assert_eq!(
            d.origins(&values, None),
            vec!["https://acme.zendesk.com".to_string()]
        );
        let cases: &[(&str, serde_json::Value, &str)] = &[
            (
                "/token_url",
                "https://{subdomain}.com/t".into(),
                "definition.token_url",
            ),
            (
                "/token_url",
                "https://{region}.zendesk.com/t".into(),
                "definition.token_url",
            ),
            (
                "/fields/subdomain/rule",
                "hostname".into(),
                "definition.fields.subdomain.rule",
            ),
            (
                "/fields/nickname",
                serde_json::json!({"label": "N", "rule": "id"}),
                "definition.fields.nickname",
            ),
            (
                "/headers",
                serde_json::json!({"Authorization": "x"}),
                "definition.headers.Authorization",
            ),
            (
                "/headers",
                serde_json::json!({"X-A": "a\r\nB: c"}),
                "definition.headers.X-A",
            ),
            (
                "/token_params",
                serde_json::json!({"redirect_uri": "x"}),
                "definition.token_params.redirect_uri",
            ),
            ("/category", "toys".into(), "definition.category"),
            (
                "/token_origin",
                serde_json::json!({"pointer": "/instance_url", "pattern": "https://*"}),
                "definition.token_origin.pattern",
            ),
        ];
        for (path, value, field) in cases {
            let mut bad = base.clone();
            let (parent, key) = path.rsplit_once('/').unwrap();
            bad.pointer_mut(if parent.is_empty() { "" } else { parent })
                .unwrap()
                .as_object_mut()
                .unwrap()
                .insert(key.to_string(), value.clone());
            let e = Definition::parse(&bad.to_string()).unwrap_err();
            assert!(
                matches!(&e, ConnectorError::InvalidInput(f) if f.field == *field),
                "{path}: {e:?}"
            );
        }
    }
}
