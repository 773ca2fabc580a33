//! The types of a definition's parts: auth modes, where credentials go,
//! signing specs, scopes, verification, categories.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// OAuth 1.0a three-legged consent (RFC 5849), every request signed.
    Oauth1,
    /// OAuth 1.0 with a token the user created at the provider (NetSuite's
    /// token-based authentication, X's own access tokens), every request signed.
    Oauth1Token,
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
            AuthMode::Oauth1 => "oauth1",
            AuthMode::Oauth1Token => "oauth1_token",
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

/// `oauth1`, `oauth1_token`: where the temporary credentials come from and
/// how requests are signed (RFC 5849).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth1Spec {
    /// The temporary-credential endpoint (§2.1); `oauth1` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_token_url: Option<String>,
    /// `HMAC-SHA1` (default) or `HMAC-SHA256`.
    #[serde(default = "hmac_sha1")]
    pub signature_method: String,
    /// `realm` in the `Authorization` header, a template (e.g. `{account}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// The authorization URL's parameter for scopes (`scope`); scopes are
    /// not sent when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_param: Option<String>,
}

fn hmac_sha1() -> String {
    "HMAC-SHA1".into()
}

// What an `oauth1_token` definition without an `oauth1` key means.
impl Default for OAuth1Spec {
    fn default() -> Self {
        OAuth1Spec {
            request_token_url: None,
            signature_method: hmac_sha1(),
            realm: None,
            scope_param: None,
        }
    }
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

pub(crate) fn get() -> String {
    "GET".into()
}
pub(crate) fn ok200() -> u16 {
    200
}
pub(crate) fn space() -> String {
    " ".into()
}
pub(crate) fn yes() -> bool {
    true
}
