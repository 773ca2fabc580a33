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
use crate::store::{now, ConnectionRecord, LastError, MasterKey, Pending, Status, Store};
use rand::RngCore;
use std::collections::{BTreeMap, BTreeSet, HashMap};
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
    /// Prepared connectors with their manifests, so a call reads neither
    /// the `.wasm` nor the manifest from disk again.
    plugins: Mutex<HashMap<String, (Arc<Manifest>, Plugin)>>,
    /// One async lock per connection: concurrent refreshes in this process
    /// share one token request (the store's file lock covers processes).
    refresh_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    cfg: HostConfig,
}

/// Result of a delete.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Deleted {
    pub id: String,
    pub name: String,
    /// `None` when tokens were revoked (or there was nothing to revoke);
    /// otherwise why revocation failed. The connection is deleted anyway.
    pub revocation_error: Option<String>,
}

/// A started authorization-code flow.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AuthorizeStart {
    pub pending_id: String,
    pub connection_id: String,
    pub authorize_url: String,
    pub redirect_uri: String,
    pub expires_at: u64,
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
        let client = HttpsClient::new(cfg.net.clone()).map_err(|e| Error::invalid("ca-file", e))?;
        let runtime = Runtime::new(cfg.runtime.clone(), client)?;
        Ok(Manager {
            store,
            runtime,
            plugins: Mutex::new(HashMap::new()),
            refresh_locks: Mutex::new(HashMap::new()),
            cfg,
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
            .insert(manifest.id.clone(), (Arc::new(manifest.clone()), plugin));
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

    async fn plugin(&self, id: &str) -> Result<(Arc<Manifest>, Plugin)> {
        if let Some(p) = self.plugins.lock().unwrap().get(id) {
            return Ok(p.clone());
        }
        let stored = self.store.connector(id)?;
        let bytes = std::fs::read(&stored.wasm_path)
            .map_err(Error::io(format!("read {}", stored.wasm_path.display())))?;
        let component = self.runtime.load_component(&bytes)?;
        let entry = (
            Arc::new(stored.manifest),
            self.runtime.prepare(id, &component)?,
        );
        self.plugins
            .lock()
            .unwrap()
            .insert(id.to_string(), entry.clone());
        Ok(entry)
    }

    async fn call(
        &self,
        record: &ConnectionRecord,
        secrets: SecretScope,
        call: Call,
    ) -> Result<(std::result::Result<Reply, ConnectorError>, SecretScope)> {
        let (manifest, plugin) = self.plugin(&record.connector).await?;
        let allowlist = self.allowlist(&manifest, &plugin, record).await?;
        let ctx = CallContext {
            connection_id: record.id.clone(),
            secrets,
            allowlist,
        };
        let (reply, outcome) = self.runtime.call(&plugin, ctx, call).await?;
        Ok((reply.map_err(Into::into), outcome.secrets))
    }

    /// The manifest's host templates plus the origins the connector asks
    /// for this connection (`allowed-origins`), each checked.
    async fn allowlist(
        &self,
        manifest: &Manifest,
        plugin: &Plugin,
        record: &ConnectionRecord,
    ) -> Result<Allowlist> {
        let mut list = allowlist_for(manifest, &record.fields)?;
        let ctx = CallContext {
            connection_id: record.id.clone(),
            secrets: SecretScope::default(),
            allowlist: Allowlist::default(),
        };
        let (reply, _) = self
            .runtime
            .call(plugin, ctx, Call::AllowedOrigins(input_of(record)))
            .await?;
        match reply.map_err(ConnectorError::from)? {
            Reply::Origins(origins) => {
                list.add_origins(&origins).map_err(|e| Error::Plugin {
                    connector: record.connector.clone(),
                    reason: format!("allowed-origins: {e}"),
                })?;
                Ok(list)
            }
            other => Err(contract_violation(
                &record.connector,
                "allowed-origins",
                &other,
            )),
        }
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

    fn new_record(
        &self,
        manifest: &Manifest,
        new: &NewConnection,
        id: String,
    ) -> Result<ConnectionRecord> {
        let name = match &new.name {
            Some(n) => check_name(n)?,
            None => self.default_name(manifest)?,
        };
        let t = now();
        Ok(ConnectionRecord {
            id,
            team: new.team.clone().unwrap_or_else(|| DEFAULT_TEAM.to_string()),
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
            token_generation: 0,
            secrets: BTreeMap::new(),
            integrity: String::new(),
        })
    }

    /// For connectors with a `definition` field (data-driven ones such as
    /// `generic`): `provider=ID` naming a stored definition becomes
    /// `definition=<its JSON>`; shipped ids stay for the connector.
    fn expand_provider(
        &self,
        manifest: &Manifest,
        fields: &mut BTreeMap<String, String>,
    ) -> Result<()> {
        if manifest.field("definition").is_none() {
            return Ok(());
        }
        if let Some(id) = fields.get("provider").cloned() {
            if let Some(text) = self.store.provider(&id)? {
                fields.remove("provider");
                fields.insert("definition".into(), text);
            }
        }
        Ok(())
    }

    /// Validates a provider definition with `connector` (which must take a
    /// `definition` field) and stores it. Returns its id.
    pub async fn add_provider(&self, connector: &str, json: &str) -> Result<String> {
        let manifest = self.connector(connector)?;
        if manifest.field("definition").is_none() {
            return Err(Error::invalid(
                "connector",
                format!("`{connector}` does not take provider definitions"),
            ));
        }
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| Error::invalid("definition", format!("is not JSON: {e}")))?;
        let id = value
            .get("id")
            .and_then(|v| v.as_str())
            .ok_or_else(|| Error::invalid("definition.id", "is required"))?
            .to_string();
        // The connector owns the format: ask it, through `allowed-origins`,
        // which parses and checks the whole definition.
        let mut probe = self.new_record(&manifest, &NewConnection::default(), new_id())?;
        probe.fields.insert("definition".into(), json.to_string());
        let (_, plugin) = self.plugin(connector).await?;
        self.allowlist(&manifest, &plugin, &probe).await?;
        self.store.put_provider(&id, json)?;
        Ok(id)
    }

    /// Creates a connection: checks fields against the manifest, lets the
    /// component validate them and obtain access, then stores the record.
    pub async fn create(&self, mut new: NewConnection) -> Result<ConnectionRecord> {
        let manifest = self.connector(&new.connector)?;
        self.expand_provider(&manifest, &mut new.fields)?;
        let mut record = self.new_record(&manifest, &new, new_id())?;
        let secrets = self.run_create(&manifest, &mut record, &new).await?;
        self.store.seal_secrets(&mut record, secrets.values());
        self.store.put(&mut record)?;
        tracing::info!(connection = %record.id, connector = %record.connector, "created");
        Ok(record)
    }

    /// Validates `new` against the manifest, then runs the component's
    /// `create` on `record` (in memory only).
    async fn run_create(
        &self,
        manifest: &Manifest,
        record: &mut ConnectionRecord,
        new: &NewConnection,
    ) -> Result<SecretScope> {
        let secret_names: BTreeSet<String> = new.secrets.keys().cloned().collect();
        let resolved = manifest.resolve(&new.fields, &secret_names)?;
        if manifest
            .auth_kind(&resolved.auth_kind)
            .is_some_and(|k| k.authorization_code)
        {
            return Err(Error::invalid(
                &manifest.auth_field,
                format!(
                    "`{}` needs the browser consent flow: use `connection create --redirect-uri …` or `connection authorize start`",
                    resolved.auth_kind
                ),
            ));
        }
        allowlist_for(manifest, &resolved.fields)?;
        record.fields = resolved.fields;
        record.granted_scopes.clear();
        record.expires_at = None;
        let scope = SecretScope::new(new.secrets.clone());
        let (reply, scope) = self
            .call(record, scope, Call::Create(input_of(record)))
            .await?;
        match reply? {
            Reply::State(s) => apply_state(record, s),
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
    pub async fn edit(&self, id: &str, mut new: NewConnection) -> Result<ConnectionRecord> {
        let old = self.store.get(id)?;
        let manifest = self.connector(&old.connector)?;
        self.expand_provider(&manifest, &mut new.fields)?;
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
    /// outcome (status, account label or last error) either way. Access
    /// about to expire is renewed first; a 401 renews once and retries.
    pub async fn verify(&self, id: &str) -> Result<Verified> {
        let (mut record, mut refreshed_first) = self.fresh(id).await?;
        let scope = self.store.open_secrets(&record)?;
        let (mut reply, mut scope) = self
            .call(&record, scope, Call::Verify(input_of(&record)))
            .await?;
        if matches!(reply, Err(ConnectorError::Unauthorized { .. })) && renewable(&record) {
            let seen = record.token_generation;
            record = self
                .refresh_locked(id, |r| r.token_generation == seen)
                .await?
                .0;
            refreshed_first = true;
            let fresh = self.store.open_secrets(&record)?;
            (reply, scope) = self
                .call(&record, fresh, Call::Verify(input_of(&record)))
                .await?;
        }
        let t = now();
        // Re-read: a refresh may have run meanwhile; keep its tokens.
        let mut stored = self.store.get(id)?;
        stored.updated_at = t;
        let result = match reply {
            Ok(Reply::Verification(v)) => {
                stored.status = Status::Ok;
                stored.account_label = Some(v.account_label.clone());
                stored.last_error = None;
                stored.verified_at = Some(t);
                Ok(Verified {
                    id: stored.id.clone(),
                    account_label: v.account_label,
                    refreshed_first,
                })
            }
            Ok(other) => Err(contract_violation(&stored.connector, "verify", &other)),
            Err(e) => {
                record_failure(&mut stored, &e);
                Err(Error::Connector(e))
            }
        };
        if scope.changed() && stored.token_generation == record.token_generation {
            self.store.seal_secrets(&mut stored, scope.values());
        }
        self.store.put(&mut stored)?;
        result
    }

    fn expiring(&self, record: &ConnectionRecord) -> bool {
        record
            .expires_at
            .is_some_and(|e| e <= now() + self.cfg.refresh_margin.as_secs())
    }

    /// The connection, with access renewed first if it expires within the
    /// margin. Concurrent callers (threads or processes sharing the store)
    /// share one refresh: exactly one token request per expiry.
    pub async fn ensure_fresh(&self, id: &str) -> Result<ConnectionRecord> {
        Ok(self.fresh(id).await?.0)
    }

    /// [`Manager::ensure_fresh`], also saying whether tokens changed.
    async fn fresh(&self, id: &str) -> Result<(ConnectionRecord, bool)> {
        let record = self.store.get(id)?;
        if !self.expiring(&record) {
            return Ok((record, false));
        }
        let seen = record.token_generation;
        let (record, _) = self.refresh_locked(id, |r| self.expiring(r)).await?;
        let changed = record.token_generation != seen;
        Ok((record, changed))
    }

    /// Renews access now (a no-op, said so, for static keys).
    pub async fn refresh(&self, id: &str) -> Result<Refreshed> {
        let before = self.store.get(id)?;
        let seen = before.token_generation;
        let (after, not_needed) = self
            .refresh_locked(id, |r| r.token_generation == seen)
            .await?;
        Ok(if let Some(reason) = not_needed {
            Refreshed::NotNeeded { reason }
        } else {
            Refreshed::Refreshed {
                expires_at: after.expires_at,
                granted_scopes: after.granted_scopes,
            }
        })
    }

    /// Takes this connection's refresh locks (in-process, then the store's
    /// file lock), re-reads the record and refreshes only if `needed` still
    /// holds: whoever waited behind another refresh uses its result. The
    /// second value is the connector's reason when it had nothing to renew.
    async fn refresh_locked(
        &self,
        id: &str,
        needed: impl Fn(&ConnectionRecord) -> bool,
    ) -> Result<(ConnectionRecord, Option<String>)> {
        let local = self
            .refresh_locks
            .lock()
            .unwrap()
            .entry(id.to_string())
            .or_default()
            .clone();
        let _local = local.lock().await;
        let (home, lock_id) = (self.store.home().to_path_buf(), id.to_string());
        let _file = tokio::task::spawn_blocking(move || Store::lock_at(&home, &lock_id))
            .await
            .map_err(|e| Error::Runtime(format!("lock task: {e}")))??;
        let mut record = self.store.get(id)?;
        if !needed(&record) {
            return Ok((record, None));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let scope = self.store.open_secrets(&record)?;
            let (reply, scope) = self
                .call(&record, scope, Call::Refresh(input_of(&record)))
                .await?;
            match reply {
                Ok(Reply::Refresh(wit::RefreshOutcome::Refreshed(s))) => {
                    apply_state(&mut record, s);
                    record.last_error = None;
                    if record.status != Status::Created {
                        record.status = Status::Ok;
                    }
                    record.updated_at = now();
                    self.store.seal_secrets(&mut record, scope.values());
                    self.store.put(&mut record)?;
                    return Ok((record, None));
                }
                Ok(Reply::Refresh(wit::RefreshOutcome::NotNeeded(reason))) => {
                    return Ok((record, Some(reason)));
                }
                Ok(other) => return Err(contract_violation(&record.connector, "refresh", &other)),
                Err(e) if transient(&e) && attempt < self.cfg.refresh_attempts => {
                    let mut wait = self.cfg.refresh_backoff * 2u32.pow(attempt - 1);
                    if let ConnectorError::RateLimited {
                        retry_after: Some(s),
                    } = &e
                    {
                        wait = wait
                            .max(Duration::from_secs(u64::from(*s)).min(Duration::from_secs(10)));
                    }
                    tracing::warn!(connection = %id, attempt, "refresh failed transiently, retrying in {wait:?}: {e}");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    if transient(&e) {
                        // Status unchanged: the provider may be back soon.
                        record.last_error = Some(LastError {
                            kind: e.kind().to_string(),
                            message: format!("refresh: {e}"),
                            at: now(),
                        });
                    } else {
                        record_failure(&mut record, &e);
                    }
                    record.updated_at = now();
                    self.store.put(&mut record)?;
                    return Err(Error::Connector(e));
                }
            }
        }
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

    /// Revokes the connection's tokens at the provider, then removes the
    /// record and its secrets whether or not revocation worked.
    pub async fn delete(&self, id: &str) -> Result<Deleted> {
        let record = self.store.get(id)?;
        let revocation_error = self.revoke(&record).await.err().map(|e| e.to_string());
        self.store.delete(id)?;
        Ok(Deleted {
            id: record.id,
            name: record.name,
            revocation_error,
        })
    }

    async fn revoke(&self, record: &ConnectionRecord) -> Result<()> {
        let scope = self.store.open_secrets(record)?;
        let (reply, _) = self
            .call(record, scope, Call::Revoke(input_of(record)))
            .await?;
        match reply? {
            Reply::Unit => Ok(()),
            other => Err(contract_violation(&record.connector, "revoke", &other)),
        }
    }

    // ---- authorization code (browser consent) ----

    /// Starts the consent flow for a new connection: stores a pending
    /// authorization (state, PKCE verifier, the data given) and returns the
    /// provider's consent URL.
    pub async fn authorize_start(
        &self,
        mut new: NewConnection,
        redirect_uri: &str,
    ) -> Result<AuthorizeStart> {
        let manifest = self.connector(&new.connector)?;
        self.expand_provider(&manifest, &mut new.fields)?;
        let secret_names: BTreeSet<String> = new.secrets.keys().cloned().collect();
        let resolved = manifest.resolve(&new.fields, &secret_names)?;
        if !manifest
            .auth_kind(&resolved.auth_kind)
            .is_some_and(|k| k.authorization_code)
        {
            return Err(Error::invalid(
                &manifest.auth_field,
                format!(
                    "`{}` does not use the consent flow; use `connection create`",
                    resolved.auth_kind
                ),
            ));
        }
        let mut record = self.new_record(&manifest, &new, new_id())?;
        record.fields = resolved.fields;
        self.start_pending(record, new.secrets, redirect_uri, false)
            .await
    }

    /// Runs consent again for an existing connection (same id); on finish
    /// the new tokens and scopes replace the old, which are revoked.
    pub async fn reauthorize_start(&self, id: &str, redirect_uri: &str) -> Result<AuthorizeStart> {
        let record = self.store.get(id)?;
        let secrets = self.store.open_secrets(&record)?.into_values();
        self.start_pending(record, secrets, redirect_uri, true)
            .await
    }

    async fn start_pending(
        &self,
        mut record: ConnectionRecord,
        mut secrets: BTreeMap<String, Secret>,
        redirect_uri: &str,
        reauthorize: bool,
    ) -> Result<AuthorizeStart> {
        check_redirect_uri(redirect_uri)?;
        self.store.prune_pending(now())?;
        let state = random_token();
        let verifier = random_token();
        let challenge = pkce_challenge(&verifier);
        let requested: Vec<String> = record
            .fields
            .get("scopes")
            .map(|s| {
                s.split([' ', ','])
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let (reply, _) = self
            .call(
                &record,
                SecretScope::new(secrets.clone()),
                Call::AuthorizeUrl(
                    input_of(&record),
                    wit::AuthorizeRequest {
                        redirect_uri: redirect_uri.to_string(),
                        state: state.clone(),
                        code_challenge: challenge,
                        scopes: requested.clone(),
                    },
                ),
            )
            .await?;
        let url = match reply? {
            Reply::Authorization(a) => {
                add_fields(&mut record, a.fields);
                a.url
            }
            other => {
                return Err(contract_violation(
                    &record.connector,
                    "authorize-url",
                    &other,
                ))
            }
        };
        secrets.insert(PKCE_VERIFIER.into(), Secret::new(verifier));
        secrets.insert(OAUTH_STATE.into(), Secret::new(state));
        self.store.seal_secrets(&mut record, &secrets);
        let expires_at = now() + self.cfg.pending_ttl.as_secs();
        let mut pending = Pending {
            id: format!("pend_{}", random_hex(12)),
            record,
            reauthorize,
            redirect_uri: redirect_uri.to_string(),
            requested_scopes: requested,
            expires_at,
            integrity: String::new(),
        };
        self.store.put_pending(&mut pending)?;
        Ok(AuthorizeStart {
            pending_id: pending.id,
            connection_id: pending.record.id,
            authorize_url: url,
            redirect_uri: redirect_uri.to_string(),
            expires_at,
        })
    }

    /// Completes the consent flow with the URL the provider redirected the
    /// browser to. Checks `state` (single use, bound to this pending
    /// authorization, expiring), the provider's `error` (RFC 6749
    /// §4.1.2.1) and `iss` (RFC 9207), then redeems the code with the same
    /// redirect URI and PKCE verifier.
    pub async fn authorize_finish(
        &self,
        pending_id: &str,
        redirect_url: &str,
    ) -> Result<ConnectionRecord> {
        let pending = self.store.get_pending(pending_id).map_err(|e| match e {
            Error::NotFound { .. } => Error::Authorization {
                error: "unknown_authorization".into(),
                description: format!("no pending authorization `{pending_id}` (already used, expired or never started)"),
            },
            other => other,
        })?;
        let url = url::Url::parse(redirect_url)
            .map_err(|e| Error::invalid("redirect-url", e.to_string()))?;
        let expected = url::Url::parse(&pending.redirect_uri)
            .map_err(|e| Error::invalid("redirect-uri", e.to_string()))?;
        if url.origin() != expected.origin() || url.path() != expected.path() {
            return Err(Error::invalid(
                "redirect-url",
                format!("does not match the redirect URI {}", pending.redirect_uri),
            ));
        }
        let params: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
        let mut secrets = self.store.open_secrets(&pending.record)?.into_values();
        let state = secrets
            .remove(OAUTH_STATE)
            .map(|s| s.expose().to_string())
            .unwrap_or_default();
        let verifier = secrets
            .remove(PKCE_VERIFIER)
            .map(|s| s.expose().to_string())
            .unwrap_or_default();
        let given = params.get("state").map(String::as_str).unwrap_or("");
        if !constant_time_eq(given.as_bytes(), state.as_bytes()) {
            return Err(Error::Authorization {
                error: "state_mismatch".into(),
                description: "the callback's state does not match this authorization; ignored"
                    .into(),
            });
        }
        // From here the pending authorization is spent, whatever happens.
        if !self.store.take_pending(pending_id)? {
            return Err(Error::Authorization {
                error: "unknown_authorization".into(),
                description: format!("authorization `{pending_id}` was already used"),
            });
        }
        if pending.expires_at < now() {
            return Err(Error::Authorization {
                error: "expired".into(),
                description: "the authorization took too long; start again".into(),
            });
        }
        if let Some(err) = params.get("error") {
            return Err(Error::Authorization {
                error: err.clone(),
                description: params
                    .get("error_description")
                    .cloned()
                    .unwrap_or_else(|| match err.as_str() {
                        "access_denied" => "the user or the provider denied access".into(),
                        _ => "the provider refused the authorization request".into(),
                    }),
            });
        }
        if let (Some(iss), Some(issuer)) = (params.get("iss"), pending.record.fields.get("issuer"))
        {
            if iss != issuer {
                return Err(Error::Authorization {
                    error: "issuer_mismatch".into(),
                    description: format!(
                        "callback from issuer `{iss}`, expected `{issuer}` (RFC 9207)"
                    ),
                });
            }
        }
        let code = params
            .get("code")
            .ok_or_else(|| Error::invalid("redirect-url", "has no `code` parameter"))?;
        let mut record = pending.record.clone();
        let old_record = if pending.reauthorize {
            Some(self.store.get(&record.id)?)
        } else {
            None
        };
        // Only client credentials go into the exchange; old tokens stay out.
        let mut scope_values = secrets.clone();
        scope_values.remove("access_token");
        scope_values.remove("refresh_token");
        let (reply, scope) = self
            .call(
                &record,
                SecretScope::new(scope_values),
                Call::ExchangeCode(
                    input_of(&record),
                    wit::CodeExchange {
                        code: code.clone(),
                        redirect_uri: pending.redirect_uri.clone(),
                        code_verifier: verifier,
                        requested_scopes: pending.requested_scopes.clone(),
                    },
                ),
            )
            .await?;
        match reply? {
            Reply::State(s) => {
                record.granted_scopes.clear();
                apply_state(&mut record, s);
            }
            other => {
                return Err(contract_violation(
                    &record.connector,
                    "exchange-code",
                    &other,
                ))
            }
        }
        if let Some(old) = &old_record {
            if let Err(e) = self.revoke(old).await {
                tracing::warn!(connection = %old.id, "revoking the replaced tokens failed: {e}");
            }
            record.token_generation = old.token_generation + 1;
            record.status = Status::Ok;
            record.last_error = None;
        }
        record.updated_at = now();
        self.store.seal_secrets(&mut record, scope.values());
        self.store.put(&mut record)?;
        Ok(record)
    }
}

const PKCE_VERIFIER: &str = "pkce_verifier";
const OAUTH_STATE: &str = "oauth_state";

fn random_token() -> String {
    use base64::Engine as _;
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    crate::runtime::hex(&b)
}

/// RFC 7636 §4.2: BASE64URL(SHA256(verifier)).
pub fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// https anywhere, or http on a loopback address (RFC 8252 §7.3).
fn check_redirect_uri(uri: &str) -> Result<()> {
    let url = url::Url::parse(uri).map_err(|e| Error::invalid("redirect-uri", e.to_string()))?;
    let loopback = matches!(
        url.host_str(),
        Some("127.0.0.1") | Some("[::1]") | Some("localhost")
    );
    if url.scheme() == "https" || (url.scheme() == "http" && loopback) {
        if url.fragment().is_some() {
            return Err(Error::invalid("redirect-uri", "must not have a fragment"));
        }
        Ok(())
    } else {
        Err(Error::invalid(
            "redirect-uri",
            "must be https, or http on 127.0.0.1/[::1]",
        ))
    }
}

fn apply_state(record: &mut ConnectionRecord, s: wit::ConnectionState) {
    record.granted_scopes = s.granted_scopes;
    record.expires_at = s.expires_at;
    add_fields(record, s.fields);
    record.token_generation += 1;
}

/// Fields a connector hands back may add values (e.g. discovered
/// endpoints) but never change one: a plugin must not re-point a
/// connection, say by rewriting the domain its allowlist comes from.
fn add_fields(record: &mut ConnectionRecord, fields: Vec<(String, String)>) {
    for (k, v) in fields {
        match record.fields.get(&k) {
            Some(old) if *old != v => {
                tracing::warn!(connection = %record.id, field = %k, "connector tried to change a field; ignored")
            }
            _ => {
                record.fields.insert(k, v);
            }
        }
    }
}

/// Access that can be renewed without the user.
fn renewable(record: &ConnectionRecord) -> bool {
    record.expires_at.is_some() || record.secrets.contains_key("refresh_token")
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
