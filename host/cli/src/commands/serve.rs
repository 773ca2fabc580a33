//! `connhost serve` and `connhost apikey`.

use crate::args::ApikeyCmd;
use crate::output::Out;
use anyhow::Context;
use connhost::Manager;
use serde_json::json;
use std::sync::Arc;

/// Serves the API until Ctrl-C or SIGTERM, then finishes requests in
/// flight. On first start it makes an operator key and writes it to
/// `home/operator.key` (0600), the one place it is ever shown.
pub async fn run(
    manager: Manager,
    listen: &str,
    public_url: Option<String>,
    renew_every: Option<std::time::Duration>,
    limits: &crate::args::ServeLimits,
    out: &Out,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let key_file = manager.home().join("operator.key");
    if manager.api_keys(None)?.iter().all(|k| k.team.is_some()) {
        let (_, token) = manager.create_api_key(None, "first operator key")?;
        write_private(&key_file, token.expose())?;
    }
    let public_url = public_url.unwrap_or_else(|| format!("http://{addr}"));
    let mut config = connhost_server::ServerConfig::new(public_url.clone());
    config.renew_every = renew_every;
    let secs = std::time::Duration::from_secs;
    config.limits = connhost_server::limits::Limits {
        total: limits.max_requests.max(1),
        per_team: limits.requests_per_team.max(1),
        anonymous_per_client: limits.anonymous_per_client.max(1),
        upload_bytes: limits.max_upload_bytes,
        bodies_in_flight_bytes: limits.bodies_in_flight_bytes,
        body_timeout: secs(limits.body_timeout_secs.max(1)),
        ..Default::default()
    };
    let conns = connhost_server::listen::ConnLimits {
        max_connections_per_client: limits.connections_per_client.max(1),
        header_timeout: secs(limits.header_timeout_secs.max(1)),
        ..Default::default()
    };
    let callback = config.callback_url();
    let router = connhost_server::router(Arc::new(manager), config);
    out.json_or(
        json!({"url": public_url, "listen": addr.to_string(), "oauth_callback": callback, "operator_key_file": key_file}),
        format!(
            "connhost serve: listening on http://{addr} (public URL {public_url})\n  OAuth redirect URI: {callback}\n  operator key: {} (make team keys with `connhost apikey create --team T`)",
            key_file.display()
        ),
    );
    connhost_server::listen::serve(listener, router, conns, shutdown()).await?;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("write {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    Ok(())
}

pub fn apikey(m: &Manager, cmd: ApikeyCmd, out: &Out) -> anyhow::Result<()> {
    match cmd {
        ApikeyCmd::Create {
            team,
            operator,
            name,
            role,
        } => {
            if team.is_none() && !operator {
                anyhow::bail!("give --team TEAM, or --operator for an operator key");
            }
            // The global `--team` (default `default`) fills `team` too, so
            // `--operator` alone would make a key of team `default`.
            let team = if operator { None } else { team };
            let (key, token) = m.create_api_key_as(team.as_deref(), &name, role.parse()?)?;
            // The one time the key is shown: on stdout, for the operator
            // to store; never in logs.
            // The key alone on stdout (`KEY=$(connhost apikey create …)`).
            out.json_or(
                json!({"id": key.id, "team": key.team, "name": key.name, "role": key.team.as_ref().map(|_| key.role.as_str()), "key": token.expose()}),
                token.expose().to_string(),
            );
            eprintln!(
                "keep it now: it is shown once ({} for {})",
                key.id,
                key.team.as_deref().unwrap_or("the operator")
            );
        }
        ApikeyCmd::List { team } => {
            let keys = m.api_keys(team.as_deref())?;
            let lines: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}  {:<12} {:<7} {}{}",
                        k.id,
                        k.team.as_deref().unwrap_or("(operator)"),
                        if k.team.is_some() {
                            k.role.as_str()
                        } else {
                            ""
                        },
                        k.name,
                        if k.revoked_at.is_some() {
                            "  revoked"
                        } else {
                            ""
                        }
                    )
                })
                .collect();
            out.json_or(serde_json::to_value(&keys)?, lines.join("\n"));
        }
        ApikeyCmd::Revoke { id } => {
            let k = m.revoke_api_key(&id)?;
            out.json_or(serde_json::to_value(&k)?, format!("revoked {}", k.id));
        }
    }
    Ok(())
}
