//! Connection fields a definition declares (`{subdomain}`), and the URL,
//! header and parameter templates that use them. A template's host stays
//! inside what the definition declares: a placeholder only fills labels
//! before a fixed domain of at least two labels, or the whole host of a
//! self-hosted service. Values are checked against their rule before any
//! template is filled, so a value can never add a label, a path segment
//! or a header.

use connhost_sdk::{invalid, ConnectorError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Field names a definition may declare: the generic connector's manifest
/// lists them, so the host accepts them on create like any field.
pub const TEMPLATE_FIELDS: &[&str] = &[
    "subdomain",
    "region",
    "host",
    "instance",
    "account",
    "tenant",
    "site",
    "environment",
    "workspace",
    "version",
];

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// One RFC 1123 label.
    DnsLabel,
    /// A full public host name (self-hosted services only).
    Hostname,
    /// `[A-Za-z0-9._-]{1,128}`.
    Id,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDecl {
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<Rule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub one_of: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

pub type Values = BTreeMap<String, String>;

fn bad(field: &str, reason: impl Into<String>) -> ConnectorError {
    invalid(&format!("definition.{field}"), reason)
}

fn is_label(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 63
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !v.starts_with('-')
        && !v.ends_with('-')
}

fn is_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl FieldDecl {
    /// Checks the declaration itself.
    pub fn validate(&self, name: &str, self_hosted: bool) -> Result<(), ConnectorError> {
        let at = format!("fields.{name}");
        if !TEMPLATE_FIELDS.contains(&name) {
            return Err(bad(
                &at,
                format!(
                    "is not a field the generic connector offers; use one of {}",
                    TEMPLATE_FIELDS.join(", ")
                ),
            ));
        }
        if self.label.trim().is_empty() {
            return Err(bad(&format!("{at}.label"), "must not be empty"));
        }
        match (self.rule, self.one_of.is_empty()) {
            (None, true) => {
                return Err(bad(
                    &at,
                    "needs a `rule` (dns_label, hostname, id) or a `one_of` list",
                ))
            }
            (Some(_), false) => return Err(bad(&at, "give `rule` or `one_of`, not both")),
            (Some(Rule::Hostname), _) if !self_hosted => {
                return Err(bad(
                    &format!("{at}.rule"),
                    "`hostname` is for self-hosted services only: set \"self_hosted\": true",
                ))
            }
            _ => {}
        }
        for v in &self.one_of {
            if !is_id(v) {
                return Err(bad(
                    &format!("{at}.one_of"),
                    format!("`{v}` must be letters, digits, `.`, `_` or `-`"),
                ));
            }
        }
        if let Some(d) = &self.default {
            self.check(name, d).map_err(|_| {
                bad(
                    &format!("{at}.default"),
                    format!("`{d}` breaks the field's own rule"),
                )
            })?;
        }
        Ok(())
    }

    /// Whether the value may fill a host label.
    pub fn fits_a_label(&self) -> bool {
        match self.rule {
            Some(Rule::DnsLabel) => true,
            Some(_) => false,
            None => self.one_of.iter().all(|v| is_label(v)),
        }
    }

    /// Checks a value the user gave; the error names the field.
    pub fn check(&self, name: &str, v: &str) -> Result<(), ConnectorError> {
        let ok = match self.rule {
            Some(Rule::DnsLabel) => is_label(v),
            Some(Rule::Id) => is_id(v),
            Some(Rule::Hostname) => {
                // A name, not an address; not a local-only name. Egress
                // still checks every address it resolves to.
                let name = v.to_ascii_lowercase();
                let tld = name.rsplit('.').next().unwrap_or_default();
                connhost_policy::origin::is_host_name(&name)
                    && name.contains('.')
                    && name.len() <= 253
                    && name.parse::<std::net::Ipv4Addr>().is_err()
                    && !crate::validate::LOCAL_TLDS.contains(&tld)
            }
            None => self.one_of.iter().any(|o| o == v),
        };
        if ok {
            return Ok(());
        }
        let want = match self.rule {
            Some(Rule::DnsLabel) => {
                "one DNS label: letters, digits and inner hyphens, at most 63".to_string()
            }
            Some(Rule::Id) => "letters, digits, `.`, `_` or `-`, at most 128".to_string(),
            Some(Rule::Hostname) => {
                "a host name such as git.example.com (no scheme, path or port)".to_string()
            }
            None => format!("one of {}", self.one_of.join(", ")),
        };
        Err(invalid(
            name,
            format!("{}: must be {want}, got `{v}`", self.label),
        ))
    }

    /// A value that passes the rule, for checking templates.
    fn sample(&self) -> String {
        match self.rule {
            Some(Rule::Hostname) => "example.com".into(),
            Some(_) => "a".into(),
            None => self.one_of.first().cloned().unwrap_or_default(),
        }
    }
}

/// The placeholder names in `text`, in order; unbalanced braces are an error.
pub fn placeholders<'a>(field: &str, text: &'a str) -> Result<Vec<&'a str>, ConnectorError> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            return Err(bad(field, format!("`{text}`: a `}}` without its `{{`")));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| bad(field, format!("`{text}`: a `{{` without its `}}`")))?;
        let name = &after[..close];
        if name.is_empty() || name.contains('{') {
            return Err(bad(
                field,
                format!("`{text}`: a placeholder is `{{field}}`"),
            ));
        }
        out.push(name);
        rest = &after[close + 1..];
    }
    Ok(out)
}

