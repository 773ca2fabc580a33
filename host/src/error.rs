//! Errors of the host library. Every message names the field or the cause,
//! and none carries a secret value.

use crate::bindings::types as wit;
use serde::Serialize;

/// How a connector operation failed, as the connector reported it.
/// Mirrors the contract's `connector-error` variant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ConnectorError {
    /// A field is missing or malformed.
    #[error("invalid input: field `{field}` {reason}")]
    InvalidInput { field: String, reason: String },
    /// The provider rejected the credentials.
    #[error("unauthorized: {message}")]
    Unauthorized { message: String },
    /// The credentials lack scopes or permissions (`AccountValidationError`).
    #[error("AccountValidationError: missing {}", missing.join(", "))]
    AccountValidation { missing: Vec<String> },
    /// The user must reauthorize.
    #[error("reauthorization required: {message}")]
    ReauthorizationRequired { message: String },
    /// The provider asks to slow down.
    #[error("rate limited{}", retry_after.map(|s| format!(": retry after {s} s")).unwrap_or_default())]
    RateLimited { retry_after: Option<u32> },
    /// Another provider failure.
    #[error("provider error (HTTP {status}): {message}")]
    ProviderError { status: u16, message: String },
    /// The provider could not be reached.
    #[error("network error: {message}")]
    Network { message: String },
    /// The provider did not answer in time.
    #[error("timeout: {message}")]
    Timeout { message: String },
    /// The host refused a request to a host outside the allowlist.
    #[error("denied host: {target} is not in this connection's allowlist")]
    DeniedHost { target: String },
    /// Not supported by this connector or auth kind.
    #[error("unsupported: {message}")]
    Unsupported { message: String },
}

impl ConnectorError {
    /// The kebab-case kind, as in the contract (`account-validation`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectorError::InvalidInput { .. } => "invalid-input",
            ConnectorError::Unauthorized { .. } => "unauthorized",
            ConnectorError::AccountValidation { .. } => "account-validation",
            ConnectorError::ReauthorizationRequired { .. } => "reauthorization-required",
            ConnectorError::RateLimited { .. } => "rate-limited",
            ConnectorError::ProviderError { .. } => "provider-error",
            ConnectorError::Network { .. } => "network",
            ConnectorError::Timeout { .. } => "timeout",
            ConnectorError::DeniedHost { .. } => "denied-host",
            ConnectorError::Unsupported { .. } => "unsupported",
        }
    }
}

impl ConnectorError {
    /// Every text of the error passed through `f` (secret values taken out).
    pub fn map_text(self, f: impl Fn(&str) -> String) -> Self {
        use ConnectorError as C;
        match self {
            C::InvalidInput { field, reason } => C::InvalidInput {
                field: f(&field),
                reason: f(&reason),
            },
            C::Unauthorized { message } => C::Unauthorized {
                message: f(&message),
            },
            C::AccountValidation { missing } => C::AccountValidation {
                missing: missing.iter().map(|m| f(m)).collect(),
            },
            C::ReauthorizationRequired { message } => C::ReauthorizationRequired {
                message: f(&message),
            },
            C::RateLimited { retry_after } => C::RateLimited { retry_after },
            C::ProviderError { status, message } => C::ProviderError {
                status,
                message: f(&message),
            },
            C::Network { message } => C::Network {
                message: f(&message),
            },
            C::Timeout { message } => C::Timeout {
                message: f(&message),
            },
            C::DeniedHost { target } => C::DeniedHost { target: f(&target) },
            C::Unsupported { message } => C::Unsupported {
                message: f(&message),
            },
        }
    }
}

impl From<wit::ConnectorError> for ConnectorError {
    fn from(e: wit::ConnectorError) -> Self {
        use wit::ConnectorError as W;
        match e {
            W::InvalidInput(f) => ConnectorError::InvalidInput {
                field: f.field,
                reason: f.reason,
            },
            W::Unauthorized(message) => ConnectorError::Unauthorized { message },
            W::AccountValidation(missing) => ConnectorError::AccountValidation { missing },
            W::ReauthorizationRequired(message) => {
                ConnectorError::ReauthorizationRequired { message }
            }
            W::RateLimited(retry_after) => ConnectorError::RateLimited { retry_after },
            W::ProviderError(p) => ConnectorError::ProviderError {
                status: p.status,
                message: p.message,
            },
            W::Network(message) => ConnectorError::Network { message },
            W::Timeout(message) => ConnectorError::Timeout { message },
            W::DeniedHost(target) => ConnectorError::DeniedHost { target },
            W::Unsupported(message) => ConnectorError::Unsupported { message },
        }
    }
}

