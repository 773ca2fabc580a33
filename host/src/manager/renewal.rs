//! Verify and refresh. Access that expires within the margin is renewed
//! before use and once more on a 401. Renewal is single-flight: callers in
//! one process wait on one async lock, processes sharing a store on one
//! file lock, and whoever waited re-reads the record and uses the result,
//! so one expiry costs exactly one token request.

use super::connections::add_fields;
use super::{input_of, Manager, Refreshed, Verified};
use crate::bindings::types as wit;
use crate::error::{ConnectorError, Error, Result};
use crate::manifest::Manifest;
use crate::store::{ConnectionRecord, LastError, Status};
use crate::util::now;
use std::time::Duration;

/// Both renewal locks of one connection; the shared one is released
/// first (fields drop in order).
pub(super) struct RenewalGuard {
    _shared: crate::store::Held,
    _local: tokio::sync::OwnedMutexGuard<()>,
}

impl Manager {
    /// Calls the service to prove the connection works and records the
    /// outcome (status, account label or last error) either way. One
    /// record read, one instance, one write on the usual path.
    pub async fn verify(&self, id: &str) -> Result<Verified> {
        // A connector may renew while it verifies (a provider without a
        // verification endpoint is verified by a refresh): under the
        // renewal lock, like every renewal, so a rotating refresh token
        // is never spent by two at once.
        let _renewal = self.renewal_guard(id).await?;
        let mut record = self.store.get(id)?;
        let mut refreshed_first = false;
        if self.expiring(&record) {
            let seen = record.token_generation;
            record = self.renew_held(id, |r| self.expiring(r)).await?.0;
            refreshed_first = record.token_generation != seen;
        }
        let scope = self.store.open_secrets(&record)?;
        let (manifest, mut instance) = self.instance(&record, scope).await?;
        let mut result = instance.verify(&input_of(&record)).await;
        let unauthorized = matches!(
            result,
            Err(Error::Connector(ConnectorError::Unauthorized { .. }))
        );
        if unauthorized && renewable(&manifest, &record) {
            let seen = record.token_generation;
            record = self.renew_held(id, |r| r.token_generation == seen).await?.0;
            refreshed_first = true;
            let scope = self.store.open_secrets(&record)?;
            let (_, again) = self.instance(&record, scope).await?;
            self.finish(&record, std::mem::replace(&mut instance, again))?;
            result = instance.verify(&input_of(&record)).await;
        }
        let outcome = match result {
            Ok(v) => Ok(v),
            Err(Error::Connector(e)) => Err(e),
            Err(other) => return Err(other),
        };
        let secrets = self.finish(&record, instance)?;
        let generation = record.token_generation;
        let t = now();
        self.commit(record, |r| {
            r.updated_at = t;
            match &outcome {
                Ok(v) => {
                    r.status = Status::Ok;
                    r.account_label = Some(v.account_label.clone());
                    r.last_error = None;
                    r.verified_at = Some(t);
                }
                Err(e) => record_failure(r, e),
            }
            // Tokens the component changed are kept only if nobody renewed
            // meanwhile; a renewal's tokens win.
            if secrets.changed() && r.token_generation == generation {
                self.store.seal_secrets(r, secrets.values());
            }
            Ok(())
        })?;
        match outcome {
            Ok(v) => Ok(Verified {
                id: id.to_string(),
                account_label: v.account_label,
                refreshed_first,
            }),
            Err(e) => Err(Error::Connector(e)),
        }
    }

    /// Whether access expires within the margin. The margin is at most
    /// half the access's lifetime: a 3 s token is not "expiring" on
    /// arrival, which would make every caller renew it.
    fn expiring(&self, record: &ConnectionRecord) -> bool {
        let Some(expires) = record.expires_at else {
            return false;
        };
        let mut margin = self.cfg.refresh_margin.as_secs();
        if let Some(issued) = record.access_issued_at {
            margin = margin.min(expires.saturating_sub(issued) / 2);
        }
        expires <= now().saturating_add(margin)
    }

    /// The connection, with access renewed first if it expires within the
    /// margin. Concurrent callers (tasks or processes sharing the store)
    /// share one renewal: exactly one token request per expiry.
    pub async fn ensure_fresh(&self, id: &str) -> Result<ConnectionRecord> {
        Ok(self.fresh(id).await?.0)
    }

