//! connhost: a wasmtime host for sandboxed connector components.
//!
//! A connector component (see `wit/connector.wit`) holds the connection
//! logic of one service. This library loads it and gives it exactly three
//! powers, each in its own module: [`http`] (outbound HTTPS to the origins
//! its manifest allows for the connection), [`secrets`] (the connection's
//! own secrets, encrypted at rest by [`store`]) and [`log`].
//!
//! The embedding entry point is [`Manager`]:
//!
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

pub mod allowlist;
pub mod audit;
mod bindings;
pub mod error;
pub mod fake;
pub mod fake_oauth;
pub mod http;
pub mod log;
pub mod manager;
pub mod manifest;
pub mod net;
pub mod runtime;
pub mod secrets;
pub mod store;
pub mod team;
pub mod usage;

pub use error::{ConnectorError, Error, Result};

/// The contract's types as generated from `wit/` (for [`runtime::Call`]).
pub mod wit {
    pub use crate::bindings::types::*;
}
pub use manager::{HostConfig, Manager, NewConnection, Refreshed, Verified, DEFAULT_TEAM};
pub use manifest::Manifest;
pub use net::{ConnectTo, NetConfig};
pub use runtime::RuntimeConfig;
pub use secrets::Secret;
pub use store::{ConnectionRecord, MasterKey, Status};
pub use team::{Caller, TeamView};

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
    /// A deliberately misbehaving connector for testing the sandbox.
    #[doc(hidden)]
    pub const TESTBED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/connector_testbed.wasm"));
}
