//! Who is signed in, and the cookies that say so: the session (tagged
//! under the store's key), the sign-in form's nonce, and the consent
//! binding; `__Host-` names over https.

use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use connhost::{Caller, TeamView};

const COOKIE: &str = "connhost_ui";
/// The sign-in form's nonce (see [`PreSession`]).
const PRE_COOKIE: &str = "connhost_signin";

/// A cookie's name and path: over https, `__Host-` (Secure, Path=/, no
/// Domain), so neither plain http nor a sibling subdomain can plant it.
fn cookie_at(s: &AppState, name: &str, path: &'static str) -> (String, &'static str) {
    match s.config.public_url.starts_with("https://") {
        true => (format!("__Host-{name}"), "/"),
        false => (name.to_string(), path),
    }
}
/// How long a sign-in lasts.
const SESSION_SECS: u64 = 8 * 3600;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A signed-in person: their team and the key they signed in with.
pub struct Session {
    pub team: String,
    pub key_id: String,
    /// The signing-in key's role (read again on every request).
    pub role: connhost::Role,
    /// The cookie's payload (what CSRF tokens are tagged over).
    payload: String,
}

impl Session {
    /// The token every form of this session carries.
    pub fn csrf(&self, s: &AppState) -> String {
        s.manager.ui_tag("csrf", &self.payload)
    }

    /// Refuses a POST whose form token is not this session's.
    pub fn check_csrf(&self, s: &AppState, token: Option<&str>) -> Result<(), Response> {
        let ok = token.is_some_and(|t| s.manager.ui_tag_ok("csrf", &self.payload, t));
        if ok {
            Ok(())
        } else {
            Err((
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this page. Go back, reload and try again.",
            )
                .into_response())
        }
    }

    /// The session's team. Consent started from these pages may return
    /// to them, whatever the team's own return URL list says.
    pub fn team_view<'a>(&self, s: &'a AppState) -> Result<TeamView<'a>, Response> {
        s.manager
            .team(Caller {
                team: self.team.clone(),
                actor: format!("ui:{}", self.key_id),
            })
            .map(|t| {
                t.returning_to(format!("{}/connections", s.config.public_url))
                    .acting_as(self.role)
            })
            .map_err(|e| crate::error::ApiError(e).into_response())
    }
}

/// The cookie that signs `key` in, and its header value.
pub fn session_cookie(s: &AppState, team: &str, key_id: &str) -> HeaderValue {
    // Milliseconds: a sign-out ends sessions issued before it, even in
    // the same second.
    let expires = now_ms() + SESSION_SECS * 1000;
    let payload = format!("{team}:{key_id}:{expires}");
    let tag = s.manager.ui_tag("session", &payload);
    let (name, path) = cookie_at(s, COOKIE, "/");
    HeaderValue::from_str(&format!(
        "{name}={payload}~{tag}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECS}{}",
        secure(s)
    ))
    .expect("ids and tags are header-safe")
}

/// Login CSRF: the sign-in form is only accepted with a nonce from a
/// SameSite=Strict cookie this server set when it showed the form, and a
/// form token tagged over that nonce. Another site can neither read the
/// token nor make the browser send the cookie with its post, so it cannot
/// sign a browser into the attacker's team.
pub struct PreSession {
    pub nonce: String,
    /// Whether the nonce came from the browser (false: a fresh one).
    pub from_browser: bool,
}

impl PreSession {
    /// The token the sign-in form carries.
    pub fn token(&self, s: &AppState) -> String {
        s.manager.ui_tag("signin", &self.nonce)
    }

    pub fn check(&self, s: &AppState, token: Option<&str>) -> bool {
        self.from_browser && token.is_some_and(|t| s.manager.ui_tag_ok("signin", &self.nonce, t))
    }

    pub fn cookie(&self, s: &AppState) -> HeaderValue {
        let (name, path) = cookie_at(s, PRE_COOKIE, "/signin");
        HeaderValue::from_str(&format!(
            "{name}={}; Path={path}; HttpOnly; SameSite=Strict; Max-Age=3600{}",
            self.nonce,
            secure(s)
        ))
        .expect("hex is header-safe")
    }

