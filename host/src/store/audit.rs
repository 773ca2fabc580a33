//! The audit log: append-only, one JSON record per operation, under
//! `$HOME/audit.log`, chained with the store's key (each record's tag
//! covers the previous record's tag). Records name who did what to which
//! connection and how it ended (an error *kind*, never a message that could quote a
//! provider, and never a secret or token).

use crate::error::{Error, Result};
use crate::store::{Backend, KeyRing, Store, WRITE_WAIT};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One audit record.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
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
    /// Position in the whole log (1, 2, …).
    #[serde(default)]
    pub seq: u64,
    /// The previous record's tag (`genesis` for the first).
    #[serde(default)]
    pub prev: String,
    /// HMAC-SHA256 tag over this record (with this field empty).
    #[serde(default)]
    pub mac: String,
}

/// What verification of the whole chain found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Records that verified, from the start.
    pub verified: u64,
    /// The first broken link: its line number (1-based) and what is wrong.
    pub broken: Option<(u64, String)>,
}

/// Appends to, reads and verifies the log. Each record carries its
/// sequence number, the tag of the record before it, and its own tag
/// (over all of that), so an edited, inserted, removed or reordered line
/// breaks the chain at that point.
#[derive(Clone, Debug)]
pub struct AuditLog {
    backend: Arc<dyn Backend>,
    home: PathBuf,
    key: KeyRing,
}

const GENESIS: &str = "genesis";
const PATH: &str = "audit.log";
const LOCK: &str = "audit.lock";

fn message(record: &AuditRecord) -> Vec<u8> {
    let mut copy = record.clone();
    copy.mac.clear();
    let mut m = b"connhost:audit:v1:".to_vec();
    m.extend(serde_json::to_vec(&copy).expect("audit record serializes"));
    m
}

impl AuditLog {
    pub fn new(backend: Arc<dyn Backend>, home: &Path, key: KeyRing) -> Self {
        AuditLog {
            backend,
            home: home.to_path_buf(),
            key,
        }
    }

    /// The log of `store`.
    pub fn of(store: &Store) -> Self {
        Self::new(store.backend().clone(), store.home(), store.keys().clone())
    }

    /// Appends one record, chained to the last, under the log's lock, and
    /// syncs it. Fails closed: a log it cannot read, parse or write is an
    /// error, never a silent gap.
    pub fn append(&self, record: &mut AuditRecord) -> Result<()> {
        let _guard = crate::store::rotate::guard(&*self.backend, &self.home, &self.key)?;
        let _lock = self.backend.lock(LOCK, WRITE_WAIT, true)?;
        let (seq, prev) = match self.last()? {
            Some(last) => (last.seq + 1, last.mac),
            None => (1, GENESIS.to_string()),
        };
        record.seq = seq;
        record.prev = prev;
        record.mac.clear();
        record.mac = self.key.tag(&message(record));
        let mut line = serde_json::to_vec(record).expect("audit record serializes");
        line.push(b'\n');
        // Changes are synced before they are reported done. A request made
        // through a connection changes nothing: its record is written (and
        // chained) but not synced, so a busy proxy does not wait on the
        // disk once per call; a crash may lose the last such records.
        let sync = record.operation != "connection.request";
        self.backend.append(PATH, &line, sync)
    }

    /// The last record.
    pub(crate) fn last(&self) -> Result<Option<AuditRecord>> {
        let Some(line) = self.backend.last_line(PATH)? else {
            return Ok(None);
        };
        let record: AuditRecord = serde_json::from_slice(&line).map_err(|e| Error::Corrupt {
            path: PATH.into(),
            reason: format!("last record: {e}"),
        })?;
        if self.key.check(&message(&record), &record.mac).is_err() {
            return Err(Error::Tampered("audit log (last record)".into()));
        }
        Ok(Some(record))
    }

    fn lines(&self) -> Result<String> {
        String::from_utf8(self.backend.read_log(PATH)?).map_err(|_| Error::Corrupt {
            path: PATH.into(),
            reason: "not UTF-8".into(),
        })
    }

