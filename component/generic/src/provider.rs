//! Which provider a connection talks to (a shipped one, a definition the
//! host handed in, or one discovered from an issuer) and the requests its
//! auth mode makes: token requests, authenticated calls, secret checks.

use crate::definition::{origin_of, AuthMode, Definition, KeyLocation, Metadata, SHIPPED};
use connhost_sdk::http::{BasicEncoding, Request, ResponseExt};
use connhost_sdk::oauth::{self, ClientAuth, ACCESS_TOKEN};
use connhost_sdk::{invalid, secrets, ConnectionInput, ConnectionState, ConnectorError, Fields};
use url::Url;

/// The provider of a connection, and whether it was just discovered (then
/// it is handed back to the host to keep as the `definition` field).
pub(crate) struct Provider {
    pub(crate) def: Definition,
    pub(crate) discovered: bool,
}

pub(crate) fn auth_mode(f: &Fields) -> Result<AuthMode, ConnectorError> {
    Ok(match f.get("auth_mode").unwrap_or("oauth2") {
        "oauth2" => AuthMode::Oauth2,
        "oauth2_cc" => AuthMode::Oauth2Cc,
        "api_key" => AuthMode::ApiKey,
        "basic" => AuthMode::Basic,
        other => {
            return Err(invalid(
                "auth_mode",
                format!("must be oauth2, oauth2_cc, api_key or basic, got `{other}`"),
            ))
        }
    })
}

/// The definition, without network access (none for `issuer` alone).
pub(crate) fn known(input: &ConnectionInput) -> Result<Option<Definition>, ConnectorError> {
    let f = Fields::of(input);
    if let Some(json) = f.get("definition") {
        return Definition::parse(json).map(Some);
    }
    if let Some(id) = f.get("provider") {
        return Definition::shipped(id).map(Some).ok_or_else(|| {
            let ids: Vec<&str> = SHIPPED.iter().map(|(i, _)| *i).collect();
            invalid(
                "provider",
                format!(
                    "unknown provider `{id}` (shipped: {}; add others with `connhost provider add FILE`)",
                    ids.join(", ")
                ),
            )
        });
    }
    if f.get("issuer").is_some() {
        return Ok(None);
    }
    Err(invalid("provider", "give provider, definition or issuer"))
}

pub(crate) fn issuer_of(input: &ConnectionInput) -> Result<String, ConnectorError> {
    let issuer = Fields::of(input).require("issuer")?.to_string();
    let u = Url::parse(&issuer).map_err(|e| invalid("issuer", e.to_string()))?;
    if u.scheme() != "https" || u.query().is_some() || u.fragment().is_some() {
        return Err(invalid(
            "issuer",
            "must be an https URL without query or fragment (RFC 8414 §2)",
        ));
    }
    Ok(issuer)
}

/// RFC 8414 §3: `/.well-known/oauth-authorization-server` inserted before
/// the issuer's path; then OpenID Connect Discovery's location.
pub(crate) fn discover(issuer: &str, mode: AuthMode) -> Result<Definition, ConnectorError> {
    let u = Url::parse(issuer).map_err(|e| invalid("issuer", e.to_string()))?;
    let path = u.path().trim_end_matches('/');
    let origin = origin_of(&u);
    let candidates = [
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ),
    ];
    let mut last = None;
    for url in candidates {
        let resp = Request::get(&url).send()?;
        if resp.status == 200 {
            let meta: Metadata = resp.json()?;
            return meta.into_definition(issuer, mode);
        }
        last = Some(resp.status);
    }
    Err(invalid(
        "issuer",
        format!(
            "no discovery metadata at {issuer} (HTTP {})",
            last.unwrap_or(0)
        ),
    ))
}

