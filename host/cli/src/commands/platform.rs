//! `usage …`, `dynamic …`, `scopes plan`, `audit`: the platform side.

use crate::args::{DynamicCmd, ScopesCmd, UsageCmd};
use crate::input::{parse_context, parse_fields};
use crate::output::Out;
use anyhow::{anyhow, Context};
use connhost::{DynamicConnection, TeamView, Usage};

pub async fn usage(t: &TeamView<'_>, cmd: UsageCmd, out: &Out) -> anyhow::Result<()> {
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

pub fn dynamic(t: &TeamView<'_>, cmd: DynamicCmd, out: &Out) -> anyhow::Result<()> {
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
                &format!("{}{name}", connhost::DYNAMIC_PREFIX),
                &parse_context(&context)?,
            )?;
            out.json_or(serde_json::json!({"connection": id, "via": via}), id);
        }
    }
    Ok(())
}

pub fn scopes(team: &TeamView<'_>, cmd: ScopesCmd, out: &Out) -> anyhow::Result<()> {
    let ScopesCmd::Plan { connector, usages } = cmd;
    let mut needs = Vec::new();
    for file in &usages {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", file.display()))?;
        let items = match v {
            serde_json::Value::Array(a) => a,
            one => vec![one],
        };
        for item in items {
            let scopes: Vec<String> =
                serde_json::from_value(item["scopes"].clone()).with_context(|| {
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

pub fn audit(
    team: &TeamView<'_>,
    connection: Option<&str>,
    since: Option<u64>,
    out: &Out,
) -> anyhow::Result<()> {
    let records = team.audit(connection, since)?;
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

/// `key rotate`: see [`connhost::rotate_key`].
pub fn key_rotate(cfg: connhost::HostConfig, out: &Out) -> anyhow::Result<()> {
    const NEW_KEY_ENV: &str = "CONNHOST_NEW_MASTER_KEY";
    if cfg.database.is_some() {
        anyhow::bail!(
            "key rotation runs on the embedded store only: `store migrate` the database to a directory, rotate there, and migrate it back"
        );
    }
    let new = match std::env::var(NEW_KEY_ENV) {
        Ok(k) => Some(connhost::MasterKey::from_base64(&k).map_err(connhost::Error::from)?),
        Err(_) => None,
    };
    let keys = match (cfg.master_key, new) {
        (Some(old), Some(new)) => connhost::NewKey::Given { old, new },
        (None, None) => connhost::NewKey::KeyFile,
        (Some(_), None) => anyhow::bail!(
            "{} is set: give the new key in {NEW_KEY_ENV} (base64 of 32 random bytes)",
            connhost::MASTER_KEY_ENV
        ),
        (None, Some(_)) => anyhow::bail!(
            "{NEW_KEY_ENV} needs {} (the current key); a store keyed by master.key gets a new key file",
            connhost::MASTER_KEY_ENV
        ),
    };
    let given = matches!(keys, connhost::NewKey::Given { .. });
    // Test hook: the crash tests abort the process after N durable steps.
    let crash_after = std::env::var("CONNHOST_TEST_ROTATE_CRASH_AFTER")
        .ok()
        .and_then(|n| n.parse().ok());
    let report = connhost::rotate_key(&cfg.home, keys, crash_after)?;
    let mut text = format!(
        "key rotated: the store now uses key {}; {} files and {} audit records re-wrapped{}",
        report.key_id,
        report.files,
        report.audit_records,
        if report.resumed {
            " (finished an interrupted rotation)"
        } else {
            ""
        }
    );
    if given {
        text.push_str(&format!(
            "\nset {} to the new key: the old key no longer opens this store",
            connhost::MASTER_KEY_ENV
        ));
    }
    out.json_or(serde_json::to_value(&report)?, text);
    Ok(())
}

pub fn store_check(m: &connhost::Manager, out: &Out) -> anyhow::Result<()> {
    let quarantined = m.quarantined()?;
    let refused = m.refused_documents()?;
    let audit = m.verify_audit()?;
    let report = serde_json::json!({
        "quarantined": quarantined,
        "refused": refused,
        "audit": audit,
    });
    let mut text = match &audit.broken {
        None => format!("audit log intact: {} records verify", audit.verified),
        Some((line, why)) => format!("audit log broken at line {line}: {why}"),
    };
    if quarantined.is_empty() {
        text.push_str("\nno quarantined records");
    } else {
        text.push_str(&format!(
            "\n{} quarantined record file(s) in quarantine/:",
            quarantined.len()
        ));
        for q in &quarantined {
            text.push_str(&format!("\n  {q}"));
        }
    }
    if refused.is_empty() {
        text.push_str("\nno refused documents");
    } else {
        text.push_str(&format!(
            "\n{} document(s) that reads refuse:",
            refused.len()
        ));
        for r in &refused {
            text.push_str(&format!("\n  {}: {}", r.path, r.problem));
        }
    }
    if audit.broken.is_some() || !quarantined.is_empty() || !refused.is_empty() {
        anyhow::bail!("{text}");
    }
    out.json_or(report, text);
    Ok(())
}

/// A store location of `store migrate`: its backend and local home.
fn location(
    spec: &str,
    scratch: &std::path::Path,
) -> anyhow::Result<(std::sync::Arc<dyn connhost::Backend>, std::path::PathBuf)> {
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        if url::Url::parse(spec).is_ok_and(|u| u.password().is_some()) {
            anyhow::bail!(
                "a database URL on the command line must not hold a password: set PGPASSWORD"
            );
        }
        let db = connhost::PostgresBackend::connect(spec)?;
        return Ok((std::sync::Arc::new(db), scratch.to_path_buf()));
    }
    let dir = std::path::PathBuf::from(spec.strip_prefix("file://").unwrap_or(spec));
    std::fs::create_dir_all(&dir)?;
    Ok((std::sync::Arc::new(connhost::FileBackend::new(&dir)), dir))
}

/// `store migrate`: see [`connhost::store_migrate`].
pub fn store_migrate(
    g: &crate::args::Global,
    from: &str,
    to: &str,
    out: &Out,
) -> anyhow::Result<()> {
    // A database location needs a local home only for a compile cache.
    let scratch = std::env::temp_dir().join(format!("connhost-migrate-{}", std::process::id()));
    let (src, src_home) = location(from, &scratch.join("from"))?;
    let (dst, dst_home) = location(to, &scratch.join("to"))?;
    let dst_is_file = dst.kind() == "file";
    let key = match std::env::var(connhost::MASTER_KEY_ENV) {
        Ok(k) => connhost::MasterKey::from_base64(&k).map_err(connhost::Error::from)?,
        Err(_) => match src.kind() {
            "file" => connhost::read_key_file(&src_home.join("master.key"))?.ok_or_else(|| {
                anyhow::anyhow!(
                    "{} has no master.key: set {}",
                    src_home.display(),
                    connhost::MASTER_KEY_ENV
                )
            })?,
            _ => anyhow::bail!("set {} to the store's key", connhost::MASTER_KEY_ENV),
        },
    };
    let _ = g;
    let report = connhost::store_migrate(src, &src_home, dst, &dst_home, &key);
    let _ = std::fs::remove_dir_all(&scratch);
    let report = report?;
    let text = format!(
        "migrated {} documents ({} written by this run) and {} log(s); at the destination {} connections open and {} audit records verify\nthe master key was not copied: give the destination's processes CONNHOST_MASTER_KEY{}",
        report.documents,
        report.copied,
        report.logs,
        report.connections_verified,
        report.audit_records,
        if dst_is_file { " or a master.key in the directory" } else { "" },
    );
    out.json_or(serde_json::to_value(&report)?, text);
    Ok(())
}

pub fn audit_verify(m: &connhost::Manager, out: &Out) -> anyhow::Result<()> {
    let report = m.verify_audit()?;
    if let Some((line, why)) = &report.broken {
        anyhow::bail!(
            "audit log broken at line {line}: {why} ({} records before it verify)",
            report.verified
        );
    }
    out.json_or(
        serde_json::to_value(&report)?,
        format!("audit log intact: {} records verify", report.verified),
    );
    Ok(())
}
