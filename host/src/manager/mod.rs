//! The connection manager: the library API an iPaaS backend embeds and the
//! CLI drives. CLI/API → manager → runtime → component → capabilities →
//! store; nothing is written unless the component's operation succeeded.
//!
//! * [`connectors`]: adding connectors and provider definitions;
//! * [`connections`]: create, rename, edit, delete, scope checks;
//! * [`renewal`]: verify and refresh, single-flight across processes;
//! * [`consent`]: the authorization-code flow.
//!
//! Every operation instantiates its connector once. The origins a
//! connector adds (`allowed-origins`) are asked in the same instance when
//! access is set up, and kept in the signed record for later calls.

mod apikeys;
mod connections;
mod connectors;
mod consent;
mod events;
mod renewal;
mod request;
mod resource;
mod sessions;

pub use consent::pkce_challenge;
pub use events::{
    signature as webhook_signature, Delivery, DeliveryAttempt, Event, MAX_BACKOFF_SECS,
    WEBHOOKS_PER_TEAM,
};
pub use renewal::Sweep;
pub use request::{resolve_url as resolve_request_url, ApiRequest, ApiResponse, Passed, Upload};

use crate::bindings::types as wit;
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::net::{HttpsClient, NetConfig};
use crate::runtime::{CallContext, ConnectorInstance, Plugin, Runtime, RuntimeConfig};
use crate::secret::{Secret, SecretScope};
use crate::store::{ConnectionRecord, MasterKey, Store};
use connhost_policy::{Allowlist, TemplateError};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Team used when the caller names none.
pub const DEFAULT_TEAM: &str = "default";

/// How to open a [`Manager`].
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Store directory.
    pub home: PathBuf,
    /// Master key; `None` reads or creates `home/master.key`.
    pub master_key: Option<MasterKey>,
    /// A `postgres://` URL: keep the store in that database (shared by
    /// every replica) instead of under `home`, which then holds only this
    /// machine's compile cache.
    pub database: Option<String>,
    pub net: NetConfig,
    pub runtime: RuntimeConfig,
    /// Refresh access that expires within this margin before using it.
    pub refresh_margin: Duration,
    /// Attempts at a refresh that fails transiently (5xx, 429, network).
    pub refresh_attempts: u32,
    /// First backoff between those attempts (doubles each time).
    pub refresh_backoff: Duration,
    /// How long an authorization-code flow may wait for its callback.
    pub pending_ttl: Duration,
}

impl HostConfig {
    pub fn new(home: impl Into<PathBuf>) -> Self {
        HostConfig {
            home: home.into(),
            master_key: None,
            database: None,
            net: NetConfig::default(),
            runtime: RuntimeConfig::default(),
            refresh_margin: Duration::from_secs(60),
            refresh_attempts: 3,
            refresh_backoff: Duration::from_millis(200),
            pending_ttl: Duration::from_secs(600),
        }
    }
}

/// A connection to create, or the full replacement data of an edit.
#[derive(Clone, Debug, Default)]
pub struct NewConnection {
    pub connector: String,
    pub name: Option<String>,
    pub team: Option<String>,
    pub fields: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, Secret>,
}

/// Result of a successful verify.
#[derive(Clone, Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Verified {
    pub id: String,
    pub account_label: String,
    /// True if access was renewed first because it was about to expire.
    pub refreshed_first: bool,
}

/// Result of a refresh.
#[derive(Clone, Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Refreshed {
    Refreshed {
        expires_at: Option<u64>,
        granted_scopes: Vec<String>,
    },
    NotNeeded {
        reason: String,
    },
}

/// Result of a delete.
#[derive(Clone, Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Deleted {
    pub id: String,
    pub name: String,
    /// `None` when tokens were revoked (or there was nothing to revoke);
    /// otherwise why revocation failed. The connection is deleted anyway.
    pub revocation_error: Option<String>,
}

/// A started authorization-code flow.
#[derive(Clone, Debug, serde::Serialize, schemars::JsonSchema)]
pub struct AuthorizeStart {
    pub pending_id: String,
    pub connection_id: String,
    pub authorize_url: String,
    pub redirect_uri: String,
    pub expires_at: u64,
}

