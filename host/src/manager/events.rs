//! Connection events for webhooks, read from the audit log (so every
//! event that happened is there, in order, tamper-evident) and delivered
//! at least once: a cursor (a tagged document) advances only after a
//! batch has been handed to every webhook; an event's id (`evt_<seq>`)
//! lets receivers drop repeats.
//!
//! Each delivery is an HTTPS POST under the host's network policy (public
//! addresses only; `--connect-to` is the test escape), signed:
//! `connhost-signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
//! Failed deliveries are retried with backoff; every attempt is logged.

use super::Manager;
use crate::error::{Error, Result};
use crate::net::{HttpsClient, OutRequest};
use crate::secret::Secret;
use crate::store::audit::AuditRecord;
use crate::store::{HookState, Webhook};
use crate::util::{hex, now};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::Serialize;
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Webhooks of one team delivered to at once.
pub const WEBHOOKS_PER_TEAM: usize = 4;
/// The longest a failing webhook waits between rounds.
pub const MAX_BACKOFF_SECS: u64 = 300;
/// One delivery attempt's deadline.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// A webhook and the events it is owed (see [`Manager::due_deliveries`]).
pub struct Delivery {
    pub hook: Webhook,
    pub state: HookState,
    /// (audit sequence number, event), oldest first.
    pub events: Vec<(u64, Event)>,
    /// The last audit record read: where the webhook stands once all
    /// of `events` are delivered.
    pub through: u64,
}

/// One event as delivered (never a secret: audit records hold none).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Event {
    /// `evt_<audit seq>`.
    pub id: String,
    /// `connection.created`, `…verified`, `…failed`, `…renewed`,
    /// `…renewal_failed`, `…reauthorization_required`, `…deleted`.
    #[serde(rename = "type")]
    pub kind: String,
    pub team: String,
    pub connection: Option<String>,
    pub connector: Option<String>,
    /// `ok` or the error kind.
    pub result: String,
    pub time: u64,
}

/// What one delivery attempt did (the delivery log).
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct DeliveryAttempt {
    pub event: String,
    pub attempt: u32,
    pub time: u64,
    /// The receiver's status, if it answered.
    pub status: Option<u16>,
    pub ok: bool,
}

/// The event an audit record is, if any.
fn event_of(r: &AuditRecord) -> Option<Event> {
    let ok = r.result == "ok";
    let kind = match (r.operation.as_str(), ok) {
        ("connection.create" | "connection.authorize-finish", true) => "connection.created",
        ("connection.verify", true) => "connection.verified",
        ("connection.verify", false) => "connection.failed",
        ("connection.renew", true) => "connection.renewed",
        ("connection.renew", false) if r.result == "reauthorization-required" => {
            "connection.reauthorization_required"
        }
        ("connection.renew", false) => "connection.renewal_failed",
        ("connection.delete", true) => "connection.deleted",
        _ => return None,
    };
    Some(Event {
        id: format!("evt_{}", r.seq),
        kind: kind.into(),
        team: r.team.clone(),
        connection: r.connection.clone(),
        connector: r.connector.clone(),
        result: r.result.clone(),
        time: r.time,
    })
}

/// Seconds a failing webhook waits before its next round, after
/// `failures` failed rounds in a row: 1, 2, 4 … at most [`MAX_BACKOFF_SECS`].
fn round_backoff(failures: u32) -> u64 {
    (1u64 << failures.saturating_sub(1).min(16)).min(MAX_BACKOFF_SECS)
}

/// The pause after failed attempt `attempt` of `attempts` within one
/// round (200 ms, 400 ms, 800 ms …); none after the last.
fn pause_after(attempt: u32, attempts: u32) -> Option<Duration> {
    (attempt < attempts)
        .then(|| Duration::from_millis(200) * 2u32.pow(attempt.saturating_sub(1).min(10)))
}

/// `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, time: u64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any length");
    mac.update(format!("{time}.").as_bytes());
    mac.update(body);
    format!("t={time},v1={}", hex(&mac.finalize().into_bytes()))
}

