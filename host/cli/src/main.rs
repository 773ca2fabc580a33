//! `connhost`: manage connectors and connections from the command line.
//! Raw flags (`args`) → one library call (`commands`) → `output`. Errors
//! reach the user in one place, as text or `--json`. Only the library's
//! public API is used.

#[macro_use]
mod output;
mod args;
mod callback;
mod commands;
mod demo;
mod input;

use anyhow::{anyhow, Context};
use args::{Cli, Command, Global};
use clap::Parser;
use connhost::{Caller, HostConfig, Manager, MasterKey};
use output::Out;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    // SIGPIPE stays ignored (Rust's default): a provider or webhook that
    // closes its socket mid-write must be a `network` error, not the end
    // of the process. A closed stdout (`| head`) is handled where the CLI
    // prints (`output::print_line`).
    let cli = Cli::parse();
    init_logging(cli.global.verbose);
    let out = Out::new(cli.global.json);
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    // A command needs little; the server gets a worker per core.
    if !matches!(cli.command, Command::Serve { .. }) {
        rt.worker_threads(2);
    }
    let rt = match rt.enable_all().build() {
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

fn host_config(g: &Global) -> anyhow::Result<HostConfig> {
    let home = match &g.home {
        Some(h) => h.clone(),
        None => dirs::data_dir()
            .context("no data directory for this user: pass --home or set CONNHOST_HOME")?
            .join("connhost"),
    };
    let mut cfg = HostConfig::new(home);
    cfg.database = g.database.clone();
    if let Some(url) = &cfg.database {
        let from_env = std::env::var("CONNHOST_DATABASE_URL").ok().as_ref() == Some(url);
        let has_password = url::Url::parse(url).is_ok_and(|u| u.password().is_some());
        if has_password && !from_env {
            anyhow::bail!(
                "--database has a password: other users can read a command line; set CONNHOST_DATABASE_URL or PGPASSWORD instead"
            );
        }
    }
    if let Ok(k) = std::env::var(connhost::MASTER_KEY_ENV) {
        cfg.master_key = Some(MasterKey::from_base64(&k).map_err(connhost::Error::from)?);
    }
    cfg.net.connect_to = g.connect_to.clone();
    for ca in &g.ca_file {
        cfg.net
            .add_ca_file(ca)
            .map_err(|e| anyhow!("--ca-file: {e}"))?;
    }
    cfg.net.default_timeout = Duration::from_millis(g.http_timeout_ms);
    cfg.runtime.call_timeout = Duration::from_millis(g.call_timeout_ms);
    cfg.runtime.max_calls_per_team = g.calls_per_team.max(1);
    cfg.runtime.max_concurrent_calls = g.max_calls.max(1);
    cfg.runtime.guest_cpu_per_team = g.guest_cpu_per_team.clamp(0.01, 1024.0);
    // Capped: a margin beyond a day only means "always renew".
    cfg.refresh_margin = Duration::from_secs(g.refresh_margin_secs.min(86_400));
    Ok(cfg)
}

async fn run(cli: Cli, out: &Out) -> anyhow::Result<()> {
    match &cli.command {
        Command::Demo => return demo::run(&cli.global, out).await,
        Command::Store(args::StoreCmd::Migrate { from, to }) => {
            return commands::platform::store_migrate(&cli.global, from, to, out)
        }
        // Before opening: an interrupted rotation keeps the store closed.
        Command::Key(args::KeyCmd::Rotate) => {
            return commands::platform::key_rotate(host_config(&cli.global)?, out)
        }
        Command::Serve {
            listen,
            public_url,
            demo_provider,
            renew_every_secs,
            limits,
        } => {
            let mut global = cli.global.clone();
            let _fake = match demo_provider {
                true => {
                    let fake = demo::provider_for(&mut global).await?;
                    eprintln!(
                        "demo provider: a fake Celonis answers for https://{} on {}",
                        connhost_testkit::celonis::demo::DOMAIN,
                        fake.addr()
                    );
                    Some(fake)
                }
                false => None,
            };
            let manager = Manager::open(host_config(&global)?)?;
            let renew = (*renew_every_secs > 0).then(|| Duration::from_secs(*renew_every_secs));
            return commands::serve::run(manager, listen, public_url.clone(), renew, limits, out)
                .await;
        }
        _ => {}
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
        Command::Demo
        | Command::Key(_)
        | Command::Serve { .. }
        | Command::Store(args::StoreCmd::Migrate { .. }) => unreachable!("handled above"),
        Command::Apikey(cmd) => commands::serve::apikey(&manager, cmd, out),
        Command::Store(args::StoreCmd::Check) => commands::platform::store_check(&manager, out),
        Command::Connector(cmd) => commands::connector::run(&manager, &team, cmd, out).await,
        Command::Provider(cmd) => commands::connector::provider(&manager, &team, cmd, out).await,
        Command::Connection(cmd) => commands::connection::run(&manager, &team, cmd, out).await,
        Command::Usage(cmd) => commands::platform::usage(&team, cmd, out).await,
        Command::Dynamic(cmd) => commands::platform::dynamic(&team, cmd, out),
        Command::Scopes(cmd) => commands::platform::scopes(&team, cmd, out),
        Command::Audit {
            action: Some(args::AuditCmd::Verify),
            ..
        } => commands::platform::audit_verify(&manager, out),
        Command::Audit {
            action: None,
            connection,
            since,
        } => commands::platform::audit(&team, connection.as_deref(), since, out),
    }
}