/// A connector ready to run: its manifest and its linked component.
#[derive(Clone)]
struct Prepared {
    manifest: Arc<Manifest>,
    plugin: Plugin,
}

/// The manager.
pub struct Manager {
    store: Store,
    /// Built on first use: listing or renaming connections needs no engine
    /// (whose instance pool reserves much address space).
    runtime: std::sync::OnceLock<Runtime>,
    client: HttpsClient,
    /// Prepared connectors, so a call reads neither the `.wasm` nor the
    /// manifest from disk again.
    plugins: Mutex<HashMap<String, Prepared>>,
    /// One async lock per connection: concurrent refreshes in this process
    /// share one token request (the store's file lock covers processes).
    renewal_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    cfg: HostConfig,
}

/// Attempts at a compare-and-swap write before giving up with `conflict`.
const WRITE_ATTEMPTS: usize = 32;

impl Manager {
    pub fn open(mut cfg: HostConfig) -> Result<Self> {
        let store = match &cfg.database {
            None => Store::open(&cfg.home, cfg.master_key.take())?,
            Some(url) => {
                let db = crate::store::PostgresBackend::connect(url)?;
                Store::open_with(&cfg.home, cfg.master_key.take(), Arc::new(db))?
            }
        };
        if cfg.runtime.cache_dir.is_none() {
            cfg.runtime.cache_dir = Some(store.cache_dir());
        }
        let client = HttpsClient::new(cfg.net.clone()).map_err(|e| Error::invalid("ca-file", e))?;
        Ok(Manager {
            store,
            runtime: std::sync::OnceLock::new(),
            client,
            plugins: Mutex::new(HashMap::new()),
            renewal_locks: Mutex::new(HashMap::new()),
            cfg,
        })
    }

    /// Component instances created so far (one per operation).
    pub fn instantiations(&self) -> u64 {
        self.runtime.get().map_or(0, Runtime::instantiations)
    }

    /// The plugin runtime, built on first use.
    fn runtime(&self) -> Result<&Runtime> {
        if let Some(rt) = self.runtime.get() {
            return Ok(rt);
        }
        let mut rt = Runtime::new(self.cfg.runtime.clone(), self.client.clone())?;
        rt.set_cache_key(Arc::new(self.store.keys().clone()));
        // A racing caller may have built one first; either is fine.
        let _ = self.runtime.set(rt);
        Ok(self.runtime.get().expect("set above"))
    }

    /// Connection record reads and writes so far, in this process.
    pub fn store_io(&self) -> (u64, u64) {
        self.store.io_counts()
    }

    pub fn home(&self) -> &std::path::Path {
        self.store.home()
    }

    /// The configuration this manager runs with.
    pub fn config(&self) -> &HostConfig {
        &self.cfg
    }

    /// The store (documents, locks, logs) this manager uses.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Walks the whole audit chain (operator): how many records verify and
    /// the first broken link, if any.
    pub fn verify_audit(&self) -> Result<crate::store::audit::ChainReport> {
        crate::store::audit::AuditLog::of(self.store()).verify()
    }

    /// Store files moved to `quarantine/` because they were corrupt, failed
    /// their tag or were older copies (operator). Listing the
    /// connections first quarantines any that are bad now.
    pub fn quarantined(&self) -> Result<Vec<String>> {
        self.store.list()?;
        self.store.quarantined()
    }

    /// Signed documents other than connection records that reads refuse:
    /// older copies, removed ones put back, committed ones gone missing,
    /// ones failing their tag (operator).
    pub fn refused_documents(&self) -> Result<Vec<crate::store::Refused>> {
        self.store.refused_documents()
    }

    /// The connection's allowlist: the manifest's host templates expanded
    /// with its fields, plus the origins kept in the record.
    fn allowlist(&self, manifest: &Manifest, record: &ConnectionRecord) -> Result<Allowlist> {
        let mut list = allowlist_for(manifest, &record.fields)?;
        list.add_origins(&record.origins)
            .map_err(|e| Error::Tampered(format!("{} (stored origin: {e})", record.id)))?;
        Ok(list)
    }

