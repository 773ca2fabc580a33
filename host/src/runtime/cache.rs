//! The compile cache: a component is compiled once per engine and kept as
//! a serialized artifact under the store's `cache/`, keyed by the content
//! hash of its bytes and the engine's compatibility hash.
//!
//! `Component::deserialize` trusts its input (an artifact is native code),
//! so every artifact is written with a tag from the embedder's
//! [`ArtifactKey`] over its name and digest, and loaded only if the tag
//! checks out; anything else is recompiled from the component's bytes.
//! Without a key there is no cache.

use crate::error::{Error, Result};
use crate::util::{hex, write_atomic};
use connhost_seal::{KeyRing, MasterKey};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::Path;
use wasmtime::component::Component;
use wasmtime::Engine;

/// Authenticates compiled artifacts (the store's master key does).
pub trait ArtifactKey: Send + Sync {
    /// A tag over `message`.
    fn tag(&self, message: &[u8]) -> String;
    /// Whether `tag` was made by [`ArtifactKey::tag`] over `message`.
    fn check(&self, message: &[u8], tag: &str) -> bool;
}

/// Compiles `bytes`, or loads its authenticated artifact from `dir`.
pub(crate) fn load(
    engine: &Engine,
    cache: Option<(&Path, &dyn ArtifactKey)>,
    bytes: &[u8],
) -> Result<Component> {
    let Some((dir, key)) = cache else {
        return compile(engine, bytes);
    };
    let name = name(engine, bytes);
    let path = dir.join(format!("{name}.cwasm"));
    let tag_path = dir.join(format!("{name}.tag"));
    // Read into memory rather than mmap: a cache file truncated or
    // replaced under a mapping would crash the host with SIGBUS.
    if let (Ok(artifact), Ok(tag)) = (std::fs::read(&path), std::fs::read_to_string(&tag_path)) {
        if key.check(&message(&name, &artifact), tag.trim()) {
            // SAFETY: the artifact carries a valid tag, so this host wrote
            // it, serialized by an engine of the same compatibility hash
            // (in the name); wasmtime also checks the header.
            match unsafe { Component::deserialize(engine, &artifact) } {
                Ok(c) => return Ok(c),
                Err(e) => tracing::warn!(path = %path.display(), "recompiling: {e:#}"),
            }
        } else {
            tracing::warn!(path = %path.display(), "cached artifact failed its integrity check; recompiling");
        }
    }
    let component = compile(engine, bytes)?;
    let artifact = component
        .serialize()
        .map_err(|e| Error::Runtime(format!("serialize: {e:#}")))?;
    write_atomic(&path, &artifact, true)?;
    write_atomic(
        &tag_path,
        key.tag(&message(&name, &artifact)).as_bytes(),
        true,
    )?;
    Ok(component)
}

fn compile(engine: &Engine, bytes: &[u8]) -> Result<Component> {
    Component::new(engine, bytes).map_err(|e| Error::InvalidComponent(format!("{e:#}")))
}

/// What a tag covers: the entry's name (so artifacts cannot be swapped
/// between entries) and the artifact's digest.
fn message(name: &str, artifact: &[u8]) -> Vec<u8> {
    let mut m = b"connhost:artifact:v1:".to_vec();
    m.extend(name.as_bytes());
    m.push(0);
    m.extend(Sha256::digest(artifact));
    m
}

fn name(engine: &Engine, bytes: &[u8]) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("{}-{:016x}", hex(&Sha256::digest(bytes)), h.finish())
}

/// The keys authenticate compiled artifacts in the runtime's cache.
impl ArtifactKey for KeyRing {
    fn tag(&self, message: &[u8]) -> String {
        KeyRing::tag(self, message)
    }
    fn check(&self, message: &[u8], tag: &str) -> bool {
        KeyRing::check(self, message, tag).is_ok()
    }
}

/// One key alone authenticates a cache too (benchmarks, embedders).
impl ArtifactKey for MasterKey {
    fn tag(&self, message: &[u8]) -> String {
        MasterKey::tag(self, message)
    }
    fn check(&self, message: &[u8], tag: &str) -> bool {
        KeyRing::new(self.clone()).check(message, tag).is_ok()
    }
}
