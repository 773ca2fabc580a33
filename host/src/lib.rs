//! connhost: a wasmtime host for sandboxed connector components.
//!
//! A connector component (see `wit/connector.wit`) holds the connection
//! logic of one service. This library loads it and gives it exactly four
//! powers, one small module each under `capabilities/`: `http` (outbound
//! HTTPS to the origins its manifest allows for the connection), `secrets`
//! (the connection's own secrets, for one call), `signing` (signatures
//! made with those secrets by name) and `log`.
//!
//! # Layers
//!
//! Each layer names only itself, the layers below it and the foundation
//! (`src/layers.rs` checks this over the source):
//!
//! * **platform** (`platform/`): who may do what in a team, and the audit
//!   record of it ([`TeamView`]);
//! * **manager** (`manager/`): the engine: one connection, one component,
//!   one operation ([`Manager`]);
//! * **runtime** (`runtime/`) over **capabilities** (`capabilities/`):
//!   wasmtime, instances, and the powers a component gets;
//! * **store** (`store/`): bytes at rest and the leaf: sealed records,
//!   signed documents, anti-rollback versions, locks, and what the team
//!   layer keeps (usages, the audit chain);
//! * **foundation**: errors, secret values (`secret.rs`), the manifest,
//!   the network primitives (`net/`), the generated bindings.
//!
//! A call goes down: the team layer checks and audits, the manager opens
//! the record and its secrets from the store, runs the component through
//! the runtime, and seals and writes what changed. The capabilities work
//! on the in-memory copy and never touch the store.

//! ```no_run
//! # async fn demo() -> connhost::Result<()> {
//! use connhost::{HostConfig, Manager, NewConnection, Secret};
//! let manager = Manager::open(HostConfig::new("/var/lib/connhost"))?;
//! manager.add_connector(connhost::builtin::CELONIS).await?;
//! let conn = manager
//!     .create(NewConnection {
//!         connector: "celonis".into(),
//!         fields: [("domain".into(), "acme.eu-1.celonis.cloud".into())].into(),
//!         secrets: [("app_key".into(), Secret::new(std::env::var("KEY").unwrap()))].into(),
//!         ..Default::default()
//!     })
//!     .await?;
//! let verified = manager.verify(&conn.id).await?;
//! println!("connected as {}", verified.account_label);
//! # Ok(()) }
//! ```

mod bindings;
mod capabilities;
pub mod catalogue;
mod error;
#[cfg(test)]
mod layers;
mod manager;
mod manifest;
pub mod net;
mod platform;
pub mod runtime;
mod secret;
mod store;
mod util;

pub use capabilities::http::HttpHooks;
/// The outbound policy (origins, allowlists), shared with the standalone adapter.
pub use connhost_policy as policy;
pub use error::{ConnectorError, Error, Result};
pub use manager::{
    pkce_challenge, resolve_request_url, webhook_signature, ApiRequest, ApiResponse,
    AuthorizeStart, Deleted, Delivery, DeliveryAttempt, Event, HostConfig, Manager, NewConnection,
    Passed, Refreshed, Sweep, Upload, Verified, DEFAULT_TEAM, MAX_BACKOFF_SECS, WEBHOOKS_PER_TEAM,
};
pub use manifest::{AuthKind, DefinitionFields, FieldSpec, Manifest, ScopeSpec};
pub use net::{ConnectTo, NetConfig};
pub use platform::{
    is_account_validation, permission, plan_scopes, Operation, Rule, TeamView, UsageCheck,
    PERMISSIONS,
};
pub use runtime::RuntimeConfig;
pub use secret::{Secret, SecretScope};
pub use store::audit::{AuditRecord, ChainReport};
pub use store::usage::{DynamicConnection, Usage, UsageState, DYNAMIC_PREFIX};
pub use store::{
    backend::postgres::DATABASE_URL_ENV, migrate::migrate as store_migrate,
    migrate::MigrationReport, read_key_file, Backend, FileBackend, Held, PostgresBackend, Store,
};
pub use store::{
    rotate as rotate_key, ApiKey, Caller, ConnectSession, ConnectionRecord, HookState, LastError,
    MasterKey, NewKey, Pending, Refused, Role, RotationReport, Status, Webhook, MASTER_KEY_ENV,
};

/// The contract's types as generated from `wit/` (for [`runtime`] calls).
pub mod wit {
    pub use crate::bindings::types::*;
}

/// Connector components built with this crate (see `build.rs`).
pub mod builtin {
    /// The Celonis connector component.
    pub const CELONIS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/connector_celonis.wasm"));
    /// The generic connector: any OAuth 2.0 / API-key / basic service from
    /// a provider definition.
    pub const GENERIC: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/connector_generic.wasm"));
    /// The Celonis connector composed with providers of `http`, `secrets`
    /// and `log` on standard WASI (`wasi:http`, `wasi:config`), runnable
    /// by stock runtimes.
    pub const CELONIS_STANDALONE: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/celonis.standalone.wasm"));
    /// The generic connector composed the same way (tests; also written to
    /// `target/components/generic.standalone.wasm`).
    #[doc(hidden)]
    pub const GENERIC_STANDALONE: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/generic.standalone.wasm"));
    /// `component/examples/apikey`, the smallest connector (tests).
    #[doc(hidden)]
    pub const EXAMPLE_APIKEY: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/connector_example_apikey.wasm"));
    /// A deliberately misbehaving connector for testing the sandbox.
    #[doc(hidden)]
    pub const TESTBED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/connector_testbed.wasm"));
}
