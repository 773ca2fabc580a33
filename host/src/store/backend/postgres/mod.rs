//! The shared backend: one PostgreSQL database (optionally one schema of
//! it) that many replicas use at once.
//!
//! * Documents are rows of `connhost_docs (dir, ext, stem) → body`; every
//!   write is one statement, so a crash leaves the old row or the new.
//!   Bodies are the same sealed, tagged documents the file backend
//!   writes: the database never sees a plaintext secret or the key, and a
//!   row edited in place fails its tag like an edited file.
//! * Locks are session-level advisory locks held by one session per
//!   process (a process that dies, `kill -9` included, loses them when
//!   its session ends), with in-process exclusion in front, because an
//!   advisory lock is re-entrant within a session.
//! * Every write goes through that same session, in order after the lock
//!   it is made under. So a write a dying process had already sent runs
//!   before the server ends the session and frees its locks, never after
//!   another process took them (a write on another connection could land
//!   late and undo the next holder's work). Reads use a pool.
//! * Logs are rows of `connhost_logs (path, seq)`.
//! * Migrations are numbered, run at start inside a transaction under an
//!   advisory lock (replicas starting together run each once).
//!
//! The store is synchronous; queries run on a small runtime of the
//! backend's own, so it can be called from inside or outside any other
//! runtime.

use super::{Backend, Held};
use crate::error::{Error, Result};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
mod locks;
mod setup;
use locks::LockSession;

use tokio_postgres::types::Type;
use tokio_postgres::Client;

/// A parameter of a write statement.
enum Arg {
    Text(String),
    Bytes(Vec<u8>),
}

fn texts<const N: usize>(v: [&str; N]) -> Vec<Arg> {
    v.iter().map(|s| Arg::Text(s.to_string())).collect()
}

/// Environment variable naming the database (`--database` wins).
pub const DATABASE_URL_ENV: &str = "CONNHOST_DATABASE_URL";

pub struct PostgresBackend {
    rt: Option<tokio::runtime::Runtime>,
    pool: deadpool_postgres::Pool,
    locks: Arc<LockSession>,
    /// `host:port/db (schema s)`, never a password.
    label: String,
    schema: Option<String>,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresBackend({})", self.label)
    }
}

impl Drop for PostgresBackend {
    fn drop(&mut self) {
        // Dropping a runtime may happen inside another one's task.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn db_err(context: &str) -> impl Fn(tokio_postgres::Error) -> Error + '_ {
    move |e| Error::Database {
        context: context.to_string(),
        reason: describe_pg(&e),
    }
}

/// A driver error in words: the server's message if it sent one.
fn describe_pg(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(": ");
                s.push_str(&inner.to_string());
                src = inner.source();
            }
            s
        }
    }
}

fn split(path: &str) -> (&str, &str, &str) {
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    (dir, ext, stem)
}

impl PostgresBackend {
    /// Runs `fut` on the backend's runtime and waits for it.
    fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let rt = self.rt.as_ref().expect("runtime lives until drop");
        block_on(rt, fut)
    }

    fn client(
        &self,
        what: &str,
    ) -> impl Future<Output = Result<deadpool_postgres::Object>> + Send + 'static {
        let pool = self.pool.clone();
        let ctx = format!("{what} at {}", self.label);
        async move {
            pool.get().await.map_err(|e| Error::Database {
                context: ctx,
                reason: match e {
                    deadpool_postgres::PoolError::Backend(e) => describe_pg(&e),
                    other => other.to_string(),
                },
            })
        }
    }

    /// The session writes go through (the one holding this process's
    /// locks), and its statement cache.
    fn writer(&self) -> Result<Arc<Client>> {
        let rt = self
            .rt
            .as_ref()
            .expect("runtime lives until drop")
            .handle()
            .clone();
        self.locks.writer(&rt)
    }

    /// The bytes of the one row a prepared (cached) query finds, if any.
    fn read_one(
        &self,
        what: &'static str,
        sql: &'static str,
        args: Vec<String>,
    ) -> Result<Option<Vec<u8>>> {
        let client = self.client(what);
        self.run(async move {
            let c = client.await?;
            let st = c.prepare_cached(sql).await.map_err(db_err(what))?;
            let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args
                .iter()
                .map(|a| a as &(dyn tokio_postgres::types::ToSql + Sync))
                .collect();
            let row = c.query_opt(&st, &params).await.map_err(db_err(what))?;
            Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
        })
    }

    /// Runs one write statement on the lock session; rows it returned.
    fn write_sql(&self, what: &'static str, sql: &'static str, args: Vec<Arg>) -> Result<usize> {
        let client = self.writer()?;
        self.run(async move {
            let params: Vec<(&(dyn tokio_postgres::types::ToSql + Sync), Type)> = args
                .iter()
                .map(|a| match a {
                    Arg::Text(t) => (t as &(dyn tokio_postgres::types::ToSql + Sync), Type::TEXT),
                    Arg::Bytes(b) => (b as &(dyn tokio_postgres::types::ToSql + Sync), Type::BYTEA),
                })
                .collect();
            let rows = client
                .query_typed(sql, &params)
                .await
                .map_err(db_err(what))?;
            Ok(rows.len())
        })
    }

    /// Statement round trips this backend has open to the server now.
    pub fn pool_status(&self) -> (usize, usize) {
        let s = self.pool.status();
        (s.size, s.available)
    }
}

