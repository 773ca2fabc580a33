//! The plugin runtime: one `Engine`, components compiled once and cached
//! on disk, an `InstancePre` per connector, and a fresh `Store` per
//! operation with a memory limit and an epoch deadline, so a looping or
//! greedy plugin fails with a typed error and the host carries on.
//!
//! * [`state`]: what a plugin's store holds (the capabilities' views);
//! * [`cache`]: the compile cache;
//! * [`limits`]: store limits, deadlines, trap → error;
//! * [`instance`]: typed calls into one instance.

mod cache;
mod instance;
mod limits;
mod permits;
mod state;

pub use cache::ArtifactKey;
pub use instance::{net_failure, CallOutcome, ConnectorInstance};

use crate::bindings::ConnectorPluginPre;
use crate::capabilities;
use crate::capabilities::http::HttpCtx;
use crate::error::{Error, Result};
use crate::net::HttpsClient;
use crate::secret::SecretScope;
use connhost_policy::Allowlist;
use limits::EPOCH_TICK;
use state::PluginState;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::WasiCtx;

/// The contract version this host implements.
pub const CONTRACT: &str = "connhost:connector@0.3.2";

/// Limits and switches for the runtime.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Where compiled components are cached (with a key, see
    /// [`Runtime::set_cache_key`]); `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Linear memory one instance may use.
    pub max_memory_bytes: usize,
    /// Wall-clock limit of one export call, host calls included.
    pub call_timeout: Duration,
    /// Use the pooling allocator (fast instantiation).
    pub pooling: bool,
    /// Instances that may be alive at once (the pool's slots, with
    /// pooling or without).
    pub max_concurrent_calls: u32,
    /// Calls one team may run at once; more wait (see `call_wait`).
    pub max_calls_per_team: u32,
    /// How long a call waits for a slot before it fails as `busy`.
    pub call_wait: Duration,
    /// Cores' worth of CPU one team's guest code may use (a team whose
    /// guests spin sleeps until its share refills).
    pub guest_cpu_per_team: f64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            max_memory_bytes: 64 * 1024 * 1024,
            call_timeout: Duration::from_secs(60),
            pooling: true,
            max_concurrent_calls: 64,
            max_calls_per_team: 4,
            call_wait: Duration::from_secs(10),
            guest_cpu_per_team: 0.5,
        }
    }
}

/// What an instance works on: which connection, its secrets, its allowlist.
pub struct CallContext {
    /// Whose call it is: calls are capped per team.
    pub team: String,
    pub connection_id: String,
    pub secrets: SecretScope,
    pub allowlist: Allowlist,
}

impl CallContext {
    /// No connection, no secrets, nothing allowed (manifest reads).
    pub fn empty() -> Self {
        CallContext {
            team: String::new(),
            connection_id: String::new(),
            secrets: SecretScope::default(),
            allowlist: Allowlist::default(),
        }
    }
}

/// A compiled connector, linked and ready to instantiate.
#[derive(Clone)]
pub struct Plugin {
    id: String,
    pre: ConnectorPluginPre<PluginState>,
}

impl Plugin {
    /// The connector id it was prepared for.
    pub fn id(&self) -> &str {
        &self.id
    }
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
    instantiations: AtomicU64,
    permits: permits::CallPermits,
    cache_key: Option<Arc<dyn ArtifactKey>>,
    _ticker: Ticker,
}

