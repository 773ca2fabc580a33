//! The plugin runtime: one `Engine`, components compiled once and cached on
//! disk, `InstancePre` per connector, and a fresh `Store` per call with a
//! memory limit and an epoch deadline, so a looping or greedy plugin fails
//! with a typed error and the host carries on.

use crate::allowlist::Allowlist;
use crate::bindings::{self, types as wit, ConnectorPlugin, ConnectorPluginPre};
use crate::error::{Error, Result};
use crate::http::HttpState;
use crate::net::HttpsClient;
use crate::secrets::SecretScope;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime::{StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Limits and switches for the runtime.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Where compiled components are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Linear memory one call may use.
    pub max_memory_bytes: usize,
    /// Wall-clock limit of one plugin call, host calls included.
    pub call_timeout: Duration,
    /// Use the pooling allocator (fast instantiation).
    pub pooling: bool,
    /// Instances that may be alive at once with pooling.
    pub max_concurrent_calls: u32,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            max_memory_bytes: 64 * 1024 * 1024,
            call_timeout: Duration::from_secs(60),
            pooling: true,
            max_concurrent_calls: 64,
        }
    }
}

/// Per-call state: everything a plugin can reach goes through here.
pub struct PluginState {
    pub(crate) connector_id: String,
    pub(crate) connection_id: String,
    pub(crate) http: HttpState,
    pub(crate) secrets: SecretScope,
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl bindings::types::Host for PluginState {}

/// What a call needs: which connection, its secrets, its allowlist.
pub struct CallContext {
    pub connection_id: String,
    pub secrets: SecretScope,
    pub allowlist: Allowlist,
}

/// What a call leaves: the (possibly changed) secrets and statistics.
#[derive(Debug)]
pub struct CallOutcome {
    pub secrets: SecretScope,
    pub http_requests: u32,
}

/// A compiled connector, ready to instantiate.
#[derive(Clone)]
pub struct Plugin {
    pub(crate) id: String,
    pre: ConnectorPluginPre<PluginState>,
}

/// An export call.
pub enum Call {
    Create(wit::ConnectionInput),
    Verify(wit::ConnectionInput),
    Refresh(wit::ConnectionInput),
    ValidateScopes {
        required: Vec<String>,
        granted: Vec<String>,
    },
    AuthorizeUrl(wit::ConnectionInput, wit::AuthorizeRequest),
    ExchangeCode(wit::ConnectionInput, wit::CodeExchange),
    Revoke(wit::ConnectionInput),
    AllowedOrigins(wit::ConnectionInput),
}

/// The result of an export call.
#[derive(Debug)]
pub enum Reply {
    State(wit::ConnectionState),
    Verification(wit::Verification),
    Refresh(wit::RefreshOutcome),
    Unit,
    Authorization(wit::Authorization),
    Origins(Vec<String>),
}

struct Ticker(Arc<AtomicBool>);
impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The engine, the linker and the compile cache.
pub struct Runtime {
    engine: Engine,
    linker: Linker<PluginState>,
    cfg: RuntimeConfig,
    client: HttpsClient,
    _ticker: Ticker,
}

impl Runtime {
    pub fn new(cfg: RuntimeConfig, client: HttpsClient) -> Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        if cfg.pooling {
            let mut pool = PoolingAllocationConfig::default();
            let n = cfg.max_concurrent_calls;
            pool.total_component_instances(n)
                .total_core_instances(n * 4)
                .total_memories(n * 2)
                .total_tables(n * 4)
                .max_memory_size(cfg.max_memory_bytes)
                .max_memories_per_component(4)
                .max_tables_per_component(8)
                .max_core_instances_per_component(16);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config).map_err(|e| Error::Runtime(format!("{e:#}")))?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| Error::Runtime(format!("{e:#}")))?;
        ConnectorPlugin::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |s| s)
            .map_err(|e| Error::Runtime(format!("{e:#}")))?;

        let stop = Arc::new(AtomicBool::new(false));
        {
            let (engine, stop) = (engine.clone(), stop.clone());
            std::thread::Builder::new()
                .name("connhost-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| Error::Runtime(format!("epoch thread: {e}")))?;
        }
        Ok(Runtime {
            engine,
            linker,
            cfg,
            client,
            _ticker: Ticker(stop),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn client(&self) -> &HttpsClient {
        &self.client
    }

    /// Compiles `bytes`, or loads the compiled artifact from the cache
    /// (keyed by content hash and engine compatibility).
    pub fn load_component(&self, bytes: &[u8]) -> Result<Component> {
        let Some(dir) = &self.cfg.cache_dir else {
            return self.compile(bytes);
        };
        let path = dir.join(format!("{}.cwasm", self.cache_key(bytes)));
        // Read into memory rather than mmap: a cache file truncated or
        // replaced under a mapping would crash the host with SIGBUS.
        if let Ok(artifact) = std::fs::read(&path) {
            // SAFETY: the cache holds only artifacts this host serialized
            // with an engine of the same compatibility hash (in the key);
            // wasmtime checks the header and rejects foreign data.
            match unsafe { Component::deserialize(&self.engine, &artifact) } {
                Ok(c) => return Ok(c),
                Err(e) => tracing::warn!(path = %path.display(), "recompiling: {e:#}"),
            }
        }
        let component = self.compile(bytes)?;
        let serialized = component
            .serialize()
            .map_err(|e| Error::Runtime(format!("serialize: {e:#}")))?;
        crate::store::write_atomic(&path, &serialized, false)?;
        Ok(component)
    }

    fn compile(&self, bytes: &[u8]) -> Result<Component> {
        Component::new(&self.engine, bytes).map_err(|e| Error::InvalidComponent(format!("{e:#}")))
    }

    fn cache_key(&self, bytes: &[u8]) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        let engine = h.finish();
        let content = Sha256::digest(bytes);
        format!("{}-{engine:016x}", hex(&content))
    }

    /// Links a component against the host's imports. Fails if it does not
    /// implement this contract version.
    pub fn prepare(&self, id: &str, component: &Component) -> Result<Plugin> {
        let pre = self
            .linker
            .instantiate_pre(component)
            .and_then(ConnectorPluginPre::new)
            .map_err(|e| {
                Error::InvalidComponent(format!(
                    "does not implement connhost:connector@0.1.0: {e:#}"
                ))
            })?;
        Ok(Plugin {
            id: id.to_string(),
            pre,
        })
    }

    /// Reads a component's manifest: no secrets, no network.
    pub async fn manifest(&self, plugin: &Plugin) -> Result<wit::ConnectorManifest> {
        let ctx = CallContext {
            connection_id: String::new(),
            secrets: SecretScope::default(),
            allowlist: Allowlist::default(),
        };
        let mut store = self.new_store(&plugin.id, ctx);
        let result = async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            instance
                .connhost_connector_connector()
                .call_manifest(&mut store)
                .await
        };
        self.bounded(&plugin.id, result).await
    }

    /// Instantiates `plugin` in a fresh store and drops it (benchmarks).
    #[doc(hidden)]
    pub async fn instantiate_only(&self, plugin: &Plugin) -> Result<()> {
        let ctx = CallContext {
            connection_id: String::new(),
            secrets: SecretScope::default(),
            allowlist: Allowlist::default(),
        };
        let mut store = self.new_store(&plugin.id, ctx);
        let fut = async { plugin.pre.instantiate_async(&mut store).await.map(|_| ()) };
        self.bounded(&plugin.id, fut).await
    }

    fn new_store(&self, connector: &str, ctx: CallContext) -> Store<PluginState> {
        let state = PluginState {
            connector_id: connector.to_string(),
            connection_id: ctx.connection_id,
            http: HttpState {
                client: self.client.clone(),
                allowlist: ctx.allowlist,
                requests: 0,
            },
            secrets: ctx.secrets,
            // No environment, arguments, files or sockets: WASI here is
            // only clocks, random and stdio-to-nowhere.
            wasi: WasiCtx::builder().allow_tcp(false).allow_udp(false).build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.cfg.max_memory_bytes)
                .instances(16)
                .tables(16)
                .memories(4)
                .trap_on_grow_failure(true)
                .build(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let ticks = (self.cfg.call_timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        store
    }

    /// Runs `fut` under the call timeout and turns traps into typed errors.
    async fn bounded<T>(
        &self,
        connector: &str,
        fut: impl std::future::Future<Output = wasmtime::Result<T>>,
    ) -> Result<T> {
        // The epoch deadline stops runaway wasm; this also bounds time
        // spent in host calls. A small grace lets the trap win the race.
        let limit = self.cfg.call_timeout + Duration::from_millis(200);
        match tokio::time::timeout(limit, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.plugin_error(connector, e)),
            Err(_) => Err(Error::Plugin {
                connector: connector.to_string(),
                reason: format!(
                    "call exceeded its time limit of {} ms",
                    self.cfg.call_timeout.as_millis()
                ),
            }),
        }
    }

    fn plugin_error(&self, connector: &str, e: wasmtime::Error) -> Error {
        let reason = match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => format!(
                "call exceeded its time limit of {} ms",
                self.cfg.call_timeout.as_millis()
            ),
            Some(trap) => format!("trapped: {trap}"),
            None => {
                let text = format!("{e:#}");
                if text.contains("forcing a memory growth failure") || text.contains("memory") {
                    format!(
                        "exceeded its memory limit of {} bytes: {text}",
                        self.cfg.max_memory_bytes
                    )
                } else {
                    text
                }
            }
        };
        Error::Plugin {
            connector: connector.to_string(),
            reason,
        }
    }

    /// Instantiates `plugin` in a fresh store and makes one export call.
    pub async fn call(
        &self,
        plugin: &Plugin,
        ctx: CallContext,
        call: Call,
    ) -> Result<(std::result::Result<Reply, wit::ConnectorError>, CallOutcome)> {
        let mut store = self.new_store(&plugin.id, ctx);
        let result = async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            let guest = instance.connhost_connector_connector();
            let s = &mut store;
            Ok::<_, wasmtime::Error>(match call {
                Call::Create(input) => guest.call_create(s, &input).await?.map(Reply::State),
                Call::Verify(input) => guest.call_verify(s, &input).await?.map(Reply::Verification),
                Call::Refresh(input) => guest.call_refresh(s, &input).await?.map(Reply::Refresh),
                Call::ValidateScopes { required, granted } => guest
                    .call_validate_scopes(s, &required, &granted)
                    .await?
                    .map(|()| Reply::Unit),
                Call::AuthorizeUrl(input, req) => guest
                    .call_authorize_url(s, &input, &req)
                    .await?
                    .map(Reply::Authorization),
                Call::ExchangeCode(input, ex) => guest
                    .call_exchange_code(s, &input, &ex)
                    .await?
                    .map(Reply::State),
                Call::Revoke(input) => guest.call_revoke(s, &input).await?.map(|()| Reply::Unit),
                Call::AllowedOrigins(input) => guest
                    .call_allowed_origins(s, &input)
                    .await?
                    .map(Reply::Origins),
            })
        };
        let reply = self.bounded(&plugin.id, result).await?;
        let state = store.into_data();
        Ok((
            reply,
            CallOutcome {
                secrets: state.secrets,
                http_requests: state.http.requests,
            },
        ))
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Loads and prepares a component file (for tools and benches).
pub fn load_file(rt: &Runtime, path: &Path) -> Result<Component> {
    let bytes = std::fs::read(path).map_err(Error::io(format!("read {}", path.display())))?;
    rt.load_component(&bytes)
}