/// Fills `text` from `values` (every placeholder must be there).
pub fn fill(text: &str, values: &Values) -> String {
    let mut out = text.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// What a URL template's origin can be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    /// No placeholder in the host.
    Exact,
    /// `https://*.suffix[:port]`.
    Under(String),
    /// The whole host from this field (self-hosted).
    Field(String),
    /// One of these origins: every host placeholder is a `one_of` field
    /// (`https://api.{site}` with `site` one of `datadoghq.com`, `datadoghq.eu`).
    Finite(Vec<String>),
}

/// Hosts a `one_of` template may expand to.
const MAX_HOSTS: usize = 64;

/// Checks a URL template against the declared fields; returns the sample
/// URL (placeholders filled with valid values) and the origin's shape.
pub fn check_url(
    field: &str,
    tpl: &str,
    decls: &BTreeMap<String, FieldDecl>,
    self_hosted: bool,
) -> Result<(String, Shape), ConnectorError> {
    let names = placeholders(field, tpl)?;
    let mut sample = Values::new();
    for n in &names {
        let d = decls.get(*n).ok_or_else(|| {
            bad(
                field,
                format!("`{tpl}` uses `{{{n}}}`: declare it under \"fields\""),
            )
        })?;
        sample.insert(n.to_string(), d.sample());
    }
    let Some(rest) = tpl.strip_prefix("https://") else {
        return Err(bad(field, format!("`{tpl}` must start with https://")));
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..host_end];
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, Some(p)),
        _ => (authority, None),
    };
    if port.is_some_and(|p| p.contains('{')) {
        return Err(bad(
            field,
            format!("`{tpl}`: the port cannot be a placeholder"),
        ));
    }
    let host_fields = placeholders(field, host)?;
    let finite =
        !host_fields.is_empty() && host_fields.iter().all(|n| !decls[*n].one_of.is_empty());
    let shape = if !host.contains('{') {
        Shape::Exact
    } else if finite {
        // Every value is listed: the host is one of finitely many, each
        // checked as a public host name when the definition is parsed.
        let mut hosts = vec![host.to_string()];
        for n in &host_fields {
            hosts = hosts
                .iter()
                .flat_map(|h| {
                    decls[*n]
                        .one_of
                        .iter()
                        .map(move |v| h.replace(&format!("{{{n}}}"), v))
                })
                .collect();
            if hosts.len() > MAX_HOSTS {
                return Err(bad(
                    field,
                    format!("`{tpl}`: more than {MAX_HOSTS} hosts from its fields' values"),
                ));
            }
        }
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        Shape::Finite(hosts.iter().map(|h| format!("https://{h}{port}")).collect())
    } else if let Some(name) = host
        .strip_prefix('{')
        .and_then(|h| h.strip_suffix('}'))
        .filter(|n| !n.contains(['{', '}']))
    {
        let d = &decls[name];
        if !self_hosted || d.rule != Some(Rule::Hostname) {
            return Err(bad(
                field,
                format!("`{tpl}`: a whole-host placeholder needs \"self_hosted\": true and a field with rule `hostname`"),
            ));
        }
        Shape::Field(name.to_string())
    } else {
        let labels: Vec<&str> = host.split('.').collect();
        let last = labels.iter().rposition(|l| l.contains('{')).unwrap_or(0);
        let suffix = &labels[last + 1..];
        if suffix.len() < 2 {
            return Err(bad(
                field,
                format!("`{tpl}`: a placeholder in the host must come before a fixed domain of at least two labels (https://{{subdomain}}.example.com)"),
            ));
        }
        for n in placeholders(field, host)? {
            if !decls[n].fits_a_label() {
                return Err(bad(
                    field,
                    format!("`{tpl}`: `{{{n}}}` fills a host label, so its rule must be dns_label (or one_of of labels)"),
                ));
            }
        }
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        Shape::Under(format!("https://*.{}{port}", suffix.join(".")))
    };
    Ok((fill(tpl, &sample), shape))
}

