//! Which provider a connection talks to (a shipped one, a definition the
//! host handed in, or one discovered from an issuer) and the requests its
//! auth mode makes: token requests, authenticated calls, secret checks.

use crate::definition::{origin_of, AuthMode, Definition, KeyLocation, API_ORIGIN, SHIPPED};
use crate::discovery::Metadata;
use crate::template::Values;
use connhost_sdk::http::{classify, BasicEncoding, Request, ResponseExt};
use connhost_sdk::oauth::{self, ClientAuth, ACCESS_TOKEN};
use connhost_sdk::{
    invalid, secrets, ConnectionInput, ConnectionState, ConnectorError, Fields, ProviderFailure,
};
use std::collections::BTreeMap;
use url::Url;

/// The provider of a connection, and whether it was just discovered (then
/// it is handed back to the host to keep as the `definition` field).
pub(crate) struct Provider {
    pub(crate) def: Definition,
    pub(crate) discovered: bool,
    /// The declared fields' values, checked.
    pub(crate) values: Values,
    /// The API origin a token response named (`token_origin`).
    pub(crate) api_origin: Option<String>,
}

pub(crate) fn auth_mode(f: &Fields) -> Result<AuthMode, ConnectorError> {
    Ok(match f.get("auth_mode").unwrap_or("oauth2") {
        "oauth2" => AuthMode::Oauth2,
        "oauth2_cc" => AuthMode::Oauth2Cc,
        "api_key" => AuthMode::ApiKey,
        "basic" => AuthMode::Basic,
        "password" => AuthMode::Password,
        "key_exchange" => AuthMode::KeyExchange,
        "aws_sigv4" => AuthMode::AwsSigv4,
        "jwt_bearer" => AuthMode::JwtBearer,
        "hmac" => AuthMode::Hmac,
        "oauth1" => AuthMode::Oauth1,
        "oauth1_token" => AuthMode::Oauth1Token,
        other => {
            return Err(invalid(
                "auth_mode",
                format!("must be oauth2, oauth2_cc, password, jwt_bearer, api_key, basic, key_exchange, aws_sigv4, hmac, oauth1 or oauth1_token, got `{other}`"),
            ))
        }
    })
}

/// An OAuth-protected MCP server (RFC 9728): the host reads its metadata
/// and fills `issuer` with its authorization server.
pub(crate) const MCP_SERVER: &str = "mcp_server";

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
pub(crate) fn discover(
    issuer: &str,
    mode: AuthMode,
    resource: Option<&str>,
) -> Result<Definition, ConnectorError> {
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
            return meta.into_definition(issuer, mode, resource);
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
        None => (discover(&issuer_of(input)?, mode, f.get(MCP_SERVER))?, true),
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
    Provider::new(def, discovered, input)
}

impl Provider {
    pub(crate) fn new(
        def: Definition,
        discovered: bool,
        input: &ConnectionInput,
    ) -> Result<Provider, ConnectorError> {
        let f = Fields::of(input);
        let values = def.values(&f)?;
        let api_origin = f.get(API_ORIGIN).map(str::to_string);
        Ok(Provider {
            def,
            discovered,
            values,
            api_origin,
        })
    }

    /// A URL template of the definition, filled.
    pub(crate) fn url(&self, tpl: &str) -> String {
        self.def.url(tpl, &self.values)
    }

    fn params(&self, params: &BTreeMap<String, String>) -> Vec<(String, String)> {
        params
            .iter()
            .map(|(k, v)| (k.clone(), crate::template::fill(v, &self.values)))
            .collect()
    }

    pub(crate) fn authorize_params(&self) -> Vec<(String, String)> {
        self.params(&self.def.authorize_params)
    }

