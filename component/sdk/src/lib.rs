//! Guest SDK for connhost connector components.
//!
//! A connector implements [`Connector`] (`manifest`, `create` and `verify`
//! are required; every other export has a default) and registers it with
//! [`export_connector!`]. The generated bindings stay hidden; this crate
//! re-exports the types a connector needs and adds helpers: manifest and
//! field builders ([`manifest`], [`ManifestExt`], [`field`],
//! [`FieldSpecExt`]), an HTTP request builder that maps transport failures
//! to [`ConnectorError`], standard classification of provider errors, field
//! access, and OAuth 2.0 token-response handling.
//!
//! A complete, minimal connector is `component/examples/apikey`; in short:
//!
//! ```ignore
//! use connhost_sdk::http::{Request, ResponseExt};
//! use connhost_sdk::*;
//!
//! struct Hello;
//!
//! impl Connector for Hello {
//!     fn manifest() -> Manifest {
//!         manifest("hello", "Hello", "1.0.0")
//!             .field(field("domain", "Domain").required())
//!             .field(field("auth_type", "Auth").default_value("api-key"))
//!             .auth_field("auth_type")
//!             .auth_kind(auth_kind("api-key", "API key", vec![field("api_key", "API key").required().secret()]))
//!             .hosts(&["https://{domain}"])
//!     }
//!     fn create(_: ConnectionInput) -> Result<ConnectionState, ConnectorError> {
//!         Ok(state())
//!     }
//!     fn verify(input: ConnectionInput) -> Result<Verification, ConnectorError> {
//!         let url = format!("https://{}/api/me", Fields::of(&input).require("domain")?);
//!         let resp = Request::get(url).bearer("api_key").send_ok()?;
//!         Ok(Verification { account_label: resp.json::<Me>()?.name })
//!     }
//! }
//!
//! export_connector!(Hello);
//! ```

#![deny(missing_docs)]

/// Generated bindings for the `connector-plugin` world. Only
/// [`export_connector!`] needs them; connectors use the re-exports.
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
pub mod signing;

pub use bindings::connhost::connector::log::Level;
pub use bindings::connhost::connector::types::{
    AuthKind, Authorization, AuthorizeRequest, CodeExchange, ConnectionInput, ConnectionState,
    ConnectorError, ConnectorManifest as Manifest, DefinitionFields, FieldError, FieldSpec,
    ProviderFailure, RefreshOutcome, ScopeSpec, Verification,
};
pub use fields::Fields;

/// A connector: the contract's `connector` exports. `manifest`, `create`
/// and `verify` are required; the rest default to what a connector with
/// static credentials and no consent flow does.
pub trait Connector {
    /// Describes the connector (start from [`manifest`]). Must not use
    /// imports.
    fn manifest() -> Manifest;

    /// Checks the fields and obtains access (e.g. a client-credentials
    /// token, stored with [`secrets::set`]). Secrets the user gave are
    /// already stored.
    fn create(input: ConnectionInput) -> Result<ConnectionState, ConnectorError>;

    /// Proves the connection works by calling the service; returns the
    /// account it belongs to.
    fn verify(input: ConnectionInput) -> Result<Verification, ConnectorError>;

    /// Renews access that expires. Default: `not-needed` (static
    /// credentials).
    fn refresh(input: ConnectionInput) -> Result<RefreshOutcome, ConnectorError> {
        let _ = input;
        Ok(RefreshOutcome::NotNeeded(
            "static credentials; nothing to renew".into(),
        ))
    }

    /// Succeeds when `required` ⊆ `granted`. Default: [`check_scopes`].
    fn validate_scopes(required: Vec<String>, granted: Vec<String>) -> Result<(), ConnectorError> {
        check_scopes(&required, &granted)
    }

    /// Builds the provider's consent URL (authorization code with PKCE).
    /// Default: `unsupported`.
    fn authorize_url(
        input: ConnectionInput,
        request: AuthorizeRequest,
    ) -> Result<Authorization, ConnectorError> {
        let _ = (input, request);
        Err(ConnectorError::Unsupported(
            "this connector has no browser consent flow, so no authorization URL".into(),
        ))
    }

    /// Redeems an authorization code for tokens. Default: `unsupported`.
    fn exchange_code(
        input: ConnectionInput,
        exchange: CodeExchange,
    ) -> Result<ConnectionState, ConnectorError> {
        let _ = (input, exchange);
        Err(ConnectorError::Unsupported(
            "this connector has no browser consent flow, so no authorization code to exchange"
                .into(),
        ))
    }

    /// Revokes the connection's tokens at the provider. Default: `ok`
    /// (nothing to revoke).
    fn revoke(input: ConnectionInput) -> Result<(), ConnectorError> {
        let _ = input;
        Ok(())
    }

    /// Origins this connection may call beyond the manifest's `hosts`.
    /// Default: none.
    fn allowed_origins(input: ConnectionInput) -> Result<Vec<String>, ConnectorError> {
        let _ = input;
        Ok(Vec::new())
    }

    /// Puts the connection's credentials on a request the platform makes
    /// through it (a flow step calling the service's API). The default:
    /// `Authorization: Bearer <access_token>` when that secret exists,
    /// otherwise the request unchanged.
    fn authenticate_request(
        input: ConnectionInput,
        request: http::Request,
    ) -> Result<http::Request, ConnectorError> {
        let _ = input;
        Ok(if secrets::has(oauth::ACCESS_TOKEN) {
            request.bearer(oauth::ACCESS_TOKEN)
        } else {
            request
        })
    }
}