    /// Records of `team`, optionally for one connection and since a time.
    /// Only records whose tag checks out are returned.
    pub fn read(
        &self,
        team: &str,
        connection: Option<&str>,
        since: Option<u64>,
    ) -> Result<Vec<AuditRecord>> {
        Ok(self
            .lines()?
            .lines()
            .filter_map(|l| serde_json::from_str::<AuditRecord>(l).ok())
            .filter(|r| self.key.check(&message(r), &r.mac).is_ok())
            .filter(|r| r.team == team)
            .filter(|r| connection.is_none_or(|c| r.connection.as_deref() == Some(c)))
            .filter(|r| since.is_none_or(|s| r.time >= s))
            .collect())
    }

    /// A page of `team`'s records after sequence number `after` (at most
    /// `limit`, oldest first, optionally for one connection and since a
    /// time), and whether more follow. Other teams' lines are skipped by
    /// a byte match on the team field before anything is parsed, and the
    /// scan stops once the page is full, so a page costs its own records,
    /// not the whole log's (the log's bytes are still read).
    pub fn read_page(
        &self,
        team: &str,
        connection: Option<&str>,
        since: Option<u64>,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<AuditRecord>, bool)> {
        let field = format!(
            "\"team\":{},",
            serde_json::to_string(team).expect("a string serializes")
        );
        let mut page = Vec::new();
        for line in self.lines()?.lines().filter(|l| l.contains(&field)) {
            let Ok(r) = serde_json::from_str::<AuditRecord>(line) else {
                continue;
            };
            if r.team != team
                || r.seq <= after
                || connection.is_some_and(|c| r.connection.as_deref() != Some(c))
                || since.is_some_and(|s| r.time < s)
                || self.key.check(&message(&r), &r.mac).is_err()
            {
                continue;
            }
            if page.len() == limit {
                return Ok((page, true));
            }
            page.push(r);
        }
        Ok((page, false))
    }

    /// Records of every team after sequence number `after`, at most
    /// `limit`, oldest first (the event feed). Only records whose tag
    /// checks out.
    pub(crate) fn read_after(&self, after: u64, limit: usize) -> Result<Vec<AuditRecord>> {
        Ok(self
            .lines()?
            .lines()
            .filter_map(|l| serde_json::from_str::<AuditRecord>(l).ok())
            .filter(|r| r.seq > after)
            .filter(|r| self.key.check(&message(r), &r.mac).is_ok())
            .take(limit)
            .collect())
    }

    /// Re-tags every record with the primary key, in one atomic rewrite
    /// (key rotation); returns how many. A broken chain is refused, not
    /// re-tagged: a rotation must never launder an edited log.
    pub(crate) fn rewrap(&self) -> Result<u64> {
        let _lock = self.backend.lock(LOCK, WRITE_WAIT, true)?;
        let report = self.verify()?;
        if let Some((line, why)) = report.broken {
            return Err(Error::Tampered(format!(
                "audit.log line {line}: {why}; run `connhost audit verify`"
            )));
        }
        let mut out = Vec::new();
        let mut prev = GENESIS.to_string();
        let text = self.lines()?;
        for line in text.lines() {
            let mut r: AuditRecord = serde_json::from_str(line).map_err(|e| Error::Corrupt {
                path: PATH.into(),
                reason: e.to_string(),
            })?;
            r.prev = prev;
            r.mac.clear();
            r.mac = self.key.tag(&message(&r));
            prev = r.mac.clone();
            out.extend(serde_json::to_vec(&r).expect("audit record serializes"));
            out.push(b'\n');
        }
        if !text.is_empty() {
            self.backend.replace_log(PATH, &out)?;
        }
        Ok(report.verified)
    }