    /// Every origin this connection may call.
    pub(crate) fn origins(&self) -> Vec<String> {
        self.def.origins(&self.values, self.api_origin.as_deref())
    }

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
        self.client_request(input, &self.url(url), &self.def.token_params)
    }

    /// The refresh-token grant's request: `refresh_url` when the provider
    /// has one, with `refresh_params` added.
    pub(crate) fn refresh_request(
        &self,
        input: &ConnectionInput,
    ) -> Result<Request, ConnectorError> {
        let url = self
            .def
            .refresh_url
            .as_deref()
            .or(self.def.token_url.as_deref())
            .ok_or_else(|| invalid("definition.token_url", "is required"))?;
        let mut params = self.def.token_params.clone();
        params.extend(self.def.refresh_params.clone());
        Ok(self
            .client_request(input, &self.url(url), &params)?
            .form("grant_type", "refresh_token")
            .form_secret("refresh_token", oauth::REFRESH_TOKEN))
    }

    fn client_request(
        &self,
        input: &ConnectionInput,
        url: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<Request, ConnectorError> {
        let client_id = Fields::of(input).get("client_id");
        let mut req = Request::post(url);
        for (k, v) in self.params(params) {
            req = req.form(&k, &v);
        }
        // RFC 8705 §2: the client is its TLS certificate; `client_id` names it.
        if self.mtls() {
            let id = client_id.ok_or_else(|| invalid("client_id", "is required"))?;
            need(CLIENT_CERTIFICATE)?;
            need(CLIENT_KEY)?;
            return Ok(req
                .form("client_id", id)
                .client_certificate(CLIENT_CERTIFICATE, CLIENT_KEY));
        }
        // RFC 7523 §2.2: a JWT signed with the client's key instead of a secret.
        if self.def.client_auth.as_deref() == Some("private_key_jwt") {
            let id = client_id.ok_or_else(|| invalid("client_id", "is required"))?;
            need("private_key")?;
            let now = connhost_sdk::now_unix();
            let claims = serde_json::json!({
                "iss": id, "sub": id, "aud": url, "iat": now, "exp": now + 300, "jti": crate::signed::nonce(),
            });
            let alg = self
                .def
                .jwt
                .as_ref()
                .map(|j| j.alg.as_str())
                .unwrap_or("RS256");
            return Ok(req
                .form("client_id", id)
                .form(
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                )
                .form(
                    "client_assertion",
                    &crate::signed::jwt(alg, &claims, "private_key")?,
                ));
        }
        Ok(match client_id {
            Some(id) if secrets::has("client_secret") => {
                self.client_auth()?.apply(req, id, "client_secret")
            }
            Some(id) => req.form("client_id", id),
            // A password grant without a registered client.
            None if self.def.auth_mode == AuthMode::Password => req,
            None => return Err(invalid("client_id", "is required")),
        })
    }

    /// Stores the tokens of a token response; with `token_origin`, also
    /// the API origin it names, which must match the declared pattern.
    pub(crate) fn state(
        &self,
        resp: &connhost_sdk::http::Response,
        requested: &[String],
    ) -> Result<ConnectionState, ConnectorError> {
        let origin = self.token_origin(resp)?;
        let mut state = oauth::accept_token_response(resp, requested, self.def.default_lifetime)?;
        state.fields = self.state_fields();
        state
            .fields
            .extend(origin.map(|o| (API_ORIGIN.to_string(), o)));
        Ok(state)
    }

    fn token_origin(
        &self,
        resp: &connhost_sdk::http::Response,
    ) -> Result<Option<String>, ConnectorError> {
        let Some(t) = &self.def.token_origin else {
            return Ok(None);
        };
        if !(200..300).contains(&resp.status) {
            return Ok(None);
        }
        let body: serde_json::Value = resp.json()?;
        let failure = |message: String| {
            ConnectorError::ProviderError(ProviderFailure {
                status: resp.status,
                message,
            })
        };
        let Some(text) = pointer(&body, &t.pointer) else {
            return Err(failure(format!(
                "the token response has no API origin at {}",
                t.pointer
            )));
        };
        let origin = Url::parse(&text)
            .ok()
            .filter(|u| u.scheme() == "https")
            .map(|u| origin_of(&u));
        match origin {
            Some(o) if self.def.token_origin_allows(&o) => Ok(Some(o)),
            _ => Err(failure(format!(
                "the token response names API origin `{text}`, outside {} which the definition allows",
                t.pattern
            ))),
        }
    }

    pub(crate) fn cc_request(&self, input: &ConnectionInput) -> Result<Request, ConnectorError> {
        if !self.mtls() && self.def.client_auth.as_deref() != Some("private_key_jwt") {
            need("client_secret")?;
        }
        let scopes = self.requested_scopes(input);
        let mut req = self
            .token_request(input)?
            .form("grant_type", "client_credentials");
        if !scopes.is_empty() {
            req = req.form("scope", &scopes.join(&self.def.scope_separator));
        }
        Ok(req)
    }

    pub(crate) fn client_credentials(
        &self,
        input: &ConnectionInput,
    ) -> Result<ConnectionState, ConnectorError> {
        let req = self.cc_request(input)?;
        self.state(&req.send()?, &self.requested_scopes(input))
    }

    /// RFC 6749 §4.3: the user's name and password for a token.
    pub(crate) fn password_request(
        &self,
        input: &ConnectionInput,
    ) -> Result<Request, ConnectorError> {
        need("password")?;
        let user = Fields::of(input).require("username")?.to_string();
        let scopes = self.requested_scopes(input);
        let mut req = self
            .token_request(input)?
            .form("grant_type", "password")
            .form("username", &user)
            .form_secret("password", "password");
        if !scopes.is_empty() {
            req = req.form("scope", &scopes.join(&self.def.scope_separator));
        }
        Ok(req)
    }

    pub(crate) fn password_grant(
        &self,
        input: &ConnectionInput,
    ) -> Result<ConnectionState, ConnectorError> {
        let req = self.password_request(input)?;
        self.state(&req.send()?, &self.requested_scopes(input))
    }

    /// A client-authenticated POST to one of the provider's endpoints.
    pub(crate) fn client_request_to(
        &self,
        input: &ConnectionInput,
        url: &str,
    ) -> Result<Request, ConnectorError> {
        self.client_request(input, url, &BTreeMap::new())
    }

    /// The provider's name for labels.
    pub(crate) fn name(&self) -> String {
        self.def.display_name.clone().unwrap_or(self.def.id.clone())
    }

    /// The key traded for a short-lived token at `key_exchange.url`.
    /// String values of a JSON template filled from fields (and
    /// `{username}` from the connection's user name).
    fn fill_json(&self, v: &mut serde_json::Value, input: &ConnectionInput) {
        match v {
            serde_json::Value::String(s) => {
                let mut values = self.values.clone();
                if let Some(u) = Fields::of(input).get("username") {
                    values.insert("username".into(), u.to_string());
                }
                *s = crate::template::fill(s, &values);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| self.fill_json(x, input)),
            serde_json::Value::Object(o) => o.values_mut().for_each(|x| self.fill_json(x, input)),
            _ => {}
        }
    }

    /// RFC 7523 §2.1: a JWT signed with the user's key (`private_key`) as
    /// the grant; `iss` is the client id (a service account's e-mail).
    pub(crate) fn jwt_grant_request(
        &self,
        input: &ConnectionInput,
    ) -> Result<Request, ConnectorError> {
        need("private_key")?;
        let f = Fields::of(input);
        let iss = f.require("client_id")?;
        let url = self.url(
            self.def
                .token_url
                .as_deref()
                .ok_or_else(|| invalid("definition.token_url", "is required"))?,
        );
        let spec = self.def.jwt.clone().unwrap_or(crate::definition::JwtSpec {
            alg: "RS256".into(),
            audience: None,
            lifetime: 3600,
            claims: Default::default(),
            scope_claim: false,
        });
        let now = connhost_sdk::now_unix();
        let mut claims = serde_json::json!({
            "iss": iss,
            "aud": spec.audience.as_deref().map(|a| self.url(a)).unwrap_or(url.clone()),
            "iat": now,
            "exp": now + spec.lifetime,
            "jti": crate::signed::nonce(),
        });
        if let Some(sub) = f.get("subject") {
            claims["sub"] = sub.into();
        }
        for (k, v) in &spec.claims {
            let mut v = v.clone();
            self.fill_json(&mut v, input);
            claims[k] = v;
        }
        let scopes = self.requested_scopes(input).join(&self.def.scope_separator);
        if spec.scope_claim && !scopes.is_empty() {
            claims["scope"] = scopes.clone().into();
        }
        let mut req = Request::post(url)
            .form("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
            .form(
                "assertion",
                &crate::signed::jwt(&spec.alg, &claims, "private_key")?,
            );
        if !spec.scope_claim && !scopes.is_empty() {
            req = req.form("scope", &scopes);
        }
        for (k, v) in self.params(&self.def.token_params) {
            req = req.form(&k, &v);
        }
        Ok(req)
    }

    pub(crate) fn jwt_grant(
        &self,
        input: &ConnectionInput,
    ) -> Result<ConnectionState, ConnectorError> {
        let req = self.jwt_grant_request(input)?;
        self.state(&req.send()?, &self.requested_scopes(input))
    }

    pub(crate) fn exchange_key(
        &self,
        input: &ConnectionInput,
    ) -> Result<ConnectionState, ConnectorError> {
        need("api_key")?;
        let k = self
            .def
            .key_exchange
            .as_ref()
            .ok_or_else(|| invalid("definition.key_exchange", "is required"))?;
        let mut req = Request::post(self.url(&k.url));
        if k.body.as_deref() == Some("json") {
            // The key goes in by name: the host sets it at `key_pointer`.
            let mut body = k.json.clone().unwrap_or_else(|| serde_json::json!({}));
            self.fill_json(&mut body, input);
            let pointer = k.key_pointer.as_deref().unwrap_or("/api_key");
            ensure_parent(&mut body, pointer);
            req = req.json(&body).json_secret(pointer, "api_key");
        } else {
            req = if k.param.is_empty() {
                req.basic(
                    k.username.as_deref().unwrap_or(""),
                    "api_key",
                    BasicEncoding::Raw,
                )
            } else {
                req.form_secret(&k.param, "api_key")
            };
            for (name, value) in self.params(&self.def.token_params) {
                req = req.form(&name, &value);
            }
        }
        let resp = req.send()?;
        if !(200..300).contains(&resp.status) {
            return Err(classify(&resp));
        }
        let body: serde_json::Value = resp.json()?;
        let token = pointer(&body, &k.token_pointer).ok_or_else(|| {
            ConnectorError::ProviderError(ProviderFailure {
                status: resp.status,
                message: format!("the exchange answered no token at {}", k.token_pointer),
            })
        })?;
        let lifetime = body
            .pointer(&k.expires_pointer)
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .or(self.def.default_lifetime)
            .map(|l| l.min(oauth::MAX_LIFETIME_SECS));
        secrets::set(ACCESS_TOKEN, &token);
        Ok(ConnectionState {
            granted_scopes: Vec::new(),
            expires_at: lifetime.map(|l| connhost_sdk::now_unix().saturating_add(l)),
            fields: Vec::new(),
        })
    }

    /// Adds this connection's credentials and the definition's static
    /// headers and query parameters to the connector's own request (its
    /// defaults, `accept: application/json`, give way to the definition's).
    pub(crate) fn authed(
        &self,
        input: &ConnectionInput,
        req: Request,
    ) -> Result<Request, ConnectorError> {
        let (mut wire, extra) = self.with_credentials(input, req)?.into_parts();
        wire.headers
            .retain(|(n, _)| !self.def.headers.keys().any(|k| k.eq_ignore_ascii_case(n)));
        let req = extra
            .into_iter()
            .fold(Request::from_wire(wire), |r, c| r.credential(c));
        self.sigv4(input, self.shaped(req))
    }

    /// [`Provider::authed`] for a request the platform makes through the
    /// connection: headers it set itself are kept.
    pub(crate) fn authed_passthrough(
        &self,
        input: &ConnectionInput,
        req: Request,
    ) -> Result<Request, ConnectorError> {
        let req = self.shaped(self.with_credentials(input, req)?);
        self.sigv4(input, req)
    }

    fn with_credentials(
        &self,
        input: &ConnectionInput,
        req: Request,
    ) -> Result<Request, ConnectorError> {
        let req = match self.def.auth_mode {
            AuthMode::Oauth2
            | AuthMode::Oauth2Cc
            | AuthMode::Password
            | AuthMode::KeyExchange
            | AuthMode::JwtBearer => match &self.def.token {
                None => req.bearer(ACCESS_TOKEN),
                Some(t) if t.location == KeyLocation::Query => {
                    req.secret_query(&t.name, ACCESS_TOKEN)
                }
                Some(t) => req.secret_header(
                    &t.name,
                    t.prefix.as_deref().unwrap_or("Bearer "),
                    ACCESS_TOKEN,
                ),
            },
            AuthMode::Basic => {
                let user = Fields::of(input).require("username")?;
                req.basic(user, "password", BasicEncoding::Raw)
            }
            // Signed last, over the request as it will be sent.
            AuthMode::AwsSigv4 | AuthMode::Hmac | AuthMode::Oauth1 | AuthMode::Oauth1Token => req,
            AuthMode::ApiKey => {
                let spec = self
                    .def
                    .api_key
                    .as_ref()
                    .ok_or_else(|| invalid("definition.api_key", "is required"))?;
                let req = match spec.location {
                    KeyLocation::Header => req.secret_header(&spec.name, &spec.prefix, "api_key"),
                    KeyLocation::Query => req.secret_query(&spec.name, "api_key"),
                    KeyLocation::Basic => req.basic(
                        spec.username.as_deref().unwrap_or(""),
                        "api_key",
                        BasicEncoding::Raw,
                    ),
                    KeyLocation::BasicUser => {
                        let password = spec
                            .password
                            .as_deref()
                            .filter(|p| !p.is_empty())
                            .map(|_| FIXED_PASSWORD);
                        req.basic_secrets("api_key", password)
                    }
                };
                match &spec.second {
                    Some(s2) if secrets::has(SECOND_KEY) => match s2.location {
                        KeyLocation::Query => {
                            req.credential(connhost_sdk::http::Credential::Query(
                                connhost_sdk::bindings::connhost::connector::http::SecretQuery {
                                    name: s2.name.clone(),
                                    secret: SECOND_KEY.into(),
                                },
                            ))
                        }
                        _ => req.extra_secret_header(&s2.name, &s2.prefix, SECOND_KEY),
                    },
                    Some(_) => {
                        return Err(invalid(
                            SECOND_KEY,
                            "is required by this provider (its second key)",
                        ))
                    }
                    None => req,
                }
            }
        };
        Ok(req)
    }

    /// SigV4 over the request as it goes out (after `shaped`).
    fn sigv4(&self, input: &ConnectionInput, req: Request) -> Result<Request, ConnectorError> {
        if self.def.auth_mode == AuthMode::Hmac {
            return self.hmac(input, req);
        }
        if matches!(self.def.auth_mode, AuthMode::Oauth1 | AuthMode::Oauth1Token) {
            return self.oauth1_sign(input, req);
        }
        if self.def.auth_mode != AuthMode::AwsSigv4 {
            return Ok(req);
        }
        let aws = self
            .def
            .aws
            .as_ref()
            .ok_or_else(|| invalid("definition.aws", "is required"))?;
        need("secret_access_key")?;
        let region = crate::template::fill(&aws.region, &self.values);
        crate::signed::SigV4 {
            access_key_id: Fields::of(input).require("access_key_id")?,
            secret: "secret_access_key",
            region: &region,
            service: &aws.service,
            session_token: secrets::has("session_token").then_some("session_token"),
            now: connhost_sdk::now_unix(),
        }
        .sign(req)
    }

    /// The definition's `headers` (unless the caller set them) and `query`.
    fn shaped(&self, req: Request) -> Request {
        if self.def.headers.is_empty() && self.def.query.is_empty() {
            return req;
        }
        let (mut wire, extra) = req.into_parts();
        for (k, v) in self.params(&self.def.headers) {
            if !wire.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(&k)) {
                wire.headers.push((k, v));
            }
        }
        if !self.def.query.is_empty() {
            if let Ok(mut u) = Url::parse(&wire.url) {
                let have: Vec<String> = u.query_pairs().map(|(k, _)| k.into_owned()).collect();
                {
                    let mut q = u.query_pairs_mut();
                    for (k, v) in self.params(&self.def.query) {
                        if !have.contains(&k) {
                            q.append_pair(&k, &v);
                        }
                    }
                }
                wire.url = u.to_string();
            }
        }
        extra
            .into_iter()
            .fold(Request::from_wire(wire), |r, c| r.credential(c))
    }
}