pub(crate) fn provider(input: &ConnectionInput) -> Result<Provider, ConnectorError> {
    let f = Fields::of(input);
    let mode = auth_mode(&f)?;
    let (def, discovered) = match known(input)? {
        Some(d) => (d, false),
        None => (discover(&issuer_of(input)?, mode)?, true),
    };
    if def.auth_mode != mode {
        return Err(invalid(
            "auth_mode",
            format!(
                "provider `{}` uses auth_mode `{}`",
                def.id,
                def.auth_mode.id()
            ),
        ));
    }
    Ok(Provider { def, discovered })
}

impl Provider {
    pub(crate) fn state_fields(&self) -> Vec<(String, String)> {
        if self.discovered {
            vec![(
                "definition".into(),
                serde_json::to_string(&self.def).expect("definition serializes"),
            )]
        } else {
            Vec::new()
        }
    }

    pub(crate) fn requested_scopes(&self, input: &ConnectionInput) -> Vec<String> {
        let given = Fields::of(input).list("scopes");
        if given.is_empty() {
            self.def.default_scopes.clone()
        } else {
            given
        }
    }

    pub(crate) fn client_auth(&self) -> Result<ClientAuth, ConnectorError> {
        ClientAuth::parse(
            "definition.client_auth",
            self.def
                .client_auth
                .as_deref()
                .unwrap_or("client_secret_basic"),
        )
    }

    /// A token-endpoint request with client authentication; public clients
    /// (no secret) send `client_id` in the form (RFC 6749 §3.2.1).
    pub(crate) fn token_request(&self, input: &ConnectionInput) -> Result<Request, ConnectorError> {
        let url = self
            .def
            .token_url
            .as_deref()
            .ok_or_else(|| invalid("definition.token_url", "is required"))?;
        let client_id = Fields::of(input).require("client_id")?;
        let mut req = Request::post(url);
        for (k, v) in &self.def.token_params {
            req = req.form(k, v);
        }
        Ok(if secrets::has("client_secret") {
            self.client_auth()?.apply(req, client_id, "client_secret")
        } else {
            req.form("client_id", client_id)
        })
    }

    pub(crate) fn state(
        &self,
        resp: &connhost_sdk::http::Response,
        requested: &[String],
    ) -> Result<ConnectionState, ConnectorError> {
        let mut state = oauth::accept_token_response(resp, requested, self.def.default_lifetime)?;
        state.fields = self.state_fields();
        Ok(state)
    }

    pub(crate) fn client_credentials(
        &self,
        input: &ConnectionInput,
    ) -> Result<ConnectionState, ConnectorError> {
        need("client_secret")?;
        let scopes = self.requested_scopes(input);
        let mut req = self
            .token_request(input)?
            .form("grant_type", "client_credentials");
        if !scopes.is_empty() {
            req = req.form("scope", &scopes.join(&self.def.scope_separator));
        }
        self.state(&req.send()?, &scopes)
    }

    /// Adds this connection's credentials to a resource request.
    pub(crate) fn authed(
        &self,
        input: &ConnectionInput,
        req: Request,
    ) -> Result<Request, ConnectorError> {
        Ok(match self.def.auth_mode {
            AuthMode::Oauth2 | AuthMode::Oauth2Cc => req.bearer(ACCESS_TOKEN),
            AuthMode::Basic => {
                let user = Fields::of(input).require("username")?;
                req.basic(user, "password", BasicEncoding::Raw)
            }
            AuthMode::ApiKey => {
                let spec = self
                    .def
                    .api_key
                    .as_ref()
                    .ok_or_else(|| invalid("definition.api_key", "is required"))?;
                match spec.location {
                    KeyLocation::Header => req.secret_header(&spec.name, &spec.prefix, "api_key"),
                    KeyLocation::Query => req.secret_query(&spec.name, "api_key"),
                }
            }
        })
    }
}

pub(crate) fn need(secret: &str) -> Result<(), ConnectorError> {
    if secrets::has(secret) {
        Ok(())
    } else {
        Err(invalid(secret, "is required"))
    }
}

/// The value at a JSON pointer, as text.
pub(crate) fn pointer(v: &serde_json::Value, p: &str) -> Option<String> {
    match v.pointer(p)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