    /// One instance of `record`'s connector, for one operation on it.
    async fn instance(
        &self,
        record: &ConnectionRecord,
        secrets: SecretScope,
    ) -> Result<(Arc<Manifest>, ConnectorInstance)> {
        let prepared = self.prepared(&record.connector).await?;
        let allowlist = self.allowlist(&prepared.manifest, record)?;
        let ctx = CallContext {
            team: record.team.clone(),
            connection_id: record.id.clone(),
            secrets,
            allowlist,
        };
        let instance = self.runtime()?.instantiate(&prepared.plugin, ctx).await?;
        Ok((prepared.manifest, instance))
    }

    /// Like [`Manager::instance`] for an operation that sets up access:
    /// asks `allowed-origins` first, in the same instance, and keeps the
    /// answer in `record` (stored with it when the operation succeeds).
    async fn instance_with_origins(
        &self,
        record: &mut ConnectionRecord,
        secrets: SecretScope,
    ) -> Result<(Arc<Manifest>, ConnectorInstance)> {
        let before = std::mem::take(&mut record.origins);
        let (manifest, mut instance) = self.instance(record, secrets).await?;
        self.discover_resource(&manifest, record).await?;
        let origins = instance.allowed_origins(&input_of(record)).await?;
        instance.allow_origins(&origins)?;
        check_declared(&manifest, record, &origins)?;
        if !origins.is_empty() && origins != before {
            self.audit_as_connector(record, "connection.origins", origins.join(" "))?;
        }
        record.origins = origins;
        Ok((manifest, instance))
    }

    /// After a state that added fields (the API origin a token response
    /// named): the origins may have changed, so the same instance is
    /// asked again and its answer checked like the first.
    async fn origins_after_state(
        &self,
        manifest: &Manifest,
        record: &mut ConnectionRecord,
        instance: &mut ConnectorInstance,
    ) -> Result<()> {
        let origins = instance.allowed_origins(&input_of(record)).await?;
        instance.allow_origins(&origins)?;
        check_declared(manifest, record, &origins)?;
        if origins != record.origins {
            self.audit_as_connector(record, "connection.origins", origins.join(" "))?;
            record.origins = origins;
        }
        Ok(())
    }

    /// Ends an instance and audits every secret the component read in
    /// plain text (`secrets.reveal`), by name, against the connection's
    /// team; the actor is the connector. Fails closed like every audit.
    fn finish(
        &self,
        record: &ConnectionRecord,
        instance: ConnectorInstance,
    ) -> Result<SecretScope> {
        let secrets = instance.finish().secrets;
        if secrets.reveals().is_empty() {
            return Ok(secrets);
        }
        for name in secrets.reveals() {
            self.audit_as_connector(record, "secret.reveal", format!("secret:{name}"))?;
        }
        Ok(secrets)
    }

    /// An audit record of what a connector did on `record` (the actor is
    /// the connector), against the connection's team; fails closed.
    fn audit_as_connector(
        &self,
        record: &ConnectionRecord,
        operation: &str,
        via: String,
    ) -> Result<()> {
        let actor = format!("connector:{}", record.connector);
        self.audit_for(record, &actor, operation, Some(via), "ok")
    }

    /// An audit record about `record` by `actor`, against its team.
    pub(crate) fn audit_for(
        &self,
        record: &ConnectionRecord,
        actor: &str,
        operation: &str,
        via: Option<String>,
        result: &str,
    ) -> Result<()> {
        let log = crate::store::audit::AuditLog::of(self.store());
        let mut entry = crate::store::audit::AuditRecord {
            time: crate::util::now(),
            team: record.team.clone(),
            actor: actor.into(),
            operation: operation.into(),
            connection: Some(record.id.clone()),
            connector: Some(record.connector.clone()),
            via,
            result: result.into(),
            seq: 0,
            prev: String::new(),
            mac: String::new(),
        };
        log.append(&mut entry).map_err(|e| Error::AuditFailed {
            operation: operation.into(),
            outcome: result.into(),
            reason: e.to_string(),
        })
    }