impl Provider {
    /// `hmac`: the provider's string to sign, MACed by the host with the
    /// secret `signing_secret`, in the provider's header.
    fn hmac(&self, input: &ConnectionInput, req: Request) -> Result<Request, ConnectorError> {
        use base64::Engine as _;
        let spec = self
            .def
            .hmac
            .as_ref()
            .ok_or_else(|| invalid("definition.hmac", "is required"))?;
        need("signing_secret")?;
        let key_id = Fields::of(input).require("key_id")?.to_string();
        let (mut wire, extra) = req.into_parts();
        let url = Url::parse(&wire.url).map_err(|e| invalid("url", e.to_string()))?;
        let body = match &wire.body {
            connhost_sdk::bindings::connhost::connector::http::Body::Bytes(b) => {
                String::from_utf8_lossy(b).into_owned()
            }
            connhost_sdk::bindings::connhost::connector::http::Body::Empty => String::new(),
            connhost_sdk::bindings::connhost::connector::http::Body::Form(_) => {
                return Err(invalid(
                    "body",
                    "an HMAC-signed request needs its body as bytes",
                ))
            }
        };
        let now = connhost_sdk::now_unix();
        let timestamp = match spec.timestamp.as_str() {
            "unix_ms" => format!("{}000", now),
            "iso8601" => {
                let d = crate::signed::amz_date(now);
                format!(
                    "{}-{}-{}T{}:{}:{}Z",
                    &d[0..4],
                    &d[4..6],
                    &d[6..8],
                    &d[9..11],
                    &d[11..13],
                    &d[13..15]
                )
            }
            _ => now.to_string(),
        };
        let nonce = crate::signed::nonce();
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        use connhost_sdk::http::Method as M;
        let method = match wire.method {
            M::Get => "GET",
            M::Head => "HEAD",
            M::Post => "POST",
            M::Put => "PUT",
            M::Patch => "PATCH",
            M::Delete => "DELETE",
        };
        let mut values = self.values.clone();
        for (k, v) in [
            ("timestamp", timestamp.clone()),
            ("nonce", nonce.clone()),
            ("method", method.to_string()),
            ("path", path),
            ("body", body),
            ("key_id", key_id.clone()),
        ] {
            values.insert(k.into(), v);
        }
        let to_sign = crate::template::fill(&spec.string_to_sign.replace("\\n", "\n"), &values);
        let algorithm = if spec.algorithm == "hmac-sha1" {
            connhost_sdk::signing::Algorithm::HmacSha1
        } else {
            connhost_sdk::signing::Algorithm::HmacSha256
        };
        let mac = connhost_sdk::signing::sign("signing_secret", algorithm, to_sign.as_bytes())?;
        let encoded = if spec.encoding == "base64" {
            base64::engine::general_purpose::STANDARD.encode(&mac)
        } else {
            mac.iter().map(|b| format!("{b:02x}")).collect()
        };
        let mut set = |name: &str, value: String| {
            wire.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
            wire.headers.push((name.to_string(), value));
        };
        set(&spec.header, format!("{}{encoded}", spec.prefix));
        if let Some(h) = &spec.key_header {
            set(h, key_id);
        }
        if let Some(h) = &spec.timestamp_header {
            set(h, timestamp);
        }
        if let Some(h) = &spec.nonce_header {
            set(h, nonce);
        }
        Ok(extra
            .into_iter()
            .fold(Request::from_wire(wire), |r, c| r.credential(c)))
    }
}