    /// Walks the whole chain and reports the first broken link.
    pub fn verify(&self) -> Result<ChainReport> {
        let text = self.lines()?;
        let (mut seq, mut prev) = (0u64, GENESIS.to_string());
        for (n, line) in text.lines().enumerate() {
            let at = n as u64 + 1;
            let broken = |why: String| ChainReport {
                verified: seq,
                broken: Some((at, why)),
            };
            let record: AuditRecord = match serde_json::from_str(line) {
                Ok(r) => r,
                Err(e) => return Ok(broken(format!("not a record: {e}"))),
            };
            if self.key.check(&message(&record), &record.mac).is_err() {
                return Ok(broken("its tag does not verify (edited or forged)".into()));
            }
            if record.seq != seq + 1 || record.prev != prev {
                return Ok(broken(format!(
                    "out of sequence: expected #{} after the previous record, found #{}",
                    seq + 1,
                    record.seq
                )));
            }
            seq = record.seq;
            prev = record.mac;
        }
        Ok(ChainReport {
            verified: seq,
            broken: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(op: &str) -> AuditRecord {
        AuditRecord {
            time: 1,
            team: "t".into(),
            actor: "a".into(),
            operation: op.into(),
            connection: None,
            connector: None,
            via: None,
            result: "ok".into(),
            seq: 0,
            prev: String::new(),
            mac: String::new(),
        }
    }

    #[test]
    fn a_team_s_page_reads_only_its_own_records_and_says_whether_more_follow() {
        let (dir, log) = log_with(&[]);
        for i in 0..50 {
            let mut r = record("connection.verify");
            r.team = if i % 10 == 0 { "a".into() } else { "b".into() };
            // A value that quotes another team's field must not match.
            r.actor = "x\",\"team\":\"a\",".into();
            log.append(&mut r).unwrap();
        }
        let (page, more) = log.read_page("a", None, None, 0, 2).unwrap();
        assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 11]);
        assert!(more);
        let (page, more) = log.read_page("a", None, None, 11, 10).unwrap();
        assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [21, 31, 41]);
        assert!(!more);
        // A line of team b edited on disk does not stop team a's page.
        let path = dir.path().join(PATH);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("\"team\":\"b\"", "\"team\":\"c\"", 1)).unwrap();
        let (page, _) = log.read_page("a", None, None, 0, 10).unwrap();
        assert_eq!(page.len(), 5);
        // An edited line of team a is left out (its tag fails).
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("\"seq\":11,", "\"seq\":12,", 1)).unwrap();
        let (page, _) = log.read_page("a", None, None, 0, 10).unwrap();
        assert_eq!(
            page.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [1, 21, 31, 41]
        );
    }

    fn log_with(ops: &[&str]) -> (tempfile::TempDir, AuditLog) {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::store::MasterKey::from_bytes(&[3; 32]).unwrap();
        // Appends take the store's write guard, which reads its keycheck.
        let store = crate::store::Store::open(dir.path(), Some(key)).unwrap();
        let log = AuditLog::of(&store);
        for op in ops {
            log.append(&mut record(op)).unwrap();
        }
        (dir, log)
    }

    fn rewrite(log: &AuditLog, f: impl FnOnce(&mut Vec<String>)) {
        let path = log.home.join(PATH);
        let mut lines: Vec<String> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        f(&mut lines);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    }

    #[test]
    fn an_intact_chain_verifies() {
        let (_d, log) = log_with(&["a", "b", "c"]);
        let report = log.verify().unwrap();
        assert_eq!(
            report,
            ChainReport {
                verified: 3,
                broken: None
            }
        );
        assert_eq!(log.read("t", None, None).unwrap().len(), 3);
    }

    #[test]
    fn an_edited_line_breaks_the_chain_there() {
        let (_d, log) = log_with(&["a", "b", "c"]);
        rewrite(&log, |l| l[1] = l[1].replace("\"ok\"", "\"denied\""));
        let report = log.verify().unwrap();
        assert_eq!(report.verified, 1);
        assert_eq!(report.broken.unwrap().0, 2);
        assert_eq!(
            log.read("t", None, None).unwrap().len(),
            2,
            "forged record hidden"
        );
    }

    #[test]
    fn a_removed_or_reordered_line_breaks_the_chain() {
        let (_d, log) = log_with(&["a", "b", "c"]);
        rewrite(&log, |l| {
            l.remove(1);
        });
        assert_eq!(log.verify().unwrap().broken.unwrap().0, 2);
        let (_d, log) = log_with(&["a", "b", "c"]);
        rewrite(&log, |l| l.swap(0, 1));
        assert_eq!(log.verify().unwrap().broken.unwrap().0, 1);
    }

    #[test]
    fn appending_to_a_tampered_tail_fails_closed() {
        let (_d, log) = log_with(&["a", "b"]);
        rewrite(&log, |l| l[1] = l[1].replace("\"b\"", "\"x\""));
        assert_eq!(log.append(&mut record("c")).unwrap_err().kind(), "tampered");
        let (d, log) = log_with(&[]);
        std::fs::create_dir(d.path().join("audit.log")).unwrap();
        assert!(
            log.append(&mut record("c")).is_err(),
            "a directory is not a log"
        );
    }
}
