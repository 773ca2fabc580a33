//! The CLI: raw flags → validated arguments → one manager call → output.
//! Errors reach the user in one place ([`main`]), as text or `--json`.

mod callback;
mod demo;
mod output;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Parser, Subcommand};
use connhost::{ConnectTo, HostConfig, Manager, MasterKey, NewConnection, Secret};
use output::Out;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "connhost",
    version,
    about = "Run sandboxed connector components and manage their connections"
)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
pub struct Global {
    /// Store directory [default: the user's data dir]/connhost
    #[arg(long, global = true, env = "CONNHOST_HOME")]
    home: Option<PathBuf>,
    /// Print machine-readable JSON
    #[arg(long, global = true)]
    json: bool,
    /// Connect to ADDR:PORT when a plugin asks for HOST:PORT (TLS still checks HOST), like curl
    #[arg(long = "connect-to", value_name = "HOST:PORT:ADDR:PORT", global = true)]
    connect_to: Vec<ConnectTo>,
    /// Extra trust root(s) in PEM, in addition to the public web roots
    #[arg(long = "ca-file", value_name = "PEM", global = true)]
    ca_file: Vec<PathBuf>,
    /// Default deadline of one outbound HTTP request
    #[arg(long, value_name = "MS", global = true, default_value_t = 30_000)]
    http_timeout_ms: u64,
    /// Wall-clock limit of one plugin call
    #[arg(long, value_name = "MS", global = true, default_value_t = 60_000)]
    call_timeout_ms: u64,
    /// Renew access that expires within this many seconds before using it
    #[arg(long, value_name = "SECS", global = true, default_value_t = 60)]
    refresh_margin_secs: u64,
    /// Log to stderr (-v info, -vv debug)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
}

#[derive(Subcommand)]
enum Command {
    /// Add, list and inspect connector components
    #[command(subcommand)]
    Connector(ConnectorCmd),
    /// Create, verify, refresh, edit and delete connections
    #[command(subcommand)]
    Connection(ConnectionCmd),
    /// Provider definitions for data-driven connectors (the `generic` connector)
    #[command(subcommand)]
    Provider(ProviderCmd),
    /// Walk create → verify → refresh → list → delete against a local fake Celonis
    Demo,
}

#[derive(Subcommand)]
enum ProviderCmd {
    /// Check a provider definition (JSON) and store it; connect with --field provider=ID
    Add {
        file: PathBuf,
        /// Connector that interprets the definition
        #[arg(long, default_value = "generic")]
        connector: String,
    },
    /// List stored provider definitions and the connector's shipped ones
    List {
        #[arg(long, default_value = "generic")]
        connector: String,
    },
}

