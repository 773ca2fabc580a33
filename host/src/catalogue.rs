//! The shipped provider catalogue, as the host shows it: list, search by
//! name or category, show one provider's fields, scopes and hosts. The
//! files are the generic connector's (`component/generic/providers/`);
//! the connector parses and enforces them, this only reads them for
//! people, so a field it does not know is simply not shown.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use std::sync::OnceLock;

const SHIPPED: &[&str] = include!(concat!(env!("OUT_DIR"), "/catalogue.rs"));

/// One provider in a list.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ProviderSummary {
    /// Give it as `--field provider=ID`.
    pub id: String,
    pub display_name: String,
    /// `crm`, `support`, `dev-tools`, … (`other` when not given).
    pub category: String,
    /// The definition's `auth_mode` (`oauth2`, `api_key`, …); also the
    /// connection's `auth_mode` field.
    pub auth_mode: String,
    /// How `verify` proves a connection: `endpoint`, `introspection`, or
    /// the round trip used instead (`refresh`, `token request`, `key exchange`).
    pub verify: String,
    /// The connection fields its URLs use (`subdomain`, `region`, …).
    pub fields: Vec<String>,
    /// `shipped`, or `added` by the team.
    pub source: String,
    /// The provider's page the definition was written from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docs: Option<String>,
}

/// A field a provider's connections need.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ProviderField {
    pub name: String,
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// `dns_label`, `hostname`, `id`, or `one_of`.
    pub rule: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub one_of: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// One scope, grouped as the provider's docs group it.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ProviderScope {
    pub name: String,
    pub group: String,
    pub description: String,
}

/// Everything a user needs to connect one provider.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ProviderDetail {
    #[serde(flatten)]
    pub summary: ProviderSummary,
    pub field_specs: Vec<ProviderField>,
    pub scopes: Vec<ProviderScope>,
    pub default_scopes: Vec<String>,
    /// URL templates the connection calls (`https://{subdomain}.zendesk.com`).
    pub hosts: Vec<String>,
    /// Whether it also runs on the customer's own host.
    pub self_hosted: bool,
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// Reads a definition for display; `None` when it is not a JSON object with an id.
pub fn describe(json: &str, source: &str) -> Option<ProviderDetail> {
    let d: Value = serde_json::from_str(json).ok()?;
    let id = text(&d["id"])?;
    let mode = text(&d["auth_mode"]).unwrap_or_default();
    let verify = if d["verify"].is_object() {
        "endpoint"
    } else if d["introspection_url"].is_string() {
        "introspection"
    } else {
        match mode.as_str() {
            "oauth2" => "refresh",
            "key_exchange" => "key exchange",
            _ => "token request",
        }
    };
    let field_specs: Vec<ProviderField> = d["fields"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, f)| ProviderField {
            name: name.clone(),
            label: text(&f["label"]).unwrap_or_else(|| name.clone()),
            help: text(&f["help"]),
            rule: text(&f["rule"]).unwrap_or_else(|| "one_of".into()),
            one_of: f["one_of"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(text)
                .collect(),
            default: text(&f["default"]),
        })
        .collect();
    let scopes = d["scopes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| match s {
            Value::String(n) => ProviderScope {
                name: n.clone(),
                group: String::new(),
                description: String::new(),
            },
            o => ProviderScope {
                name: text(&o["name"]).unwrap_or_default(),
                group: text(&o["group"]).unwrap_or_default(),
                description: text(&o["description"]).unwrap_or_default(),
            },
        })
        .collect();
    let mut hosts: Vec<String> = Vec::new();
    for u in [&d["api_base"], &d["verify"]["url"]]
        .into_iter()
        .chain(d["hosts"].as_array().into_iter().flatten())
    {
        if let Some(u) = u.as_str() {
            let origin = match u
                .find("://")
                .and_then(|i| u[i + 3..].find('/').map(|j| i + 3 + j))
            {
                Some(end) => &u[..end],
                None => u,
            };
            if !hosts.iter().any(|h| h == origin) {
                hosts.push(origin.to_string());
            }
        }
    }
    Some(ProviderDetail {
        summary: ProviderSummary {
            display_name: text(&d["display_name"]).unwrap_or_else(|| id.clone()),
            id,
            category: text(&d["category"]).unwrap_or_else(|| "other".into()),
            auth_mode: mode,
            verify: verify.into(),
            fields: field_specs.iter().map(|f| f.name.clone()).collect(),
            source: source.into(),
            docs: text(&d["docs"]),
        },
        field_specs,
        scopes,
        default_scopes: d["default_scopes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(text)
            .collect(),
        hosts,
        self_hosted: d["self_hosted"].as_bool().unwrap_or(false),
    })
}