    /// Renews, ahead of use, every connection whose access expires within
    /// the margin, `concurrency` at a time (a server calls this on a
    /// timer). Connections that need the user, or whose renewal failed in
    /// the last five minutes, are left alone; each renewal is the same
    /// single flight as a caller's, so a caller and the sweep never both
    /// spend a refresh token.
    pub async fn renew_due(self: &std::sync::Arc<Self>, concurrency: usize) -> Result<Sweep> {
        let t = now();
        // Only what the expiry listing says is near; `expiring` decides.
        let horizon = t.saturating_add(self.cfg.refresh_margin.as_secs());
        let due: Vec<String> = self
            .store
            .expiring_before(horizon)?
            .into_iter()
            .filter(|r| self.expiring(r))
            .filter(|r| r.status != Status::ReauthorizationRequired)
            .filter(|r| {
                r.status != Status::Error || r.last_error.as_ref().is_none_or(|e| e.at + 300 < t)
            })
            .map(|r| r.id)
            .collect();
        let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for id in &due {
            let (m, id, limit) = (self.clone(), id.clone(), limit.clone());
            tasks.spawn(async move {
                let _slot = limit.acquire_owned().await;
                let r = m.ensure_fresh(&id).await;
                if let Err(e) = &r {
                    tracing::warn!(connection = %id, "background renewal failed: {e}");
                }
                r.is_ok()
            });
        }
        let mut sweep = Sweep {
            due: due.len(),
            ..Sweep::default()
        };
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(true) => sweep.renewed += 1,
                _ => sweep.failed += 1,
            }
        }
        Ok(sweep)
    }

    /// [`Manager::ensure_fresh`], also saying whether tokens changed.
    pub(super) async fn fresh(&self, id: &str) -> Result<(ConnectionRecord, bool)> {
        let record = self.store.get(id)?;
        if !self.expiring(&record) {
            return Ok((record, false));
        }
        let seen = record.token_generation;
        let (record, _) = self.renew_locked(id, |r| self.expiring(r)).await?;
        let changed = record.token_generation != seen;
        Ok((record, changed))
    }

    /// Renews access now (a no-op, said so, for static keys).
    pub async fn refresh(&self, id: &str) -> Result<Refreshed> {
        let before = self.store.get(id)?;
        let seen = before.token_generation;
        let (after, not_needed) = self
            .renew_locked(id, |r| r.token_generation == seen)
            .await?;
        Ok(match not_needed {
            Some(reason) => Refreshed::NotNeeded { reason },
            None => Refreshed::Refreshed {
                expires_at: after.expires_at,
                granted_scopes: after.granted_scopes,
            },
        })
    }

    /// Takes this connection's renewal locks (in-process, then the store's
    /// file lock), re-reads the record and renews only if `needed` still
    /// holds: whoever waited behind another renewal uses its result. The
    /// second value is the connector's reason when it had nothing to renew.
    pub(super) async fn renew_locked(
        &self,
        id: &str,
        needed: impl Fn(&ConnectionRecord) -> bool,
    ) -> Result<(ConnectionRecord, Option<String>)> {
        let _renewal = self.renewal_guard(id).await?;
        self.renew_held(id, needed).await
    }

    /// This connection's renewal locks (in-process, then the store's),
    /// held until the guard is dropped.
    pub(super) async fn renewal_guard(&self, id: &str) -> Result<RenewalGuard> {
        let local = self
            .renewal_locks
            .lock()
            .unwrap()
            .entry(id.to_string())
            .or_default()
            .clone();
        // Whoever holds the renewal runs one call (plus retries): wait for
        // about that long, then give up with a typed error.
        let wait = renewal_wait(
            self.cfg.runtime.call_timeout,
            self.cfg.refresh_backoff,
            self.cfg.refresh_attempts,
        );
        let lock_timeout = || Error::LockTimeout {
            lock: format!("{id} renewal"),
            waited_ms: wait.as_millis() as u64,
        };
        let local = tokio::time::timeout(wait, local.lock_owned())
            .await
            .map_err(|_| lock_timeout())?;
        let (backend, lock_id) = (self.store.backend().clone(), id.to_string());
        let shared = tokio::task::spawn_blocking(move || {
            crate::store::renewal_lock(&*backend, &lock_id, wait)
        })
        .await
        .map_err(|e| Error::Runtime(format!("lock task: {e}")))??;
        Ok(RenewalGuard {
            _shared: shared,
            _local: local,
        })
    }

    /// [`Manager::renew_locked`] for a caller that holds the guard.
    async fn renew_held(
        &self,
        id: &str,
        needed: impl Fn(&ConnectionRecord) -> bool,
    ) -> Result<(ConnectionRecord, Option<String>)> {
        let record = self.store.get(id)?;
        if !needed(&record) {
            return Ok((record, None));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut next = record.clone();
            let scope = self.store.open_secrets(&next)?;
            let (_, mut instance) = self.instance_with_origins(&mut next, scope).await?;
            let result = instance.refresh(&input_of(&next)).await;
            let secrets = self.finish(&record, instance)?;
            let e = match result {
                Ok(wit::RefreshOutcome::Refreshed(state)) => {
                    let generation = record.token_generation;
                    let written = self.commit(record, |r| {
                        // An edit or reauthorization committed meanwhile
                        // brought its own credentials: this renewal is stale.
                        if r.token_generation != generation {
                            return Ok(());
                        }
                        apply_state(r, state.clone());
                        r.origins.clone_from(&next.origins);
                        r.last_error = None;
                        if r.status != Status::Created {
                            r.status = Status::Ok;
                        }
                        r.updated_at = now();
                        self.store.seal_secrets(r, secrets.values());
                        Ok(())
                    })?;
                    // Renewals are events too (webhooks read them here).
                    self.audit_for(&written, "connhost", "connection.renew", None, "ok")?;
                    return Ok((written, None));
                }
                Ok(wit::RefreshOutcome::NotNeeded(reason)) => return Ok((record, Some(reason))),
                Err(Error::Connector(e)) => e,
                Err(other) => return Err(other),
            };
            if transient(&e) && attempt < self.cfg.refresh_attempts {
                let mut wait = self.cfg.refresh_backoff * 2u32.pow(attempt - 1);
                if let ConnectorError::RateLimited {
                    retry_after: Some(s),
                } = &e
                {
                    wait =
                        wait.max(Duration::from_secs(u64::from(*s)).min(Duration::from_secs(10)));
                }
                tracing::warn!(connection = %id, attempt, "refresh failed transiently, retrying in {wait:?}: {e}");
                tokio::time::sleep(wait).await;
                continue;
            }
            let written = self.commit(record, |r| {
                if transient(&e) {
                    // Status unchanged: the provider may be back soon.
                    r.last_error = Some(LastError {
                        kind: e.kind().to_string(),
                        message: format!("refresh: {e}"),
                        at: now(),
                    });
                } else {
                    record_failure(r, &e);
                }
                r.updated_at = now();
                Ok(())
            })?;
            self.audit_for(&written, "connhost", "connection.renew", None, e.kind())?;
            return Err(Error::Connector(e));
        }
    }
}

