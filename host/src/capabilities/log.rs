//! The `log` capability: plugin messages go to the host's `tracing` log,
//! tagged with the connector and connection, length-capped.

use crate::bindings::log::{self, Level};
use wasmtime::component::{HasData, Linker};

const MAX_MESSAGE: usize = 2048;

/// Who is logging, for the log fields.
pub struct LogView<'a> {
    pub connector: &'a str,
    pub connection: &'a str,
}

impl log::Host for LogView<'_> {
    #[tracing::instrument(name = "log.log", skip_all)]
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let message: String = message
            .chars()
            .take(MAX_MESSAGE)
            .map(|c| if c.is_control() && c != '\t' { ' ' } else { c })
            .collect();
        let (connector, connection) = (self.connector, self.connection);
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

struct HasLog;
impl HasData for HasLog {
    type Data<'a> = LogView<'a>;
}

/// Adds `connhost:connector/log` to `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> LogView<'_>,
) -> wasmtime::Result<()> {
    log::add_to_linker::<T, HasLog>(linker, view)
}