#[derive(Subcommand)]
enum AuthorizeCmd {
    /// Start the consent flow: prints the authorize URL and a pending id
    Start {
        #[arg(long)]
        connector: String,
        #[arg(long)]
        team: Option<String>,
        /// Exact redirect URI registered with the provider
        #[arg(long)]
        redirect_uri: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Complete it with the URL the provider redirected the browser to
    Finish {
        pending: String,
        #[arg(long)]
        redirect_url: String,
    },
}

#[derive(Subcommand)]
enum ConnectorCmd {
    /// Add a connector component (a .wasm file, or `builtin:celonis`)
    Add { path: String },
    /// List connectors
    List,
    /// Show a connector's manifest: fields, auth kinds, scopes, hosts
    Show { id: String },
}

#[derive(Args)]
struct DataArgs {
    /// Connection name [default: connector name + counter]
    #[arg(long)]
    name: Option<String>,
    /// A non-secret field, NAME=VALUE (repeatable)
    #[arg(long = "field", value_name = "NAME=VALUE")]
    fields: Vec<String>,
    /// A secret field, NAME=env:VAR | NAME=file:PATH | NAME=stdin (repeatable).
    /// Plain values are refused: they would land in shell history and `ps`.
    #[arg(long = "secret", value_name = "NAME=SOURCE")]
    secrets: Vec<String>,
}

#[derive(Subcommand)]
enum ConnectionCmd {
    /// Create a connection; prints its id
    Create {
        #[arg(long)]
        connector: String,
        /// Team the connection belongs to
        #[arg(long)]
        team: Option<String>,
        /// For consent-flow auth kinds: wait for the provider's redirect on
        /// this loopback URI (e.g. http://127.0.0.1:8765/callback)
        #[arg(long)]
        redirect_uri: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Browser consent flow in two steps, for servers and scripts
    #[command(subcommand)]
    Authorize(AuthorizeCmd),
    /// Run consent again for a connection (same id; new tokens and scopes
    /// replace the old, which are revoked)
    Reauthorize {
        id: String,
        #[arg(long)]
        redirect_uri: String,
        /// Print the URL and pending id instead of waiting (finish with `authorize finish`)
        #[arg(long)]
        no_wait: bool,
    },
    /// List connections
    List {
        #[arg(long)]
        team: Option<String>,
    },
    /// Show one connection (secrets as set/unset, never values)
    Show { id: String },
    /// Rename a connection
    Rename { id: String, name: String },
    /// Replace all data of a connection; secrets must be given again.
    /// The stored connection changes only if the new data verifies.
    Edit {
        id: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Call the service to check the connection works
    Verify { id: String },
    /// Renew expiring access now
    Refresh { id: String },
    /// Check that the connection has these scopes
    Check {
        id: String,
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
    },
    /// Delete a connection and its secrets
    Delete {
        id: String,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.verbose);
    let out = Out::new(cli.global.json);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return out.fail(&anyhow!(e).context("start async runtime")),
    };
    match rt.block_on(run(cli, &out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => out.fail(&e),
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CONNHOST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn host_config(g: &Global) -> anyhow::Result<HostConfig> {
    let home = match &g.home {
        Some(h) => h.clone(),
        None => dirs::data_dir()
            .context("no data directory for this user: pass --home or set CONNHOST_HOME")?
            .join("connhost"),
    };
    let mut cfg = HostConfig::new(home);
    if let Ok(k) = std::env::var(connhost::store::MASTER_KEY_ENV) {
        cfg.master_key = Some(MasterKey::from_base64(&k)?);
    }
    cfg.net.connect_to = g.connect_to.clone();
    for ca in &g.ca_file {
        cfg.net.add_ca_file(ca).map_err(|e| anyhow!(e))?;
    }
    cfg.net.default_timeout = Duration::from_millis(g.http_timeout_ms);
    cfg.runtime.call_timeout = Duration::from_millis(g.call_timeout_ms);
    cfg.refresh_margin = Duration::from_secs(g.refresh_margin_secs);
    Ok(cfg)
}

async fn run(cli: Cli, out: &Out) -> anyhow::Result<()> {
    if let Command::Demo = cli.command {
        return demo::run(&cli.global, out).await;
    }
    let manager = Manager::open(host_config(&cli.global)?)?;
    match cli.command {
        Command::Demo => unreachable!("handled above"),
        Command::Connector(cmd) => connector(&manager, cmd, out).await,
        Command::Connection(cmd) => connection(&manager, cmd, out).await,
        Command::Provider(cmd) => provider(&manager, cmd, out).await,
    }
}

async fn provider(m: &Manager, cmd: ProviderCmd, out: &Out) -> anyhow::Result<()> {
    match cmd {
        ProviderCmd::Add { file, connector } => {
            ensure_builtin(m, &connector).await?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("read {}", file.display()))?;
            let id = m.add_provider(&connector, &text).await?;
            out.emit_id("provider added", &id);
        }
        ProviderCmd::List { connector } => {
            ensure_builtin(m, &connector).await?;
            let mut list: Vec<(String, String)> = m
                .store()
                .providers()?
                .into_iter()
                .map(|id| (id, "added".to_string()))
                .collect();
            if let Some(f) = m.connector(&connector)?.field("provider").cloned() {
                list.extend(
                    f.allowed_values
                        .into_iter()
                        .map(|id| (id, "shipped".to_string())),
                );
            }
            out.providers(&list);
        }
    }
    Ok(())
}

/// Adds a built-in connector on first use, so `--connector generic` works
/// without a separate `connector add`.
async fn ensure_builtin(m: &Manager, id: &str) -> anyhow::Result<()> {
    if m.connector(id).is_ok() {
        return Ok(());
    }
    if let Some(bytes) = builtin(id) {
        m.add_connector(bytes).await?;
    }
    Ok(())
}

fn builtin(id: &str) -> Option<&'static [u8]> {
    match id {
        "celonis" => Some(connhost::builtin::CELONIS),
        "generic" => Some(connhost::builtin::GENERIC),
        _ => None,
    }
}

/// Consent flow with a loopback listener: print the URL, wait for the
/// redirect, finish.
async fn consent_and_wait(
    m: &Manager,
    out: &Out,
    redirect_uri: &str,
    start: impl std::future::Future<Output = connhost::Result<connhost::manager::AuthorizeStart>>,
) -> anyhow::Result<connhost::ConnectionRecord> {
    let (listener, redirect) = callback::bind(redirect_uri).await?;
    let started = start.await?;
    out.authorize_started(&started);
    let url = callback::wait(listener, redirect, Duration::from_secs(600)).await?;
    Ok(m.authorize_finish(&started.pending_id, &url).await?)
}

async fn connector(m: &Manager, cmd: ConnectorCmd, out: &Out) -> anyhow::Result<()> {
    match cmd {
        ConnectorCmd::Add { path } => {
            let bytes = match path.as_str() {
                "builtin:celonis" => connhost::builtin::CELONIS.to_vec(),
                p if p.starts_with("builtin:") => {
                    bail!("unknown built-in connector `{p}` (have: builtin:celonis)")
                }
                p => std::fs::read(p).with_context(|| format!("read {p}"))?,
            };
            let manifest = m.add_connector(&bytes).await?;
            out.connector_added(&manifest);
        }
        ConnectorCmd::List => out.connectors(&m.connectors()?),
        ConnectorCmd::Show { id } => out.manifest(&m.connector(&id)?),
    }
    Ok(())
}

async fn connection(m: &Manager, cmd: ConnectionCmd, out: &Out) -> anyhow::Result<()> {
    match cmd {
        ConnectionCmd::Create {
            connector,
            team,
            redirect_uri,
            data,
        } => {
            ensure_builtin(m, &connector).await?;
            let new = NewConnection {
                connector,
                team,
                name: data.name.clone(),
                fields: parse_fields(&data.fields)?,
                secrets: read_secrets(&data.secrets)?,
            };
            let record = match redirect_uri {
                Some(uri) => consent_and_wait(m, out, &uri, m.authorize_start(new, &uri)).await?,
                None => m.create(new).await?,
            };
            out.created(&record);
        }
        ConnectionCmd::Authorize(AuthorizeCmd::Start {
            connector,
            team,
            redirect_uri,
            data,
        }) => {
            ensure_builtin(m, &connector).await?;
            let new = NewConnection {
                connector,
                team,
                name: data.name.clone(),
                fields: parse_fields(&data.fields)?,
                secrets: read_secrets(&data.secrets)?,
            };
            out.authorize_started(&m.authorize_start(new, &redirect_uri).await?);
        }
        ConnectionCmd::Authorize(AuthorizeCmd::Finish {
            pending,
            redirect_url,
        }) => {
            out.created(&m.authorize_finish(&pending, &redirect_url).await?);
        }
        ConnectionCmd::Reauthorize {
            id,
            redirect_uri,
            no_wait,
        } => {
            if no_wait {
                out.authorize_started(&m.reauthorize_start(&id, &redirect_uri).await?);
            } else {
                let record = consent_and_wait(
                    m,
                    out,
                    &redirect_uri,
                    m.reauthorize_start(&id, &redirect_uri),
                )
                .await?;
                out.updated("reauthorized", &record);
            }
        }
        ConnectionCmd::List { team } => out.connections(&m.list(team.as_deref())?),
        ConnectionCmd::Show { id } => {
            let record = m.get(&id)?;
            let manifest = m.connector(&record.connector).ok();
            out.connection(&record, manifest.as_ref());
        }
        ConnectionCmd::Rename { id, name } => out.updated("renamed", &m.rename(&id, &name)?),
        ConnectionCmd::Edit { id, data } => {
            let new = NewConnection {
                connector: String::new(),
                team: None,
                name: data.name.clone(),
                fields: parse_fields(&data.fields)?,
                secrets: read_secrets(&data.secrets)?,
            };
            out.updated("edited and verified", &m.edit(&id, new).await?);
        }
        ConnectionCmd::Verify { id } => out.verified(&m.verify(&id).await?),
        ConnectionCmd::Refresh { id } => out.refreshed(&id, &m.refresh(&id).await?),
        ConnectionCmd::Check { id, scopes } => {
            m.check_scopes(&id, &scopes).await?;
            out.scopes_ok(&id, &scopes);
        }
        ConnectionCmd::Delete { id, yes } => {
            let record = m.get(&id)?;
            if !yes
                && !confirm(&format!(
                    "Delete connection {} ({})?",
                    record.name, record.id
                ))?
            {
                bail!("not deleted");
            }
            out.deleted(&m.delete(&id).await?);
        }
    }
    Ok(())
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to delete without confirmation: pass --yes");
    }
    eprint!("{question} This cannot be undone; flows using it will fail. [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn parse_fields(raw: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut fields = BTreeMap::new();
    for item in raw {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| anyhow!("--field `{item}`: expected NAME=VALUE"))?;
        if fields.insert(k.trim().to_string(), v.to_string()).is_some() {
            bail!("--field `{k}` given twice");
        }
    }
    Ok(fields)
}

/// Reads `NAME=env:VAR|file:PATH|stdin`. Errors name the secret and the
/// source, never a value.
fn read_secrets(raw: &[String]) -> anyhow::Result<BTreeMap<String, Secret>> {
    let mut secrets = BTreeMap::new();
    let mut stdin_used = false;
    for item in raw {
        let Some((name, source)) = item.split_once('=') else {
            bail!("--secret: expected NAME=env:VAR, NAME=file:PATH or NAME=stdin");
        };
        let value = if let Some(var) = source.strip_prefix("env:") {
            std::env::var(var)
                .map_err(|_| anyhow!("--secret {name}: environment variable `{var}` is not set"))?
        } else if let Some(path) = source.strip_prefix("file:") {
            std::fs::read_to_string(path)
                .with_context(|| format!("--secret {name}: read {path}"))?
                .trim_end_matches(['\n', '\r'])
                .to_string()
        } else if source == "stdin" {
            if stdin_used {
                bail!("--secret {name}: only one secret can come from stdin");
            }
            stdin_used = true;
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .with_context(|| format!("--secret {name}: read stdin"))?;
            s.trim_end_matches(['\n', '\r']).to_string()
        } else {
            bail!(
                "--secret {name}: plain values are not accepted on the command line; use {name}=env:VAR, {name}=file:PATH or {name}=stdin"
            );
        };
        if value.is_empty() {
            bail!("--secret {name}: the value is empty");
        }
        if secrets
            .insert(name.trim().to_string(), Secret::new(value))
            .is_some()
        {
            bail!("--secret {name} given twice");
        }
    }
    Ok(secrets)
}