/// Everything the host library can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connector reported a failure.
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    /// Input rejected by the host before the connector ran.
    #[error("invalid input: field `{field}` {reason}")]
    InvalidInput { field: String, reason: String },
    /// No such connector or connection.
    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },
    /// Something with that id already exists.
    #[error("{what} `{id}` already exists")]
    AlreadyExists { what: &'static str, id: String },
    /// Another writer changed it first and retrying did not settle it.
    #[error("{what} `{id}` was changed by another operation at the same time; try again")]
    Conflict { what: &'static str, id: String },
    /// A lock stayed held by another operation past its deadline.
    #[error("another operation holds `{lock}`; gave up after {waited_ms} ms")]
    LockTimeout { lock: String, waited_ms: u64 },
    /// The operation ran, but its audit record could not be written.
    #[error("`{operation}` ended `{outcome}` but could not be audited ({reason}); the audit log needs attention")]
    AuditFailed {
        operation: String,
        outcome: String,
        reason: String,
    },
    /// The plugin trapped, ran out of time or memory, or broke the contract.
    #[error("connector `{connector}` failed: {reason}")]
    Plugin { connector: String, reason: String },
    /// The component is not a valid connector.
    #[error("invalid component: {0}")]
    InvalidComponent(String),
    /// The master key does not open this store.
    #[error("wrong master key: it does not decrypt this store ({0}); nothing was changed")]
    WrongMasterKey(String),
    /// A stored record was modified outside connhost.
    #[error(
        "record `{0}` failed its integrity check (tampered with or moved); refusing to use it"
    )]
    Tampered(String),
    /// A key rotation was interrupted; running it again finishes it.
    #[error("a key rotation from key {from} to key {to} has not finished; run `connhost key rotate` again with the same keys to finish it (nothing was changed)")]
    RotationInProgress { from: String, to: String },
    /// An API request without a live key.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// The master key given is not usable.
    #[error("invalid master key: {0}")]
    BadMasterKey(String),
    /// A stored file could not be parsed.
    #[error("corrupt store file {path}: {reason}")]
    Corrupt { path: String, reason: String },
    /// Filesystem failure.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The consent flow failed: denied, wrong or replayed state, expired,
    /// issuer mismatch (`error` is the OAuth error code or our own).
    #[error("authorization failed ({error}): {description}")]
    Authorization { error: String, description: String },
    /// Active or scheduled usages still need this connection.
    #[error("connection `{connection}` is used by {}: deleting it would break them", consumers.join(", "))]
    InUse {
        connection: String,
        consumers: Vec<String>,
    },
    /// The caller's role does not allow this (e.g. a member forcing a
    /// delete that usages block).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A usage refers to a connection that was deleted.
    #[error("connection `{reference}` was deleted: this usage cannot run until it is given another connection")]
    ConnectionDeleted { reference: String },
    /// wasmtime failed outside a plugin call (engine set-up, compilation).
    #[error("runtime: {0}")]
    Runtime(String),
    /// A shared resource is at its limit for this caller (plugin call
    /// slots, request slots); nothing was done, retry after the delay.
    #[error("busy: {what}; retry in {retry_after} s")]
    Busy { what: String, retry_after: u32 },
    /// The database backend failed or could not be reached (`context`
    /// names the server and the operation, never a password).
    #[error("database {context}: {reason}")]
    Database { context: String, reason: String },
}

impl Error {
    /// A stable kebab-case kind for `--json` output and scripts.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Connector(c) => c.kind(),
            Error::InvalidInput { .. } => "invalid-input",
            Error::NotFound { .. } => "not-found",
            Error::AlreadyExists { .. } => "already-exists",
            Error::Conflict { .. } => "conflict",
            Error::LockTimeout { .. } => "lock-timeout",
            Error::AuditFailed { .. } => "audit-failed",
            Error::Plugin { .. } => "plugin-failure",
            Error::InvalidComponent(_) => "invalid-component",
            Error::WrongMasterKey(_) => "wrong-master-key",
            Error::Tampered(_) => "tampered",
            Error::BadMasterKey(_) => "bad-master-key",
            Error::RotationInProgress { .. } => "rotation-in-progress",
            Error::Unauthenticated(_) => "unauthenticated",
            Error::Corrupt { .. } => "corrupt-store",
            Error::Io { .. } => "io",
            Error::Runtime(_) => "runtime",
            Error::Database { .. } => "database",
            Error::Busy { .. } => "busy",
            Error::InUse { .. } => "in-use",
            Error::Forbidden(_) => "forbidden",
            Error::ConnectionDeleted { .. } => "connection-deleted",
            Error::Authorization { error, .. } if error == "access_denied" => "access-denied",
            Error::Authorization { .. } => "authorization-failed",
        }
    }

    /// The `{"kind", "message", …}` object of `--json` output and the HTTP
    /// API: a connector error's own fields (e.g. `missing` scopes), the
    /// field of invalid input, the consumers blocking a delete.
    pub fn to_json(&self) -> serde_json::Value {
        let mut err = serde_json::json!({
            "kind": self.kind(),
            "message": self.to_string(),
        });
        match self {
            Error::Connector(c) => {
                if let Ok(serde_json::Value::Object(detail)) = serde_json::to_value(c) {
                    for (k, v) in detail {
                        err[k] = v;
                    }
                }
            }
            Error::InvalidInput { field, reason } => {
                err["field"] = field.clone().into();
                err["reason"] = reason.clone().into();
            }
            Error::InUse { consumers, .. } => err["consumers"] = consumers.clone().into(),
            Error::Busy { retry_after, .. } => err["retry_after"] = (*retry_after).into(),
            _ => {}
        }
        err
    }

    /// `invalid-input` naming `field`.
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

/// Result alias for the host library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