/// What one background renewal sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Sweep {
    /// Connections whose access expired within the margin.
    pub due: usize,
    pub renewed: usize,
    pub failed: usize,
}

/// The longest a connector may say access lasts (10 years): an expiry
/// further out (a provider's `expires_in` of 2^64−1 or 1e308) is kept as
/// this, so the access is still renewed some day and the time fits every
/// store (PostgreSQL's bigint).
pub const MAX_ACCESS_LIFETIME_SECS: u64 = 10 * 365 * 24 * 3600;

pub(super) fn apply_state(record: &mut ConnectionRecord, s: wit::ConnectionState) {
    record.granted_scopes = s.granted_scopes;
    let latest = now().saturating_add(MAX_ACCESS_LIFETIME_SECS);
    record.expires_at = s.expires_at.map(|at| at.min(latest));
    record.access_issued_at = Some(now());
    add_fields(record, s.fields);
    record.token_generation += 1;
}

/// Access that can be renewed without the user: it expires, or the
/// connector's refresh secret (per its manifest) is set.
pub(super) fn renewable(manifest: &Manifest, record: &ConnectionRecord) -> bool {
    record.expires_at.is_some()
        || manifest
            .refresh_secret
            .as_ref()
            .is_some_and(|s| record.secrets.contains_key(s))
}

/// Failures worth retrying: the provider may answer later.
fn transient(e: &ConnectorError) -> bool {
    match e {
        ConnectorError::RateLimited { .. }
        | ConnectorError::Network { .. }
        | ConnectorError::Timeout { .. } => true,
        ConnectorError::ProviderError { status, .. } => *status >= 500,
        _ => false,
    }
}

fn record_failure(record: &mut ConnectionRecord, e: &ConnectorError) {
    record.status = match e {
        ConnectorError::ReauthorizationRequired { .. } => Status::ReauthorizationRequired,
        _ => Status::Error,
    };
    record.last_error = Some(LastError {
        kind: e.kind().to_string(),
        message: e.to_string(),
        at: now(),
    });
}

/// How long a caller waits for another's renewal: the holder's calls
/// (twice the call deadline per attempt), its backoffs, and ten seconds
/// of slack per retry.
fn renewal_wait(call_timeout: Duration, backoff: Duration, attempts: u32) -> Duration {
    let attempts = attempts.max(1);
    call_timeout * 2 * attempts
        + backoff * 2u32.pow(attempts.min(16))
        + Duration::from_secs(10) * (attempts - 1)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn a_renewal_waiter_waits_for_the_holders_calls_backoffs_and_slack() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        // 2 × 5 s × 3 + 100 ms × 2³ + 10 s × 2
        assert_eq!(
            super::renewal_wait(s(5), ms(100), 3),
            ms(30_000 + 800 + 20_000)
        );
        // One attempt: no slack; zero attempts count as one.
        assert_eq!(super::renewal_wait(s(5), ms(100), 1), ms(10_000 + 200));
        assert_eq!(super::renewal_wait(s(5), ms(100), 0), ms(10_200));
    }
}