impl Manager {
    /// Adds a webhook for `team`; the returned secret (for checking
    /// signatures) is shown this once.
    /// The URL must resolve to public addresses only (as egress checks),
    /// so a team cannot point deliveries at the host's own network.
    pub async fn add_webhook(&self, team: &str, url: &str) -> Result<(Webhook, Secret)> {
        let u = url::Url::parse(url).map_err(|e| Error::invalid("url", e.to_string()))?;
        if u.scheme() != "https" || u.host_str().is_none() || !u.username().is_empty() {
            return Err(Error::invalid(
                "url",
                "must be an https:// URL without user info",
            ));
        }
        crate::net::check_destination(&self.cfg.net, &u)
            .await
            .map_err(|e| Error::invalid("url", format!("must reach a public address: {e}")))?;
        let mut id = [0u8; 8];
        rand::rng().fill_bytes(&mut id);
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let secret = Secret::new(format!("whsec_{}", hex(&raw)));
        let mut hook = Webhook {
            id: format!("wh_{}", hex(&id)),
            team: team.to_string(),
            url: u.to_string(),
            created_at: now(),
            secret: String::new(),
            integrity: String::new(),
        };
        // Events from now on: a new webhook gets none of the past.
        let last = crate::store::audit::AuditLog::of(self.store())
            .last()?
            .map_or(0, |r| r.seq);
        self.store
            .set_hook_state(&mut HookState::new(&hook.id, last))?;
        self.store.put_webhook(&mut hook, &secret)?;
        Ok((public(hook), secret))
    }

    /// `team`'s webhooks (never their secrets).
    pub fn webhooks(&self, team: &str) -> Result<Vec<Webhook>> {
        Ok(self
            .store
            .webhooks()?
            .into_iter()
            .filter(|h| h.team == team)
            .map(public)
            .collect())
    }

    /// Removes one of `team`'s webhooks.
    pub fn remove_webhook(&self, team: &str, id: &str) -> Result<()> {
        self.owned_webhook(team, id)?;
        if !self.store.remove_webhook(id)? {
            return Err(Error::NotFound {
                what: "webhook",
                id: id.to_string(),
            });
        }
        Ok(())
    }

    /// The last delivery attempts of one of `team`'s webhooks.
    pub fn deliveries(&self, team: &str, id: &str, limit: usize) -> Result<Vec<DeliveryAttempt>> {
        self.owned_webhook(team, id)?;
        let bytes = self
            .store
            .backend()
            .read_log(&self.store.delivery_log(id)?)?;
        let text = String::from_utf8_lossy(&bytes);
        let all: Vec<DeliveryAttempt> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        Ok(all[all.len().saturating_sub(limit)..].to_vec())
    }

