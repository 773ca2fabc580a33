//! The generic connector: any service described by a provider definition
//! (data, not code): OAuth 2.0 authorization code with PKCE, client
//! credentials, API keys or HTTP basic. A connection names its provider
//! with `provider` (a shipped id), `definition` (the JSON of an added
//! one; the host fills it in for `connhost provider add`), or `issuer`
//! alone (RFC 8414 / OpenID discovery).

mod definition;
mod discovery;
mod mcp;
mod oauth1;
mod spec;
mod validate;
/// `SHIPPED`: every `providers/*.json`, by id (written by build.rs).
mod shipped {
    include!(concat!(env!("OUT_DIR"), "/shipped.rs"));
}
mod provider;
mod signed;
mod template;
mod verify;

use connhost_sdk::http::{classify, Method, Request, ResponseExt};
use connhost_sdk::oauth::{ACCESS_TOKEN, REFRESH_TOKEN};
use connhost_sdk::{
    auth_kind, export_connector, field, invalid, manifest, secrets, state, AuthKindExt,
    Authorization, AuthorizeRequest, CodeExchange, ConnectionInput, ConnectionState, Connector,
    ConnectorError, FieldSpecExt, Fields, Manifest, ManifestExt, ProviderFailure, RefreshOutcome,
    Verification,
};
use definition::{origin_of, AuthMode, SHIPPED};
use provider::{issuer_of, known, need, pointer, provider, Provider};
use url::Url;

struct Generic;

