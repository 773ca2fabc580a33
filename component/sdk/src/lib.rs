//! Guest SDK for connhost connector components.
//!
//! A connector implements [`Connector`] (three required methods; the
//! optional exports have defaults) and registers it with
//! [`export_connector!`]. The generated bindings stay hidden; this crate
//! re-exports the types a connector needs and adds helpers: a manifest
//! starter ([`manifest`]), an HTTP request builder that maps transport
//! failures to [`ConnectorError`], standard classification of provider
//! errors, field access, and OAuth 2.0 token-response handling.
//!
//! ```ignore
//! use connhost_sdk::*;
//! struct Hello;
//! impl Connector for Hello {
//!     fn manifest() -> Manifest {
//!         Manifest { hosts: vec!["https://{domain}".into()], ..manifest("hello", "Hello", "1.0.0") }
//!     }
//!     fn create(_: ConnectionInput) -> Result<ConnectionState, ConnectorError> { Ok(state()) }
//!     fn verify(input: ConnectionInput) -> Result<Verification, ConnectorError> { /* … */ }
//! }
//! export_connector!(Hello);
//! ```

#![deny(missing_docs)]

/// Generated bindings for the `connector-plugin` world (used by
/// [`export_connector!`]; connectors use the re-exports instead).
#[doc(hidden)]
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
    ConnectorError, ConnectorManifest as Manifest, DefinitionFields, FieldError, FieldSpec,
    ProviderFailure, RefreshOutcome, ScopeSpec, Verification,
};
pub use fields::Fields;

/// A connector: what the contract's `connector` interface exports, with
/// defaults for everything a simple connector does not need.
pub trait Connector {
    /// Describes the connector (start from [`manifest`]). Must not use imports.
    fn manifest() -> Manifest;

    /// Checks the fields and obtains access.
    fn create(input: ConnectionInput) -> Result<ConnectionState, ConnectorError>;

    /// Proves the connection works; returns the account it belongs to.
    fn verify(input: ConnectionInput) -> Result<Verification, ConnectorError>;

    /// Renews access. Default: `not-needed` (static credentials).
    fn refresh(input: ConnectionInput) -> Result<RefreshOutcome, ConnectorError> {
        let _ = input;
        Ok(RefreshOutcome::NotNeeded(
            "static credentials: nothing to renew".into(),
        ))
    }

    /// Whether `granted` covers `required`. Default: [`check_scopes`].
    fn validate_scopes(required: Vec<String>, granted: Vec<String>) -> Result<(), ConnectorError> {
        check_scopes(&required, &granted)
    }

    /// The provider's consent URL. Default: `unsupported`.
    fn authorize_url(
        input: ConnectionInput,
        request: AuthorizeRequest,
    ) -> Result<Authorization, ConnectorError> {
        let _ = (input, request);
        Err(ConnectorError::Unsupported(
            "this connector has no browser consent flow".into(),
        ))
    }

    /// Redeems an authorization code. Default: `unsupported`.
    fn exchange_code(
        input: ConnectionInput,
        exchange: CodeExchange,
    ) -> Result<ConnectionState, ConnectorError> {
        let _ = (input, exchange);
        Err(ConnectorError::Unsupported(
            "this connector has no browser consent flow".into(),
        ))
    }

    /// Revokes tokens at the provider. Default: nothing to revoke.
    fn revoke(input: ConnectionInput) -> Result<(), ConnectorError> {
        let _ = input;
        Ok(())
    }

    /// Origins beyond the manifest's `hosts`. Default: none.
    fn allowed_origins(input: ConnectionInput) -> Result<Vec<String>, ConnectorError> {
        let _ = input;
        Ok(Vec::new())
    }
}

/// Adapts a [`Connector`] to the generated export trait.
#[doc(hidden)]
pub struct Export<T>(std::marker::PhantomData<T>);

impl<T: Connector> bindings::exports::connhost::connector::connector::Guest for Export<T> {
    fn manifest() -> Manifest {
        T::manifest()
    }
    fn create(input: ConnectionInput) -> Result<ConnectionState, ConnectorError> {
        T::create(input)
    }
    fn verify(input: ConnectionInput) -> Result<Verification, ConnectorError> {
        T::verify(input)
    }
    fn refresh(input: ConnectionInput) -> Result<RefreshOutcome, ConnectorError> {
        T::refresh(input)
    }
    fn validate_scopes(required: Vec<String>, granted: Vec<String>) -> Result<(), ConnectorError> {
        T::validate_scopes(required, granted)
    }
    fn authorize_url(
        input: ConnectionInput,
        request: AuthorizeRequest,
    ) -> Result<Authorization, ConnectorError> {
        T::authorize_url(input, request)
    }
    fn exchange_code(
        input: ConnectionInput,
        exchange: CodeExchange,
    ) -> Result<ConnectionState, ConnectorError> {
        T::exchange_code(input, exchange)
    }
    fn revoke(input: ConnectionInput) -> Result<(), ConnectorError> {
        T::revoke(input)
    }
    fn allowed_origins(input: ConnectionInput) -> Result<Vec<String>, ConnectorError> {
        T::allowed_origins(input)
    }
}

/// Registers a type implementing [`Connector`] as the component's export.
#[macro_export]
macro_rules! export_connector {
    ($ty:ty) => {
        #[doc(hidden)]
        type __ConnhostExport = $crate::Export<$ty>;
        $crate::bindings::export!(__ConnhostExport with_types_in $crate::bindings);
    };
}

/// A manifest with this id, name and version and nothing else: no fields,
/// auth kinds, scopes or hosts yet. Fill it in with struct update syntax:
/// `Manifest { hosts: …, ..manifest("id", "Name", "1.0.0") }`.
pub fn manifest(id: &str, display_name: &str, version: &str) -> Manifest {
    Manifest {
        id: id.into(),
        display_name: display_name.into(),
        version: version.into(),
        fields: Vec::new(),
        auth_field: String::new(),
        auth_kinds: Vec::new(),
        scopes: Vec::new(),
        hosts: Vec::new(),
        scopes_field: None,
        issuer_field: None,
        token_secrets: Vec::new(),
        refresh_secret: None,
        definitions: None,
    }
}

/// An auth kind selected by `id`, with these extra fields.
pub fn auth_kind(id: &str, label: &str, fields: Vec<FieldSpec>) -> AuthKind {
    AuthKind {
        id: id.into(),
        label: label.into(),
        fields,
        authorization_code: false,
    }
}

/// A `connection-state` with nothing in it (static credentials).
pub fn state() -> ConnectionState {
    ConnectionState {
        granted_scopes: Vec::new(),
        expires_at: None,
        fields: Vec::new(),
    }
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
