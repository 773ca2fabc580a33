//! Per-store limits (memory, instances, an epoch deadline) and how a
//! plugin that breaks them is reported: a typed `plugin-failure`, never a
//! host panic.

use crate::error::Error;
use std::time::Duration;
use wasmtime::{StoreLimits, StoreLimitsBuilder, Trap};

/// How often the engine's epoch advances: the longest a guest runs
/// before it yields its thread to the host's other tasks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(1);

/// At every epoch tick a running guest traps once the call's wall-clock
/// deadline (`PluginState::deadline`) has passed, spends a tick of its
/// team's guest-CPU share, and yields: to the executor, or, when the
/// team's share is spent, for as long as the share takes to refill.
pub(crate) fn yield_until_deadline(
    store: &mut wasmtime::Store<super::state::PluginState>,
    team: std::sync::Arc<super::permits::Team>,
) {
    let tick_ms = EPOCH_TICK.as_secs_f64() * 1000.0;
    store.epoch_deadline_callback(move |ctx| {
        if std::time::Instant::now() >= ctx.data().deadline {
            return Ok(wasmtime::UpdateDeadline::Interrupt);
        }
        Ok(match team.spend(tick_ms) {
            None => wasmtime::UpdateDeadline::Yield(1),
            Some(wait) => {
                // Never past the deadline: the next tick then traps.
                let left = ctx
                    .data()
                    .deadline
                    .saturating_duration_since(std::time::Instant::now());
                wasmtime::UpdateDeadline::YieldCustom(
                    1,
                    Box::pin(tokio::time::sleep(wait.min(left))),
                )
            }
        })
    });
    store.set_epoch_deadline(1);
}

pub(crate) fn store_limits(max_memory_bytes: usize) -> StoreLimits {
    StoreLimitsBuilder::new()
        .memory_size(max_memory_bytes)
        .instances(16)
        .tables(16)
        .memories(4)
        .trap_on_grow_failure(true)
        .build()
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