impl Connector for Generic {
    fn manifest() -> Manifest {
        let shipped: Vec<&str> = SHIPPED.iter().map(|(i, _)| *i).collect();
        let client_id = || field("client_id", "Client ID").required();
        let m = manifest(
            "generic",
            "Generic OAuth 2.0 / API key",
            env!("CARGO_PKG_VERSION"),
        )
        .field(
            field("provider", "Provider")
                .one_of(&shipped)
                .help("A shipped provider; or add one with `connhost provider add FILE`"),
        )
        .field(field("definition", "Provider definition (JSON)").advanced())
        .field(
            field("issuer", "Issuer URL")
                .help("Discover endpoints from RFC 8414 / OpenID metadata"),
        )
        .field(field(provider::MCP_SERVER, "MCP server URL").help(
            "An OAuth-protected MCP server: its authorization server is found from the server (RFC 9728), and a client registered when no client ID is given (RFC 7591)",
        ))
        .field(
            field("auth_mode", "Auth mode")
                .required()
                .default_value("oauth2")
                .one_of(&[
                    "oauth2",
                    "oauth2_cc",
                    "password",
                    "jwt_bearer",
                    "api_key",
                    "basic",
                    "key_exchange",
                    "aws_sigv4",
                    "hmac",
                    "oauth1",
                    "oauth1_token",
                ]),
        )
        .field(field("scopes", "Scopes").help("Space- or comma-separated; default: the provider's"))
        .auth_field("auth_mode")
        .auth_kind(
            auth_kind(
                "oauth2",
                "OAuth 2.0 authorization code (browser consent, PKCE)",
                vec![
                    field("client_id", "Client ID").help(
                        "Required, unless the provider registers clients on the fly (an MCP server)",
                    ),
                    field("client_secret", "Client secret")
                        .secret()
                        .help("Omit for public clients (PKCE only)"),
                    field(provider::CLIENT_CERTIFICATE, "Client certificate (PEM)")
                        .secret()
                        .help("For mutual TLS (RFC 8705 tls_client_auth): the chain, leaf first"),
                    field(provider::CLIENT_KEY, "Client certificate key (PEM)").secret(),
                ],
            )
            .authorization_code(),
        )
        .auth_kind(auth_kind(
            "oauth2_cc",
            "OAuth 2.0 client credentials",
            vec![
                client_id(),
                field("client_secret", "Client secret")
                    .secret()
                    .help("Required unless the provider authenticates clients by certificate or key"),
                field(provider::CLIENT_CERTIFICATE, "Client certificate (PEM)")
                    .secret()
                    .help("For mutual TLS (RFC 8705 tls_client_auth): the chain, leaf first"),
                field(provider::CLIENT_KEY, "Client certificate key (PEM)").secret(),
            ],
        ))
        .auth_kind(auth_kind(
            "api_key",
            "API key",
            vec![
                field("api_key", "API key").required().secret(),
                field("app_key", "Second key")
                    .secret()
                    .help("For providers that want two keys on every request (application key)"),
            ],
        ))
        .auth_kind(auth_kind(
            "password",
            "OAuth 2.0 password grant (user name and password for a token)",
            vec![
                field("username", "User name").required(),
                field("password", "Password").required().secret(),
                field("client_id", "Client ID").help("When the provider registers clients"),
                field("client_secret", "Client secret").secret(),
            ],
        ))
        .auth_kind(auth_kind(
            "key_exchange",
            "API key exchanged for a short-lived token",
            vec![
                field("api_key", "API key").required().secret(),
                field("username", "User name").help("When the provider's exchange names the user"),
            ],
        ))
        .auth_kind(auth_kind(
            "jwt_bearer",
            "OAuth 2.0 JWT bearer grant (RFC 7523: a service account's key)",
            vec![
                field("client_id", "Client ID / issuer")
                    .required()
                    .help("The JWT's `iss`, e.g. a service account's e-mail"),
                field("subject", "Subject")
                    .help("The JWT's `sub`: a user to act for, when allowed"),
                field("private_key", "Private key (PEM, PKCS#8)")
                    .required()
                    .secret(),
            ],
        ))
        .auth_kind(auth_kind(
            "hmac",
            "A key id and a secret that signs every request (HMAC)",
            vec![
                field("key_id", "Key ID").required(),
                field("signing_secret", "Signing secret")
                    .required()
                    .secret(),
            ],
        ))
        .auth_kind(
            auth_kind(
                "oauth1",
                "OAuth 1.0a (browser consent; every request signed by the host)",
                vec![
                    field("client_id", "Consumer key").required(),
                    field("client_secret", "Consumer secret")
                        .required()
                        .secret(),
                ],
            )
            .authorization_code(),
        )
        .auth_kind(auth_kind(
            "oauth1_token",
            "OAuth 1.0 with a token you created at the provider (token-based authentication)",
            vec![
                field("client_id", "Consumer key").required(),
                field("client_secret", "Consumer secret")
                    .required()
                    .secret(),
                field(oauth1::GIVEN_TOKEN_FIELD, "Token ID").required(),
                field(oauth1::GIVEN_TOKEN_SECRET, "Token secret")
                    .required()
                    .secret(),
            ],
        ))
        .auth_kind(auth_kind(
            "aws_sigv4",
            "AWS Signature Version 4 (access key)",
            vec![
                field("access_key_id", "Access key ID").required(),
                field("secret_access_key", "Secret access key")
                    .required()
                    .secret(),
                field("session_token", "Session token")
                    .secret()
                    .help("For temporary credentials"),
            ],
        ))
        .auth_kind(auth_kind(
            "basic",
            "User name and password",
            vec![
                field("username", "User name").required(),
                field("password", "Password").required().secret(),
            ],
        ))
        // No `hosts`: origins come from the provider definition (see
        // `allowed_origins`), which reaches us through `provider` /
        // `definition`.
        .definitions("provider", "definition")
        // The shipped providers' origins, a team's stored definitions'
        // (approved by the host when added), and a user-given issuer.
        .origin_patterns(&shipped_origins())
        .scopes_field("scopes")
        // `authorize_url` hands back the provider's issuer in this field.
        .issuer_field("issuer")
        .token_secrets(&[ACCESS_TOKEN, REFRESH_TOKEN, oauth1::TOKEN_SECRET])
        .refresh_secret(REFRESH_TOKEN);
        // The fields definitions may declare (`https://{subdomain}.…`).
        template::TEMPLATE_FIELDS.iter().fold(m, |m, name| {
            let label = name[..1].to_ascii_uppercase() + &name[1..];
            // Advanced: a form shows the ones the chosen provider declares.
            m.field(field(name, &label).advanced().help(
                "Used by providers whose URLs or headers name it (`connhost provider show ID` lists a provider's fields)",
            ))
        })
    }

    fn create(input: ConnectionInput) -> Result<ConnectionState, ConnectorError> {
        let p = provider(&input)?;
        match p.def.auth_mode {
            AuthMode::Oauth2Cc => p.client_credentials(&input),
            AuthMode::Password => p.password_grant(&input),
            AuthMode::KeyExchange => p.exchange_key(&input),
            AuthMode::JwtBearer => p.jwt_grant(&input),
            AuthMode::Hmac => {
                need("signing_secret")?;
                Fields::of(&input).require("key_id")?;
                Ok(ConnectionState { fields: p.state_fields(), ..state() })
            }
            AuthMode::AwsSigv4 => {
                need("secret_access_key")?;
                Fields::of(&input).require("access_key_id")?;
                Ok(ConnectionState { fields: p.state_fields(), ..state() })
            },
            AuthMode::ApiKey => {
                need("api_key")?;
                // A fixed Basic password goes with the key, filled by the host.
                if let Some(pw) = p.def.api_key.as_ref().and_then(|k| k.password.as_deref()) {
                    if !pw.is_empty() {
                        secrets::set(provider::FIXED_PASSWORD, pw);
                    }
                }
                Ok(ConnectionState { fields: p.state_fields(), ..state() })
            }
            AuthMode::Basic => {
                need("password")?;
                Fields::of(&input).require("username")?;
                Ok(ConnectionState { fields: p.state_fields(), ..state() })
            }
            AuthMode::Oauth1Token => {
                need("client_secret")?;
                need(oauth1::GIVEN_TOKEN_SECRET)?;
                let f = Fields::of(&input);
                f.require("client_id")?;
                f.require(oauth1::GIVEN_TOKEN_FIELD)?;
                Ok(ConnectionState { fields: p.state_fields(), ..state() })
            }
            AuthMode::Oauth2 | AuthMode::Oauth1 => Err(ConnectorError::Unsupported(
                format!("{} connections are created through the consent flow (authorize-url, exchange-code)", p.def.auth_mode.id()),
            )),
        }
    }

