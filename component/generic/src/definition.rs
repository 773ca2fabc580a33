//! Provider definitions: the data that tells the generic connector how a
//! service authenticates. Parsed strictly; every error names the field.

use crate::template::{self, FieldDecl, Shape, Values};
use connhost_sdk::{invalid, ConnectorError, Fields};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use url::Url;

pub use crate::shipped::SHIPPED;

pub use crate::spec::*;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// 2 for this format; absent is version 1 (no v2 keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<u8>,
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs: Option<String>,
    pub auth_mode: AuthMode,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, FieldDecl>,
    /// RFC 8414 issuer identifier; checked against `iss` on callbacks.
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub authorize_url: Option<String>,
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_url: Option<String>,
    #[serde(default)]
    pub revocation_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_url: Option<String>,
    /// RFC 7591 dynamic client registration, used when no `client_id` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_url: Option<String>,
    #[serde(default)]
    pub default_scopes: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<ScopeEntry>,
    #[serde(default = "space")]
    pub scope_separator: String,
    /// `client_secret_basic` (default), `client_secret_basic_raw`, `client_secret_post`.
    #[serde(default)]
    pub client_auth: Option<String>,
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
    #[serde(default)]
    pub token_params: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub refresh_params: BTreeMap<String, String>,
    #[serde(default = "yes")]
    pub pkce: bool,
    /// Seconds a token lives when the token response has no `expires_in`.
    #[serde(default)]
    pub default_lifetime: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenSpec>,
    #[serde(default)]
    pub api_key: Option<ApiKeySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_exchange: Option<KeyExchange>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base: Option<String>,
    #[serde(default)]
    pub verify: Option<VerifySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_origin: Option<TokenOrigin>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub self_hosted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac: Option<HmacSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth1: Option<OAuth1Spec>,
    /// Origins the connection may call besides the endpoints above.
    #[serde(default)]
    pub hosts: Vec<String>,
}

/// The state field holding an origin a token response named.
pub const API_ORIGIN: &str = "api_origin";

/// `definition.<field>`: the field an error names.
pub(crate) fn bad(field: &str, reason: impl Into<String>) -> ConnectorError {
    invalid(&format!("definition.{field}"), reason)
}

pub fn origin_of(u: &Url) -> String {
    match u.port() {
        Some(p) => format!("https://{}:{p}", u.host_str().unwrap_or("")),
        None => format!("https://{}", u.host_str().unwrap_or("")),
    }
}

impl Definition {
    /// Parses and checks a definition.
    pub fn parse(json: &str) -> Result<Definition, ConnectorError> {
        let d: Definition = serde_json::from_str(json).map_err(|e| {
            // serde names the field in its message ("unknown field `x`",
            // "missing field `y`").
            invalid("definition", e.to_string())
        })?;
        d.validate()?;
        Ok(d)
    }

