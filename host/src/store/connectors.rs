//! Connectors: a component's bytes and its validated manifest, by id. The
//! manifest and the digest of the bytes are a signed document, so neither
//! an edited manifest (say, its hosts) nor other code copied over the
//! `.wasm` is ever run for a connection.

use super::signed::Signed;
use super::versions::Versioned;
use super::Store;
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::util::hex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A connector as stored: its manifest and where its bytes are.
#[derive(Clone, Debug)]
pub struct StoredConnector {
    pub manifest: Manifest,
    /// Where its bytes are, relative to the store.
    pub wasm_path: String,
    wasm_sha256: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ConnectorDoc {
    id: String,
    manifest: Manifest,
    /// SHA-256 of the component bytes, hex.
    wasm_sha256: String,
    #[serde(default)]
    integrity: String,
}

impl Signed for ConnectorDoc {
    const DOMAIN: &'static [u8] = b"connhost:connector:v1:";
    const WHAT: &'static str = "connector";
    fn id(&self) -> &str {
        &self.id
    }
    fn integrity(&mut self) -> &mut String {
        &mut self.integrity
    }
}

impl Versioned for ConnectorDoc {
    const KIND: &'static str = "connector";
}

impl Store {
    fn connector_paths(&self, id: &str) -> Result<(String, String)> {
        Ok((
            self.path_of("connectors", id, "wasm", "connector")?,
            self.path_of("connectors", id, "json", "connector")?,
        ))
    }

    /// Saves a connector (replacing one with the same id): the bytes
    /// first, then the signed manifest naming their digest.
    pub fn put_connector(&self, manifest: &Manifest, wasm: &[u8]) -> Result<()> {
        let (wasm_path, json_path) = self.connector_paths(&manifest.id)?;
        let _guard = self.guard()?;
        let _lock = self.connector_lock(&manifest.id)?;
        self.backend.write(&wasm_path, wasm)?;
        let mut doc = ConnectorDoc {
            id: manifest.id.clone(),
            manifest: manifest.clone(),
            wasm_sha256: hex(&Sha256::digest(wasm)),
            integrity: String::new(),
        };
        self.versions.put(&json_path, &mut doc)
    }

    /// A connector's signed manifest.
    pub fn connector(&self, id: &str) -> Result<StoredConnector> {
        let (wasm_path, json_path) = self.connector_paths(id)?;
        let doc: ConnectorDoc = self.versions.get(&json_path, id)?;
        Ok(StoredConnector {
            manifest: doc.manifest,
            wasm_path,
            wasm_sha256: doc.wasm_sha256,
        })
    }

    /// Writers of one connector take this, and so does a reader of its
    /// manifest and bytes together: a replacement is never seen half done.
    fn connector_lock(&self, id: &str) -> Result<super::Held> {
        let path = self.path_of("locks", id, "connector", "connector")?;
        self.backend.lock(&path, super::lock::WRITE_WAIT, true)
    }

    /// A connector's signed manifest and its bytes, read together.
    pub fn connector_with_code(&self, id: &str) -> Result<(StoredConnector, Vec<u8>)> {
        let _lock = self.connector_lock(id)?;
        let stored = self.connector(id)?;
        let code = self.connector_code(&stored)?;
        Ok((stored, code))
    }

    /// A connector's component bytes, refused unless they are the bytes
    /// its signed manifest names.
    fn connector_code(&self, stored: &StoredConnector) -> Result<Vec<u8>> {
        let path = &stored.wasm_path;
        let bytes = self.backend.read(path)?.ok_or_else(|| Error::NotFound {
            what: "connector code",
            id: stored.manifest.id.clone(),
        })?;
        if hex(&Sha256::digest(&bytes)) != stored.wasm_sha256 {
            return Err(Error::Tampered(format!(
                "connector `{}` (its code is not the code that was added)",
                stored.manifest.id
            )));
        }
        Ok(bytes)
    }

    pub fn connectors(&self) -> Result<Vec<StoredConnector>> {
        self.ids("connectors", "json")?
            .iter()
            .map(|id| self.connector(id))
            .collect()
    }
}
