//! The pages: one handler per page or form, each rendering a template
//! from `host/server/ui/templates` (escaped by minijinja) or redirecting.
//!
//! * [`signin`]: signing in and out;
//! * [`list`]: the team's connections;
//! * [`form`]: create and edit (the form built from a manifest);
//! * [`show`]: one connection: verify, rename, regenerate a secret, delete.

/// The value, or (from a handler) the response its error already is.
macro_rules! or_return {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

mod form;
mod list;
mod scopes;
mod show;
mod signin;

pub use form::{create, edit, edit_form, new_form};
pub use list::{list, team_list};
pub use show::{
    consent_done, consented, delete, delete_form, reauthorize, rename, set_secret, show, verify,
};
pub use signin::{home, signin, signin_form, signout};

use super::{clear_cookie, session_cookie, PreSession, Session};
use crate::AppState;
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use connhost::catalogue::ProviderDetail;
use connhost::{ConnectionRecord, Manifest, NewConnection, Secret, Status};
use minijinja::{context, Environment, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, text) in [
        ("base.html", include_str!("../../../ui/templates/base.html")),
        (
            "signin.html",
            include_str!("../../../ui/templates/signin.html"),
        ),
        ("list.html", include_str!("../../../ui/templates/list.html")),
        ("new.html", include_str!("../../../ui/templates/new.html")),
        ("show.html", include_str!("../../../ui/templates/show.html")),
        (
            "consent.html",
            include_str!("../../../ui/templates/consent.html"),
        ),
        ("back.html", include_str!("../../../ui/templates/back.html")),
        (
            "delete.html",
            include_str!("../../../ui/templates/delete.html"),
        ),
    ] {
        env.add_template(name, text).expect("templates parse");
    }
    env
});

fn render(status: StatusCode, name: &str, ctx: Value) -> Response {
    match TEMPLATES.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!("template {name}: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "page failed to render").into_response()
        }
    }
}

fn page(name: &str, ctx: Value) -> Response {
    render(StatusCode::OK, name, ctx)
}

/// An error from the library as a plain page (404 for another team's).
fn fail(e: connhost::Error) -> Response {
    let status = match e.kind() {
        "not-found" => StatusCode::NOT_FOUND,
        "invalid-input" => StatusCode::BAD_REQUEST,
        _ => StatusCode::BAD_GATEWAY,
    };
    (status, e.to_string()).into_response()
}

fn when(t: Option<u64>) -> Option<String> {
    let t = t?;
    let now = crate::ui::now();
    let ago = now.saturating_sub(t);
    Some(match ago {
        0..=59 => "just now".into(),
        60..=3599 => format!("{} min ago", ago / 60),
        3600..=86_399 => format!("{} h ago", ago / 3600),
        _ => format!("{} days ago", ago / 86_400),
    })
}

/// A status in words, and the CSS class that colours it.
fn status_words(r: &ConnectionRecord) -> (String, &'static str) {
    match r.status {
        Status::Created => ("Not verified yet".into(), ""),
        Status::Ok => ("OK".into(), "ok"),
        Status::Error => (
            format!(
                "Error: {}",
                r.last_error
                    .as_ref()
                    .map(|e| kind_words(&e.kind))
                    .unwrap_or("failed")
            ),
            "bad",
        ),
        Status::ReauthorizationRequired => ("Reauthorization required".into(), "bad"),
    }
}

fn kind_words(kind: &str) -> &'static str {
    match kind {
        "unauthorized" => "the service refused the credentials",
        "account-validation" => "missing scopes",
        "reauthorization-required" => "access must be granted again",
        "rate-limited" => "the service asked to slow down",
        "busy" => "connhost is busy with this team's other work",
        "provider-error" => "the service failed",
        "network" => "the service could not be reached",
        "timeout" => "the service did not answer in time",
        "denied-host" => "a host outside this connection's allowlist",
        "invalid-input" => "invalid settings",
        _ => "failed",
    }
}

fn advice(kind: &str) -> &'static str {
    match kind {
        "unauthorized" => "Check the key or secret, then create the connection again with the right one (secrets are never shown, so they must be entered again).",
        "account-validation" => "Grant the missing scopes to the account, or add them to the connection's scopes with Edit, then verify again.",
        "reauthorization-required" => "Access expired or was revoked: reauthorize the connection.",
        "rate-limited" | "busy" | "network" | "timeout" | "provider-error" => "This is usually temporary: verify again in a moment.",
        _ => "Check the connection's settings, then verify again.",
    }
}

fn auth_label(m: Option<&Manifest>, r: &ConnectionRecord) -> String {
    let Some(m) = m else {
        return String::new();
    };
    let id = r.fields.get(&m.auth_field).cloned().unwrap_or_default();
    m.auth_kinds
        .iter()
        .find(|k| k.id == id)
        .map(|k| k.label.clone())
        .unwrap_or(id)
}

/// The texts a `?flash=` code stands for. The query is anyone's to write
/// (a link from another site lands here), so the page says only what the
/// server chose: an unknown code says nothing.
fn flash_text(code: Option<&str>) -> Option<String> {
    let text = match code? {
        "saved" => "Saved: the new data verified.",
        "replaced" => "Replaced the secret: the connection verified with it.",
        "deleted" => "Deleted the connection.",
        "connected" => "Connected: access was granted.",
        "access-denied" => "Access was not granted at the provider.",
        "consent-failed" => "The provider's consent failed.",
        _ => return None,
    };
    Some(text.to_string())
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A form post's checks, in order: its CSRF token, then the session's
/// team view.
fn posted<'a>(
    s: &'a AppState,
    session: &Session,
    f: &HashMap<String, String>,
) -> Result<connhost::TeamView<'a>, Response> {
    session.check_csrf(s, f.get("csrf").map(String::as_str))?;
    session.team_view(s)
}

/// Where the provider's consent sends the browser back to (through the
/// server's OAuth callback).
fn consent_return(s: &AppState) -> String {
    super::consent_return(s)
}

/// Off to the provider's consent page. Not a redirect: the form that
/// asked may only be answered by this origin (`form-action 'self'`), so
/// the answer is a page of ours that moves on.
/// It also binds the flow to this browser (see [`super::consent_cookie`]).
fn to_provider(s: &AppState, start: &connhost::AuthorizeStart) -> Response {
    let authorize_url = &start.authorize_url;
    let host = url::Url::parse(authorize_url)
        .ok()
        .and_then(|u| u.host_str().map(String::from))
        .unwrap_or_default();
    let mut resp = page(
        "consent.html",
        context! { url => authorize_url, host => host },
    );
    resp.headers_mut().append(
        header::SET_COOKIE,
        super::consent_cookie(s, &start.pending_id),
    );
    resp
}

/// The manifest of connector `id`, if it has been added.
fn manifest_of(s: &AppState, id: &str) -> Option<Manifest> {
    s.manager
        .connectors()
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.id == id)
}
