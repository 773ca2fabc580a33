//! Connectors: a component's bytes and its validated manifest, by id.

use super::Store;
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::util::write_atomic;
use std::path::PathBuf;

/// A connector as stored: its manifest and component bytes' path.
#[derive(Clone, Debug)]
pub struct StoredConnector {
    pub manifest: Manifest,
    pub wasm_path: PathBuf,
}

impl Store {
    fn connector_paths(&self, id: &str) -> Result<(PathBuf, PathBuf)> {
        Ok((
            self.path_of("connectors", id, "wasm", "connector")?,
            self.path_of("connectors", id, "json", "connector")?,
        ))
    }

    /// Saves a connector (replacing one with the same id).
    pub fn put_connector(&self, manifest: &Manifest, wasm: &[u8]) -> Result<StoredConnector> {
        let (wasm_path, json_path) = self.connector_paths(&manifest.id)?;
        write_atomic(&wasm_path, wasm, false)?;
        let json = serde_json::to_vec_pretty(manifest).expect("manifest serializes");
        write_atomic(&json_path, &json, false)?;
        Ok(StoredConnector {
            manifest: manifest.clone(),
            wasm_path,
        })
    }

    pub fn connector(&self, id: &str) -> Result<StoredConnector> {
        let (wasm_path, json_path) = self.connector_paths(id)?;
        let text = match std::fs::read(&json_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound {
                    what: "connector",
                    id: id.to_string(),
                })
            }
            Err(e) => return Err(Error::io(format!("read {}", json_path.display()))(e)),
        };
        let manifest = serde_json::from_slice(&text).map_err(|e| Error::Corrupt {
            path: json_path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(StoredConnector {
            manifest,
            wasm_path,
        })
    }

    pub fn connectors(&self) -> Result<Vec<StoredConnector>> {
        self.ids("connectors", "json")?
            .iter()
            .map(|id| self.connector(id))
            .collect()
    }
}