    /// One delivery round: every webhook that is due gets the events it
    /// has not had yet, all webhooks at once (at most
    /// [`WEBHOOKS_PER_TEAM`] of a team together), each in order,
    /// `attempts` tries an event. Waits for the whole round; returns how
    /// many deliveries succeeded. A server runs rounds per webhook
    /// instead ([`Manager::due_deliveries`], [`Manager::deliver_to`]), so
    /// one slow endpoint never holds up another.
    pub async fn deliver_events(&self, batch: usize, attempts: u32) -> Result<usize> {
        let plan = self.due_deliveries(batch, |_| false)?;
        let mut budgets: std::collections::HashMap<String, Arc<Semaphore>> = Default::default();
        let rounds = plan.into_iter().map(|d| {
            let budget = budgets
                .entry(d.hook.team.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(WEBHOOKS_PER_TEAM)))
                .clone();
            async move {
                let _turn = budget.acquire_owned().await;
                self.deliver_to(d, attempts).await
            }
        });
        let mut delivered = 0;
        for r in futures_util::future::join_all(rounds).await {
            delivered += r?;
        }
        Ok(delivered)
    }

    /// What each webhook is owed now: its events after where it stands,
    /// from one read of the audit log (at most `batch` records past the
    /// webhook furthest behind). Webhooks in backoff, and those `skip`
    /// names (already being delivered), are left out.
    pub fn due_deliveries(
        &self,
        batch: usize,
        skip: impl Fn(&str) -> bool,
    ) -> Result<Vec<Delivery>> {
        let log = crate::store::audit::AuditLog::of(self.store());
        // Called every second: when nothing was appended, read only the
        // log's tail.
        let Some(last) = log.last()?.map(|r| r.seq) else {
            return Ok(Vec::new());
        };
        let t = now();
        let mut due = Vec::new();
        for hook in self.store.webhooks()? {
            if skip(&hook.id) {
                continue;
            }
            let state = self.store.hook_state(&hook.id)?;
            if state.retry_at > t || state.delivered_through >= last {
                continue;
            }
            due.push((hook, state));
        }
        let Some(from) = due.iter().map(|(_, s)| s.delivered_through).min() else {
            return Ok(Vec::new());
        };
        let records = log.read_after(from, batch)?;
        let Some(through) = records.last().map(|r| r.seq) else {
            return Ok(Vec::new());
        };
        Ok(due
            .into_iter()
            .map(|(hook, state)| {
                let events = records
                    .iter()
                    .filter(|r| r.seq > state.delivered_through && r.team == hook.team)
                    .filter_map(|r| event_of(r).map(|e| (r.seq, e)))
                    .collect();
                Delivery {
                    hook,
                    state,
                    events,
                    through,
                }
            })
            .collect())
    }

    /// Delivers one webhook's events in order. At its first event that
    /// fails every attempt it stops: the webhook is marked failing and
    /// waits (1 s, 2 s, 4 s … at most [`MAX_BACKOFF_SECS`]) before its
    /// next round; its events wait for it, other webhooks do not. One
    /// process at a time per webhook (the others skip it).
    pub async fn deliver_to(&self, d: Delivery, attempts: u32) -> Result<usize> {
        let lock = format!("locks/webhook-{}.lock", d.hook.id);
        let _one = match self.store.backend().lock(&lock, Duration::ZERO, true) {
            Ok(l) => l,
            Err(Error::LockTimeout { .. }) => return Ok(0),
            Err(e) => return Err(e),
        };
        // Another process may have delivered since the plan was made.
        let mut state = self.store.hook_state(&d.hook.id)?;
        if state.retry_at > now() {
            return Ok(0);
        }
        let client = HttpsClient::new(self.cfg.net.clone()).map_err(Error::Runtime)?;
        let mut delivered = 0;
        let from = state.delivered_through;
        for (seq, event) in d.events.iter().filter(|(seq, _)| *seq > from) {
            if !self.deliver(&client, &d.hook, event, attempts).await? {
                state.failures = state.failures.saturating_add(1);
                let wait = round_backoff(state.failures);
                state.retry_at = now() + wait;
                self.store.set_hook_state(&mut state)?;
                tracing::warn!(webhook = %d.hook.id, event = %event.id, failures = state.failures, "webhook failing; next try in {wait} s");
                return Ok(delivered);
            }
            delivered += 1;
            state.delivered_through = *seq;
            state.failures = 0;
            state.retry_at = 0;
            self.store.set_hook_state(&mut state)?;
        }
        if d.through > state.delivered_through {
            state.delivered_through = d.through;
            state.failures = 0;
            state.retry_at = 0;
            self.store.set_hook_state(&mut state)?;
        }
        Ok(delivered)
    }

    /// Where one of `team`'s webhooks stands (failing or not).
    pub fn webhook_state(&self, team: &str, id: &str) -> Result<HookState> {
        self.owned_webhook(team, id)?;
        self.store.hook_state(id)
    }

    fn owned_webhook(&self, team: &str, id: &str) -> Result<Webhook> {
        self.store
            .webhooks()?
            .into_iter()
            .find(|h| h.id == id && h.team == team)
            .ok_or_else(|| Error::NotFound {
                what: "webhook",
                id: id.to_string(),
            })
    }

    async fn deliver(
        &self,
        client: &HttpsClient,
        hook: &Webhook,
        event: &Event,
        attempts: u32,
    ) -> Result<bool> {
        let secret = self.store.webhook_secret(hook)?;
        let body = serde_json::to_vec(event).expect("event serializes");
        let url = url::Url::parse(&hook.url).map_err(|e| Error::invalid("url", e.to_string()))?;
        for attempt in 1..=attempts.max(1) {
            let t = now();
            let req = OutRequest {
                method: hyper::Method::POST,
                url: url.clone(),
                headers: vec![
                    ("content-type".into(), "application/json".into()),
                    ("connhost-event-id".into(), event.id.clone()),
                    (
                        "connhost-signature".into(),
                        signature(secret.expose(), t, &body),
                    ),
                ],
                body: body.clone(),
                timeout: Some(DELIVERY_TIMEOUT),
            };
            let status = client.send(req).await.ok().map(|r| r.status);
            let ok = status.is_some_and(|s| (200..300).contains(&s));
            self.log_delivery(
                hook,
                &DeliveryAttempt {
                    event: event.id.clone(),
                    attempt,
                    time: t,
                    status,
                    ok,
                },
            )?;
            if ok {
                return Ok(true);
            }
            if let Some(pause) = pause_after(attempt, attempts) {
                tokio::time::sleep(pause).await;
            }
        }
        Ok(false)
    }

    fn log_delivery(&self, hook: &Webhook, a: &DeliveryAttempt) -> Result<()> {
        let path = self.store.delivery_log(&hook.id)?;
        let mut line = serde_json::to_vec(a).expect("serializes");
        line.push(b'\n');
        self.store.backend().append(&path, &line, false)
    }
}

