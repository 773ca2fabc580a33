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
//!   user entered.

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

    /// Whether `origin` matches, given the origins approved with the
    /// connection's definition and the origin of its issuer field.
    pub fn matches(&self, origin: &Origin, approved: &[Origin], issuer: Option<&Origin>) -> bool {
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
            OriginPattern::Definition => approved.contains(origin),
            OriginPattern::Issuer => issuer == Some(origin),
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
        assert!(ok[0].matches(&o("https://a.example.com"), &[], None));
        assert!(parse_all(&["https://*.example.com".into(), "https://*".into()]).is_err());
    }

    #[test]
    fn wildcards_match_subdomains_only() {
        let p = OriginPattern::parse("https://*.atlassian.net").unwrap();
        assert!(p.matches(&o("https://acme.atlassian.net"), &[], None));
        assert!(p.matches(&o("https://a.b.atlassian.net"), &[], None));
        assert!(!p.matches(&o("https://atlassian.net"), &[], None));
        assert!(!p.matches(&o("https://evilatlassian.net"), &[], None));
        assert!(!p.matches(&o("https://acme.atlassian.net:8443"), &[], None));
        assert!(!p.matches(&o("https://atlassian.net.evil.com"), &[], None));
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
        assert!(exact.matches(&o("https://api.example.com:443"), &[], None));
        assert!(!exact.matches(&o("https://evil.example.com"), &[], None));
        let def = OriginPattern::parse("{definition}").unwrap();
        assert!(def.matches(&o("https://a.io"), &[o("https://a.io")], None));
        assert!(!def.matches(&o("https://b.io"), &[o("https://a.io")], None));
        let iss = OriginPattern::parse("{issuer}").unwrap();
        assert!(iss.matches(&o("https://id.io"), &[], Some(&o("https://id.io"))));
        assert!(!iss.matches(&o("https://id.io"), &[], None));
    }
}
