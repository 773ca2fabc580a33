//! `connhost demo`: the whole life of a connection against a fake Celonis
//! served on loopback, through the real component, host and store.

use crate::{host_config, output::Out, Global};
use anyhow::Context;
use connhost::{Manager, NewConnection, Secret};
use connhost_testkit::celonis::{demo, FakeCelonis, FakeConfig};
use std::collections::BTreeMap;

fn step(n: u32, text: &str) {
    outln!("\n[{n}] {text}");
}

/// Starts the fake Celonis and points `global` at it (its CA, and
/// `acme.eu-1.celonis.cloud` connected to it); keep the value alive.
pub async fn provider_for(global: &mut Global) -> anyhow::Result<FakeCelonis> {
    let fake = FakeCelonis::start(FakeConfig::default())
        .await
        .context("start the fake Celonis provider")?;
    let home = global
        .home
        .clone()
        .context("--demo-provider needs --home (or CONNHOST_HOME)")?;
    std::fs::create_dir_all(&home)?;
    let ca = home.join("demo-ca.pem");
    std::fs::write(&ca, fake.ca_pem())?;
    global.ca_file.push(ca);
    global.connect_to.push(
        fake.connect_to(demo::DOMAIN)
            .parse()
            .map_err(anyhow::Error::msg)?,
    );
    Ok(fake)
}

pub async fn run(global: &Global, out: &Out) -> anyhow::Result<()> {
    let mut global = global.clone();
    let _cleanup = match global.home {
        Some(_) => None,
        None => {
            let dir = tempdir()?;
            global.home = Some(dir.clone());
            Some(RemoveOnDrop(dir))
        }
    };
    let fake = provider_for(&mut global).await?;

    outln!(
        "connhost demo: a fake Celonis at https://{} is served on {} (TLS, test CA).\nStore: {} (removed afterwards unless --home is given)",
        demo::DOMAIN,
        fake.addr(),
        global.home.as_ref().unwrap().display()
    );
    let m = Manager::open(host_config(&global)?)?;

    step(
        1,
        "Add the Celonis connector component (built in to this binary)",
    );
    let manifest = m.add_connector(connhost::builtin::CELONIS).await?;
    outln!(
        "    {} {}: auth kinds {}; {} scopes; may call {}",
        manifest.display_name,
        manifest.version,
        manifest
            .auth_kinds
            .iter()
            .map(|k| k.id.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        manifest.scopes.len(),
        manifest.hosts.join(", ")
    );

    step(2, "Create a connection with an App key (the secret is read like --secret app_key=env:VAR, encrypted at rest)");
    let app = m
        .create(NewConnection {
            connector: "celonis".into(),
            fields: fields(&[
                ("domain", demo::DOMAIN),
                ("api_type", "intelligence"),
                ("auth_type", "app-key"),
            ]),
            secrets: BTreeMap::from([("app_key".into(), Secret::new(demo::APP_KEY))]),
            ..Default::default()
        })
        .await?;
    outln!("    created {} ({})", app.id, app.name);

    step(3, "Verify it: GET /api/cloud, then the Intelligence API");
    out.verified(&m.verify(&app.id).await?);

    step(
        4,
        "Create an OAuth 2.0 connection (client credentials, client_secret_basic)",
    );
    let oauth = m
        .create(NewConnection {
            connector: "celonis".into(),
            name: Some("Celonis OAuth".into()),
            fields: fields(&[
                ("domain", demo::DOMAIN),
                ("api_type", "intelligence"),
                ("auth_type", "oauth2"),
                ("client_id", demo::CLIENT_ID),
                ("scopes", "studio intelligence.knowledge-models:read"),
            ]),
            secrets: BTreeMap::from([("client_secret".into(), Secret::new(demo::CLIENT_SECRET))]),
            ..Default::default()
        })
        .await?;
    outln!(
        "    created {}: token obtained, granted scopes: {}; expires in {} s",
        oauth.id,
        oauth.granted_scopes.join(" "),
        oauth.expires_at.unwrap_or(0).saturating_sub(now())
    );
    out.verified(&m.verify(&oauth.id).await?);

    step(
        5,
        "Refresh: client credentials has no refresh token, so a new token is requested",
    );
    out.refreshed(&oauth.id, &m.refresh(&oauth.id).await?);
    out.refreshed(&app.id, &m.refresh(&app.id).await?);

    step(6, "Check scopes a flow needs (least privilege)");
    match m
        .check_scopes(&oauth.id, &["studio".into(), "audit.log:read".into()])
        .await
    {
        Ok(()) => outln!("    unexpected: all scopes granted"),
        Err(e) => outln!("    ✗ {e}"),
    }

    step(
        7,
        "A wrong key gives a typed error, and the connection records it",
    );
    let bad = m
        .create(NewConnection {
            connector: "celonis".into(),
            name: Some("Celonis (revoked key)".into()),
            fields: fields(&[("domain", demo::DOMAIN), ("auth_type", "api-key")]),
            secrets: BTreeMap::from([("api_key".into(), Secret::new("revoked-key"))]),
            ..Default::default()
        })
        .await?;
    if let Err(e) = m.verify(&bad.id).await {
        outln!("    ✗ {e}");
    }

    step(8, "List connections");
    out.connections(&m.list(None)?);

    step(9, "Delete them");
    for id in [&app.id, &oauth.id, &bad.id] {
        out.deleted(&m.delete(id).await?);
    }
    outln!(
        "\nThe provider saw {} requests ({} to the token endpoint). Done.",
        fake.requests().len(),
        fake.token_requests()
    );
    Ok(())
}

fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

struct RemoveOnDrop(std::path::PathBuf);
impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("connhost-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
