//! Celonis connector: Intelligence and Data Push APIs, authenticated with an
//! AppKey, an API key, or an OAuth 2.0 client (client credentials).

use connhost_sdk::http::{Request, ResponseExt};
use connhost_sdk::oauth::{self, ClientAuth};
use connhost_sdk::{
    auth_kind, export_connector, field, invalid, manifest, state, ConnectionInput, ConnectionState,
    Connector, ConnectorError, FieldSpecExt, Fields, Manifest, ManifestExt, RefreshOutcome,
    Verification,
};

mod scopes;

struct Celonis;

/// How a connection authenticates, read from its fields.
enum Auth<'a> {
    AppKey,
    ApiKey,
    OAuth2 {
        client_id: &'a str,
        client_auth: ClientAuth,
        scopes: Vec<String>,
    },
}

enum ApiType<'a> {
    Intelligence,
    DataPush { pool_id: &'a str },
}

/// A connection's settings, validated.
struct Settings<'a> {
    domain: String,
    api: ApiType<'a>,
    auth: Auth<'a>,
}

impl<'a> Settings<'a> {
    fn parse(input: &'a ConnectionInput) -> Result<Self, ConnectorError> {
        let f = Fields::of(input);
        let domain = parse_domain(f.require("domain")?)?;
        let api = match f.one_of_or("api_type", &["intelligence", "data_push"], "intelligence")? {
            "intelligence" => ApiType::Intelligence,
            _ => {
                let pool_id = f
                    .get("pool_id")
                    .ok_or_else(|| invalid("pool_id", "is required for the Data Push API"))?;
                if !pool_id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(invalid(
                        "pool_id",
                        "may contain only letters, digits, - and _",
                    ));
                }
                ApiType::DataPush { pool_id }
            }
        };
        let auth = match f.one_of_or("auth_type", &["app-key", "api-key", "oauth2"], "app-key")? {
            "app-key" => Auth::AppKey,
            "api-key" => Auth::ApiKey,
            _ => {
                if matches!(api, ApiType::DataPush { .. }) {
                    return Err(invalid(
                        "auth_type",
                        "the Data Push API supports app-key and api-key only",
                    ));
                }
                let scopes = f.list("scopes");
                if scopes.is_empty() {
                    return Err(invalid(
                        "scopes",
                        "at least one scope is required for OAuth 2.0",
                    ));
                }
                if let Some(unknown) = scopes.iter().find(|s| !scopes::is_known(s)) {
                    return Err(invalid(
                        "scopes",
                        format!("unknown Celonis scope `{unknown}`"),
                    ));
                }
                Auth::OAuth2 {
                    client_id: f.require("client_id")?,
                    client_auth: ClientAuth::parse(
                        "client_auth",
                        f.get("client_auth").unwrap_or("client_secret_basic"),
                    )?,
                    scopes,
                }
            }
        };
        Ok(Settings { domain, api, auth })
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{}", self.domain, path)
    }

    /// A request carrying this connection's credentials.
    fn authed(&self, req: Request) -> Request {
        match self.auth {
            Auth::AppKey => req.secret_header("authorization", "AppKey ", "app_key"),
            Auth::ApiKey => req.bearer("api_key"),
            Auth::OAuth2 { .. } => req.bearer(oauth::ACCESS_TOKEN),
        }
    }

    fn require_secret(&self) -> Result<(), ConnectorError> {
        let name = match self.auth {
            Auth::AppKey => "app_key",
            Auth::ApiKey => "api_key",
            Auth::OAuth2 { .. } => "client_secret",
        };
        if connhost_sdk::secrets::has(name) {
            Ok(())
        } else {
            Err(invalid(name, "is required"))
        }
    }

    /// Client credentials grant (RFC 6749 §4.4).
    fn request_token(&self) -> Result<ConnectionState, ConnectorError> {
        let Auth::OAuth2 {
            client_id,
            client_auth,
            scopes,
        } = &self.auth
        else {
            return Err(ConnectorError::Unsupported(
                "tokens exist only for OAuth 2.0 connections".into(),
            ));
        };
        let req = Request::post(self.url("/oauth2/token"))
            .form("grant_type", "client_credentials")
            .form("scope", &scopes.join(" "));
        let resp = client_auth.apply(req, client_id, "client_secret").send()?;
        oauth::accept_token_response(&resp, scopes, None)
    }
}

/// Accepts `<team>.<cluster>.celonis.cloud`, with or without `https://` and
/// a trailing slash; anything else, `http://` included, is refused.
fn parse_domain(raw: &str) -> Result<String, ConnectorError> {
    let lower = raw.trim().to_ascii_lowercase();
    let host = match lower.split_once("://") {
        Some(("https", rest)) => rest.trim_end_matches('/'),
        Some((scheme, _)) => {
            return Err(invalid(
                "domain",
                format!("only https is supported, got {scheme}://"),
            ))
        }
        None => lower.trim_end_matches('/'),
    };
    let labels: Vec<&str> = host.split('.').collect();
    let valid_label = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if labels.len() == 4
        && labels[2] == "celonis"
        && labels[3] == "cloud"
        && labels[..2].iter().all(valid_label)
    {
        Ok(host.to_string())
    } else {
        Err(invalid(
            "domain",
            format!(
                "expected <team>.<cluster>.celonis.cloud, got `{}`",
                raw.trim()
            ),
        ))
    }
}

