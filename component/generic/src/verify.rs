//! Verification when a definition names no verification endpoint: still
//! a round trip to the provider, and the label says which one. Never ✓
//! without a provider answer.

use crate::definition::AuthMode;
use crate::provider::Provider;
use connhost_sdk::http::{classify, ResponseExt};
use connhost_sdk::oauth::{self, ACCESS_TOKEN, REFRESH_TOKEN};
use connhost_sdk::{secrets, ConnectionInput, ConnectorError, Verification};

pub(crate) fn without_endpoint(
    p: &Provider,
    input: &ConnectionInput,
) -> Result<Verification, ConnectorError> {
    if let Some(server) = connhost_sdk::Fields::of(input).get(crate::provider::MCP_SERVER) {
        return p.mcp_initialize(input, server);
    }
    let how = if let Some(url) = &p.def.introspection_url {
        introspect(p, input, &p.url(url))?;
        "token introspection"
    } else {
        match p.def.auth_mode {
            AuthMode::Oauth2Cc => {
                let resp = p.cc_request(input)?.send()?;
                oauth::parse_token_response(&resp, &[], None, connhost_sdk::now_unix())?;
                "client credentials token request"
            }
            AuthMode::Password => {
                let resp = p.password_request(input)?.send()?;
                oauth::parse_token_response(&resp, &[], None, connhost_sdk::now_unix())?;
                "password grant token request"
            }
            AuthMode::KeyExchange => {
                p.exchange_key(input)?;
                "key exchange"
            }
            AuthMode::JwtBearer => {
                let resp = p.jwt_grant_request(input)?.send()?;
                oauth::parse_token_response(&resp, &[], None, connhost_sdk::now_unix())?;
                "JWT bearer token request"
            }
            AuthMode::Oauth2 if secrets::has(REFRESH_TOKEN) => {
                // The rotated tokens are kept by the host (unless a
                // renewal ran meanwhile, whose tokens win).
                p.state(&p.refresh_request(input)?.send()?, &input.granted_scopes)?;
                "token refresh"
            }
            _ => {
                return Err(ConnectorError::Unsupported(format!(
                    "provider `{}` has no verification endpoint and this connection holds no refresh token: its consent verified it; reauthorize to check it again",
                    p.def.id
                )))
            }
        }
    };
    Ok(Verification {
        account_label: format!("{} ({how})", p.name()),
    })
}

/// RFC 7662: the access token must be `active`.
fn introspect(p: &Provider, input: &ConnectionInput, url: &str) -> Result<(), ConnectorError> {
    let resp = p
        .client_request_to(input, url)?
        .form_secret("token", ACCESS_TOKEN)
        .form("token_type_hint", "access_token")
        .send()?;
    if resp.status != 200 {
        return Err(classify(&resp));
    }
    #[derive(serde::Deserialize)]
    struct Introspection {
        active: bool,
    }
    let answer: Introspection = resp.json()?;
    if !answer.active {
        return Err(ConnectorError::Unauthorized(
            "the provider says the access token is not active (RFC 7662 introspection)".into(),
        ));
    }
    Ok(())
}
