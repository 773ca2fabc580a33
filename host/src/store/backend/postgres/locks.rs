//! The process's advisory locks and the one session that holds them
//! (and carries every write: see the backend's module docs).

use super::{db_err, Held};
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// The process's advisory locks: one session holds them all, and a table
/// in front says which this process holds, since the server would let the
/// same session take a lock twice.
pub(super) struct LockSession {
    config: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    state: Mutex<LockState>,
    freed: Condvar,
    schema: String,
}

#[derive(Default)]
struct LockState {
    client: Option<Arc<Client>>,
    /// Session generation: locks taken on a session that has since died
    /// are not unlocked on its successor.
    generation: u64,
    /// Lock key → (exclusive, holders in this process).
    held: HashMap<i64, (bool, usize)>,
}

struct PgLock {
    session: Arc<LockSession>,
    rt: tokio::runtime::Handle,
    key: i64,
    exclusive: bool,
    generation: u64,
}

impl LockSession {
    pub(super) fn new(
        config: tokio_postgres::Config,
        tls: tokio_postgres_rustls::MakeRustlsConnect,
        schema: String,
    ) -> LockSession {
        LockSession {
            config,
            tls,
            state: Mutex::new(LockState::default()),
            freed: Condvar::new(),
            schema,
        }
    }

    /// The session writes go through (connected if needed).
    pub(super) fn writer(&self, rt: &tokio::runtime::Handle) -> Result<Arc<Client>> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.session(&mut st, rt)
    }

    fn key(&self, name: &str) -> i64 {
        let d = Sha256::digest(format!("connhost:{}\0{name}", self.schema).as_bytes());
        i64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
    }

    /// The lock session, connected on first use and again after it died.
    fn session(&self, st: &mut LockState, rt: &tokio::runtime::Handle) -> Result<Arc<Client>> {
        if let Some(c) = &st.client {
            if !c.is_closed() {
                return Ok(c.clone());
            }
            st.client = None;
            st.generation += 1;
            self.freed.notify_all();
            if !st.held.is_empty() {
                // Work under those locks must not go on unprotected: it
                // fails, and the next operation starts on a new session.
                st.held.clear();
                tracing::error!("the database session holding this process's locks ended");
                return Err(Error::Database {
                    context: "lock session".into(),
                    reason: "the session holding this process's locks ended; the operation was abandoned, try again".into(),
                });
            }
        }
        let (config, tls) = (self.config.clone(), self.tls.clone());
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        rt.spawn(async move {
            let r = match config.connect(tls).await {
                Ok((client, conn)) => {
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                    Ok(client)
                }
                Err(e) => Err(db_err("lock session")(e)),
            };
            let _ = tx.send(r);
        });
        let client = Arc::new(rx.recv().map_err(|_| Error::Database {
            context: "lock session".into(),
            reason: "the database runtime stopped".into(),
        })??);
        st.client = Some(client.clone());
        Ok(client)
    }

    pub(super) fn acquire(
        this: &Arc<LockSession>,
        rt: tokio::runtime::Handle,
        name: &str,
        wait: Duration,
        exclusive: bool,
    ) -> Result<Held> {
        let key = this.key(name);
        let deadline = Instant::now() + wait;
        let mut pause = Duration::from_millis(1);
        let mut st = this.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match st.held.get_mut(&key) {
                // Shared holders in this process: one more shares.
                Some((false, n)) if !exclusive => {
                    *n += 1;
                    return Ok(PgLock::held(this, rt, key, exclusive, st.generation));
                }
                Some(_) => {
                    // Another thread here holds it: wait for it to go.
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(timeout(name, wait));
                    }
                    st = this
                        .freed
                        .wait_timeout(st, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                    continue;
                }
                None => {}
            }
            let client = this.session(&mut st, &rt)?;
            let sql = if exclusive {
                "SELECT pg_try_advisory_lock($1)"
            } else {
                "SELECT pg_try_advisory_lock_shared($1)"
            };
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            rt.spawn(async move {
                let r = client
                    .query_one(sql, &[&key])
                    .await
                    .map(|row| row.get::<_, bool>(0));
                let _ = tx.send(r);
            });
            let got = rx
                .recv()
                .map_err(|_| Error::Database {
                    context: "lock".into(),
                    reason: "the database runtime stopped".into(),
                })?
                .map_err(db_err("lock"))?;
            if got {
                st.held.insert(key, (exclusive, 1));
                return Ok(PgLock::held(this, rt, key, exclusive, st.generation));
            }
            // Another process holds it: back off and try again.
            if Instant::now() >= deadline {
                return Err(timeout(name, wait));
            }
            drop(st);
            std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
            pause = (pause * 2).min(Duration::from_millis(20));
            st = this.state.lock().unwrap_or_else(|p| p.into_inner());
        }
    }
}

fn timeout(name: &str, wait: Duration) -> Error {
    Error::LockTimeout {
        lock: name.rsplit('/').next().unwrap_or(name).to_string(),
        waited_ms: wait.as_millis() as u64,
    }
}

impl PgLock {
    fn held(
        session: &Arc<LockSession>,
        rt: tokio::runtime::Handle,
        key: i64,
        exclusive: bool,
        generation: u64,
    ) -> Held {
        Held::new(PgLock {
            session: session.clone(),
            rt,
            key,
            exclusive,
            generation,
        })
    }
}

impl Drop for PgLock {
    fn drop(&mut self) {
        let mut st = self.session.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.generation != self.generation {
            return;
        }
        let last = match st.held.get_mut(&self.key) {
            Some((_, n)) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                st.held.remove(&self.key);
                true
            }
            None => false,
        };
        if !last {
            return;
        }
        // Unlocked before another thread here may take it again, so the
        // session's count of this lock never goes above one.
        if let Some(client) = st.client.clone() {
            let (key, exclusive) = (self.key, self.exclusive);
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            self.rt.spawn(async move {
                let sql = if exclusive {
                    "SELECT pg_advisory_unlock($1)"
                } else {
                    "SELECT pg_advisory_unlock_shared($1)"
                };
                let _ = tx.send(client.query_one(sql, &[&key]).await.is_ok());
            });
            if !rx.recv().unwrap_or(false) {
                tracing::error!("could not release a database lock; the session will be replaced");
                st.client = None;
                st.generation += 1;
                st.held.clear();
            }
        }
        self.session.freed.notify_all();
    }
}