fn runtime_err(e: wasmtime::Error) -> Error {
    Error::Runtime(format!("{e:#}"))
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
                .max_core_instances_per_component(16)
                // A proxy makes an instance per request: reset the small
                // memories a connector touches with memset, and batch the
                // rest, rather than one madvise (and a TLB shootdown on
                // every core) per instance.
                .linear_memory_keep_resident(1 << 20)
                .table_keep_resident(64 << 10)
                .decommit_batch_size(16);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
            // Reserve only what an instance may use, with a small guard:
            // each slot maps and resets less (connectors run little wasm,
            // so explicit bounds checks cost nothing that shows).
            config.memory_reservation(cfg.max_memory_bytes as u64);
            config.memory_guard_size(64 * 1024);
            config.memory_reservation_for_growth(0);
        }
        let engine = Engine::new(&config).map_err(runtime_err)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(runtime_err)?;
        crate::bindings::types::add_to_linker::<_, HasSelf<PluginState>>(&mut linker, |s| s)
            .map_err(runtime_err)?;
        capabilities::http::add_to_linker(&mut linker, PluginState::http).map_err(runtime_err)?;
        capabilities::secrets::add_to_linker(&mut linker, PluginState::secrets)
            .map_err(runtime_err)?;
        capabilities::log::add_to_linker(&mut linker, PluginState::log).map_err(runtime_err)?;
        capabilities::signing::add_to_linker(&mut linker, PluginState::signing)
            .map_err(runtime_err)?;

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
        let permits = permits::CallPermits::new(
            cfg.max_concurrent_calls,
            cfg.max_calls_per_team,
            cfg.guest_cpu_per_team,
            cfg.call_wait,
        );
        Ok(Runtime {
            permits,
            engine,
            linker,
            cfg,
            client,
            instantiations: AtomicU64::new(0),
            cache_key: None,
            _ticker: Ticker(stop),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.cfg
    }

    /// Instances created so far (each operation should cost one).
    pub fn instantiations(&self) -> u64 {
        self.instantiations.load(Ordering::Relaxed)
    }

    /// Turns the compile cache on: artifacts in `cache_dir` are written and
    /// loaded only with tags from `key`. Without a key nothing is cached.
    pub fn set_cache_key(&mut self, key: Arc<dyn ArtifactKey>) {
        self.cache_key = Some(key);
    }

    /// Compiles `bytes`, or loads the compiled artifact from the cache.
    pub fn load_component(&self, bytes: &[u8]) -> Result<Component> {
        let cache = match (&self.cfg.cache_dir, &self.cache_key) {
            (Some(dir), Some(key)) => Some((dir.as_path(), key.as_ref())),
            _ => None,
        };
        cache::load(&self.engine, cache, bytes)
    }

    /// Compiles a component file (tools and benches).
    pub fn load_file(&self, path: &Path) -> Result<Component> {
        let bytes = std::fs::read(path).map_err(Error::io(format!("read {}", path.display())))?;
        self.load_component(&bytes)
    }

    /// Links a component against the host's imports. Fails if it does not
    /// implement this contract version.
    pub fn prepare(&self, id: &str, component: &Component) -> Result<Plugin> {
        let pre = self
            .linker
            .instantiate_pre(component)
            .and_then(ConnectorPluginPre::new)
            .map_err(|e| {
                Error::InvalidComponent(format!("does not implement {CONTRACT}: {e:#}"))
            })?;
        Ok(Plugin {
            id: id.to_string(),
            pre,
        })
    }

    /// Plugin calls `team` runs now.
    pub fn running_calls(&self, team: &str) -> usize {
        self.permits.running(team)
    }

    /// A fresh instance of `plugin` for one operation on `ctx`'s connection,
    /// once the team has a call slot (held until the instance is dropped).
    pub async fn instantiate(
        &self,
        plugin: &Plugin,
        ctx: CallContext,
    ) -> Result<ConnectorInstance> {
        let permit = self.permits.acquire(&ctx.team).await?;
        let team = permit.team.clone();
        let state = PluginState {
            deadline: std::time::Instant::now() + self.cfg.call_timeout,
            connector: plugin.id.clone(),
            connection: ctx.connection_id,
            http: HttpCtx {
                client: self.client.clone(),
                requests: 0,
                staged: Vec::new(),
            },
            allowlist: ctx.allowlist,
            secrets: ctx.secrets,
            // No environment, arguments, files or sockets: WASI here is
            // only clocks, random and stdio-to-nowhere.
            wasi: WasiCtx::builder().allow_tcp(false).allow_udp(false).build(),
            table: ResourceTable::new(),
            limits: limits::store_limits(self.cfg.max_memory_bytes),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        limits::yield_until_deadline(&mut store, team);
        self.instantiations.fetch_add(1, Ordering::Relaxed);
        let bindings = instance::bounded(
            &plugin.id,
            self.cfg.call_timeout,
            self.cfg.max_memory_bytes,
            plugin.pre.instantiate_async(&mut store),
        )
        .await?;
        Ok(ConnectorInstance {
            _permit: permit,
            store,
            bindings,
            connector: plugin.id.clone(),
            timeout: self.cfg.call_timeout,
            max_memory_bytes: self.cfg.max_memory_bytes,
        })
    }

    /// Reads a component's manifest: no secrets, no network.
    pub async fn manifest(&self, plugin: &Plugin) -> Result<crate::wit::ConnectorManifest> {
        self.instantiate(plugin, CallContext::empty())
            .await?
            .manifest()
            .await
    }
}
