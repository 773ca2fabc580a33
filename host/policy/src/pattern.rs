//! Which origins a connector may add with `allowed-origins`: only those
//! its manifest declares as patterns. A connector that could add any
//! origin could send a connection's credentials anywhere.
//!
//! A pattern is one of:
//! * `https://host[:port]`: that origin;
//! * `https://*.example.com[:port]`: any host under `example.com` (one or
//!   more labels more; the suffix needs at least two labels, so `*.com`
//!   is refused);
//! * `{definition}`: the origins the host approved when the provider
//!   definition the connection uses was added (`connhost provider add`);
//! * `{issuer}`: the origin of the connection's issuer field, which the
//!   user entered;
//! * `{field:NAME}`: the origin of the host the user entered in field
//!   `NAME` (a self-hosted service's `https://{host}`). Like `{issuer}`
//!   it is the user's choice; egress still refuses non-public addresses;
//! * `{resource:NAME}`: as `{field:NAME}`, for an OAuth 2.0 protected
//!   resource URL (RFC 9728, e.g. an MCP server). It also tells the host to
//!   read that resource's metadata and take the authorization server it
//!   names as the connection's issuer (so `{issuer}` then matches it).

use crate::origin::{Origin, TemplateError};

/// One declared pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OriginPattern {
    /// One origin.
    Exact(Origin),
    /// Any host under `suffix`, on `port`.
    Subdomains {
        /// The domain, without the leading `*.`.
        suffix: String,
        /// The port (443 unless given).
        port: u16,
    },
    /// `{definition}`.
    Definition,
    /// `{issuer}`.
    Issuer,
    /// `{field:NAME}`.
    Field(String),
    /// `{resource:NAME}`.
    Resource(String),
}

/// What a connection brings to matching: the patterns approved with its
/// stored definition, its issuer's origin, its field values.
#[derive(Clone, Copy)]
pub struct MatchScope<'a> {
    /// Approved with the definition (exact, subdomain or field patterns;
    /// `{definition}` and `{issuer}` in it match nothing).
    pub approved: &'a [OriginPattern],
    /// The origin of the connection's issuer field.
    pub issuer: Option<&'a Origin>,
    /// The connection's non-secret field values.
    pub fields: &'a std::collections::BTreeMap<String, String>,
}

impl MatchScope<'_> {
    /// No definition, issuer or fields: only exact and subdomain patterns match.
    pub fn none() -> MatchScope<'static> {
        static EMPTY: std::collections::BTreeMap<String, String> =
            std::collections::BTreeMap::new();
        MatchScope {
            approved: &[],
            issuer: None,
            fields: &EMPTY,
        }
    }
}

/// The origin a field's value names: a bare host name (`git.example.com`,
/// with an optional `:port`) or an https URL's origin.
pub fn origin_of_field(value: &str) -> Option<Origin> {
    let text = if value.starts_with("https://") {
        value.to_string()
    } else {
        format!("https://{value}")
    };
    let url = url::Url::parse(&text).ok()?;
    if url.scheme() != "https" || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    match url.host() {
        Some(url::Host::Domain(name)) if crate::origin::is_host_name(name) => Origin::of(&url),
        Some(url::Host::Domain(_)) | None => None,
        Some(_) => Origin::of(&url),
    }
}

fn bad(pattern: &str, reason: &str) -> TemplateError {
    TemplateError::NotAnOrigin {
        template: pattern.to_string(),
        reason: reason.to_string(),
    }
}

impl OriginPattern {
    /// Parses one pattern; an error names it and what is wrong.
    pub fn parse(text: &str) -> Result<OriginPattern, TemplateError> {
        match text {
            "{definition}" => return Ok(OriginPattern::Definition),
            "{issuer}" => return Ok(OriginPattern::Issuer),
            _ => {}
        }
        for (prefix, resource) in [("{field:", false), ("{resource:", true)] {
            let Some(name) = text.strip_prefix(prefix).and_then(|r| r.strip_suffix('}')) else {
                continue;
            };
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(bad(
                    text,
                    "a field pattern is `{field:NAME}` or `{resource:NAME}` with NAME of [A-Za-z0-9_-]",
                ));
            }
            return Ok(if resource {
                OriginPattern::Resource(name.to_string())
            } else {
                OriginPattern::Field(name.to_string())
            });
        }
        let Some(rest) = text.strip_prefix("https://*.") else {
            let o = Origin::parse_bare(text)?;
            if o.host.contains('*') {
                return Err(bad(
                    text,
                    "a wildcard may only be the first label (`https://*.`)",
                ));
            }
            return Ok(OriginPattern::Exact(o));
        };
        // Parse the suffix as an origin to get its host and port checked.
        let o = Origin::parse_bare(&format!("https://{rest}"))?;
        let labels = o.host.split('.').filter(|l| !l.is_empty()).count();
        if labels < 2 || o.host.contains('*') || o.host.parse::<std::net::Ipv4Addr>().is_ok() {
            return Err(bad(
                text,
                "a wildcard needs a domain of at least two labels (e.g. https://*.example.com)",
            ));
        }
        Ok(OriginPattern::Subdomains {
            suffix: o.host,
            port: o.port,
        })
    }

    /// Whether `origin` matches, given what the connection brings.
    pub fn matches(&self, origin: &Origin, scope: &MatchScope) -> bool {
        match self {
            OriginPattern::Exact(o) => o == origin,
            OriginPattern::Subdomains { suffix, port } => {
                origin.scheme == "https"
                    && origin.port == *port
                    && origin
                        .host
                        .strip_suffix(suffix.as_str())
                        .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
            }
            OriginPattern::Definition => scope.approved.iter().any(|p| {
                !matches!(p, OriginPattern::Definition | OriginPattern::Issuer)
                    && p.matches(origin, scope)
            }),
            OriginPattern::Issuer => scope.issuer == Some(origin),
            OriginPattern::Field(name) | OriginPattern::Resource(name) => scope
                .fields
                .get(name)
                .and_then(|v| origin_of_field(v))
                .is_some_and(|o| &o == origin),
        }
    }
}

