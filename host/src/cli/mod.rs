//! The CLI: raw flags → validated arguments → one manager call → output.
//! Errors reach the user in one place ([`main`]), as text or `--json`.

mod callback;
mod demo;
mod output;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Parser, Subcommand};
use connhost::usage::{DynamicConnection, Usage};
use connhost::{
    Caller, ConnectTo, HostConfig, Manager, MasterKey, NewConnection, Secret, TeamView,
};
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
    /// Team the caller acts for (a connection of another team is not found)
    #[arg(long, global = true, env = "CONNHOST_TEAM", default_value = "default")]
    team: String,
    /// Who is acting, for the audit log [default: $USER]
    #[arg(long, global = true, env = "CONNHOST_ACTOR")]
    actor: Option<String>,
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
    /// What uses the team's connections (flows, modules), and their pre-run check
    #[command(subcommand)]
    Usage(UsageCmd),
    /// Dynamic connections: pick one of several connections by run context
    #[command(subcommand)]
    Dynamic(DynamicCmd),
    /// Least-privilege scope planning
    #[command(subcommand)]
    Scopes(ScopesCmd),
    /// The team's audit log
    Audit {
        #[arg(long)]
        connection: Option<String>,
        /// Unix seconds
        #[arg(long)]
        since: Option<u64>,
    },
    /// Provider definitions for data-driven connectors (the `generic` connector)
    #[command(subcommand)]
    Provider(ProviderCmd),
    /// Walk create → verify → refresh → list → delete against a local fake Celonis
    Demo,
}

#[derive(Subcommand)]
enum UsageCmd {
    /// Register what a consumer needs from a connection (or dynamic:NAME)
    Add {
        #[arg(long)]
        consumer: String,
        #[arg(long)]
        connection: String,
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        /// active | scheduled | inactive
        #[arg(long, default_value = "active")]
        state: String,
    },
    List,
    Remove {
        #[arg(long)]
        consumer: String,
        #[arg(long)]
        connection: Option<String>,
    },
    /// Pre-run check: resolve the connection and require the scopes
    Check {
        #[arg(long)]
        consumer: String,
        /// KEY=VALUE run context for dynamic connections (repeatable)
        #[arg(long)]
        context: Vec<String>,
    },
}