impl Connector for Celonis {
    fn manifest() -> Manifest {
        let m = manifest("celonis", "Celonis", env!("CARGO_PKG_VERSION"))
            .field(
                field("domain", "Domain")
                    .required()
                    .help("Your Celonis account domain: <team>.<cluster>.celonis.cloud"),
            )
            .field(
                field("api_type", "API type")
                    .required()
                    .default_value("intelligence")
                    .one_of(&["intelligence", "data_push"]),
            )
            .field(field("pool_id", "Pool ID").help("Data pool to push to (Data Push API only)"))
            .field(
                field("auth_type", "Auth type")
                    .required()
                    .default_value("app-key")
                    .one_of(&["app-key", "api-key", "oauth2"]),
            )
            .auth_field("auth_type")
            .auth_kind(auth_kind(
                "app-key",
                "Custom (App key)",
                vec![field("app_key", "App key")
                    .required()
                    .secret()
                    .help("Admin & settings > Applications > Add new application")],
            ))
            .auth_kind(auth_kind(
                "api-key",
                "Token (API key)",
                vec![field("api_key", "API key")
                    .required()
                    .secret()
                    .help("Profile > Edit profile > Create API key")],
            ))
            .auth_kind(auth_kind(
                "oauth2",
                "OAuth 2.0 (client credentials)",
                vec![
                    field("client_id", "Client ID").required(),
                    field("client_secret", "Client secret").required().secret(),
                    field("client_auth", "Client authentication")
                        .default_value("client_secret_basic")
                        .one_of(&["client_secret_basic", "client_secret_post"])
                        .advanced(),
                    field("scopes", "Scopes")
                        .required()
                        .help("Space-separated Celonis scopes, e.g. studio integration.data-pools"),
                ],
            ))
            .hosts(&["https://{domain}"])
            .scopes_field("scopes")
            // What `oauth::accept_token_response` may store: the access
            // token, and a refresh token should the server send one
            // (client credentials renew by asking again, so no
            // `refresh_secret`; the expiry makes them renewable).
            .token_secrets(&[oauth::ACCESS_TOKEN, oauth::REFRESH_TOKEN]);
        scopes::CATALOGUE
            .iter()
            .fold(m, |m, (group, name, description)| {
                m.scope(group, name, description)
            })
    }

    fn create(input: ConnectionInput) -> Result<ConnectionState, ConnectorError> {
        let s = Settings::parse(&input)?;
        s.require_secret()?;
        match s.auth {
            Auth::OAuth2 { .. } => s.request_token(),
            Auth::AppKey | Auth::ApiKey => Ok(state()),
        }
    }

    fn authenticate_request(
        input: ConnectionInput,
        request: Request,
    ) -> Result<Request, ConnectorError> {
        Ok(Settings::parse(&input)?.authed(request))
    }

    fn verify(input: ConnectionInput) -> Result<Verification, ConnectorError> {
        let s = Settings::parse(&input)?;
        s.require_secret()?;
        // The identity call pycelonis makes on connect.
        let cloud: Cloud = s
            .authed(Request::get(s.url("/api/cloud")))
            .send_ok()?
            .json()?;
        match &s.api {
            ApiType::Intelligence => {
                s.authed(Request::get(s.url("/intelligence/api/knowledge-models")))
                    .send_ok()?;
            }
            ApiType::DataPush { pool_id } => {
                let path = format!("/integration/api/v1/data-push/{pool_id}/jobs/");
                let resp = s.authed(Request::get(s.url(&path))).send()?;
                if resp.status == 404 {
                    return Err(invalid(
                        "pool_id",
                        format!("no data pool `{pool_id}` in this team"),
                    ));
                }
                if !(200..300).contains(&resp.status) {
                    return Err(connhost_sdk::http::classify(&resp));
                }
            }
        }
        Ok(Verification {
            account_label: account_label(cloud, &s.domain),
        })
    }

    fn refresh(input: ConnectionInput) -> Result<RefreshOutcome, ConnectorError> {
        let s = Settings::parse(&input)?;
        match s.auth {
            // Client credentials has no refresh token (RFC 6749 §4.4.3):
            // renewing means asking for a new token.
            Auth::OAuth2 { .. } => {
                s.require_secret()?;
                Ok(RefreshOutcome::Refreshed(s.request_token()?))
            }
            Auth::AppKey | Auth::ApiKey => Ok(RefreshOutcome::NotNeeded(
                "static keys do not expire; nothing to refresh".into(),
            )),
        }
    }

    // No consent flow (Celonis OAuth clients use client credentials), and
    // no revocation endpoint: client-credentials tokens lapse within 15
    // minutes. The SDK's defaults say so.
}

/// The identity fields of `/api/cloud` we read.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cloud {
    #[serde(default)]
    user_email: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    user_name: Option<String>,
    #[serde(default)]
    application_name: Option<String>,
    #[serde(default)]
    team_name: Option<String>,
    #[serde(default)]
    team_domain: Option<String>,
}

/// "<user> (<team>)" from `/api/cloud`, falling back to the domain.
fn account_label(cloud: Cloud, domain: &str) -> String {
    let first = |v: [Option<String>; 4]| v.into_iter().flatten().find(|s| !s.is_empty());
    let who = first([
        cloud.user_email,
        cloud.email,
        cloud.user_name,
        cloud.application_name,
    ]);
    let team = first([cloud.team_name, cloud.team_domain, None, None]);
    match (who, team) {
        (Some(w), Some(t)) => format!("{w} ({t})"),
        (Some(w), None) => w,
        (None, Some(t)) => t,
        (None, None) => domain.to_string(),
    }
}

export_connector!(Celonis);
