//! Per-store limits (memory, instances, an epoch deadline) and how a
//! plugin that breaks them is reported: a typed `plugin-failure`, never a
//! host panic.

use crate::error::Error;
use std::time::Duration;
use wasmtime::{StoreLimits, StoreLimitsBuilder, Trap};

/// How often the engine's epoch advances.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

pub(crate) fn store_limits(max_memory_bytes: usize) -> StoreLimits {
    StoreLimitsBuilder::new()
        .memory_size(max_memory_bytes)
        .instances(16)
        .tables(16)
        .memories(4)
        .trap_on_grow_failure(true)
        .build()
}

/// Epoch ticks in `timeout` (at least one).
pub(crate) fn deadline_ticks(timeout: Duration) -> u64 {
    (timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
}

pub(crate) fn timed_out(connector: &str, timeout: Duration) -> Error {
    Error::Plugin {
        connector: connector.to_string(),
        reason: format!("call exceeded its time limit of {} ms", timeout.as_millis()),
    }
}

/// A wasmtime error from inside a call, as the typed error the caller sees.
pub(crate) fn plugin_error(
    connector: &str,
    e: wasmtime::Error,
    timeout: Duration,
    max_memory_bytes: usize,
) -> Error {
    let reason = match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => return timed_out(connector, timeout),
        Some(trap) => format!("trapped: {trap}"),
        None => {
            let text = format!("{e:#}");
            if text.contains("forcing a memory growth failure") || text.contains("memory") {
                format!("exceeded its memory limit of {max_memory_bytes} bytes: {text}")
            } else {
                text
            }
        }
    };
    Error::Plugin {
        connector: connector.to_string(),
        reason,
    }
}