    /// Spent: signed in, the nonce is dropped (a fresh form gets a new one).
    pub fn spent(s: &AppState) -> HeaderValue {
        let (name, path) = cookie_at(s, PRE_COOKIE, "/signin");
        HeaderValue::from_str(&format!(
            "{name}=; Path={path}; HttpOnly; SameSite=Strict; Max-Age=0{}",
            secure(s)
        ))
        .expect("names are header-safe")
    }
}

impl FromRequestParts<AppState> for PreSession {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        Ok(
            match cookie_value(parts, &cookie_at(s, PRE_COOKIE, "/signin").0)
                .filter(|n| n.len() == 32 && n.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                Some(nonce) => PreSession {
                    nonce,
                    from_browser: true,
                },
                None => PreSession {
                    nonce: s.manager.ui_nonce(),
                    from_browser: false,
                },
            },
        )
    }
}

/// Consent binding (RFC 9700 §4.7.1): a consent the page started may
/// finish only in the browser that started it. The page sets a cookie
/// named after the pending authorization, holding a tag over its id; the
/// callback requires it (SameSite=Lax: the provider's redirect is a
/// top-level GET from another site). Without it, someone who sent their
/// own consent link to another person would get that person's grant.
pub fn consent_cookie(s: &AppState, pending_id: &str) -> HeaderValue {
    let (name, path) = cookie_at(
        s,
        &format!("connhost_consent_{pending_id}"),
        "/oauth/callback",
    );
    let ttl = s.manager.config().pending_ttl.as_secs();
    HeaderValue::from_str(&format!(
        "{name}={}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={ttl}{}",
        s.manager.ui_tag("consent", pending_id),
        secure(s)
    ))
    .expect("pending ids and tags are header-safe")
}

/// Whether this request comes from the browser that started `pending_id`.
pub fn consent_bound(s: &AppState, headers: &axum::http::HeaderMap, pending_id: &str) -> bool {
    let (name, _) = cookie_at(
        s,
        &format!("connhost_consent_{pending_id}"),
        "/oauth/callback",
    );
    cookie_in(headers, &name).is_some_and(|tag| s.manager.ui_tag_ok("consent", pending_id, &tag))
}

/// Where the page's consent flows return (through the callback).
pub fn consent_return(s: &AppState) -> String {
    format!("{}/connections/consented", s.config.public_url)
}

fn secure(s: &AppState) -> &'static str {
    if s.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

pub fn clear_cookie(s: &AppState) -> HeaderValue {
    let (name, path) = cookie_at(s, COOKIE, "/");
    HeaderValue::from_str(&format!(
        "{name}=; Path={path}; HttpOnly; SameSite=Strict; Max-Age=0{}",
        secure(s)
    ))
    .expect("names are header-safe")
}
fn cookie_value(parts: &Parts, name: &str) -> Option<String> {
    cookie_in(&parts.headers, name)
}

fn cookie_in(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

impl FromRequestParts<AppState> for Session {
    /// No session: off to sign in.
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Response> {
        let signin = || Redirect::to("/signin").into_response();
        let value = cookie_value(parts, &cookie_at(s, COOKIE, "/").0).ok_or_else(signin)?;
        let (payload, tag) = value.split_once('~').ok_or_else(signin)?;
        if !s.manager.ui_tag_ok("session", payload, tag) {
            return Err(signin());
        }
        let mut it = payload.splitn(3, ':');
        let (Some(team), Some(key_id), Some(exp)) = (it.next(), it.next(), it.next()) else {
            return Err(signin());
        };
        if exp.parse::<u64>().map_or(true, |e| e <= now_ms()) {
            return Err(signin());
        }
        // Revoking the key ends its sessions.
        let key = s.manager.live_api_key(key_id).map_err(|_| signin())?;
        if key.team.as_deref() != Some(team) {
            return Err(signin());
        }
        // Signed out since: over, whatever the cookie says.
        let issued = exp
            .parse::<u64>()
            .unwrap_or(0)
            .saturating_sub(SESSION_SECS * 1000);
        if issued <= key.ui_sessions_after_ms {
            return Err(signin());
        }
        Ok(Session {
            team: team.to_string(),
            key_id: key_id.to_string(),
            role: key.role,
            payload: payload.to_string(),
        })
    }
}
