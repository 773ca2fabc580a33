//! The scopes part of the connection form: the connector's catalogue as
//! the provider groups it (a checkbox per scope, with what it grants),
//! and a least-privilege plan: the union of what the selected usages of
//! this connector need (`scopes plan`), checked against the catalogue.

use super::*;
use connhost::{TeamView, Usage};

/// Form names: `scope:NAME` for a checked scope, `use:N` for a usage
/// picked for the plan, `plan` when the plan was asked for.
const SCOPE: &str = "scope:";
const USE: &str = "use:";

/// The field that holds `m`'s scopes, if it has a catalogue to pick from.
pub(super) fn catalogue_field(m: &Manifest) -> Option<&str> {
    m.scopes_field.as_deref().filter(|_| !m.scopes.is_empty())
}

/// The scopes a posted form checked, in catalogue order, as the field's
/// value (space-separated); `None` when the form had no catalogue.
pub(super) fn checked(m: &Manifest, f: &HashMap<String, String>) -> Option<String> {
    catalogue_field(m)?;
    if !f.keys().any(|k| k.starts_with(SCOPE)) && !f.contains_key("scopes-shown") {
        return None;
    }
    let picked: Vec<&str> = m
        .scopes
        .iter()
        .filter(|s| f.contains_key(&format!("{SCOPE}{}", s.name)))
        .map(|s| s.name.as_str())
        .collect();
    Some(picked.join(" "))
}

/// Whether a posted key belongs to the scopes part (not a field).
pub(super) fn is_own_key(k: &str) -> bool {
    k.starts_with(SCOPE) || k == "scopes-shown"
}

fn split(value: &str) -> Vec<String> {
    value
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// What the form shows about scopes.
pub(super) struct Section {
    /// `[{group, scopes: [{name, description, checked}]}]`, in the
    /// provider's order.
    pub groups: Vec<Value>,
    /// The usages to plan for: `[{n, consumer, connection, scopes, picked}]`.
    pub usages: Vec<Value>,
    /// The plan's outcome in words, or why it failed.
    pub note: Option<String>,
    pub error: Option<String>,
}

/// The scopes section of `m`'s form: checked from `value` (the field's
/// current value), or from the plan `query` asks for.
pub(super) fn section(
    t: Option<&TeamView>,
    m: &Manifest,
    value: Option<&str>,
    query: &HashMap<String, String>,
) -> Section {
    let usages: Vec<Usage> = t
        .and_then(|t| t.usages_of_connector(&m.id).ok())
        .unwrap_or_default();
    let picked: Vec<usize> = (0..usages.len())
        .filter(|i| query.contains_key(&format!("{USE}{i}")))
        .collect();
    let mut selected = value.map(split).unwrap_or_default();
    let (mut note, mut error) = (None, None);
    if query.contains_key("plan") {
        let needs: Vec<Vec<String>> = picked.iter().map(|&i| usages[i].scopes.clone()).collect();
        let names: Vec<&str> = picked
            .iter()
            .map(|&i| usages[i].consumer.as_str())
            .collect();
        match (picked.is_empty(), t.map(|t| t.plan_scopes(&m.id, &needs))) {
            (true, _) => error = Some("Pick at least one usage to plan for.".to_string()),
            (false, Some(Ok(plan))) => {
                note = Some(format!(
                    "Least privilege for {}: {} scope(s), checked below.",
                    names.join(", "),
                    plan.len()
                ));
                selected = plan;
            }
            (false, Some(Err(e))) => error = Some(e.to_string()),
            (false, None) => {}
        }
    }
    let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
    for s in &m.scopes {
        let item = context! {
            name => s.name,
            description => s.description,
            checked => selected.contains(&s.name),
        };
        match groups.iter_mut().find(|(g, _)| *g == s.group) {
            Some((_, items)) => items.push(item),
            None => groups.push((s.group.clone(), vec![item])),
        }
    }
    Section {
        groups: groups
            .into_iter()
            .map(|(group, scopes)| context! { group => group, scopes => scopes })
            .collect(),
        usages: usages
            .iter()
            .enumerate()
            .map(|(i, u)| {
                // The connection by its name where it is one of ours.
                let connection = t
                    .and_then(|t| t.get(&u.connection).ok())
                    .map(|r| r.name)
                    .unwrap_or(u.connection.clone());
                context! {
                    n => i,
                    consumer => u.consumer,
                    connection => connection,
                    scopes => u.scopes.join(" "),
                    picked => picked.contains(&i),
                }
            })
            .collect(),
        note,
        error,
    }
}

/// `names` as the provider groups them, each with what it grants:
/// `[{group, scopes: [{name, description}]}]`; a name outside the
/// catalogue is listed under "Other".
pub(super) fn grouped(m: &Manifest, names: &[String]) -> Vec<Value> {
    let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
    for name in names {
        let spec = m.scopes.iter().find(|s| &s.name == name);
        let group = spec.map_or("Other", |s| s.group.as_str());
        let item = context! {
            name => name,
            description => spec.map(|s| s.description.clone()),
        };
        match groups.iter_mut().find(|(g, _)| g == group) {
            Some((_, items)) => items.push(item),
            None => groups.push((group.to_string(), vec![item])),
        }
    }
    groups
        .into_iter()
        .map(|(group, scopes)| context! { group => group, scopes => scopes })
        .collect()
}

/// The scopes a connection asked for, from its catalogue field.
pub(super) fn requested(
    m: &Manifest,
    fields: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    catalogue_field(m)
        .and_then(|f| fields.get(f))
        .map(|v| split(v))
        .unwrap_or_default()
}