/// Checks a header or parameter value template: declared fields only.
pub fn check_value(
    field: &str,
    tpl: &str,
    decls: &BTreeMap<String, FieldDecl>,
) -> Result<(), ConnectorError> {
    for n in placeholders(field, tpl)? {
        if !decls.contains_key(n) {
            return Err(bad(
                field,
                format!("`{tpl}` uses `{{{n}}}`: declare it under \"fields\""),
            ));
        }
    }
    if tpl.chars().any(|c| c.is_control() && c != '\t') {
        return Err(bad(field, "must not hold control characters (CR, LF, …)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decls() -> BTreeMap<String, FieldDecl> {
        let f = |rule, one_of: &[&str]| FieldDecl {
            label: "L".into(),
            help: None,
            rule,
            one_of: one_of.iter().map(|s| s.to_string()).collect(),
            default: None,
        };
        BTreeMap::from([
            ("subdomain".to_string(), f(Some(Rule::DnsLabel), &[])),
            ("region".to_string(), f(None, &["us", "eu"])),
            ("host".to_string(), f(Some(Rule::Hostname), &[])),
            ("account".to_string(), f(Some(Rule::Id), &[])),
        ])
    }

    #[test]
    fn host_templates_stay_under_their_domain() {
        let d = decls();
        let (s, shape) = check_url("u", "https://{subdomain}.zendesk.com/api", &d, false).unwrap();
        assert_eq!(s, "https://a.zendesk.com/api");
        assert_eq!(shape, Shape::Under("https://*.zendesk.com".into()));
        let (_, shape) =
            check_url("u", "https://api.{region}.example.com:8443", &d, false).unwrap();
        // Every value listed: exactly those hosts, tighter than a wildcard.
        assert_eq!(
            shape,
            Shape::Finite(vec![
                "https://api.us.example.com:8443".into(),
                "https://api.eu.example.com:8443".into()
            ])
        );
        let (_, shape) = check_url("u", "https://{host}/api/v4", &d, true).unwrap();
        assert_eq!(shape, Shape::Field("host".into()));
        let mut d2 = d.clone();
        d2.insert(
            "site".into(),
            FieldDecl {
                label: "Site".into(),
                help: None,
                rule: None,
                one_of: vec![
                    "datadoghq.com".into(),
                    "us3.datadoghq.com".into(),
                    "datadoghq.eu".into(),
                ],
                default: None,
            },
        );
        let (_, shape) = check_url("u", "https://api.{site}/v1", &d2, false).unwrap();
        assert_eq!(
            shape,
            Shape::Finite(vec![
                "https://api.datadoghq.com".into(),
                "https://api.us3.datadoghq.com".into(),
                "https://api.datadoghq.eu".into()
            ])
        );
        let (_, shape) = check_url("u", "https://api.example.com/{account}/x", &d, false).unwrap();
        assert_eq!(shape, Shape::Exact);
        for bad in [
            "https://{subdomain}.com",
            "https://{subdomain}",
            "https://{host}",
            "https://example.{subdomain}",
            "https://{account}.example.com",
            "https://{undeclared}.example.com",
            "https://api.example.com:{subdomain}",
            "https://{subdomain.example.com",
            "http://{subdomain}.example.com",
        ] {
            assert!(check_url("u", bad, &d, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_are_checked_by_rule_and_name_the_field() {
        let d = decls();
        assert!(d["subdomain"].check("subdomain", "acme-1").is_ok());
        for v in [
            "",
            "a.b",
            "evil.com/x",
            "-a",
            "a b",
            "a\r\nX: y",
            &"a".repeat(64),
        ] {
            let e = d["subdomain"].check("subdomain", v).unwrap_err();
            assert!(
                matches!(&e, ConnectorError::InvalidInput(f) if f.field == "subdomain"),
                "{v}"
            );
        }
        assert!(d["region"].check("region", "eu").is_ok());
        assert!(d["region"].check("region", "ap").is_err());
        assert!(d["host"].check("host", "git.example.com").is_ok());
        for v in [
            "localhost",
            "git.example.com/x",
            "git.example.com:22",
            "https://x.io",
        ] {
            assert!(d["host"].check("host", v).is_err(), "{v}");
        }
        assert!(d["account"].check("account", "A-1.b_2").is_ok());
        assert!(d["account"].check("account", "a/b").is_err());
    }

    #[test]
    fn declarations_are_checked() {
        let mut d = decls()["host"].clone();
        assert!(d.validate("host", false).is_err());
        assert!(d.validate("host", true).is_ok());
        assert!(d.validate("nickname", true).is_err());
        d.default = Some("no spaces allowed".into());
        assert!(d.validate("host", true).is_err());
    }
}
