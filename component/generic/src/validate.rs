//! Checking a definition: every rule of FORMAT.md, each error naming the
//! field (`definition.verify.url`) and how to fix it.

use crate::definition::{bad, Definition};
use crate::spec::*;
use crate::template::{self, Shape};
use connhost_sdk::ConnectorError;
use std::collections::BTreeMap;
use url::Url;

/// Top-level names that only mean something on a local network.
pub(crate) const LOCAL_TLDS: &[&str] = &[
    "localhost",
    "local",
    "internal",
    "localdomain",
    "arpa",
    "home",
    "lan",
];

pub(crate) fn https_url(field: &str, v: &str) -> Result<Url, ConnectorError> {
    let u = Url::parse(v).map_err(|e| bad(field, format!("`{v}` is not a URL: {e}")))?;
    if u.scheme() != "https" {
        return Err(bad(field, format!("`{v}` must be https")));
    }
    if u.host_str().is_none() || !u.username().is_empty() || u.password().is_some() {
        return Err(bad(
            field,
            format!("`{v}` must have a host and no user info"),
        ));
    }
    public_host(field, v, &u)?;
    Ok(u)
}

/// A definition's endpoints are on the public internet: a host name of
/// RFC 1123 labels (no wildcard, at least two labels, not `localhost`
/// or a local-only suffix), or a public IP address (the host's own
/// address rules). Checked when the definition is added; egress checks
/// the resolved addresses again on every request.
fn public_host(field: &str, v: &str, u: &Url) -> Result<(), ConnectorError> {
    use connhost_policy::address::is_public;
    let refuse = |why: &str| Err(bad(field, format!("`{v}`: {why}")));
    let ip = match u.host() {
        Some(url::Host::Ipv4(a)) => std::net::IpAddr::V4(a),
        Some(url::Host::Ipv6(a)) => std::net::IpAddr::V6(a),
        Some(url::Host::Domain(name)) => {
            let name = name.to_ascii_lowercase();
            if !connhost_policy::origin::is_host_name(&name) || !name.contains('.') {
                return refuse("the host must be a full host name of letters, digits and hyphens (RFC 1123), no wildcard");
            }
            let tld = name.rsplit('.').next().unwrap_or_default();
            if LOCAL_TLDS.contains(&tld) {
                return refuse("a local-only host name is not allowed");
            }
            return Ok(());
        }
        None => return refuse("no host"),
    };
    if !is_public(ip) {
        return refuse("a loopback, private, link-local or reserved address is not allowed");
    }
    Ok(())
}

/// OAuth parameters the connector sets itself (RFC 6749, RFC 7636): a
/// definition's extra parameters must not replace them (a definition
/// that set `redirect_uri` or `state` would take the code elsewhere).
const RESERVED_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "client_secret",
    "redirect_uri",
    "scope",
    "state",
    "code",
    "code_challenge",
    "code_challenge_method",
    "code_verifier",
    "grant_type",
    "refresh_token",
    "client_assertion",
    "client_assertion_type",
    "assertion",
    "request",
    "request_uri",
    "iss",
];

fn check_params(field: &str, params: &BTreeMap<String, String>) -> Result<(), ConnectorError> {
    for (k, v) in params {
        let lower = k.to_ascii_lowercase();
        // `oauth_*` are OAuth 1.0a's protocol parameters (RFC 5849 §3.1).
        if RESERVED_PARAMS.contains(&lower.as_str()) || lower.starts_with("oauth_") {
            return Err(bad(
                &format!("{field}.{k}"),
                "is an OAuth parameter the connector sets itself; a definition may not set it",
            ));
        }
        if k.is_empty() || k.chars().chain(v.chars()).any(char::is_control) {
            return Err(bad(
                &format!("{field}.{k}"),
                "must be a non-empty name, and name and value without control characters",
            ));
        }
    }
    Ok(())
}

/// An HTTP field name (RFC 9110 §5.6.2 token) the definition may set: not
/// one that frames or routes the request.
fn check_header_name(field: &str, name: &str) -> Result<(), ConnectorError> {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(tchar) {
        return Err(bad(
            field,
            "must be an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)",
        ));
    }
    let lower = name.to_ascii_lowercase();
    let framing = [
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "upgrade",
        "te",
        "trailer",
        "keep-alive",
        "proxy-connection",
        "expect",
        "cookie",
    ];
    if framing.contains(&lower.as_str()) {
        return Err(bad(
            field,
            format!("`{name}` is the host's to set; choose another header"),
        ));
    }
    Ok(())
}