fn public(mut h: Webhook) -> Webhook {
    h.secret.clear();
    h.integrity.clear();
    h
}

#[cfg(test)]
mod tests {
    use super::{AuditRecord, MAX_BACKOFF_SECS};
    fn record(operation: &str, result: &str) -> AuditRecord {
        AuditRecord {
            time: 7,
            team: "t".into(),
            actor: "a".into(),
            operation: operation.into(),
            connection: Some("conn_1".into()),
            connector: Some("celonis".into()),
            via: None,
            result: result.into(),
            seq: 42,
            prev: String::new(),
            mac: String::new(),
        }
    }

    #[test]
    fn each_audited_outcome_is_its_event_or_none() {
        for (operation, result, kind) in [
            ("connection.create", "ok", Some("connection.created")),
            (
                "connection.authorize-finish",
                "ok",
                Some("connection.created"),
            ),
            ("connection.create", "invalid-input", None),
            ("connection.verify", "ok", Some("connection.verified")),
            (
                "connection.verify",
                "unauthorized",
                Some("connection.failed"),
            ),
            ("connection.renew", "ok", Some("connection.renewed")),
            (
                "connection.renew",
                "reauthorization-required",
                Some("connection.reauthorization_required"),
            ),
            (
                "connection.renew",
                "network",
                Some("connection.renewal_failed"),
            ),
            ("connection.delete", "ok", Some("connection.deleted")),
            ("connection.delete", "in-use", None),
            ("connection.rename", "ok", None),
        ] {
            let e = super::event_of(&record(operation, result));
            assert_eq!(
                e.as_ref().map(|e| e.kind.as_str()),
                kind,
                "{operation} {result}"
            );
            if let Some(e) = e {
                assert_eq!(
                    (e.id.as_str(), e.result.as_str(), e.time),
                    ("evt_42", result, 7)
                );
                assert_eq!(e.connection.as_deref(), Some("conn_1"));
            }
        }
    }

    #[test]
    fn rounds_back_off_doubling_to_a_cap_and_attempts_pause_between() {
        let waits: Vec<u64> = (1..=6).map(super::round_backoff).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32]);
        assert_eq!(super::round_backoff(0), 1);
        assert_eq!(super::round_backoff(40), MAX_BACKOFF_SECS);
        assert!(super::round_backoff(9) <= MAX_BACKOFF_SECS);
        let ms = |a, n| super::pause_after(a, n).map(|d| d.as_millis());
        assert_eq!((ms(1, 3), ms(2, 3), ms(3, 3)), (Some(200), Some(400), None));
        assert_eq!(ms(1, 1), None);
    }

    /// A fixed vector computed outside this code (Python's `hmac`), so the
    /// signature and its test cannot change together.
    #[test]
    fn the_signature_matches_an_independent_vector() {
        assert_eq!(
            super::signature("whsec_test", 1_700_000_000, br#"{"id":"evt_1"}"#),
            "t=1700000000,v1=c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925"
        );
    }
}
