//! Which origins a connection may call: the manifest's host templates
//! (e.g. `https://{domain}`) are expanded with a connection's field values
//! into exact origins, and every request URL must match one of them. Deny
//! by default.

use std::collections::BTreeMap;
use std::fmt;
use url::Url;

/// One allowed origin: scheme, host and port, all exact.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    /// `https` (the only scheme a template or added origin may give).
    pub scheme: String,
    /// Lower-case host name or IP literal.
    pub host: String,
    /// Port, the scheme's default filled in.
    pub port: u16,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

impl Origin {
    /// The origin of an absolute URL (default ports filled in).
    pub fn of(url: &Url) -> Option<Origin> {
        Some(Origin {
            scheme: url.scheme().to_string(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
        })
    }
}

/// A connection's allowed origins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowlist {
    origins: Vec<Origin>,
}

/// Why a template or an origin was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A template names a field the connection has no value for.
    #[error("host template `{template}` uses field `{field}`, which has no value")]
    MissingField {
        /// The template.
        template: String,
        /// The field it needs.
        field: String,
    },
    /// A field value holds more than host-name characters.
    #[error("field `{field}` value cannot be used in a host name (only letters, digits, '.', '-' are allowed)")]
    UnsafeValue {
        /// The field whose value was refused.
        field: String,
    },
    /// The text is not a bare https origin.
    #[error("host template `{template}` does not expand to an https origin: {reason}")]
    NotAnOrigin {
        /// The template or origin text.
        template: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl Allowlist {
    /// Expands each template with `fields`. Field values may only hold
    /// host-name characters, so a value cannot smuggle in a path, port,
    /// user info or a second host.
    pub fn from_templates(
        templates: &[String],
        fields: &BTreeMap<String, String>,
    ) -> Result<Allowlist, TemplateError> {
        let mut origins = Vec::new();
        for template in templates {
            let (expanded, used) = expand(template, fields)?;
            let origin = match parse_origin(&expanded, template) {
                // The template is the manifest's; a host it cannot name
                // came from a value (`a..b`, `-x`).
                Err(TemplateError::NotAnOrigin { reason, .. })
                    if reason == NOT_A_HOST_NAME && !used.is_empty() =>
                {
                    return Err(TemplateError::UnsafeValue {
                        field: used[0].clone(),
                    })
                }
                other => other?,
            };
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        Ok(Allowlist { origins })
    }

    /// Adds origins a connector computed for this connection. Each must be
    /// a bare `https://host[:port]`: no user info, path, query or fragment.
    pub fn add_origins(&mut self, origins: &[String]) -> Result<(), TemplateError> {
        for raw in origins {
            let origin = parse_origin(raw, raw)?;
            if !self.origins.contains(&origin) {
                self.origins.push(origin);
            }
        }
        Ok(())
    }

    /// Whether `url` may be requested. Anything unparsable is denied.
    pub fn allows(&self, url: &Url) -> bool {
        Origin::of(url).is_some_and(|o| self.origins.contains(&o))
    }

    /// The allowed origins.
    pub fn origins(&self) -> &[Origin] {
        &self.origins
    }
}

impl Origin {
    /// Parses a bare `https://host[:port]`: no user info, path, query or
    /// fragment.
    pub fn parse_bare(text: &str) -> Result<Origin, TemplateError> {
        parse_origin(text, text)
    }
}

/// A bare `https://host[:port]`; `label` names the template or value in errors.
fn parse_origin(text: &str, label: &str) -> Result<Origin, TemplateError> {
    let not_origin = |reason: &str| TemplateError::NotAnOrigin {
        template: label.to_string(),
        reason: reason.to_string(),
    };
    let url = Url::parse(text).map_err(|e| not_origin(&e.to_string()))?;
    if url.scheme() != "https" {
        return Err(not_origin("only https origins are allowed"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(not_origin("user info is not allowed"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(not_origin("a path, query or fragment is not allowed"));
    }
    if let Some(url::Host::Domain(name)) = url.host() {
        if !is_host_name(name) {
            return Err(not_origin(NOT_A_HOST_NAME));
        }
    }
    Origin::of(&url).ok_or_else(|| not_origin("no host"))
}

const NOT_A_HOST_NAME: &str =
    "the host is not a host name (RFC 1123: labels of letters, digits and inner hyphens)";

/// Whether `name` is a host name (RFC 1123 §2.1): dot-separated labels of
/// 1 to 63 letters, digits and hyphens, no label starting or ending with
/// a hyphen, 253 characters at most. No wildcard, no empty label (so no
/// trailing dot), no underscore.
pub fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// The template with its fields filled in, and the fields it used.
fn expand(
    template: &str,
    fields: &BTreeMap<String, String>,
) -> Result<(String, Vec<String>), TemplateError> {
    let mut used = Vec::new();
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| TemplateError::NotAnOrigin {
                template: template.to_string(),
                reason: "unclosed `{`".into(),
            })?
            + start;
        let field = &rest[start + 1..end];
        let value = fields
            .get(field)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| TemplateError::MissingField {
                template: template.to_string(),
                field: field.to_string(),
            })?;
        // Accept a value given with its scheme (`https://x`), as users do.
        let value = value.strip_prefix("https://").unwrap_or(value);
        let value = value.trim_end_matches('/');
        if value.is_empty()
            || !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            return Err(TemplateError::UnsafeValue {
                field: field.to_string(),
            });
        }
        out.push_str(value);
        used.push(field.to_string());
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok((out, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(domain: &str) -> Result<Allowlist, TemplateError> {
        let fields = BTreeMap::from([("domain".to_string(), domain.to_string())]);
        Allowlist::from_templates(&["https://{domain}".to_string()], &fields)
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn accepts_exact_origin_any_path() {
        let a = list("acme.eu-1.celonis.cloud").unwrap();
        assert!(a.allows(&url("https://acme.eu-1.celonis.cloud/api/cloud")));
        assert!(a.allows(&url("https://ACME.eu-1.celonis.cloud:443/x?y=1")));
        assert_eq!(
            a.origins()[0].to_string(),
            "https://acme.eu-1.celonis.cloud:443"
        );
    }

    #[test]
    fn rejects_other_host_port_scheme_and_subdomain() {
        let a = list("acme.eu-1.celonis.cloud").unwrap();
        assert!(!a.allows(&url("https://evil.example.com/")));
        assert!(!a.allows(&url("https://acme.eu-1.celonis.cloud:8443/")));
        assert!(!a.allows(&url("http://acme.eu-1.celonis.cloud/")));
        assert!(!a.allows(&url("https://x.acme.eu-1.celonis.cloud/")));
        assert!(!a.allows(&url("https://acme.eu-1.celonis.cloud.evil.com/")));
    }

    #[test]
    fn deny_all_when_empty() {
        let a = Allowlist::default();
        assert!(!a.allows(&url("https://acme.eu-1.celonis.cloud/")));
    }

    #[test]
    fn rejects_values_that_smuggle_hosts_or_paths() {
        for bad in [
            "evil.com/acme.eu-1.celonis.cloud",
            "user@evil.com",
            "evil.com:444",
            "evil.com?x",
            "evil.com#frag",
            "",
        ] {
            assert!(list(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn accepts_value_with_https_scheme() {
        let a = list("https://acme.eu-1.celonis.cloud/").unwrap();
        assert!(a.allows(&url("https://acme.eu-1.celonis.cloud/")));
    }

    #[test]
    fn missing_field_is_named() {
        let err =
            Allowlist::from_templates(&["https://{domain}".into()], &BTreeMap::new()).unwrap_err();
        assert_eq!(
            err,
            TemplateError::MissingField {
                template: "https://{domain}".into(),
                field: "domain".into()
            }
        );
    }

    #[test]
    fn added_origins_must_be_bare_https() {
        let mut a = Allowlist::default();
        a.add_origins(&["https://api.github.com".into()]).unwrap();
        assert!(a.allows(&url("https://api.github.com/user")));
        for bad in [
            "http://x.com",
            "https://x.com/path",
            "https://u@x.com",
            "https://x.com?q",
            "x.com",
        ] {
            assert!(
                Allowlist::default().add_origins(&[bad.into()]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn origins_must_name_hosts_by_rfc_1123() {
        for bad in [
            "https://*.example.com",
            "https://*",
            "https://a..example.com",
            "https://-.example.com",
            "https://a-.example.com",
            "https://-a.example.com",
            "https://a_b.example.com",
            "https://example.com.",
            &format!("https://{}.example.com", "a".repeat(64)),
        ] {
            assert!(
                matches!(
                    Allowlist::default().add_origins(&[bad.to_string()]),
                    Err(TemplateError::NotAnOrigin { .. })
                ),
                "{bad} accepted"
            );
            assert!(Origin::parse_bare(bad).is_err(), "{bad} accepted");
        }
        for good in [
            "https://api.example.com",
            "https://a-b.x1.example.com:8443",
            "https://xn--mnchen-3ya.de",
            "https://localhost",
            "https://10.0.0.1",
            "https://[::1]",
        ] {
            Origin::parse_bare(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        // A bad host from a field value is the value's fault.
        assert_eq!(
            list("acme..celonis.cloud"),
            Err(TemplateError::UnsafeValue {
                field: "domain".into()
            })
        );
        assert_eq!(
            list("-acme.celonis.cloud"),
            Err(TemplateError::UnsafeValue {
                field: "domain".into()
            })
        );
    }

    #[test]
    fn rejects_plain_http_template() {
        let fields = BTreeMap::from([("domain".to_string(), "a.b".to_string())]);
        assert!(matches!(
            Allowlist::from_templates(&["http://{domain}".into()], &fields),
            Err(TemplateError::NotAnOrigin { .. })
        ));
    }
}