/// Every shipped provider, by id.
pub fn shipped() -> &'static [ProviderDetail] {
    static ALL: OnceLock<Vec<ProviderDetail>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all: Vec<ProviderDetail> = SHIPPED
            .iter()
            .filter_map(|j| describe(j, "shipped"))
            .collect();
        all.sort_by(|a, b| a.summary.id.cmp(&b.summary.id));
        all
    })
}

/// Whether `p` matches a search: `query` in its id or name (any case),
/// `category` exactly.
pub fn matches(p: &ProviderSummary, query: Option<&str>, category: Option<&str>) -> bool {
    let q = query.map(|q| q.trim().to_lowercase()).unwrap_or_default();
    (q.is_empty() || p.id.to_lowercase().contains(&q) || p.display_name.to_lowercase().contains(&q))
        && category.is_none_or(|c| p.category == c)
}

/// The catalogue as a Markdown table (`component/generic/PROVIDERS.md`).
pub fn markdown() -> String {
    use std::collections::BTreeMap;
    let all = shipped();
    let mut by_mode: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_category: BTreeMap<&str, usize> = BTreeMap::new();
    for p in all {
        *by_mode.entry(p.summary.auth_mode.as_str()).or_default() += 1;
        *by_category.entry(p.summary.category.as_str()).or_default() += 1;
    }
    let counts = |m: &BTreeMap<&str, usize>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = format!(
        "# Shipped providers\n\nGenerated from `component/generic/providers/` by `CONNHOST_UPDATE_DOCS=1 cargo test -p connhost catalogue` (a test fails when this file is stale). Format: [FORMAT.md](FORMAT.md).\n\n{} providers. By auth mode: {}. By category: {}.\n\nEvery one runs in `tests/all/catalogue.rs` against a fake generated from its definition (create or consent, verify, refresh where renewable, a request through the connection).\n\n| Provider | id | Category | Auth mode | Templated fields | Verify | Docs |\n|---|---|---|---|---|---|---|\n",
        all.len(),
        counts(&by_mode),
        counts(&by_category)
    );
    for p in all {
        let x = &p.summary;
        let docs = x
            .docs
            .as_deref()
            .map(|d| format!("[docs]({d})"))
            .unwrap_or_default();
        s.push_str(&format!(
            "| {} | `{}` | {} | {} | {} | {} | {} |\n",
            x.display_name.replace('|', "\\|"),
            x.id,
            x.category,
            x.auth_mode,
            x.fields.join(", "),
            x.verify,
            docs
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_document_is_current() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../component/generic/PROVIDERS.md"
        );
        let want = markdown();
        if std::env::var_os("CONNHOST_UPDATE_DOCS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "component/generic/PROVIDERS.md is stale: run CONNHOST_UPDATE_DOCS=1 cargo test -p connhost catalogue"
        );
    }

    #[test]
    fn the_catalogue_is_searchable_by_name_and_category() {
        let all = shipped();
        assert!(all.len() >= 150, "{}", all.len());
        let zendesk = all.iter().find(|p| p.summary.id == "zendesk").unwrap();
        assert_eq!(zendesk.summary.category, "support");
        assert_eq!(zendesk.summary.fields, vec!["subdomain".to_string()]);
        assert!(zendesk
            .hosts
            .iter()
            .any(|h| h.contains("{subdomain}.zendesk.com")));
        let hits: Vec<&str> = all
            .iter()
            .filter(|p| matches(&p.summary, Some("ZEN"), None))
            .map(|p| p.summary.id.as_str())
            .collect();
        assert!(hits.contains(&"zendesk"), "{hits:?}");
        assert!(all
            .iter()
            .filter(|p| matches(&p.summary, None, Some("crm")))
            .all(|p| p.summary.category == "crm"));
        assert!(!all
            .iter()
            .any(|p| matches(&p.summary, Some("zendesk"), Some("crm"))));
        // A definition in the old format reads too.
        let github = all.iter().find(|p| p.summary.id == "github").unwrap();
        assert_eq!(github.summary.verify, "endpoint");
    }
}
