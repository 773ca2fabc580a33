//! The compile cache: a component is compiled once per engine and kept as
//! a serialized artifact under the store's `cache/`, keyed by the content
//! hash of its bytes and the engine's compatibility hash.

use crate::error::{Error, Result};
use crate::util::{hex, write_atomic};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::Path;
use wasmtime::component::Component;
use wasmtime::Engine;

/// Compiles `bytes`, or loads the compiled artifact from `dir`.
pub(crate) fn load(engine: &Engine, dir: Option<&Path>, bytes: &[u8]) -> Result<Component> {
    let Some(dir) = dir else {
        return compile(engine, bytes);
    };
    let path = dir.join(format!("{}.cwasm", key(engine, bytes)));
    // Read into memory rather than mmap: a cache file truncated or
    // replaced under a mapping would crash the host with SIGBUS.
    if let Ok(artifact) = std::fs::read(&path) {
        // SAFETY: the cache holds only artifacts this host serialized with
        // an engine of the same compatibility hash (in the key); wasmtime
        // checks the header and rejects foreign data.
        match unsafe { Component::deserialize(engine, &artifact) } {
            Ok(c) => return Ok(c),
            Err(e) => tracing::warn!(path = %path.display(), "recompiling: {e:#}"),
        }
    }
    let component = compile(engine, bytes)?;
    let serialized = component
        .serialize()
        .map_err(|e| Error::Runtime(format!("serialize: {e:#}")))?;
    write_atomic(&path, &serialized, true)?;
    Ok(component)
}

fn compile(engine: &Engine, bytes: &[u8]) -> Result<Component> {
    Component::new(engine, bytes).map_err(|e| Error::InvalidComponent(format!("{e:#}")))
}

fn key(engine: &Engine, bytes: &[u8]) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("{}-{:016x}", hex(&Sha256::digest(bytes)), h.finish())
}
