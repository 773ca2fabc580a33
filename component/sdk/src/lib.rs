//! Guest SDK for connhost connector components.
//!
//! A connector implements [`Connector`] and registers it with
//! [`export_connector!`]. The generated bindings stay in [`bindings`]; this
//! crate re-exports the types a connector needs and adds helpers: an HTTP
//! request builder that maps transport failures to [`ConnectorError`],
//! standard classification of provider errors, field access, and OAuth 2.0
//! token-response handling.

#![deny(missing_docs)]

/// Generated bindings for the `connector-plugin` world.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "connector-plugin",
        pub_export_macro: true,
        default_bindings_module: "connhost_sdk::bindings",
    });
}

pub mod fields;
pub mod http;
pub mod oauth;

pub use bindings::connhost::connector::log::Level;
pub use bindings::connhost::connector::types::{
    AuthKind, Authorization, AuthorizeRequest, CodeExchange, ConnectionInput, ConnectionState,
    ConnectorError, ConnectorManifest as Manifest, FieldError, FieldSpec, ProviderFailure,
    RefreshOutcome, ScopeSpec, Verification,
};
pub use bindings::exports::connhost::connector::connector::Guest as Connector;
pub use fields::Fields;

/// Registers a type implementing [`Connector`] as the component's export.
#[macro_export]
macro_rules! export_connector {
    ($ty:ident) => {
        $crate::bindings::export!($ty with_types_in $crate::bindings);
    };
}

/// Writes a message to the host's log. Never pass secrets.
pub fn log(level: Level, message: &str) {
    bindings::connhost::connector::log::log(level, message);
}

/// Secret storage scoped to the current connection.
pub mod secrets {
    pub use crate::bindings::connhost::connector::secrets::{has, remove, reveal, set};
}

/// `invalid-input` for `field`.
pub fn invalid(field: &str, reason: impl Into<String>) -> ConnectorError {
    ConnectorError::InvalidInput(FieldError {
        field: field.to_string(),
        reason: reason.into(),
    })
}

/// Succeeds when every required scope is granted; otherwise
/// `account-validation` naming each missing scope, in the order required.
pub fn check_scopes(required: &[String], granted: &[String]) -> Result<(), ConnectorError> {
    let missing: Vec<String> = required
        .iter()
        .filter(|r| !granted.iter().any(|g| g == *r))
        .cloned()
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ConnectorError::AccountValidation(missing))
    }
}

/// Current time in Unix seconds (WASI wall clock).
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Builder for a [`FieldSpec`], so manifests read as a table.
pub fn field(name: &str, label: &str) -> FieldSpec {
    FieldSpec {
        name: name.into(),
        label: label.into(),
        required: false,
        secret: false,
        advanced: false,
        default: None,
        help: None,
        allowed_values: Vec::new(),
    }
}

/// Chainable setters on [`FieldSpec`].
pub trait FieldSpecExt {
    /// Marks the field required.
    fn required(self) -> Self;
    /// Marks the field secret (write-only, encrypted by the host).
    fn secret(self) -> Self;
    /// Marks the field advanced.
    fn advanced(self) -> Self;
    /// Sets the default value.
    fn default_value(self, v: &str) -> Self;
    /// Sets the help text.
    fn help(self, h: &str) -> Self;
    /// Restricts the field to these values.
    fn one_of(self, values: &[&str]) -> Self;
}

impl FieldSpecExt for FieldSpec {
    fn required(mut self) -> Self {
        self.required = true;
        self
    }
    fn secret(mut self) -> Self {
        self.secret = true;
        self
    }
    fn advanced(mut self) -> Self {
        self.advanced = true;
        self
    }
    fn default_value(mut self, v: &str) -> Self {
        self.default = Some(v.into());
        self
    }
    fn help(mut self, h: &str) -> Self {
        self.help = Some(h.into());
        self
    }
    fn one_of(mut self, values: &[&str]) -> Self {
        self.allowed_values = values.iter().map(|v| v.to_string()).collect();
        self
    }
}
