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
use crate::capabilities::Secret;
use crate::error::{Error, Result};
use crate::net::{HttpsClient, OutRequest};
use crate::platform::AuditRecord;
use crate::store::Webhook;
use crate::util::{hex, now};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::Serialize;
use sha2::Sha256;
use std::time::Duration;

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
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
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
        let owned = self
            .store
            .webhooks()?
            .iter()
            .any(|h| h.id == id && h.team == team);
        if !owned || !self.store.remove_webhook(id)? {
            return Err(Error::NotFound {
                what: "webhook",
                id: id.to_string(),
            });
        }
        Ok(())
    }

    /// The last delivery attempts of one of `team`'s webhooks.
    pub fn deliveries(&self, team: &str, id: &str, limit: usize) -> Result<Vec<DeliveryAttempt>> {
        if !self
            .store
            .webhooks()?
            .iter()
            .any(|h| h.id == id && h.team == team)
        {
            return Err(Error::NotFound {
                what: "webhook",
                id: id.to_string(),
            });
        }
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

    /// Delivers the events after the cursor (at most `batch` audit
    /// records) to their teams' webhooks, `attempts` tries each with
    /// backoff, then advances the cursor. Returns how many deliveries
    /// succeeded. A server calls this on a timer.
    pub async fn deliver_events(&self, batch: usize, attempts: u32) -> Result<usize> {
        // One deliverer at a time across processes; the others skip.
        let _one = match self
            .store
            .backend()
            .lock("locks/events.lock", Duration::ZERO, true)
        {
            Ok(l) => l,
            Err(Error::LockTimeout { .. }) => return Ok(0),
            Err(e) => return Err(e),
        };
        let after = self.store.events_cursor()?;
        let log = crate::platform::audit::AuditLog::of(self.store());
        // Called every second: when nothing was appended, read only the
        // log's tail, not the whole log.
        if log.last()?.is_none_or(|r| r.seq <= after) {
            return Ok(0);
        }
        let records = log.read_after(after, batch)?;
        let Some(last) = records.last().map(|r| r.seq) else {
            return Ok(0);
        };
        let hooks = self.store.webhooks()?;
        let client = HttpsClient::new(self.cfg.net.clone()).map_err(Error::Runtime)?;
        let mut delivered = 0;
        for event in records.iter().filter_map(event_of) {
            for hook in hooks.iter().filter(|h| h.team == event.team) {
                if self.deliver(&client, hook, &event, attempts).await? {
                    delivered += 1;
                }
            }
        }
        self.store.set_events_cursor(last)?;
        Ok(delivered)
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
                timeout: Some(Duration::from_secs(10)),
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
            if attempt < attempts {
                tokio::time::sleep(Duration::from_millis(200) * 2u32.pow(attempt - 1)).await;
            }
        }
        tracing::warn!(webhook = %hook.id, event = %event.id, "delivery failed after {attempts} attempts");
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
