//! The store data of one plugin instance: each capability's context, and
//! the views the linker hands to each capability. Nothing else is
//! reachable from a plugin.

use crate::capabilities::http::{HttpCtx, HttpView};
use crate::capabilities::log::LogView;
use crate::capabilities::secrets::SecretsView;
use crate::capabilities::signing::SigningView;
use crate::secret::SecretScope;
use connhost_policy::Allowlist;
use wasmtime::component::ResourceTable;
use wasmtime::StoreLimits;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub(crate) struct PluginState {
    /// When the current call must end (see `limits::yield_until_deadline`).
    pub(crate) deadline: std::time::Instant,
    pub(crate) connector: String,
    pub(crate) connection: String,
    pub(crate) http: HttpCtx,
    pub(crate) allowlist: Allowlist,
    pub(crate) secrets: SecretScope,
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limits: StoreLimits,
}

impl PluginState {
    pub(crate) fn http(&mut self) -> HttpView<'_> {
        HttpView {
            ctx: &mut self.http,
            hooks: &self.allowlist,
            secrets: &self.secrets,
            connection: &self.connection,
        }
    }

    pub(crate) fn secrets(&mut self) -> SecretsView<'_> {
        SecretsView {
            connection: &self.connection,
            scope: &mut self.secrets,
        }
    }

    pub(crate) fn signing(&mut self) -> SigningView<'_> {
        SigningView {
            secrets: &self.secrets,
            connection: &self.connection,
        }
    }

    pub(crate) fn log(&mut self) -> LogView<'_> {
        LogView {
            connector: &self.connector,
            connection: &self.connection,
        }
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl crate::bindings::types::Host for PluginState {}