/// Runs a future on `rt` from any thread (inside another runtime too) and
/// blocks this thread until it is done.
fn block_on<T: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    fut: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().unwrap_or_else(|_| {
        Err(Error::Database {
            context: "runtime".into(),
            reason: "the database runtime stopped".into(),
        })
    })
}

impl Backend for PostgresBackend {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn describe(&self) -> String {
        self.label.clone()
    }

    fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let (dir, ext, stem) = split(path);
        self.read_one(
            "read",
            "SELECT body FROM connhost_docs WHERE dir = $1 AND ext = $2 AND stem = $3",
            vec![dir.to_string(), ext.to_string(), stem.to_string()],
        )
    }

    fn read_many(&self, paths: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        // By folder: `dir = $1 AND ext = $2 AND stem = ANY($3)` is an index
        // scan of the primary key, however many rows the table holds.
        let mut groups: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for p in paths {
            let (d, e, st) = split(p);
            groups
                .entry((d.to_string(), e.to_string()))
                .or_default()
                .push(st.to_string());
        }
        let client = self.client("read");
        let found = self.run(async move {
            let c = client.await?;
            let st = c
                .prepare_cached(
                    "SELECT stem, body FROM connhost_docs
                     WHERE dir = $1 AND ext = $2 AND stem = ANY($3::text[])",
                )
                .await
                .map_err(db_err("read"))?;
            let mut m = HashMap::new();
            for ((dir, ext), stems) in groups {
                for r in c
                    .query(&st, &[&dir, &ext, &stems])
                    .await
                    .map_err(db_err("read"))?
                {
                    let stem: String = r.get(0);
                    m.insert((dir.clone(), ext.clone(), stem), r.get::<_, Vec<u8>>(1));
                }
            }
            Ok(m)
        })?;
        Ok(paths
            .iter()
            .map(|p| {
                let (d, e, st) = split(p);
                found
                    .get(&(d.to_string(), e.to_string(), st.to_string()))
                    .cloned()
            })
            .collect())
    }

    fn write(&self, path: &str, bytes: &[u8]) -> Result<()> {
        let (dir, ext, stem) = split(path);
        let mut args = texts([dir, ext, stem]);
        args.push(Arg::Bytes(bytes.to_vec()));
        self.write_sql(
            "write",
            "INSERT INTO connhost_docs (dir, ext, stem, body) VALUES ($1, $2, $3, $4)
             ON CONFLICT (dir, ext, stem) DO UPDATE SET body = excluded.body, updated_at = now()",
            args,
        )?;
        Ok(())
    }

    fn remove(&self, path: &str) -> Result<bool> {
        let (dir, ext, stem) = split(path);
        let n = self.write_sql(
            "delete",
            "DELETE FROM connhost_docs WHERE dir = $1 AND ext = $2 AND stem = $3 RETURNING 1",
            texts([dir, ext, stem]),
        )?;
        Ok(n == 1)
    }

    fn rename(&self, from: &str, to: &str) -> Result<bool> {
        let (fd, fe, fs) = split(from);
        let (td, te, ts) = split(to);
        let n = self.write_sql(
            "move",
            "WITH moved AS (DELETE FROM connhost_docs WHERE dir = $1 AND ext = $2 AND stem = $3 RETURNING body)
             INSERT INTO connhost_docs (dir, ext, stem, body) SELECT $4, $5, $6, body FROM moved
             ON CONFLICT (dir, ext, stem) DO UPDATE SET body = excluded.body, updated_at = now()
             RETURNING 1",
            texts([fd, fe, fs, td, te, ts]),
        )?;
        Ok(n == 1)
    }

    fn list(&self, dir: &str, ext: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        let (dir, ext, after) = (
            dir.to_string(),
            ext.to_string(),
            after.unwrap_or("").to_string(),
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.client("list");
        self.run(async move {
            let c = client.await?;
            // With no extension asked for, every name (stem.ext) is listed.
            let rows = if ext.is_empty() {
                c.query(
                    "SELECT n FROM (SELECT CASE WHEN ext = '' THEN stem ELSE stem || '.' || ext END COLLATE \"C\" AS n
                       FROM connhost_docs WHERE dir = $1) t WHERE n > $2 ORDER BY n LIMIT $3",
                    &[&dir, &after, &limit],
                )
                .await
            } else {
                let st = c
                    .prepare_cached(
                        "SELECT stem FROM connhost_docs WHERE dir = $1 AND ext = $2 AND stem > $3
                         ORDER BY stem LIMIT $4",
                    )
                    .await
                    .map_err(db_err("list"))?;
                c.query(&st, &[&dir, &ext, &after, &limit]).await
            }
            .map_err(db_err("list"))?;
            Ok(rows.into_iter().map(|r| r.get::<_, String>(0)).collect())
        })
    }

    fn lock(&self, name: &str, wait: Duration, exclusive: bool) -> Result<Held> {
        let rt = self
            .rt
            .as_ref()
            .expect("runtime lives until drop")
            .handle()
            .clone();
        LockSession::acquire(&self.locks, rt, name, wait, exclusive)
    }

    fn append(&self, path: &str, line: &[u8], _sync: bool) -> Result<()> {
        // Every commit is durable (synchronous_commit is the server's
        // setting, not ours to lower).
        let mut args = texts([path]);
        args.push(Arg::Bytes(line.to_vec()));
        self.write_sql(
            "append",
            "INSERT INTO connhost_logs (path, line) VALUES ($1, $2)",
            args,
        )?;
        Ok(())
    }

    fn read_log(&self, path: &str) -> Result<Vec<u8>> {
        let path = path.to_string();
        let client = self.client("read log");
        self.run(async move {
            let c = client.await?;
            let rows = c
                .query(
                    "SELECT line FROM connhost_logs WHERE path = $1 ORDER BY seq",
                    &[&path],
                )
                .await
                .map_err(db_err("read log"))?;
            Ok(rows
                .into_iter()
                .flat_map(|r| r.get::<_, Vec<u8>>(0))
                .collect())
        })
    }

    fn last_line(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let line = self.read_one(
            "read log",
            "SELECT line FROM connhost_logs WHERE path = $1 ORDER BY seq DESC LIMIT 1",
            vec![path.to_string()],
        )?;
        Ok(line
            .map(|l| l.trim_ascii_end().to_vec())
            .filter(|l| !l.is_empty()))
    }

    fn walk(&self) -> Result<Vec<String>> {
        self.walk_paths()
    }

    fn replace_log(&self, path: &str, text: &[u8]) -> Result<()> {
        // One statement: the old lines go and the new ones come at once.
        let mut args = texts([path]);
        args.push(Arg::Bytes(text.to_vec()));
        self.write_sql(
            "replace log",
            "WITH gone AS (DELETE FROM connhost_logs WHERE path = $1)
             INSERT INTO connhost_logs (path, line)
             SELECT $1, convert_to(l || E'\\n', 'UTF8')
             FROM regexp_split_to_table(rtrim(convert_from($2, 'UTF8'), E'\\n'), E'\\n') WITH ORDINALITY AS t(l, n)
             WHERE l <> '' ORDER BY n",
            args,
        )?;
        Ok(())
    }
}

impl PostgresBackend {
    fn walk_paths(&self) -> Result<Vec<String>> {
        let client = self.client("walk");
        self.run(async move {
            let c = client.await?;
            let rows = c
                .query(
                    "SELECT CASE WHEN dir = '' THEN '' ELSE dir || '/' END || stem
                            || CASE WHEN ext = '' THEN '' ELSE '.' || ext END
                       FROM connhost_docs
                     UNION SELECT DISTINCT path FROM connhost_logs",
                    &[],
                )
                .await
                .map_err(db_err("walk"))?;
            let mut out: Vec<String> = rows.into_iter().map(|r| r.get(0)).collect();
            out.sort();
            Ok(out)
        })
    }
}
