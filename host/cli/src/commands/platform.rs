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
