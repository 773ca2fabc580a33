//! The connection manager: the library API an iPaaS backend embeds and the
//! CLI drives. CLI/API → manager → runtime → component → host imports →
//! store; nothing is written unless the component's operation succeeded.

use crate::allowlist::Allowlist;
use crate::bindings::types as wit;
use crate::error::{ConnectorError, Error, Result};
use crate::manifest::Manifest;
use crate::net::{HttpsClient, NetConfig};
use crate::runtime::{Call, CallContext, Plugin, Reply, Runtime, RuntimeConfig};
use crate::secrets::{Secret, SecretScope};
use crate::store::{now, ConnectionRecord, LastError, MasterKey, Status, Store};
use rand::RngCore;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
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
    pub net: NetConfig,
    pub runtime: RuntimeConfig,
    /// Refresh access that expires within this margin before using it.
    pub refresh_margin: Duration,
}

impl HostConfig {
    pub fn new(home: impl Into<PathBuf>) -> Self {
        HostConfig {
            home: home.into(),
            master_key: None,
            net: NetConfig::default(),
            runtime: RuntimeConfig::default(),
            refresh_margin: Duration::from_secs(60),
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
#[derive(Clone, Debug, serde::Serialize)]
pub struct Verified {
    pub id: String,
    pub account_label: String,
    /// True if access was renewed first because it was about to expire.
    pub refreshed_first: bool,
}

/// Result of a refresh.
#[derive(Clone, Debug, serde::Serialize)]
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

/// The manager.
pub struct Manager {
    store: Store,
    runtime: Runtime,
    plugins: Mutex<HashMap<String, Plugin>>,
    refresh_margin: Duration,
}

fn new_id() -> String {
    let mut b = [0u8; 8];
    rand::rng().fill_bytes(&mut b);
    format!("conn_{}", crate::runtime::hex(&b))
}

fn input_of(record: &ConnectionRecord) -> wit::ConnectionInput {
    wit::ConnectionInput {
        id: record.id.clone(),
        fields: record.fields.clone().into_iter().collect(),
        granted_scopes: record.granted_scopes.clone(),
        expires_at: record.expires_at,
    }
}

impl Manager {
    pub fn open(mut cfg: HostConfig) -> Result<Self> {
        let store = Store::open(&cfg.home, cfg.master_key.take())?;
        if cfg.runtime.cache_dir.is_none() {
            cfg.runtime.cache_dir = Some(store.cache_dir());
        }
        let client = HttpsClient::new(cfg.net).map_err(|e| Error::invalid("ca-file", e))?;
        let runtime = Runtime::new(cfg.runtime, client)?;
        Ok(Manager {
            store,
            runtime,
            plugins: Mutex::new(HashMap::new()),
            refresh_margin: cfg.refresh_margin,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    // ---- connectors ----

    /// Adds (or replaces) a connector from component bytes.
    pub async fn add_connector(&self, wasm: &[u8]) -> Result<Manifest> {
        let component = self.runtime.load_component(wasm)?;
        let plugin = self.runtime.prepare("(new)", &component)?;
        let manifest: Manifest = self.runtime.manifest(&plugin).await?.into();
        manifest.validate()?;
        self.store.put_connector(&manifest, wasm)?;
        let plugin = self.runtime.prepare(&manifest.id, &component)?;
        self.plugins
            .lock()
            .unwrap()
            .insert(manifest.id.clone(), plugin);
        Ok(manifest)
    }

    pub fn connectors(&self) -> Result<Vec<Manifest>> {
        Ok(self
            .store
            .connectors()?
            .into_iter()
            .map(|c| c.manifest)
            .collect())
    }

    pub fn connector(&self, id: &str) -> Result<Manifest> {
        Ok(self.store.connector(id)?.manifest)
    }

    async fn plugin(&self, id: &str) -> Result<Plugin> {
        if let Some(p) = self.plugins.lock().unwrap().get(id) {
            return Ok(p.clone());
        }
        let stored = self.store.connector(id)?;
        let bytes = std::fs::read(&stored.wasm_path)
            .map_err(Error::io(format!("read {}", stored.wasm_path.display())))?;
        let component = self.runtime.load_component(&bytes)?;
        let plugin = self.runtime.prepare(id, &component)?;
        self.plugins
            .lock()
            .unwrap()
            .insert(id.to_string(), plugin.clone());
        Ok(plugin)
    }

    async fn call(
        &self,
        record: &ConnectionRecord,
        secrets: SecretScope,
        call: Call,
    ) -> Result<(std::result::Result<Reply, ConnectorError>, SecretScope)> {
        let manifest = self.connector(&record.connector)?;
        let allowlist = allowlist_for(&manifest, &record.fields)?;
        let plugin = self.plugin(&record.connector).await?;
        let ctx = CallContext {
            connection_id: record.id.clone(),
            secrets,
            allowlist,
        };
        let (reply, outcome) = self.runtime.call(&plugin, ctx, call).await?;
        Ok((reply.map_err(Into::into), outcome.secrets))
    }

    // ---- connections ----

    /// Connections of `team` (all teams when `None`).
    pub fn list(&self, team: Option<&str>) -> Result<Vec<ConnectionRecord>> {
        Ok(self
            .store
            .list()?
            .into_iter()
            .filter(|r| team.is_none_or(|t| r.team == t))
            .collect())
    }

    pub fn get(&self, id: &str) -> Result<ConnectionRecord> {
        self.store.get(id)
    }

    /// Creates a connection: checks fields against the manifest, lets the
    /// component validate them and obtain access, then stores the record.
    pub async fn create(&self, new: NewConnection) -> Result<ConnectionRecord> {
        let manifest = self.connector(&new.connector)?;
        let name = match &new.name {
            Some(n) => check_name(n)?,
            None => self.default_name(&manifest)?,
        };
        let team = new.team.clone().unwrap_or_else(|| DEFAULT_TEAM.to_string());
        let t = now();
        let mut record = ConnectionRecord {
            id: new_id(),
            team,
            connector: manifest.id.clone(),
            name,
            fields: BTreeMap::new(),
            granted_scopes: Vec::new(),
            expires_at: None,
            status: Status::Created,
            account_label: None,
            last_error: None,
            created_at: t,
            updated_at: t,
            verified_at: None,
            secrets: BTreeMap::new(),
            integrity: String::new(),
        };
        let secrets = self.run_create(&manifest, &mut record, &new).await?;
        self.store.seal_secrets(&mut record, secrets.values());
        self.store.put(&mut record)?;
        tracing::info!(connection = %record.id, connector = %record.connector, "created");
        Ok(record)
    }

    /// Validates `new` against the manifest and runs the component's
    /// `create` on `record` (in memory only).
    async fn run_create(
        &self,
        manifest: &Manifest,
        record: &mut ConnectionRecord,
        new: &NewConnection,
    ) -> Result<SecretScope> {
        let secret_names: BTreeSet<String> = new.secrets.keys().cloned().collect();
        let resolved = manifest.resolve(&new.fields, &secret_names)?;
        allowlist_for(manifest, &resolved.fields)?;
        record.fields = resolved.fields;
        record.granted_scopes.clear();
        record.expires_at = None;
        let scope = SecretScope::new(new.secrets.clone());
        let (reply, scope) = self
            .call(record, scope, Call::Create(input_of(record)))
            .await?;
        match reply? {
            Reply::State(s) => {
                record.granted_scopes = s.granted_scopes;
                record.expires_at = s.expires_at;
            }
            other => return Err(contract_violation(&record.connector, "create", &other)),
        }
        Ok(scope)
    }

    fn default_name(&self, manifest: &Manifest) -> Result<String> {
        let taken: BTreeSet<String> = self.store.list()?.into_iter().map(|r| r.name).collect();
        Ok((1..)
            .map(|n| format!("{} {n}", manifest.display_name))
            .find(|n| !taken.contains(n))
            .expect("unbounded counter"))
    }

    pub fn rename(&self, id: &str, name: &str) -> Result<ConnectionRecord> {
        let name = check_name(name)?;
        let mut record = self.store.get(id)?;
        record.name = name;
        record.updated_at = now();
        self.store.put(&mut record)?;
        Ok(record)
    }

    /// Replaces all data of a connection (secrets must be given again).
    /// The new data is created and verified through the component first;
    /// the stored connection changes only if both succeed. The id stays.
    pub async fn edit(&self, id: &str, new: NewConnection) -> Result<ConnectionRecord> {
        let old = self.store.get(id)?;
        let manifest = self.connector(&old.connector)?;
        if !new.connector.is_empty() && new.connector != old.connector {
            return Err(Error::invalid(
                "connector",
                format!("an edit keeps the connector (`{}`)", old.connector),
            ));
        }
        let mut record = old.clone();
        if let Some(n) = &new.name {
            record.name = check_name(n)?;
        }
        let scope = self.run_create(&manifest, &mut record, &new).await?;
        let (reply, scope) = self
            .call(&record, scope, Call::Verify(input_of(&record)))
            .await?;
        let label = match reply? {
            Reply::Verification(v) => v.account_label,
            other => return Err(contract_violation(&record.connector, "verify", &other)),
        };
        let t = now();
        record.status = Status::Ok;
        record.account_label = Some(label);
        record.last_error = None;
        record.verified_at = Some(t);
        record.updated_at = t;
        self.store.seal_secrets(&mut record, scope.values());
        self.store.put(&mut record)?;
        Ok(record)
    }

    /// Calls the service to prove the connection works; records the
    /// outcome (status, account label or last error) either way.
    pub async fn verify(&self, id: &str) -> Result<Verified> {
        let mut record = self.store.get(id)?;
        let mut scope = self.store.open_secrets(&record)?;
        let mut refreshed_first = false;
        if self.expiring(&record) {
            scope = self.renew(&mut record, scope).await?;
            refreshed_first = true;
        }
        let (mut reply, mut scope) = self
            .call(&record, scope, Call::Verify(input_of(&record)))
            .await?;
        // Expiring access: a 401 may mean the token died early. Renew once.
        if matches!(reply, Err(ConnectorError::Unauthorized { .. }))
            && record.expires_at.is_some()
            && !refreshed_first
        {
            scope = self.renew(&mut record, scope).await?;
            refreshed_first = true;
            (reply, scope) = self
                .call(&record, scope, Call::Verify(input_of(&record)))
                .await?;
        }
        let t = now();
        record.updated_at = t;
        let result = match reply {
            Ok(Reply::Verification(v)) => {
                record.status = Status::Ok;
                record.account_label = Some(v.account_label.clone());
                record.last_error = None;
                record.verified_at = Some(t);
                Ok(Verified {
                    id: record.id.clone(),
                    account_label: v.account_label,
                    refreshed_first,
                })
            }
            Ok(other) => Err(contract_violation(&record.connector, "verify", &other)),
            Err(e) => {
                record_failure(&mut record, &e);
                Err(Error::Connector(e))
            }
        };
        if scope.changed() {
            self.store.seal_secrets(&mut record, scope.values());
        }
        self.store.put(&mut record)?;
        result
    }

    fn expiring(&self, record: &ConnectionRecord) -> bool {
        record
            .expires_at
            .is_some_and(|e| e <= now() + self.refresh_margin.as_secs())
    }

    /// Runs the component's `refresh`, updating `record` in memory; on
    /// failure, records it and stores the record.
    async fn renew(
        &self,
        record: &mut ConnectionRecord,
        scope: SecretScope,
    ) -> Result<SecretScope> {
        let (reply, scope) = self
            .call(record, scope, Call::Refresh(input_of(record)))
            .await?;
        match reply {
            Ok(Reply::Refresh(wit::RefreshOutcome::Refreshed(s))) => {
                record.granted_scopes = s.granted_scopes;
                record.expires_at = s.expires_at;
                Ok(scope)
            }
            Ok(Reply::Refresh(wit::RefreshOutcome::NotNeeded(_))) => Ok(scope),
            Ok(other) => Err(contract_violation(&record.connector, "refresh", &other)),
            Err(e) => {
                record_failure(record, &e);
                record.updated_at = now();
                self.store.put(record)?;
                Err(Error::Connector(e))
            }
        }
    }

    /// Renews access now (a no-op, said so, for static keys).
    pub async fn refresh(&self, id: &str) -> Result<Refreshed> {
        let mut record = self.store.get(id)?;
        let scope = self.store.open_secrets(&record)?;
        let (reply, scope) = self
            .call(&record, scope, Call::Refresh(input_of(&record)))
            .await?;
        let outcome = match reply {
            Ok(Reply::Refresh(wit::RefreshOutcome::Refreshed(s))) => {
                record.granted_scopes = s.granted_scopes.clone();
                record.expires_at = s.expires_at;
                record.last_error = None;
                if record.status != Status::Created {
                    record.status = Status::Ok;
                }
                Refreshed::Refreshed {
                    expires_at: s.expires_at,
                    granted_scopes: s.granted_scopes,
                }
            }
            Ok(Reply::Refresh(wit::RefreshOutcome::NotNeeded(reason))) => {
                return Ok(Refreshed::NotNeeded { reason })
            }
            Ok(other) => return Err(contract_violation(&record.connector, "refresh", &other)),
            Err(e) => {
                record_failure(&mut record, &e);
                record.updated_at = now();
                self.store.put(&mut record)?;
                return Err(Error::Connector(e));
            }
        };
        record.updated_at = now();
        self.store.seal_secrets(&mut record, scope.values());
        self.store.put(&mut record)?;
        Ok(outcome)
    }

    /// Whether the connection's granted scopes cover `required`
    /// (`account-validation` naming each missing scope otherwise).
    pub async fn check_scopes(&self, id: &str, required: &[String]) -> Result<()> {
        let record = self.store.get(id)?;
        let (reply, _) = self
            .call(
                &record,
                SecretScope::default(),
                Call::ValidateScopes {
                    required: required.to_vec(),
                    granted: record.granted_scopes.clone(),
                },
            )
            .await?;
        match reply? {
            Reply::Unit => Ok(()),
            other => Err(contract_violation(
                &record.connector,
                "validate-scopes",
                &other,
            )),
        }
    }

    /// Removes a connection and its secrets.
    pub fn delete(&self, id: &str) -> Result<ConnectionRecord> {
        let record = self.store.get(id)?;
        self.store.delete(id)?;
        Ok(record)
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

fn contract_violation(connector: &str, op: &str, reply: &Reply) -> Error {
    Error::Plugin {
        connector: connector.to_string(),
        reason: format!("`{op}` returned an unexpected reply: {reply:?}"),
    }
}

fn check_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 200 || n.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            "must be 1 to 200 printable characters",
        ));
    }
    Ok(n.to_string())
}

/// The connection's allowed origins, from the manifest's host templates.
pub fn allowlist_for(manifest: &Manifest, fields: &BTreeMap<String, String>) -> Result<Allowlist> {
    use crate::allowlist::TemplateError as T;
    Allowlist::from_templates(&manifest.hosts, fields).map_err(|e| match &e {
        T::MissingField { field, .. } | T::UnsafeValue { field } => {
            Error::invalid(field, e.to_string())
        }
        T::NotAnOrigin { .. } => Error::InvalidComponent(e.to_string()),
    })
}