#[derive(Subcommand)]
enum DynamicCmd {
    /// Create or replace a dynamic connection
    Put {
        name: String,
        #[arg(long)]
        connector: String,
        /// Context key it selects on, e.g. department
        #[arg(long)]
        key: String,
        /// VALUE=CONNECTION_ID (repeatable)
        #[arg(long = "choice")]
        choices: Vec<String>,
        #[arg(long)]
        default: Option<String>,
    },
    List,
    Remove {
        name: String,
    },
    /// Which connection a context selects
    Resolve {
        name: String,
        #[arg(long)]
        context: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ScopesCmd {
    /// The union of the scopes usages need, checked against the catalogue
    Plan {
        #[arg(long)]
        connector: String,
        /// JSON file(s): a usage {"scopes": [...]} or a list of them
        #[arg(long = "usage")]
        usages: Vec<PathBuf>,
    },
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
    /// List the team's connections
    List,
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
    /// Replace one secret (e.g. a regenerated client secret); the
    /// connection changes only if it verifies with it
    SetSecret {
        id: String,
        /// NAME=env:VAR | NAME=file:PATH | NAME=stdin
        #[arg(long)]
        secret: String,
    },
    /// Revoke the connection's tokens, then delete it and its secrets
    Delete {
        id: String,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
        /// Delete even though active or scheduled usages need it
        #[arg(long)]
        force: bool,
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
    let actor = cli
        .global
        .actor
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "cli".into());
    let team = manager.team(Caller {
        team: cli.global.team.clone(),
        actor,
    })?;
    match cli.command {
        Command::Demo => unreachable!("handled above"),
        Command::Connector(cmd) => connector(&manager, cmd, out).await,
        Command::Connection(cmd) => connection(&manager, &team, cmd, out).await,
        Command::Usage(cmd) => usage(&team, cmd, out).await,
        Command::Dynamic(cmd) => dynamic(&team, cmd, out).await,
        Command::Scopes(ScopesCmd::Plan { connector, usages }) => {
            let mut needs = Vec::new();
            for file in &usages {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("read {}", file.display()))?;
                let v: serde_json::Value = serde_json::from_str(&text)
                    .with_context(|| format!("{}: not JSON", file.display()))?;
                let items = match v {
                    serde_json::Value::Array(a) => a,
                    one => vec![one],
                };
                for item in items {
                    let scopes: Vec<String> = serde_json::from_value(item["scopes"].clone())
                        .with_context(|| {
                            format!("{}: each usage needs \"scopes\": [..]", file.display())
                        })?;
                    needs.push(scopes);
                }
            }
            let plan = team.plan_scopes(&connector, &needs)?;
            out.json_or(
                serde_json::json!({"connector": connector, "scopes": plan}),
                plan.join(" "),
            );
            Ok(())
        }
        Command::Audit { connection, since } => {
            let records = team.audit(connection.as_deref(), since)?;
            let human = records
                .iter()
                .map(|r| {
                    format!(
                        "{} {:<10} {:<12} {:<28} {:<22} {}{}",
                        r.time,
                        r.team,
                        r.actor,
                        r.operation,
                        r.connection.as_deref().unwrap_or("-"),
                        r.result,
                        r.via
                            .as_ref()
                            .map(|v| format!(" via {v}"))
                            .unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            out.json_or(serde_json::to_value(&records)?, human);
            Ok(())
        }
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
    t: &TeamView<'_>,
    out: &Out,
    redirect_uri: &str,
    start: impl std::future::Future<Output = connhost::Result<connhost::manager::AuthorizeStart>>,
) -> anyhow::Result<connhost::ConnectionRecord> {
    let (listener, redirect) = callback::bind(redirect_uri).await?;
    let started = start.await?;
    out.authorize_started(&started);
    let url = callback::wait(listener, redirect, Duration::from_secs(600)).await?;
    Ok(t.authorize_finish(&started.pending_id, &url).await?)
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

async fn connection(
    m: &Manager,
    t: &TeamView<'_>,
    cmd: ConnectionCmd,
    out: &Out,
) -> anyhow::Result<()> {
    let data_of = |connector: String, data: &DataArgs| -> anyhow::Result<NewConnection> {
        Ok(NewConnection {
            connector,
            team: None,
            name: data.name.clone(),
            fields: parse_fields(&data.fields)?,
            secrets: read_secrets(&data.secrets)?,
        })
    };
    match cmd {
        ConnectionCmd::Create {
            connector,
            redirect_uri,
            data,
        } => {
            ensure_builtin(m, &connector).await?;
            let new = data_of(connector, &data)?;
            let record = match redirect_uri {
                Some(uri) => consent_and_wait(t, out, &uri, t.authorize_start(new, &uri)).await?,
                None => t.create(new).await?,
            };
            out.created(&record);
        }
        ConnectionCmd::Authorize(AuthorizeCmd::Start {
            connector,
            redirect_uri,
            data,
        }) => {
            ensure_builtin(m, &connector).await?;
            let new = data_of(connector, &data)?;
            out.authorize_started(&t.authorize_start(new, &redirect_uri).await?);
        }
        ConnectionCmd::Authorize(AuthorizeCmd::Finish {
            pending,
            redirect_url,
        }) => {
            out.created(&t.authorize_finish(&pending, &redirect_url).await?);
        }
        ConnectionCmd::Reauthorize {
            id,
            redirect_uri,
            no_wait,
        } => {
            if no_wait {
                out.authorize_started(&t.reauthorize_start(&id, &redirect_uri).await?);
            } else {
                let record = consent_and_wait(
                    t,
                    out,
                    &redirect_uri,
                    t.reauthorize_start(&id, &redirect_uri),
                )
                .await?;
                out.updated("reauthorized", &record);
            }
        }
        ConnectionCmd::List => out.connections(&t.list()?),
        ConnectionCmd::Show { id } => {
            let record = t.get(&id)?;
            let manifest = m.connector(&record.connector).ok();
            out.connection(&record, manifest.as_ref());
        }
        ConnectionCmd::Rename { id, name } => out.updated("renamed", &t.rename(&id, &name).await?),
        ConnectionCmd::Edit { id, data } => {
            let new = data_of(String::new(), &data)?;
            out.updated("edited and verified", &t.edit(&id, new).await?);
        }
        ConnectionCmd::SetSecret { id, secret } => {
            let mut one = read_secrets(std::slice::from_ref(&secret))?;
            let (name, value) = one.pop_first().context("--secret")?;
            out.updated(
                &format!("secret `{name}` replaced and verified"),
                &t.set_secret(&id, &name, value).await?,
            );
        }
        ConnectionCmd::Verify { id } => out.verified(&t.verify(&id).await?),
        ConnectionCmd::Refresh { id } => out.refreshed(&id, &t.refresh(&id).await?),
        ConnectionCmd::Check { id, scopes } => {
            t.check_scopes(&id, &scopes).await?;
            out.scopes_ok(&id, &scopes);
        }
        ConnectionCmd::Delete { id, yes, force } => {
            let record = t.get(&id)?;
            if !yes
                && !confirm(&format!(
                    "Delete connection {} ({})?",
                    record.name, record.id
                ))?
            {
                bail!("not deleted");
            }
            out.deleted(&t.delete(&id, force).await?);
        }
    }
    Ok(())
}

async fn usage(t: &TeamView<'_>, cmd: UsageCmd, out: &Out) -> anyhow::Result<()> {
    match cmd {
        UsageCmd::Add {
            consumer,
            connection,
            scopes,
            state,
        } => {
            let u = t.add_usage(Usage {
                consumer,
                connection,
                scopes,
                state: state.parse().map_err(|e: String| anyhow!("--state {e}"))?,
            })?;
            out.json_or(
                serde_json::to_value(&u)?,
                format!("usage of {} by {} registered", u.connection, u.consumer),
            );
        }
        UsageCmd::List => {
            let list = t.usages()?;
            let human = list
                .iter()
                .map(|u| {
                    format!(
                        "{:<20} {:<28} {:<10} {}",
                        u.consumer,
                        u.connection,
                        format!("{:?}", u.state).to_lowercase(),
                        u.scopes.join(",")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            out.json_or(serde_json::to_value(&list)?, human);
        }
        UsageCmd::Remove {
            consumer,
            connection,
        } => {
            let n = t.remove_usage(&consumer, connection.as_deref())?;
            out.json_or(
                serde_json::json!({"consumer": consumer, "removed": n}),
                format!("removed {n} usage(s) of {consumer}"),
            );
        }
        UsageCmd::Check { consumer, context } => {
            let checks = t.check_usage(&consumer, &parse_context(&context)?).await?;
            let human = checks
                .iter()
                .map(|c| {
                    format!(
                        "✓ {} can run with {}{}",
                        c.consumer,
                        c.connection,
                        c.via
                            .as_ref()
                            .map(|v| format!(" (via {v})"))
                            .unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            out.json_or(serde_json::to_value(&checks)?, human);
        }
    }
    Ok(())
}

async fn dynamic(t: &TeamView<'_>, cmd: DynamicCmd, out: &Out) -> anyhow::Result<()> {
    match cmd {
        DynamicCmd::Put {
            name,
            connector,
            key,
            choices,
            default,
        } => {
            let choices = parse_fields(&choices).context("--choice VALUE=CONNECTION")?;
            let d = t.put_dynamic(DynamicConnection {
                name,
                connector,
                key,
                choices,
                default,
            })?;
            out.json_or(
                serde_json::to_value(&d)?,
                format!("dynamic connection {} saved", d.name),
            );
        }
        DynamicCmd::List => {
            let list = t.dynamics()?;
            let human = list
                .iter()
                .map(|d| {
                    format!(
                        "{:<20} {:<10} by {}: {:?} default {:?}",
                        d.name, d.connector, d.key, d.choices, d.default
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            out.json_or(serde_json::to_value(&list)?, human);
        }
        DynamicCmd::Remove { name } => {
            t.remove_dynamic(&name)?;
            out.json_or(
                serde_json::json!({"name": name, "removed": true}),
                format!("removed {name}"),
            );
        }
        DynamicCmd::Resolve { name, context } => {
            let (id, via) = t.resolve(
                &format!("{}{name}", connhost::usage::DYNAMIC_PREFIX),
                &parse_context(&context)?,
            )?;
            out.json_or(serde_json::json!({"connection": id, "via": via}), id);
        }
    }
    Ok(())
}

fn parse_context(raw: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    parse_fields(raw).context("--context KEY=VALUE")
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
