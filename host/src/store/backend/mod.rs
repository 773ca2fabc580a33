//! Where the store's bytes live. Everything the store keeps is a document
//! at a relative path (`connections/conn_x.json`, `teams/t/usages.json`,
//! `audit.log`, …), a named lock, or an append-only log; the layers above
//! (signed documents, the version index, the audit chain) are the same on
//! every backend.
//!
//! * [`file`]: the embedded default, one home directory on local disk;
//! * [`postgres`]: one database many replicas share.

pub(crate) mod file;
pub(crate) mod postgres;

use crate::error::Result;
use std::time::Duration;

/// A lock held until dropped (a file lock, or a PostgreSQL advisory lock
/// owned by this process's lock session).
pub struct Held(#[allow(dead_code)] Box<dyn Send + Sync>);

impl Held {
    pub(crate) fn new(inner: impl Send + Sync + 'static) -> Held {
        Held(Box::new(inner))
    }
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Held")
    }
}

/// The storage primitives. Paths are relative, `/`-separated, made by the
/// store from checked ids; a backend never sees one from outside.
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// `"file"` or `"postgres"`.
    fn kind(&self) -> &'static str;
    /// Where it is, for messages (a directory, or a database URL without
    /// its password).
    fn describe(&self) -> String;
    /// A document's bytes; `None` if there is none.
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>>;
    /// Several documents at once (one round trip to a database), in the
    /// order asked.
    fn read_many(&self, paths: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        paths.iter().map(|p| self.read(p)).collect()
    }
    /// Writes a whole document, durably: a crash leaves the old bytes or
    /// the new ones.
    fn write(&self, path: &str, bytes: &[u8]) -> Result<()>;
    /// Makes an empty document (a pointer in a listing), durably.
    fn touch(&self, path: &str) -> Result<()> {
        self.write(path, b"")
    }
    /// Removes a document; `true` if this call removed it (of two racing
    /// removers exactly one sees `true`).
    fn remove(&self, path: &str) -> Result<bool>;
    /// Moves a document (quarantine); `false` if `from` was not there.
    fn rename(&self, from: &str, to: &str) -> Result<bool>;
    /// Names (without `.ext`) of the documents directly in `dir` ending in
    /// `.ext` (`ext` empty: every name), sorted, those after `after`, at
    /// most `limit`.
    fn list(&self, dir: &str, ext: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>>;
    /// Takes a named lock (exclusive, or shared with other shared
    /// holders), waiting at most `wait`; [`crate::Error::LockTimeout`]
    /// after that. Every process using the same store sees the same lock;
    /// a process that dies loses its locks.
    fn lock(&self, name: &str, wait: Duration, exclusive: bool) -> Result<Held>;
    /// Appends one line to a log; `sync` makes it durable before return.
    fn append(&self, path: &str, line: &[u8], sync: bool) -> Result<()>;
    /// A log's whole text (empty if there is none).
    fn read_log(&self, path: &str) -> Result<Vec<u8>>;
    /// A log's last line, if any.
    fn last_line(&self, path: &str) -> Result<Option<Vec<u8>>>;
    /// Replaces a log's whole text at once (key rotation re-tags it).
    fn replace_log(&self, path: &str, text: &[u8]) -> Result<()>;
    /// Every document and log path, sorted (migration); locks and this
    /// machine's own files (key file, compile cache) are not part of it.
    fn walk(&self) -> Result<Vec<String>>;
}

/// Whether `path` is a log (appended to) rather than a document.
pub fn is_log(path: &str) -> bool {
    path == "audit.log" || path.ends_with(".deliveries")
}

/// Every name in `dir` (all pages).
pub(crate) fn list_all(b: &dyn Backend, dir: &str, ext: &str) -> Result<Vec<String>> {
    b.list(dir, ext, None, usize::MAX)
}
