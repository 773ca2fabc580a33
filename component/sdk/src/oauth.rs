//! OAuth 2.0 token endpoint helpers (RFC 6749).

use crate::http::{classify, error_message, BasicEncoding, Request, Response, ResponseExt};
use crate::{invalid, now_unix, secrets, ConnectionState, ConnectorError};
use serde::Deserialize;

/// Secret name under which access tokens are stored.
pub const ACCESS_TOKEN: &str = "access_token";
/// Secret name under which refresh tokens are stored.
pub const REFRESH_TOKEN: &str = "refresh_token";

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic`, id and secret form-urlencoded first.
    Basic,
    /// `Authorization: Basic` over the raw `id:secret`.
    BasicRaw,
    /// `client_id` and `client_secret` as form fields.
    Post,
}

impl ClientAuth {
    /// Parses `client_secret_basic`, `client_secret_basic_raw` or
    /// `client_secret_post`; `field` names the field for the error.
    pub fn parse(field: &str, v: &str) -> Result<Self, ConnectorError> {
        match v {
            "client_secret_basic" => Ok(ClientAuth::Basic),
            "client_secret_basic_raw" => Ok(ClientAuth::BasicRaw),
            "client_secret_post" => Ok(ClientAuth::Post),
            other => Err(invalid(
                field,
                format!("must be client_secret_basic or client_secret_post, got `{other}`"),
            )),
        }
    }

    /// Adds client authentication to a token-endpoint request.
    pub fn apply(self, req: Request, client_id: &str, secret_name: &str) -> Request {
        match self {
            ClientAuth::Basic => req.basic(client_id, secret_name, BasicEncoding::FormUrlencoded),
            ClientAuth::BasicRaw => req.basic(client_id, secret_name, BasicEncoding::Raw),
            ClientAuth::Post => req
                .form("client_id", client_id)
                .form_secret("client_secret", secret_name),
        }
    }
}

/// The longest lifetime a token response may give (10 years, as the
/// host keeps it): `expires_in` of 2^64−1 or 1e308 is clamped to this,
/// so the token is still renewed and its expiry fits any store.
pub const MAX_LIFETIME_SECS: u64 = 10 * 365 * 24 * 3600;

/// `expires_in` as read: seconds, or a negative number (refused).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Lifetime {
    Secs(u64),
    Negative,
}

/// `expires_in` as a number, or as a string as some servers send it.
fn lifetime<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Lifetime>, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = Option<Lifetime>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("seconds as a number or a string")
        }
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(Lifetime::Secs(v)))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(match u64::try_from(v) {
                Ok(v) => Lifetime::Secs(v),
                Err(_) => Lifetime::Negative,
            }))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
            Ok(match v {
                v if v < 0.0 => Some(Lifetime::Negative),
                // Saturates: 1e308 reads as u64::MAX (then clamped).
                v if v >= 0.0 => Some(Lifetime::Secs(v as u64)),
                _ => None, // NaN cannot come from JSON
            })
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            let v = v.trim();
            Ok(match v.parse::<u64>() {
                Ok(n) => Some(Lifetime::Secs(n)),
                Err(_) => match v.parse::<f64>() {
                    Ok(f) if f < 0.0 => Some(Lifetime::Negative),
                    Ok(f) if f >= 0.0 => Some(Lifetime::Secs(f as u64)),
                    _ => None,
                },
            })
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    #[serde(default, deserialize_with = "lifetime")]
    expires_in: Option<Lifetime>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// A checked, successful token response (RFC 6749 §5.1): what
/// [`accept_token_response`] stores and returns.
#[derive(Debug)]
pub struct Tokens {
    /// The access token; never empty.
    pub access_token: String,
    /// A new refresh token, when the server sent a non-empty one.
    pub refresh_token: Option<String>,
    /// Granted scopes and expiry; no fields.
    pub state: ConnectionState,
}

/// Reads a token response, stores the tokens as secrets and returns the
/// connection state. `requested` is what was asked for: RFC 6749 §5.1 says
/// an omitted `scope` means exactly those were granted. `default_lifetime`
/// applies when `expires_in` is missing.
pub fn accept_token_response(
    resp: &Response,
    requested: &[String],
    default_lifetime: Option<u64>,
) -> Result<ConnectionState, ConnectorError> {
    let t = parse_token_response(resp, requested, default_lifetime, now_unix())?;
    secrets::set(ACCESS_TOKEN, &t.access_token);
    // Rotation: a new refresh token replaces the old; none keeps the old.
    if let Some(rt) = &t.refresh_token {
        secrets::set(REFRESH_TOKEN, rt);
    }
    Ok(t.state)
}

/// [`accept_token_response`] without storing anything: checks the
/// response and computes the state as of `now` (Unix seconds). Uses no
/// imports.
pub fn parse_token_response(
    resp: &Response,
    requested: &[String],
    default_lifetime: Option<u64>,
    now: u64,
) -> Result<Tokens, ConnectorError> {
    if !(200..300).contains(&resp.status) {
        return Err(token_error(resp));
    }
    let t: TokenResponse = resp.json()?;
    // RFC 6749 §5.1: token_type is case-insensitive.
    if !t.token_type.eq_ignore_ascii_case("bearer") {
        return Err(crate::ConnectorError::ProviderError(
            crate::ProviderFailure {
                status: resp.status,
                message: format!("unsupported token_type `{}`", t.token_type),
            },
        ));
    }
    if t.access_token.is_empty() {
        return Err(crate::ConnectorError::ProviderError(
            crate::ProviderFailure {
                status: resp.status,
                message: "empty access_token".into(),
            },
        ));
    }
    // Some servers send expires_in as a string. A negative one is not
    // "no expiry": the response is refused.
    let lifetime = match t.expires_in {
        Some(Lifetime::Negative) => {
            return Err(crate::ConnectorError::ProviderError(
                crate::ProviderFailure {
                    status: resp.status,
                    message: "the token response's expires_in is negative".into(),
                },
            ))
        }
        Some(Lifetime::Secs(s)) => Some(s),
        None => default_lifetime,
    }
    .map(|l| l.min(MAX_LIFETIME_SECS));
    let granted = match t.scope {
        Some(s) => s.split_whitespace().map(str::to_string).collect(),
        None => requested.to_vec(),
    };
    // A huge `expires_in` was clamped above; adding it cannot wrap.
    Ok(Tokens {
        access_token: t.access_token,
        refresh_token: t.refresh_token.filter(|r| !r.is_empty()),
        state: ConnectionState {
            granted_scopes: granted,
            expires_at: lifetime.map(|l| now.saturating_add(l)),
            fields: Vec::new(),
        },
    })
}

/// Maps an error from a token endpoint (RFC 6749 §5.2).
pub fn token_error(resp: &Response) -> ConnectorError {
    let code = serde_json::from_slice::<crate::http::ErrorBody>(&resp.body)
        .ok()
        .and_then(|b| b.error);
    let message = error_message(resp);
    match code.as_deref() {
        Some("invalid_client") | Some("unauthorized_client") => {
            ConnectorError::Unauthorized(message)
        }
        Some("invalid_grant") => ConnectorError::ReauthorizationRequired(message),
        Some("invalid_scope") => invalid("scopes", message),
        _ => classify(resp),
    }
}