/// Mutual TLS client authentication (RFC 8705): the certificate chain and
/// its key, both secrets, presented by the host.
pub(crate) const CLIENT_CERTIFICATE: &str = "client_certificate";
pub(crate) const CLIENT_KEY: &str = "client_key";

impl Provider {
    /// Whether the client authenticates with a TLS certificate.
    pub(crate) fn mtls(&self) -> bool {
        matches!(
            self.def.client_auth.as_deref(),
            Some("tls_client_auth" | "self_signed_tls_client_auth")
        )
    }
}

/// The secret of a provider's second key (`api_key.second`).
pub(crate) const SECOND_KEY: &str = "app_key";
/// A fixed Basic password (`api_key.password`), kept as a secret so the
/// host fills it in with the key.
pub(crate) const FIXED_PASSWORD: &str = "api_key_password";

/// Makes the objects on the way to `pointer`'s parent exist.
fn ensure_parent(v: &mut serde_json::Value, pointer: &str) {
    let parts: Vec<&str> = pointer.split('/').skip(1).collect();
    let mut cur = v;
    for p in &parts[..parts.len().saturating_sub(1)] {
        let Some(obj) = cur.as_object_mut() else {
            return;
        };
        cur = obj
            .entry(p.to_string())
            .or_insert_with(|| serde_json::json!({}));
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