    pub fn shipped(id: &str) -> Option<Definition> {
        SHIPPED
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, json)| Definition::parse(json).expect("shipped definitions are valid"))
    }

    pub(crate) fn v2(&self) -> bool {
        self.format == Some(2)
    }

    /// Every URL template with the name of its key.
    pub(crate) fn url_templates(&self) -> Vec<(String, &str)> {
        let mut out: Vec<(String, &str)> = [
            ("authorize_url", &self.authorize_url),
            ("token_url", &self.token_url),
            ("refresh_url", &self.refresh_url),
            ("revocation_url", &self.revocation_url),
            ("introspection_url", &self.introspection_url),
            ("registration_url", &self.registration_url),
            ("api_base", &self.api_base),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k.to_string(), v)))
        .collect();
        if let Some(v) = &self.verify {
            out.push(("verify.url".into(), &v.url));
        }
        if let Some(k) = &self.key_exchange {
            out.push(("key_exchange.url".into(), &k.url));
        }
        if let Some(u) = self
            .oauth1
            .as_ref()
            .and_then(|o| o.request_token_url.as_deref())
        {
            out.push(("oauth1.request_token_url".into(), u));
        }
        for (i, h) in self.hosts.iter().enumerate() {
            out.push((format!("hosts[{i}]"), h));
        }
        out
    }

    /// The values of the fields this definition declares, checked; an
    /// error names the missing or malformed field.
    pub fn values(&self, f: &Fields) -> Result<Values, ConnectorError> {
        let mut out = Values::new();
        for (name, decl) in &self.fields {
            let v = match f.get(name).or(decl.default.as_deref()) {
                Some(v) => v.trim(),
                None => {
                    return Err(invalid(
                        name,
                        format!(
                            "is required by provider `{}` ({}{})",
                            self.id,
                            decl.label,
                            decl.help
                                .as_deref()
                                .map(|h| format!(": {h}"))
                                .unwrap_or_default()
                        ),
                    ))
                }
            };
            decl.check(name, v)?;
            out.insert(name.clone(), v.to_string());
        }
        Ok(out)
    }

    /// A URL template filled from `values`.
    pub fn url(&self, tpl: &str, values: &Values) -> String {
        template::fill(tpl, values)
    }

    /// Every origin this connection may call: `api_base`'s first, then
    /// the endpoints and `hosts`, filled from `values`; the API origin a
    /// token response named, when it matches `token_origin.pattern`.
    pub fn origins(&self, values: &Values, api_origin: Option<&str>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |o: String| {
            if !out.contains(&o) {
                out.push(o);
            }
        };
        if let Some(o) = api_origin.filter(|o| self.token_origin_allows(o)) {
            push(o.to_string());
        }
        let mut urls: Vec<&str> = Vec::new();
        urls.extend(self.api_base.as_deref());
        urls.extend(self.issuer.as_deref());
        for (_, u) in self.url_templates() {
            urls.push(u);
        }
        for u in urls {
            if let Ok(parsed) = Url::parse(&template::fill(u, values)) {
                push(origin_of(&parsed));
            }
        }
        out
    }

    /// What this definition's connections may call, before any field is
    /// known: exact origins, `https://*.domain` for templated hosts,
    /// `{field:host}` for a self-hosted host, and the `token_origin`
    /// pattern. The host keeps these as the definition's approved origins.
    pub fn origin_patterns(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |o: String| {
            if !out.contains(&o) {
                out.push(o);
            }
        };
        if let Some(o) = &self.token_origin {
            push(o.pattern.clone());
        }
        if let Some(i) = &self.issuer {
            if let Ok(u) = Url::parse(i) {
                push(origin_of(&u));
            }
        }
        for (field, tpl) in self.url_templates() {
            match template::check_url(&field, tpl, &self.fields, self.self_hosted) {
                Ok((_, Shape::Exact)) => {
                    if let Ok(u) = Url::parse(tpl) {
                        push(origin_of(&u));
                    }
                }
                Ok((_, Shape::Under(p))) => push(p),
                Ok((_, Shape::Field(name))) => push(format!("{{field:{name}}}")),
                Ok((_, Shape::Finite(origins))) => origins.into_iter().for_each(&mut push),
                Err(_) => {}
            }
        }
        out
    }

    pub fn token_origin_allows(&self, origin: &str) -> bool {
        let Some(t) = &self.token_origin else {
            return false;
        };
        let (Ok(p), Ok(o)) = (
            connhost_policy::OriginPattern::parse(&t.pattern),
            connhost_policy::Origin::parse_bare(origin),
        ) else {
            return false;
        };
        p.matches(&o, &connhost_policy::pattern::MatchScope::none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shipped definition parses, is format 2 (or one of the first
    /// six, format 1), names its category and docs page, and keeps its
    /// origins bounded: each is an exact origin, a subdomain pattern of a
    /// domain of at least two labels, or (self-hosted) the host field.
    #[test]
    fn every_shipped_definition_parses_and_is_bounded() {
        let mut failures = Vec::new();
        for (id, json) in SHIPPED {
            let d = match Definition::parse(json) {
                Ok(d) => d,
                Err(e) => {
                    failures.push(format!("{id}: {e:?}"));
                    continue;
                }
            };
            if d.id != *id {
                failures.push(format!("{id}: the file is named for `{}`", d.id));
            }
            if d.v2() && (d.category.is_none() || d.docs.is_none() || d.display_name.is_none()) {
                failures.push(format!(
                    "{id}: a shipped definition needs display_name, category and docs"
                ));
            }
            for p in d.origin_patterns() {
                match connhost_policy::OriginPattern::parse(&p) {
                    Ok(connhost_policy::OriginPattern::Exact(_))
                    | Ok(connhost_policy::OriginPattern::Subdomains { .. }) => {}
                    Ok(connhost_policy::OriginPattern::Field(f))
                        if d.self_hosted && f == "host" => {}
                    other => failures.push(format!("{id}: origin `{p}` is not bounded: {other:?}")),
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} bad:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn version_one_keeps_loading_and_refuses_v2_keys() {
        let v1 = r#"{"id":"x","auth_mode":"api_key","api_key":{"in":"header","name":"X-Key"},"verify":{"url":"https://api.x.io/me"}}"#;
        Definition::parse(v1).unwrap();
        let with_headers = v1.replace(r#""id":"x""#, r#""id":"x","headers":{"X-V":"1"}"#);
        let e = Definition::parse(&with_headers).unwrap_err();
        assert!(
            matches!(&e, ConnectorError::InvalidInput(f) if f.field == "definition.headers"),
            "{e:?}"
        );
        let v2 = with_headers.replace(r#""id":"x""#, r#""format":2,"id":"x""#);
        Definition::parse(&v2).unwrap();
    }

    #[test]
    fn v2_errors_name_the_field() {
        let base = serde_json::json!({
            "format": 2, "id": "z", "auth_mode": "oauth2",
            "fields": {"subdomain": {"label": "Subdomain", "rule": "dns_label"}},
            "authorize_url": "https://{subdomain}.zendesk.com/oauth/authorizations/new",
            "token_url": "https://{subdomain}.zendesk.com/oauth/tokens",
        });
        let d = Definition::parse(&base.to_string()).unwrap();
        assert_eq!(
            d.origin_patterns(),
            vec!["https://*.zendesk.com".to_string()]
        );
        let values = Values::from([("subdomain".to_string(), "acme".to_string())]);
        assert_eq!(
            d.origins(&values, None),
            vec!["https://acme.zendesk.com".to_string()]
        );
        let cases: &[(&str, serde_json::Value, &str)] = &[
            (
                "/token_url",
                "https://{subdomain}.com/t".into(),
                "definition.token_url",
            ),
            (
                "/token_url",
                "https://{region}.zendesk.com/t".into(),
                "definition.token_url",
            ),
            (
                "/fields/subdomain/rule",
                "hostname".into(),
                "definition.fields.subdomain.rule",
            ),
            (
                "/fields/nickname",
                serde_json::json!({"label": "N", "rule": "id"}),
                "definition.fields.nickname",
            ),
            (
                "/headers",
                serde_json::json!({"Authorization": "x"}),
                "definition.headers.Authorization",
            ),
            (
                "/headers",
                serde_json::json!({"X-A": "a\r\nB: c"}),
                "definition.headers.X-A",
            ),
            (
                "/token_params",
                serde_json::json!({"redirect_uri": "x"}),
                "definition.token_params.redirect_uri",
            ),
            ("/category", "toys".into(), "definition.category"),
            (
                "/token_origin",
                serde_json::json!({"pointer": "/instance_url", "pattern": "https://*"}),
                "definition.token_origin.pattern",
            ),
        ];
        for (path, value, field) in cases {
            let mut bad = base.clone();
            let (parent, key) = path.rsplit_once('/').unwrap();
            bad.pointer_mut(if parent.is_empty() { "" } else { parent })
                .unwrap()
                .as_object_mut()
                .unwrap()
                .insert(key.to_string(), value.clone());
            let e = Definition::parse(&bad.to_string()).unwrap_err();
            assert!(
                matches!(&e, ConnectorError::InvalidInput(f) if f.field == *field),
                "{path}: {e:?}"
            );
        }
    }
}