    /// Writes `apply(record)` with compare-and-swap: if another write came
    /// first, re-reads and applies again, so neither change is lost; a
    /// record deleted meanwhile stays deleted (`not-found`).
    fn commit(
        &self,
        mut record: ConnectionRecord,
        apply: impl Fn(&mut ConnectionRecord) -> Result<()>,
    ) -> Result<ConnectionRecord> {
        for _ in 0..WRITE_ATTEMPTS {
            let mut next = record.clone();
            apply(&mut next)?;
            match self.store.replace(&mut next) {
                Ok(()) => return Ok(next),
                Err(Error::Conflict { .. }) => record = self.store.get(&record.id)?,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict {
            what: "connection",
            id: record.id,
        })
    }
}

/// Moves the access `from` set up (fields, scopes, expiry, origins) onto
/// the stored record `r`, as edits and reauthorizations do.
fn take_access(r: &mut ConnectionRecord, from: &ConnectionRecord) {
    r.fields.clone_from(&from.fields);
    r.granted_scopes.clone_from(&from.granted_scopes);
    r.expires_at = from.expires_at;
    r.access_issued_at = from.access_issued_at;
    r.origins.clone_from(&from.origins);
    r.definition_origins.clone_from(&from.definition_origins);
    r.token_generation += 1;
}

fn input_of(record: &ConnectionRecord) -> wit::ConnectionInput {
    wit::ConnectionInput {
        id: record.id.clone(),
        fields: record.fields.clone().into_iter().collect(),
        granted_scopes: record.granted_scopes.clone(),
        expires_at: record.expires_at,
    }
}

/// Origins a connector added must match a pattern its manifest declares
/// (or be one of its host templates already); anything else is
/// `denied-host`, so a connector cannot send credentials where it likes.
fn check_declared(
    manifest: &Manifest,
    record: &ConnectionRecord,
    origins: &[String],
) -> Result<()> {
    use connhost_policy::{pattern, Origin};
    if origins.is_empty() {
        return Ok(());
    }
    let base = allowlist_for(manifest, &record.fields)?;
    let patterns = pattern::parse_all(&manifest.origin_patterns)
        .map_err(|e| Error::InvalidComponent(format!("manifest: origin-patterns: {e}")))?;
    // Exact origins, subdomain and field patterns approved when the
    // definition was added (a templated definition's are patterns).
    let approved: Vec<pattern::OriginPattern> = record
        .definition_origins
        .iter()
        .filter_map(|o| pattern::OriginPattern::parse(o).ok())
        .collect();
    let issuer = manifest
        .issuer_field
        .as_ref()
        .and_then(|f| record.fields.get(f))
        .and_then(|v| url::Url::parse(v).ok())
        .and_then(|u| Origin::of(&u));
    let scope = pattern::MatchScope {
        approved: &approved,
        issuer: issuer.as_ref(),
        fields: &record.fields,
    };
    for text in origins {
        let o = Origin::parse_bare(text).map_err(|e| Error::Plugin {
            connector: manifest.id.clone(),
            reason: format!("allowed-origins: {e}"),
        })?;
        let declared =
            base.origins().contains(&o) || patterns.iter().any(|p| p.matches(&o, &scope));
        if !declared {
            return Err(Error::Connector(crate::error::ConnectorError::DeniedHost {
                target: o.to_string(),
            }));
        }
    }
    Ok(())
}

/// The connection's allowed origins, from the manifest's host templates.
fn allowlist_for(manifest: &Manifest, fields: &BTreeMap<String, String>) -> Result<Allowlist> {
    Allowlist::from_templates(&manifest.hosts, fields).map_err(|e| match &e {
        TemplateError::MissingField { field, .. } | TemplateError::UnsafeValue { field } => {
            Error::invalid(field, e.to_string())
        }
        TemplateError::NotAnOrigin { .. } => Error::InvalidComponent(e.to_string()),
    })
}