    fn verify(input: ConnectionInput) -> Result<Verification, ConnectorError> {
        let p = provider(&input)?;
        let Some(spec) = p.def.verify.clone() else {
            return verify::without_endpoint(&p, &input);
        };
        let url = p.url(&spec.url);
        Url::parse(&url).map_err(|e| invalid("definition.verify.url", e.to_string()))?;
        let method = if spec.method == "POST" {
            Method::Post
        } else {
            Method::Get
        };
        let req = p.authed(&input, Request::new(method, url))?;
        let resp = req.send()?;
        if resp.status != spec.expected_status {
            return Err(classify(&resp));
        }
        let label = spec
            .label
            .as_deref()
            .filter(|p| !p.is_empty())
            .and_then(|ptr| {
                resp.json::<serde_json::Value>()
                    .ok()
                    .and_then(|v| pointer(&v, ptr))
            })
            .unwrap_or_else(|| p.name());
        Ok(Verification {
            account_label: label,
        })
    }

    fn refresh(input: ConnectionInput) -> Result<RefreshOutcome, ConnectorError> {
        let p = provider(&input)?;
        match p.def.auth_mode {
            AuthMode::Oauth2Cc => Ok(RefreshOutcome::Refreshed(p.client_credentials(&input)?)),
            AuthMode::KeyExchange => Ok(RefreshOutcome::Refreshed(p.exchange_key(&input)?)),
            AuthMode::JwtBearer => Ok(RefreshOutcome::Refreshed(p.jwt_grant(&input)?)),
            AuthMode::Password if !secrets::has(REFRESH_TOKEN) => {
                Ok(RefreshOutcome::Refreshed(p.password_grant(&input)?))
            }
            AuthMode::Oauth2 | AuthMode::Password => {
                if !secrets::has(REFRESH_TOKEN) {
                    return Err(ConnectorError::ReauthorizationRequired(
                        "the provider issued no refresh token; reauthorize to get new access"
                            .into(),
                    ));
                }
                let req = p.refresh_request(&input)?;
                // Keep the granted scopes when the response omits `scope`.
                let state = p.state(&req.send()?, &input.granted_scopes)?;
                Ok(RefreshOutcome::Refreshed(state))
            }
            AuthMode::ApiKey
            | AuthMode::Basic
            | AuthMode::AwsSigv4
            | AuthMode::Hmac
            | AuthMode::Oauth1
            | AuthMode::Oauth1Token => Ok(RefreshOutcome::NotNeeded(
                "static credentials do not expire; nothing to refresh".into(),
            )),
        }
    }

