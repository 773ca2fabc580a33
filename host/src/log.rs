//! The `log` capability: plugin messages go to the host's `tracing` log,
//! tagged with the connector and connection, length-capped.

use crate::bindings::log::{self, Level};
use crate::runtime::PluginState;

const MAX_MESSAGE: usize = 2048;

impl log::Host for PluginState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let message: String = message.chars().take(MAX_MESSAGE).collect();
        let (connector, connection) = (&self.connector_id, &self.connection_id);
        match level {
            Level::Trace => tracing::trace!(target: "plugin", %connector, %connection, "{message}"),
            Level::Debug => tracing::debug!(target: "plugin", %connector, %connection, "{message}"),
            Level::Info => tracing::info!(target: "plugin", %connector, %connection, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", %connector, %connection, "{message}"),
            Level::Error => tracing::error!(target: "plugin", %connector, %connection, "{message}"),
        }
        Ok(())
    }
}