/// Adapts a [`Connector`] to the generated export trait; used by
/// [`export_connector!`].
#[doc(hidden)]
pub struct Export<T>(core::marker::PhantomData<T>);

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
    fn authenticate_request(
        input: ConnectionInput,
        request: bindings::connhost::connector::http::Request,
    ) -> Result<bindings::connhost::connector::http::Request, ConnectorError> {
        T::authenticate_request(input, http::Request::from_wire(request)).map(|r| {
            let (wire, extra) = r.into_parts();
            if !extra.is_empty() {
                bindings::connhost::connector::http::add_credentials(&extra);
            }
            wire
        })
    }
}

/// Registers a type implementing [`Connector`] as the component's
/// `connector` export. Use it once, at the crate root:
/// `export_connector!(MyConnector);`.
#[macro_export]
macro_rules! export_connector {
    ($ty:ty) => {
        const _: () = {
            type ConnhostExport = $crate::Export<$ty>;
    $crate::bindings::export!(ConnhostExport with_types_in $crate::bindings);
        };
    };
}

/// A manifest with this id, name and version and nothing else yet: no
/// fields, auth kinds, scopes or hosts; the optional 0.2 fields unset.
/// Fill it in with [`ManifestExt`] (or struct update syntax).
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
        origin_patterns: Vec::new(),
    }
}

/// Chainable setters on a [`Manifest`]; each adds to or sets one field of
/// the contract's `connector-manifest`.
pub trait ManifestExt {
    /// Adds a field every connection has, whatever its auth kind.
    fn field(self, field: FieldSpec) -> Self;
    /// Names the field that selects the auth kind (it must be a field).
    fn auth_field(self, name: &str) -> Self;
    /// Adds an auth kind (see [`auth_kind`]); the first is the default.
    fn auth_kind(self, kind: AuthKind) -> Self;
    /// Adds a scope to the catalogue.
    fn scope(self, group: &str, name: &str, description: &str) -> Self;
    /// Adds origin templates, e.g. `https://{domain}`.
    fn hosts(self, templates: &[&str]) -> Self;
    /// Names the field holding the scopes to request.
    fn scopes_field(self, name: &str) -> Self;
    /// Names the field holding the OAuth issuer (RFC 9207 check).
    fn issuer_field(self, name: &str) -> Self;
    /// Adds secrets the connector obtains itself (e.g. `access_token`).
    fn token_secrets(self, names: &[&str]) -> Self;
    /// Names the secret whose presence means access can be renewed.
    fn refresh_secret(self, name: &str) -> Self;
    /// For data-driven connectors: the field naming a stored definition
    /// (`reference`) and the one carrying its text (`content`).
    fn definitions(self, reference: &str, content: &str) -> Self;
    /// Declares what `allowed-origins` may add: `https://host`,
    /// `https://*.domain.tld`, `{definition}` or `{issuer}`.
    fn origin_patterns<S: AsRef<str>>(self, patterns: &[S]) -> Self;
}

impl ManifestExt for Manifest {
    fn field(mut self, field: FieldSpec) -> Self {
        self.fields.push(field);
        self
    }
    fn auth_field(mut self, name: &str) -> Self {
        self.auth_field = name.into();
        self
    }
    fn auth_kind(mut self, kind: AuthKind) -> Self {
        self.auth_kinds.push(kind);
        self
    }
    fn scope(mut self, group: &str, name: &str, description: &str) -> Self {
        self.scopes.push(ScopeSpec {
            name: name.into(),
            group: group.into(),
            description: description.into(),
        });
        self
    }
    fn hosts(mut self, templates: &[&str]) -> Self {
        self.hosts.extend(templates.iter().map(|t| t.to_string()));
        self
    }
    fn scopes_field(mut self, name: &str) -> Self {
        self.scopes_field = Some(name.into());
        self
    }
    fn issuer_field(mut self, name: &str) -> Self {
        self.issuer_field = Some(name.into());
        self
    }
    fn token_secrets(mut self, names: &[&str]) -> Self {
        self.token_secrets
            .extend(names.iter().map(|n| n.to_string()));
        self
    }
    fn refresh_secret(mut self, name: &str) -> Self {
        self.refresh_secret = Some(name.into());
        self
    }
    fn definitions(mut self, reference: &str, content: &str) -> Self {
        self.definitions = Some(DefinitionFields {
            reference: reference.into(),
            content: content.into(),
        });
        self
    }
    fn origin_patterns<S: AsRef<str>>(mut self, patterns: &[S]) -> Self {
        self.origin_patterns
            .extend(patterns.iter().map(|p| p.as_ref().to_string()));
        self
    }
}

/// An auth kind selected by `id`, with these fields in addition to the
/// manifest's; created with `create` (see [`AuthKindExt`] for consent).
pub fn auth_kind(id: &str, label: &str, fields: Vec<FieldSpec>) -> AuthKind {
    AuthKind {
        id: id.into(),
        label: label.into(),
        fields,
        authorization_code: false,
    }
}

/// Chainable setters on an [`AuthKind`].
pub trait AuthKindExt {
    /// Connections of this kind are created through the browser consent
    /// flow (`authorize-url`, then `exchange-code`) instead of `create`.
    fn authorization_code(self) -> Self;
}

impl AuthKindExt for AuthKind {
    fn authorization_code(mut self) -> Self {
        self.authorization_code = true;
        self
    }
}

/// A `connection-state` with nothing in it: no scopes, no expiry, no
/// fields (static credentials).
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