    fn authorize_url(
        input: ConnectionInput,
        req: AuthorizeRequest,
    ) -> Result<Authorization, ConnectorError> {
        let p = provider(&input)?;
        if p.def.auth_mode == AuthMode::Oauth1 {
            return p.oauth1_authorize(&input, &req);
        }
        let base = p.def.authorize_url.as_deref().ok_or_else(|| {
            invalid(
                "definition.authorize_url",
                "is required for the consent flow",
            )
        })?;
        let mut url = Url::parse(&p.url(base))
            .map_err(|e| invalid("definition.authorize_url", e.to_string()))?;
        let scopes = if req.scopes.is_empty() {
            p.requested_scopes(&input)
        } else {
            req.scopes.clone()
        };
        // RFC 7591: no client given, one registered for this redirect URI.
        let (client_id, registered) = match Fields::of(&input).get("client_id") {
            Some(id) => (id.to_string(), None),
            None if p.def.registration_url.is_some() => {
                let id = p.register_client(&req.redirect_uri, &scopes)?;
                (id.clone(), Some(id))
            }
            None => return Err(invalid("client_id", "is required")),
        };
        let client_id = client_id.as_str();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", client_id)
                .append_pair("redirect_uri", &req.redirect_uri)
                .append_pair("state", &req.state);
            if !scopes.is_empty() {
                q.append_pair("scope", &scopes.join(&p.def.scope_separator));
            }
            if p.def.pkce {
                q.append_pair("code_challenge", &req.code_challenge)
                    .append_pair("code_challenge_method", "S256");
            }
            for (k, v) in p.authorize_params() {
                q.append_pair(&k, &v);
            }
        }
        let mut fields = p.state_fields();
        if let Some(iss) = &p.def.issuer {
            fields.push(("issuer".into(), iss.clone()));
        }
        fields.extend(registered.map(|id| ("client_id".to_string(), id)));
        Ok(Authorization {
            url: url.to_string(),
            fields,
        })
    }

    fn exchange_code(
        input: ConnectionInput,
        ex: CodeExchange,
    ) -> Result<ConnectionState, ConnectorError> {
        let p = provider(&input)?;
        if p.def.auth_mode == AuthMode::Oauth1 {
            return p.oauth1_exchange(&input, &ex);
        }
        let mut req = p
            .token_request(&input)?
            .form("grant_type", "authorization_code")
            .form("code", &ex.code)
            .form("redirect_uri", &ex.redirect_uri);
        if p.def.pkce {
            req = req.form("code_verifier", &ex.code_verifier);
        }
        p.state(&req.send()?, &ex.requested_scopes)
    }

    fn revoke(input: ConnectionInput) -> Result<(), ConnectorError> {
        let p = provider(&input)?;
        let Some(url) = p.def.revocation_url.as_deref().map(|u| p.url(u)) else {
            return Ok(());
        };
        // The refresh token first: revoking it ends the grant (RFC 7009 §2.1).
        for (secret, hint) in [
            (REFRESH_TOKEN, "refresh_token"),
            (ACCESS_TOKEN, "access_token"),
        ] {
            if !secrets::has(secret) {
                continue;
            }
            let mut attempt = 0;
            loop {
                attempt += 1;
                let client_id = Fields::of(&input).require("client_id")?;
                let req = Request::post(&url)
                    .form_secret("token", secret)
                    .form("token_type_hint", hint);
                let req = if p.mtls() {
                    req.form("client_id", client_id)
                        .client_certificate(provider::CLIENT_CERTIFICATE, provider::CLIENT_KEY)
                } else if secrets::has("client_secret") {
                    p.client_auth()?.apply(req, client_id, "client_secret")
                } else {
                    req.form("client_id", client_id)
                };
                let resp = req.send()?;
                match resp.status {
                    // 200 also for tokens the server no longer knows (§2.2).
                    200 => break,
                    // §2.2.1: the client may retry after a while.
                    503 if attempt < 3 => continue,
                    _ => {
                        return Err(ConnectorError::ProviderError(ProviderFailure {
                            status: resp.status,
                            message: format!(
                                "revoking the {hint}: {}",
                                connhost_sdk::http::error_message(&resp)
                            ),
                        }))
                    }
                }
            }
        }
        Ok(())
    }

    fn authenticate_request(
        input: ConnectionInput,
        request: Request,
    ) -> Result<Request, ConnectorError> {
        // A known definition only: no discovery (network) per request.
        let def = known(&input)?
            .ok_or_else(|| invalid("provider", "the connection has no provider definition yet"))?;
        Provider::new(def, false, &input)?.authed_passthrough(&input, request)
    }

    fn allowed_origins(input: ConnectionInput) -> Result<Vec<String>, ConnectorError> {
        match known(&input)? {
            // The host checking a definition it is adding: no connection,
            // so no field values yet (every connection has `auth_mode`):
            // what its connections may call, bounded.
            Some(def) if Fields::of(&input).get("auth_mode").is_none() => Ok(def.origin_patterns()),
            Some(def) => Ok(Provider::new(def, false, &input)?.origins()),
            // Before discovery: only the issuer itself (and the MCP
            // server that named it).
            None => {
                let issuer = issuer_of(&input)?;
                let u = Url::parse(&issuer).map_err(|e| invalid("issuer", e.to_string()))?;
                let mut out = vec![origin_of(&u)];
                if let Some(server) = Fields::of(&input).get(provider::MCP_SERVER) {
                    let s = Url::parse(server)
                        .map_err(|e| invalid(provider::MCP_SERVER, e.to_string()))?;
                    out.push(origin_of(&s));
                }
                Ok(out)
            }
        }
    }
}

/// What `allowed-origins` may answer: every shipped provider's origins,
/// then `{definition}` and `{issuer}`.
fn shipped_origins() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (id, _) in SHIPPED {
        for o in definition::Definition::shipped(id)
            .map(|d| d.origin_patterns())
            .unwrap_or_default()
        {
            if !out.contains(&o) {
                out.push(o);
            }
        }
    }
    out.extend([
        "{definition}".to_string(),
        "{issuer}".to_string(),
        // The host reads this resource's metadata for the issuer (RFC 9728).
        format!("{{resource:{}}}", provider::MCP_SERVER),
    ]);
    out
}

export_connector!(Generic);