impl Definition {
    /// Keys version 1 does not have, set in a version 1 definition.
    fn v2_keys_set(&self) -> Option<&'static str> {
        let scope_specs = self.scopes.iter().any(|s| matches!(s, ScopeEntry::Spec(_)));
        let keyed_basic = self.api_key.as_ref().is_some_and(|k| {
            matches!(k.location, KeyLocation::Basic | KeyLocation::BasicUser) || k.second.is_some()
        }) || matches!(
            self.client_auth.as_deref(),
            Some("private_key_jwt" | "tls_client_auth" | "self_signed_tls_client_auth")
        );
        [
            ("category", self.category.is_some()),
            ("docs", self.docs.is_some()),
            ("fields", !self.fields.is_empty()),
            ("refresh_url", self.refresh_url.is_some()),
            ("introspection_url", self.introspection_url.is_some()),
            ("registration_url", self.registration_url.is_some()),
            ("refresh_params", !self.refresh_params.is_empty()),
            ("token", self.token.is_some()),
            ("key_exchange", self.key_exchange.is_some()),
            ("headers", !self.headers.is_empty()),
            ("query", !self.query.is_empty()),
            ("api_base", self.api_base.is_some()),
            ("token_origin", self.token_origin.is_some()),
            ("self_hosted", self.self_hosted),
            ("aws", self.aws.is_some()),
            ("jwt", self.jwt.is_some()),
            ("hmac", self.hmac.is_some()),
            ("oauth1", self.oauth1.is_some()),
            ("scopes", scope_specs),
            ("api_key.in", keyed_basic),
            (
                "auth_mode",
                matches!(
                    self.auth_mode,
                    AuthMode::Password
                        | AuthMode::KeyExchange
                        | AuthMode::AwsSigv4
                        | AuthMode::JwtBearer
                        | AuthMode::Hmac
                        | AuthMode::Oauth1
                        | AuthMode::Oauth1Token
                ),
            ),
            ("verify", self.verify.is_none()),
        ]
        .into_iter()
        .find(|(_, set)| *set)
        .map(|(k, _)| k)
    }

    pub fn validate(&self) -> Result<(), ConnectorError> {
        match self.format {
            None | Some(1) => {
                if let Some(k) = self.v2_keys_set() {
                    let what = if k == "verify" {
                        "is required in format 1; add \"format\": 2 to leave it out".to_string()
                    } else {
                        "is a format 2 key: add \"format\": 2".to_string()
                    };
                    return Err(bad(k, what));
                }
            }
            Some(2) => {}
            Some(n) => return Err(bad("format", format!("`{n}`: expected 1 or 2"))),
        }
        if self.id.is_empty()
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(bad("id", "must match [A-Za-z0-9_-]+"));
        }
        if let Some(c) = &self.category {
            if !CATEGORIES.contains(&c.as_str()) {
                return Err(bad(
                    "category",
                    format!("`{c}`: expected one of {}", CATEGORIES.join(", ")),
                ));
            }
        }
        if let Some(d) = &self.docs {
            https_url("docs", d)?;
        }
        for (name, decl) in &self.fields {
            decl.validate(name, self.self_hosted)?;
        }
        for (field, tpl) in self.url_templates() {
            let (sample, shape) = template::check_url(&field, tpl, &self.fields, self.self_hosted)?;
            if let Shape::Finite(origins) = &shape {
                for o in origins {
                    https_url(&field, o)?;
                }
            }
            let u = https_url(&field, &sample)?;
            if field.starts_with("hosts[") && (u.path() != "/" || u.query().is_some()) {
                return Err(bad(&field, format!("`{tpl}` must be a bare origin")));
            }
        }
        if let Some(i) = &self.issuer {
            https_url("issuer", i)?;
        }
        let verify_optional = self.v2()
            && matches!(
                self.auth_mode,
                AuthMode::Oauth2
                    | AuthMode::Oauth2Cc
                    | AuthMode::Password
                    | AuthMode::KeyExchange
                    | AuthMode::JwtBearer
            );
        match self.auth_mode {
            AuthMode::Oauth2 => {
                if self.authorize_url.is_none() {
                    return Err(bad("authorize_url", "is required for auth_mode oauth2"));
                }
                if self.token_url.is_none() {
                    return Err(bad("token_url", "is required for auth_mode oauth2"));
                }
            }
            AuthMode::AwsSigv4 => {
                let Some(a) = &self.aws else {
                    return Err(bad("aws", "is required for auth_mode aws_sigv4: {\"service\": …, \"region\": \"{region}\"}"));
                };
                if a.service.is_empty()
                    || !a
                        .service
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-')
                {
                    return Err(bad(
                        "aws.service",
                        "must be a signing name such as sts or execute-api",
                    ));
                }
                template::check_value("aws.region", &a.region, &self.fields)?;
            }
            AuthMode::Hmac => {
                let Some(h) = &self.hmac else {
                    return Err(bad(
                        "hmac",
                        "is required for auth_mode hmac: {\"string_to_sign\": …, \"header\": …}",
                    ));
                };
                if !matches!(h.algorithm.as_str(), "hmac-sha256" | "hmac-sha1") {
                    return Err(bad("hmac.algorithm", "must be hmac-sha256 or hmac-sha1"));
                }
                if !matches!(h.encoding.as_str(), "hex" | "base64") {
                    return Err(bad("hmac.encoding", "must be hex or base64"));
                }
                if !matches!(h.timestamp.as_str(), "unix" | "unix_ms" | "iso8601") {
                    return Err(bad("hmac.timestamp", "must be unix, unix_ms or iso8601"));
                }
                check_header_name("hmac.header", &h.header)?;
                for (f, name) in [
                    ("hmac.key_header", &h.key_header),
                    ("hmac.timestamp_header", &h.timestamp_header),
                    ("hmac.nonce_header", &h.nonce_header),
                ] {
                    if let Some(n) = name {
                        check_header_name(f, n)?;
                    }
                }
                let builtin = ["timestamp", "nonce", "method", "path", "body", "key_id"];
                // The provider must be able to rebuild what was signed.
                for (name, header) in [
                    ("timestamp", &h.timestamp_header),
                    ("nonce", &h.nonce_header),
                ] {
                    if h.string_to_sign.contains(&format!("{{{name}}}")) && header.is_none() {
                        return Err(bad(
                            &format!("hmac.{name}_header"),
                            format!("is required: the string to sign uses {{{name}}}, so it must be sent"),
                        ));
                    }
                }
                for n in template::placeholders("hmac.string_to_sign", &h.string_to_sign)? {
                    if !builtin.contains(&n) && !self.fields.contains_key(n) {
                        return Err(bad(
                            "hmac.string_to_sign",
                            format!(
                                "`{{{n}}}` is neither a declared field nor one of {}",
                                builtin.join(", ")
                            ),
                        ));
                    }
                }
            }
            AuthMode::JwtBearer => {
                if self.token_url.is_none() {
                    return Err(bad("token_url", "is required for auth_mode jwt_bearer"));
                }
            }
            AuthMode::Oauth2Cc | AuthMode::Password => {
                if self.token_url.is_none() {
                    return Err(bad(
                        "token_url",
                        format!("is required for auth_mode {}", self.auth_mode.id()),
                    ));
                }
            }
            AuthMode::KeyExchange => {
                let Some(k) = &self.key_exchange else {
                    return Err(bad(
                        "key_exchange",
                        "is required for auth_mode key_exchange",
                    ));
                };
                if k.param.is_empty() && k.username.is_none() {
                    return Err(bad(
                        "key_exchange.param",
                        "name the form parameter for the key, or give `username` to send it as a Basic password",
                    ));
                }
                for (f, p) in [
                    ("key_exchange.token_pointer", &k.token_pointer),
                    ("key_exchange.expires_pointer", &k.expires_pointer),
                ] {
                    if !p.starts_with('/') {
                        return Err(bad(f, "must be a JSON pointer such as /access_token"));
                    }
                }
            }
            AuthMode::ApiKey => {
                let Some(k) = &self.api_key else {
                    return Err(bad("api_key", "is required for auth_mode api_key"));
                };
                match k.location {
                    KeyLocation::Header => check_header_name("api_key.name", &k.name)?,
                    KeyLocation::Query => {
                        if k.name.is_empty() || k.name.chars().any(char::is_control) {
                            return Err(bad(
                                "api_key.name",
                                "must be a parameter name without control characters",
                            ));
                        }
                    }
                    KeyLocation::BasicUser => {
                        if k.password
                            .as_deref()
                            .unwrap_or_default()
                            .chars()
                            .any(char::is_control)
                        {
                            return Err(bad(
                                "api_key.password",
                                "must not hold control characters",
                            ));
                        }
                    }
                    KeyLocation::Basic => {
                        let Some(u) = &k.username else {
                            return Err(bad(
                                "api_key.username",
                                "is required with \"in\": \"basic\" (the fixed user name; \"\" for none)",
                            ));
                        };
                        if u.contains(':') || u.chars().any(char::is_control) {
                            return Err(bad(
                                "api_key.username",
                                "must not hold `:` or control characters (RFC 7617)",
                            ));
                        }
                    }
                }
                if let Some(second) = &k.second {
                    match second.location {
                        KeyLocation::Header => {
                            check_header_name("api_key.second.name", &second.name)?
                        }
                        KeyLocation::Query if !second.name.is_empty() => {}
                        _ => {
                            return Err(bad(
                                "api_key.second.in",
                                "must be header or query, with a name",
                            ))
                        }
                    }
                }
                // A header value: visible characters, spaces and tabs only
                // (RFC 9110 §5.5), so no CR/LF starts another header.
                if k.prefix.chars().any(|c| c.is_control() && c != '\t') {
                    return Err(bad(
                        "api_key.prefix",
                        "must not hold control characters (CR, LF, …)",
                    ));
                }
            }
            AuthMode::Oauth1 | AuthMode::Oauth1Token => {
                let spec = self.oauth1.clone().unwrap_or_default();
                if !matches!(spec.signature_method.as_str(), "HMAC-SHA1" | "HMAC-SHA256") {
                    return Err(bad(
                        "oauth1.signature_method",
                        "must be HMAC-SHA1 or HMAC-SHA256 (RSA-SHA1 and PLAINTEXT are not supported)",
                    ));
                }
                if let Some(r) = &spec.realm {
                    template::check_value("oauth1.realm", r, &self.fields)?;
                }
                if let Some(p) = &spec.scope_param {
                    if p.is_empty() || p.starts_with("oauth_") || p.chars().any(char::is_control) {
                        return Err(bad(
                            "oauth1.scope_param",
                            "must be a parameter name, not an `oauth_` one",
                        ));
                    }
                }
                if self.auth_mode == AuthMode::Oauth1 {
                    let mode = "is required for auth_mode oauth1";
                    if spec.request_token_url.is_none() {
                        return Err(bad("oauth1.request_token_url", mode));
                    }
                    if self.authorize_url.is_none() {
                        return Err(bad("authorize_url", mode));
                    }
                    if self.token_url.is_none() {
                        return Err(bad(
                            "token_url",
                            format!("{mode} (the access-token endpoint, RFC 5849 §2.3)"),
                        ));
                    }
                }
            }
            AuthMode::Basic => {}
        }
        if let Some(j) = &self.jwt {
            if !matches!(j.alg.as_str(), "RS256" | "ES256") {
                return Err(bad(
                    "jwt.alg",
                    format!("`{}`: expected RS256 or ES256", j.alg),
                ));
            }
            if j.lifetime == 0 || j.lifetime > 3600 {
                return Err(bad("jwt.lifetime", "must be 1 to 3600 seconds"));
            }
            if let Some(a) = &j.audience {
                template::check_value("jwt.audience", a, &self.fields)?;
            }
            for k in j.claims.keys() {
                if ["iss", "sub", "aud", "iat", "exp", "jti"].contains(&k.as_str()) {
                    return Err(bad(
                        &format!("jwt.claims.{k}"),
                        "is a claim the connector sets itself",
                    ));
                }
            }
        }
        if let Some(k) = &self.key_exchange {
            match k.body.as_deref() {
                None | Some("form") => {}
                Some("json") => {
                    if !k.json.as_ref().is_none_or(|v| v.is_object()) {
                        return Err(bad("key_exchange.json", "must be a JSON object"));
                    }
                    if !k.key_pointer.as_deref().is_some_and(|p| p.starts_with('/')) {
                        return Err(bad(
                            "key_exchange.key_pointer",
                            "is required with body json: a JSON pointer such as /secret",
                        ));
                    }
                }
                Some(other) => {
                    return Err(bad(
                        "key_exchange.body",
                        format!("`{other}`: expected form or json"),
                    ))
                }
            }
        }
        if let Some(t) = &self.token {
            match t.location {
                KeyLocation::Header => check_header_name("token.name", &t.name)?,
                KeyLocation::Query => {
                    if t.name.is_empty() || t.name.chars().any(char::is_control) {
                        return Err(bad("token.name", "must be a parameter name"));
                    }
                }
                KeyLocation::Basic | KeyLocation::BasicUser => {
                    return Err(bad("token.in", "must be header or query"));
                }
            }
            if t.prefix
                .as_deref()
                .unwrap_or_default()
                .chars()
                .any(|c| c.is_control() && c != '\t')
            {
                return Err(bad("token.prefix", "must not hold control characters"));
            }
        }
        if let Some(ca) = &self.client_auth {
            if !matches!(
                ca.as_str(),
                "client_secret_basic"
                    | "client_secret_basic_raw"
                    | "client_secret_post"
                    | "private_key_jwt"
                    | "tls_client_auth"
                    | "self_signed_tls_client_auth"
            ) {
                return Err(bad(
                    "client_auth",
                    format!("`{ca}`: expected client_secret_basic, client_secret_basic_raw, client_secret_post, private_key_jwt, tls_client_auth or self_signed_tls_client_auth"),
                ));
            }
        }
        for (name, params) in [
            ("authorize_params", &self.authorize_params),
            ("token_params", &self.token_params),
            ("refresh_params", &self.refresh_params),
        ] {
            check_params(name, params)?;
            for (k, v) in params {
                template::check_value(&format!("{name}.{k}"), v, &self.fields)?;
            }
        }
        for (k, v) in &self.headers {
            check_header_name(&format!("headers.{k}"), k)?;
            if k.eq_ignore_ascii_case("authorization") {
                return Err(bad(
                    &format!("headers.{k}"),
                    "credentials go in `api_key` or `token`, never in a static header",
                ));
            }
            template::check_value(&format!("headers.{k}"), v, &self.fields)?;
        }
        for (k, v) in &self.query {
            if k.is_empty() || k.chars().any(char::is_control) {
                return Err(bad(&format!("query.{k}"), "must be a parameter name"));
            }
            template::check_value(&format!("query.{k}"), v, &self.fields)?;
        }
        if self.scope_separator.is_empty() {
            return Err(bad("scope_separator", "must not be empty"));
        }
        for (i, s) in self.scopes.iter().enumerate() {
            let n = s.name();
            if n.is_empty() || n.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad(
                    &format!("scopes[{i}]"),
                    "a scope name is non-empty text without spaces",
                ));
            }
        }
        if let Some(o) = &self.token_origin {
            if !o.pointer.starts_with('/') {
                return Err(bad(
                    "token_origin.pointer",
                    "must be a JSON pointer such as /instance_url",
                ));
            }
            match connhost_policy::OriginPattern::parse(&o.pattern) {
                Ok(
                    connhost_policy::OriginPattern::Subdomains { .. }
                    | connhost_policy::OriginPattern::Exact(_),
                ) => {}
                _ => {
                    return Err(bad(
                        "token_origin.pattern",
                        format!(
                            "`{}`: must be https://host or https://*.domain.tld",
                            o.pattern
                        ),
                    ))
                }
            }
        }
        match &self.verify {
            None if verify_optional => {}
            None => {
                return Err(bad(
                    "verify",
                    format!(
                        "is required for auth_mode {}: how to check a connection works",
                        self.auth_mode.id()
                    ),
                ))
            }
            Some(v) => {
                if !matches!(v.method.as_str(), "GET" | "POST") {
                    return Err(bad("verify.method", "must be GET or POST"));
                }
                if let Some(p) = &v.label {
                    if !p.is_empty() && !p.starts_with('/') {
                        return Err(bad("verify.label", "must be a JSON pointer such as /email"));
                    }
                }
            }
        }
        Ok(())
    }
}
