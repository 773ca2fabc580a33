//! What the handlers answer, where the API shapes it itself (the rest are
//! the library's own types): each is what a handler serializes and what
//! the OpenAPI document's response schema is generated from.
//!
//! Fields a response may leave out carry `#[serde(default)]` so the
//! generated schema does not list them as required.

use connhost::{ConnectionRecord, LastError, Manifest, Status};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// A connection as the API shows it: secret names, never their values.
#[derive(Serialize, JsonSchema)]
pub struct Connection {
    /// `conn_…`.
    pub id: String,
    pub team: String,
    pub connector: String,
    pub name: String,
    /// Non-secret field values.
    pub fields: BTreeMap<String, String>,
    pub granted_scopes: Vec<String>,
    /// Unix seconds.
    pub expires_at: Option<u64>,
    pub status: Status,
    pub account_label: Option<String>,
    pub last_error: Option<LastError>,
    pub created_at: u64,
    pub updated_at: u64,
    pub verified_at: Option<u64>,
    /// Bumped whenever access tokens change.
    pub token_generation: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_issued_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub origins: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub definition_origins: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub version: u64,
    /// The names of the secrets that are set.
    pub secret_names: Vec<String>,
}

impl From<&ConnectionRecord> for Connection {
    fn from(r: &ConnectionRecord) -> Self {
        Connection {
            id: r.id.clone(),
            team: r.team.clone(),
            connector: r.connector.clone(),
            name: r.name.clone(),
            fields: r.fields.clone(),
            granted_scopes: r.granted_scopes.clone(),
            expires_at: r.expires_at,
            status: r.status,
            account_label: r.account_label.clone(),
            last_error: r.last_error.clone(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            verified_at: r.verified_at,
            token_generation: r.token_generation,
            access_issued_at: r.access_issued_at,
            origins: r.origins.clone(),
            definition_origins: r.definition_origins.clone(),
            version: r.version,
            secret_names: r.secret_names().map(str::to_string).collect(),
        }
    }
}

/// A connector in the list: the manifest's names only.
#[derive(Serialize, JsonSchema)]
pub struct ConnectorSummary {
    pub id: String,
    pub display_name: String,
    pub version: String,
}

/// The scopes a connection was checked for: all granted.
#[derive(Serialize, JsonSchema)]
pub struct ScopesChecked {
    pub id: String,
    pub ok: bool,
    pub scopes: Vec<String>,
}

/// A thing removed, by id.
#[derive(Serialize, JsonSchema)]
pub struct Removed {
    pub id: String,
    pub removed: bool,
}

/// A dynamic connection removed, by name.
#[derive(Serialize, JsonSchema)]
pub struct RemovedDynamic {
    pub name: String,
    pub removed: bool,
}

/// How many usages were removed.
#[derive(Serialize, JsonSchema)]
pub struct RemovedUsages {
    pub removed: u64,
}

/// A provider definition added: its id.
#[derive(Serialize, JsonSchema)]
pub struct ProviderAdded {
    pub id: String,
}

/// A page of audit records, oldest first.
#[derive(Serialize, JsonSchema)]
pub struct AuditPage {
    pub records: Vec<connhost::AuditRecord>,
    /// The `after` of the next page; null on the last.
    pub next: Option<u64>,
}

/// A webhook (its signing secret is never shown after creation).
#[derive(Serialize, JsonSchema)]
pub struct Webhook {
    /// `wh_…`.
    pub id: String,
    pub team: String,
    pub url: String,
    pub created_at: u64,
}

impl From<&connhost::Webhook> for Webhook {
    fn from(w: &connhost::Webhook) -> Self {
        Webhook {
            id: w.id.clone(),
            team: w.team.clone(),
            url: w.url.clone(),
            created_at: w.created_at,
        }
    }
}

/// A new webhook with its signing secret, shown this once.
#[derive(Serialize, JsonSchema)]
pub struct NewWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    pub secret: String,
}

/// A webhook with where its deliveries stand.
#[derive(Serialize, JsonSchema)]
pub struct WebhookStatus {
    #[serde(flatten)]
    pub webhook: Webhook,
    pub delivery: DeliveryState,
}

/// Where a webhook's deliveries stand.
#[derive(Serialize, JsonSchema)]
pub struct DeliveryState {
    pub failing: bool,
    /// Failed rounds in a row.
    pub failures: u32,
    /// No delivery before this (Unix seconds), after a failure.
    pub retry_at: Option<u64>,
    /// Every event up to this one was delivered (`evt_N`).
    pub delivered_through: String,
}

/// A new connect session with its token, shown this once.
#[derive(Serialize, JsonSchema)]
pub struct NewConnectSession {
    /// `cs_…`.
    pub id: String,
    pub team: String,
    pub connector: String,
    pub expires_at: u64,
    pub connection: Option<String>,
    /// The bearer token for the end user (`cst_…`).
    pub token: String,
}

/// What an end user's form needs.
#[derive(Serialize, JsonSchema)]
pub struct ConnectSessionInfo {
    pub connector: Manifest,
    pub expires_at: u64,
}

/// `GET /healthz`.
#[derive(Serialize, JsonSchema)]
pub struct Health {
    pub ok: bool,
}

/// `GET /readyz` when the store answers.
#[derive(Serialize, JsonSchema)]
pub struct Ready {
    pub ready: bool,
}

/// The OAuth callback's answer when consent was started without a
/// return URL.
#[derive(Serialize, JsonSchema)]
pub struct Connected {
    pub connected: bool,
    pub connection: Connection,
}
