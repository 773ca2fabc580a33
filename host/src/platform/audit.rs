//! The audit log: append-only, one JSON record per operation, under
//! `$HOME/audit.log`. Records name who did what to which connection and
//! how it ended (an error *kind*, never a message that could quote a
//! provider, and never a secret or token).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One audit record.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditRecord {
    /// Unix seconds.
    pub time: u64,
    pub team: String,
    /// Who, as the embedding platform or the CLI named them.
    pub actor: String,
    /// `connection.create`, `connection.verify`, `usage.check`, …
    pub operation: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub connection: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub connector: Option<String>,
    /// For dynamic connections, the selector used; for provider changes,
    /// `provider:ID`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub via: Option<String>,
    /// `ok`, or the error kind (`unauthorized`, `account-validation`, …).
    pub result: String,
}

/// Appends to and reads the log.
#[derive(Clone, Debug)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    pub fn new(home: &Path) -> Self {
        AuditLog {
            path: home.join("audit.log"),
        }
    }

    /// Appends one record (one `write` of one line, O_APPEND).
    pub fn append(&self, record: &AuditRecord) -> Result<()> {
        let mut line = serde_json::to_vec(record).expect("audit record serializes");
        line.push(b'\n');
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&self.path)
            .map_err(Error::io(format!("open {}", self.path.display())))?;
        f.write_all(&line)
            .map_err(Error::io(format!("append {}", self.path.display())))
    }

    /// Records of `team`, optionally for one connection and since a time.
    pub fn read(
        &self,
        team: &str,
        connection: Option<&str>,
        since: Option<u64>,
    ) -> Result<Vec<AuditRecord>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(format!("read {}", self.path.display()))(e)),
        };
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str::<AuditRecord>(l).ok())
            .filter(|r| r.team == team)
            .filter(|r| connection.is_none_or(|c| r.connection.as_deref() == Some(c)))
            .filter(|r| since.is_none_or(|s| r.time >= s))
            .collect())
    }
}
