//! `connector …` and `provider …`: components and the provider
//! definitions data-driven connectors read.

use crate::args::{ConnectorCmd, ProviderCmd};
use crate::output::Out;
use anyhow::{bail, Context};
use connhost::{Manager, TeamView};
use std::time::Duration;

pub async fn provider(
    m: &Manager,
    t: &TeamView<'_>,
    cmd: ProviderCmd,
    out: &Out,
) -> anyhow::Result<()> {
    match cmd {
        ProviderCmd::Add { file, connector } => {
            ensure_builtin(m, t, &connector).await?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("read {}", file.display()))?;
            let id = t.add_provider(&connector, &text).await?;
            out.emit_id("provider added", &id);
        }
        ProviderCmd::Remove { id } => {
            t.remove_provider(&id)?;
            out.emit_id("provider removed", &id);
        }
        ProviderCmd::List {
            connector,
            search,
            category,
        } => {
            ensure_builtin(m, t, &connector).await?;
            out.providers(&t.provider_catalogue(search.as_deref(), category.as_deref())?);
        }
        ProviderCmd::Show { id } => out.provider(&t.provider_detail(&id)?),
    }
    Ok(())
}

/// Adds a built-in connector on first use, so `--connector generic` works
/// without a separate `connector add`.
pub async fn ensure_builtin(m: &Manager, t: &TeamView<'_>, id: &str) -> anyhow::Result<()> {
    if m.connector(id).is_ok() {
        return Ok(());
    }
    if let Some(bytes) = builtin(id) {
        t.add_connector(bytes).await?;
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
pub async fn consent_and_wait(
    t: &TeamView<'_>,
    out: &Out,
    redirect_uri: &str,
    start: impl std::future::Future<Output = connhost::Result<connhost::AuthorizeStart>>,
) -> anyhow::Result<connhost::ConnectionRecord> {
    let (listener, redirect) = crate::callback::bind(redirect_uri).await?;
    let started = start.await?;
    out.authorize_started(&started);
    let mut callbacks = crate::callback::listen(listener, redirect);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    loop {
        let url = callbacks.next(deadline).await?;
        match t.authorize_finish(&started.pending_id, &url).await {
            // Any local page can hit the listener: a callback without this
            // flow's state is ignored (the flow is not spent) and we wait on.
            Err(connhost::Error::Authorization { error, .. }) if error == "state_mismatch" => {
                eprintln!("ignored a callback that does not carry this authorization's state; still waiting");
            }
            other => {
                // Give the browser its page before the listener goes away.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Ok(other?);
            }
        }
    }
}

pub async fn run(
    m: &Manager,
    t: &TeamView<'_>,
    cmd: ConnectorCmd,
    out: &Out,
) -> anyhow::Result<()> {
    match cmd {
        ConnectorCmd::Add { path } => {
            let bytes = match path.strip_prefix("builtin:") {
                Some(name) => match builtin(name) {
                    Some(b) => b.to_vec(),
                    None => bail!(
                        "unknown built-in connector `{path}` (have: builtin:celonis, builtin:generic)"
                    ),
                },
                None => {
                    let p = path.as_str();
                    std::fs::read(p).with_context(|| format!("read {p}"))?
                }
            };
            let manifest = t.add_connector(&bytes).await?;
            out.connector_added(&manifest);
        }
        ConnectorCmd::List => out.connectors(&m.connectors()?),
        ConnectorCmd::Show { id } => out.manifest(&m.connector(&id)?),
    }
    Ok(())
}