/// Parses every pattern, naming the first bad one.
pub fn parse_all(patterns: &[String]) -> Result<Vec<OriginPattern>, TemplateError> {
    patterns.iter().map(|p| OriginPattern::parse(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(s: &str) -> Origin {
        Origin::parse_bare(s).unwrap()
    }

    #[test]
    fn parse_all_keeps_every_pattern_and_names_the_first_bad_one() {
        let ok = parse_all(&["https://*.example.com".into(), "{definition}".into()]).unwrap();
        assert_eq!(ok.len(), 2);
        assert!(ok[0].matches(&o("https://a.example.com"), &MatchScope::none()));
        assert!(parse_all(&["https://*.example.com".into(), "https://*".into()]).is_err());
    }

    #[test]
    fn wildcards_match_subdomains_only() {
        let p = OriginPattern::parse("https://*.atlassian.net").unwrap();
        assert!(p.matches(&o("https://acme.atlassian.net"), &MatchScope::none()));
        assert!(p.matches(&o("https://a.b.atlassian.net"), &MatchScope::none()));
        assert!(!p.matches(&o("https://atlassian.net"), &MatchScope::none()));
        assert!(!p.matches(&o("https://evilatlassian.net"), &MatchScope::none()));
        assert!(!p.matches(&o("https://acme.atlassian.net:8443"), &MatchScope::none()));
        assert!(!p.matches(&o("https://atlassian.net.evil.com"), &MatchScope::none()));
    }

    #[test]
    fn broad_or_malformed_patterns_are_refused() {
        for bad in [
            "https://*.com",
            "https://*",
            "http://*.example.com",
            "https://*.example.com/path",
            "https://x.*.example.com",
            "https://*.*.example.com",
            "{domain}",
            "https://*.10.0.0.1",
        ] {
            assert!(OriginPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn exact_definition_and_issuer() {
        let exact = OriginPattern::parse("https://api.example.com").unwrap();
        assert!(exact.matches(&o("https://api.example.com:443"), &MatchScope::none()));
        assert!(!exact.matches(&o("https://evil.example.com"), &MatchScope::none()));
        let def = OriginPattern::parse("{definition}").unwrap();
        let fields =
            std::collections::BTreeMap::from([("host".to_string(), "git.corp.io".to_string())]);
        let approved = [
            OriginPattern::parse("https://a.io").unwrap(),
            OriginPattern::parse("https://*.zendesk.com").unwrap(),
            OriginPattern::parse("{field:host}").unwrap(),
            OriginPattern::Issuer,
        ];
        let scope = MatchScope {
            approved: &approved,
            issuer: Some(&o("https://id.io")),
            fields: &fields,
        };
        assert!(def.matches(&o("https://a.io"), &scope));
        assert!(def.matches(&o("https://acme.zendesk.com"), &scope));
        assert!(def.matches(&o("https://git.corp.io"), &scope));
        assert!(!def.matches(&o("https://b.io"), &scope));
        assert!(!def.matches(&o("https://zendesk.com"), &scope));
        // `{issuer}` inside the approved list is not a way around it.
        assert!(!def.matches(&o("https://id.io"), &scope));
        let iss = OriginPattern::parse("{issuer}").unwrap();
        assert!(iss.matches(&o("https://id.io"), &scope));
        assert!(!iss.matches(&o("https://id.io"), &MatchScope::none()));
        let field = OriginPattern::parse("{field:host}").unwrap();
        assert!(field.matches(&o("https://git.corp.io"), &scope));
        assert!(!field.matches(&o("https://git.corp.io.evil.com"), &scope));
        assert!(!field.matches(&o("https://git.corp.io"), &MatchScope::none()));
        // `{resource:NAME}`: the origin of a protected resource's URL.
        let fields = std::collections::BTreeMap::from([(
            "mcp_server".to_string(),
            "https://mcp.tools.io/v1/mcp".to_string(),
        )]);
        let scope = MatchScope {
            approved: &[],
            issuer: None,
            fields: &fields,
        };
        let res = OriginPattern::parse("{resource:mcp_server}").unwrap();
        assert_eq!(res, OriginPattern::Resource("mcp_server".into()));
        assert!(res.matches(&o("https://mcp.tools.io"), &scope));
        assert!(!res.matches(&o("https://tools.io"), &scope));
        assert!(!res.matches(&o("https://mcp.tools.io:8443"), &scope));
        for bad in [
            "{field:}",
            "{field:a b}",
            "{field:x",
            "{resource:}",
            "{resource:a/b}",
        ] {
            assert!(OriginPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
