//! The pages: one handler per page or form, each rendering a template
//! from `host/server/ui/templates` (escaped by minijinja) or redirecting.

use super::{clear_cookie, session_cookie, Session};
use crate::AppState;
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use connhost::{ConnectionRecord, Manifest, NewConnection, Secret, Status};
use minijinja::{context, Environment, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, text) in [
        ("base.html", include_str!("../../ui/templates/base.html")),
        (
            "signin.html",
            include_str!("../../ui/templates/signin.html"),
        ),
        ("list.html", include_str!("../../ui/templates/list.html")),
        ("new.html", include_str!("../../ui/templates/new.html")),
        ("show.html", include_str!("../../ui/templates/show.html")),
        (
            "delete.html",
            include_str!("../../ui/templates/delete.html"),
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
    let now = super::now();
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
        "account-validation" => "Grant the missing scopes to the account, then verify again.",
        "reauthorization-required" => "Access expired or was revoked: reauthorize the connection.",
        "rate-limited" | "network" | "timeout" | "provider-error" => "This is usually temporary: verify again in a moment.",
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

pub async fn home(session: Result<Session, Response>) -> Response {
    match session {
        Ok(_) => Redirect::to("/connections").into_response(),
        Err(_) => Redirect::to("/signin").into_response(),
    }
}

pub async fn signin_form() -> Response {
    page("signin.html", context! {})
}

#[derive(serde::Deserialize)]
pub struct SignIn {
    key: String,
}

pub async fn signin(State(s): State<AppState>, Form(f): Form<SignIn>) -> Response {
    match s.manager.authenticate(f.key.trim()) {
        Ok(key) if key.team.is_some() => {
            let team = key.team.clone().unwrap_or_default();
            let mut resp = Redirect::to("/connections").into_response();
            resp.headers_mut()
                .insert(header::SET_COOKIE, session_cookie(&s, &team, &key.id));
            resp
        }
        Ok(_) => render(
            StatusCode::FORBIDDEN,
            "signin.html",
            context! { error => "An operator key does not act for a team: sign in with a team key." },
        ),
        Err(_) => render(
            StatusCode::UNAUTHORIZED,
            "signin.html",
            context! { error => "That is not a live team API key." },
        ),
    }
}

pub async fn signout(
    State(s): State<AppState>,
    session: Session,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = session.check_csrf(&s, f.get("csrf").map(String::as_str)) {
        return r;
    }
    let mut resp = Redirect::to("/signin").into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, clear_cookie());
    resp
}

#[derive(serde::Deserialize, Default)]
pub struct ListQuery {
    after: Option<String>,
    connector: Option<String>,
    status: Option<String>,
    flash: Option<String>,
}

const PAGE: usize = 50;

pub async fn team_list(
    State(s): State<AppState>,
    session: Session,
    Path(team): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    if team != session.team {
        return (StatusCode::NOT_FOUND, "no such team here").into_response();
    }
    list(State(s), session, Query(q)).await
}

pub async fn list(
    State(s): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Response {
    let t = match session.team_view(&s) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let manifests: BTreeMap<String, Manifest> = s
        .manager
        .connectors()
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect();
    let (page_rows, next) = match t.list_page(q.after.as_deref(), PAGE) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let usages = t.usages().unwrap_or_default();
    let want_connector = q.connector.clone().filter(|c| !c.is_empty());
    let want_status = q.status.clone().filter(|c| !c.is_empty());
    let rows: Vec<Value> = page_rows
        .iter()
        .filter(|r| want_connector.as_ref().is_none_or(|c| &r.connector == c))
        .filter(|r| {
            want_status.as_ref().is_none_or(|w| {
                serde_json::to_value(r.status)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .as_deref()
                    == Some(w.as_str())
            })
        })
        .map(|r| {
            let m = manifests.get(&r.connector);
            let (status, class) = status_words(r);
            context! {
                id => r.id,
                name => r.name,
                connector => m.map(|m| m.display_name.clone()).unwrap_or(r.connector.clone()),
                auth => auth_label(m, r),
                status => status,
                status_class => class,
                account => r.account_label,
                verified => when(r.verified_at),
                usages => usages.iter().filter(|u| u.connection == r.id).count(),
            }
        })
        .collect();
    let next = next.map(|after| {
        let mut url = format!("/connections?after={after}");
        if let Some(c) = &want_connector {
            url.push_str(&format!("&connector={}", urlencode(c)));
        }
        if let Some(st) = &want_status {
            url.push_str(&format!("&status={}", urlencode(st)));
        }
        url
    });
    let connectors: Vec<Value> = manifests
        .values()
        .map(|m| context! { id => m.id, display_name => m.display_name })
        .collect();
    page(
        "list.html",
        context! {
            team => session.team,
            csrf => session.csrf(&s),
            flash => q.flash,
            rows => rows,
            next => next,
            connectors => connectors,
            filter_connector => want_connector,
            filter_status => want_status,
            statuses => vec![
                ("ok", "OK"),
                ("error", "Error"),
                ("created", "Not verified yet"),
                ("reauthorization-required", "Reauthorization required"),
            ],
        },
    )
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[derive(serde::Deserialize, Default)]
pub struct NewQuery {
    connector: Option<String>,
    auth: Option<String>,
    advanced: Option<String>,
}

/// The form of `m` for auth kind `auth`: the connector's fields and the
/// kind's, with values (never secret ones) and errors.
fn form_fields(
    m: &Manifest,
    auth: &str,
    advanced: bool,
    values: &HashMap<String, String>,
    error_field: Option<&str>,
    error: Option<&str>,
) -> (Vec<Value>, bool) {
    let kind_fields = m
        .auth_kinds
        .iter()
        .find(|k| k.id == auth)
        .map(|k| k.fields.clone())
        .unwrap_or_default();
    let mut has_advanced = false;
    let fields = m
        .fields
        .iter()
        .filter(|f| f.name != m.auth_field)
        .chain(kind_fields.iter())
        .filter(|f| {
            has_advanced |= f.advanced;
            advanced || !f.advanced || error_field == Some(f.name.as_str())
        })
        .map(|f| {
            let value = if f.secret {
                None
            } else {
                values.get(&f.name).cloned().or(f.default.clone())
            };
            context! {
                name => f.name,
                label => f.label,
                required => f.required,
                secret => f.secret,
                advanced => f.advanced,
                help => f.help,
                allowed_values => f.allowed_values,
                value => value,
                error => (error_field == Some(f.name.as_str())).then_some(error).flatten(),
            }
        })
        .collect();
    (fields, has_advanced)
}

/// The connection form: a new connection, or (`editing`) the full
/// replacement of one, which asks for every secret again.
struct FormPage<'a> {
    m: &'a Manifest,
    auth: &'a str,
    advanced: bool,
    values: &'a HashMap<String, String>,
    error: Option<(Option<String>, String)>,
    editing: Option<&'a str>,
}

fn new_page(s: &AppState, session: &Session, p: FormPage) -> Response {
    let FormPage {
        m,
        auth,
        advanced,
        values,
        error,
        editing,
    } = p;
    let (error_field, message) = match &error {
        Some((f, msg)) => (f.clone(), Some(msg.clone())),
        None => (None, None),
    };
    let (fields, has_advanced) = form_fields(
        m,
        auth,
        advanced,
        values,
        error_field.as_deref(),
        message.as_deref(),
    );
    let auth_label = m
        .fields
        .iter()
        .find(|f| f.name == m.auth_field)
        .map(|f| f.label.clone())
        .unwrap_or("Authentication".into());
    let default_name = values
        .get("name")
        .cloned()
        .unwrap_or_else(|| format!("My {} connection", m.display_name));
    let (action, cancel, title) = match editing {
        Some(id) => (
            format!("/connections/{id}/edit"),
            format!("/connections/{id}"),
            "Edit connection",
        ),
        None => (
            "/connections/new".to_string(),
            "/connections".to_string(),
            "Create connection",
        ),
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    render(
        status,
        "new.html",
        context! {
            team => session.team,
            csrf => session.csrf(s),
            connector => context! { id => m.id, display_name => m.display_name, auth_kinds => m.auth_kinds.iter().map(|k| context!{ id => k.id, label => k.label }).collect::<Vec<_>>() },
            auth => auth,
            auth_field => m.auth_field,
            auth_label => auth_label,
            advanced => advanced,
            has_advanced => has_advanced,
            fields => fields,
            default_name => default_name,
            error => if error_field.is_none() { message } else { None },
            action => action,
            cancel => cancel,
            title => title,
            editing => editing.is_some(),
        },
    )
}

pub async fn new_form(
    State(s): State<AppState>,
    session: Session,
    Query(q): Query<NewQuery>,
) -> Response {
    let connectors = s.manager.connectors().unwrap_or_default();
    let Some(id) = q.connector.filter(|c| !c.is_empty()) else {
        let list: Vec<Value> = connectors
            .iter()
            .map(|m| context! { id => m.id, display_name => m.display_name })
            .collect();
        return page(
            "new.html",
            context! { team => session.team, csrf => session.csrf(&s), connectors => list },
        );
    };
    let Some(m) = connectors.into_iter().find(|m| m.id == id) else {
        return (StatusCode::NOT_FOUND, "no such connector").into_response();
    };
    let auth = q
        .auth
        .filter(|a| m.auth_kinds.iter().any(|k| &k.id == a))
        .or_else(|| m.auth_kinds.first().map(|k| k.id.clone()))
        .unwrap_or_default();
    new_page(
        &s,
        &session,
        FormPage {
            m: &m,
            auth: &auth,
            advanced: q.advanced.is_some(),
            values: &HashMap::new(),
            error: None,
            editing: None,
        },
    )
}

pub async fn create(
    State(s): State<AppState>,
    session: Session,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = session.check_csrf(&s, f.get("csrf").map(String::as_str)) {
        return r;
    }
    let t = match session.team_view(&s) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let connector = f.get("connector").cloned().unwrap_or_default();
    let Some(m) = s
        .manager
        .connectors()
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.id == connector)
    else {
        return (StatusCode::BAD_REQUEST, "no such connector").into_response();
    };
    let auth = f.get(&m.auth_field).cloned().unwrap_or_default();
    let (new, keep) = read_form(&m, &f);
    let created = match t.create(new).await {
        Ok(c) => c,
        Err(
            connhost::Error::InvalidInput { field, reason }
            | connhost::Error::Connector(connhost::ConnectorError::InvalidInput { field, reason }),
        ) => {
            let message = format!("{field} {reason}");
            let error = Some((Some(field), message));
            return form_error(&s, &session, &m, &auth, &keep, error, None);
        }
        Err(e) => {
            let error = Some((None, format!("✗ {}: {}", e.kind(), e)));
            return form_error(&s, &session, &m, &auth, &keep, error, None);
        }
    };
    // Verified at once: the page it lands on says ✓ or ✗ and why.
    let _ = t.verify(&created.id).await;
    Redirect::to(&format!("/connections/{}", created.id)).into_response()
}

fn form_error(
    s: &AppState,
    session: &Session,
    m: &Manifest,
    auth: &str,
    values: &HashMap<String, String>,
    error: Option<(Option<String>, String)>,
    editing: Option<&str>,
) -> Response {
    new_page(
        s,
        session,
        FormPage {
            m,
            auth,
            advanced: true,
            values,
            error,
            editing,
        },
    )
}

/// The connection a form describes, and its non-secret values (what goes
/// back into the form on an error; secrets never do). Empty inputs are
/// "not given": the manifest's defaults and required checks apply.
fn read_form(
    m: &Manifest,
    f: &HashMap<String, String>,
) -> (NewConnection, HashMap<String, String>) {
    let mut new = NewConnection {
        connector: m.id.clone(),
        name: f
            .get("name")
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty()),
        ..Default::default()
    };
    for (k, v) in f {
        if k == "csrf" || k == "connector" || k == "name" || v.is_empty() {
            continue;
        }
        match k.strip_prefix("secret:") {
            Some(name) => {
                new.secrets.insert(name.to_string(), Secret::new(v.clone()));
            }
            None => {
                new.fields.insert(k.clone(), v.clone());
            }
        }
    }
    let mut keep: HashMap<String, String> = new.fields.clone().into_iter().collect();
    if let Some(n) = &new.name {
        keep.insert("name".into(), n.clone());
    }
    (new, keep)
}

#[derive(serde::Deserialize, Default)]
pub struct EditQuery {
    auth: Option<String>,
}

/// Edit: the same form, filled with the connection's non-secret data.
pub async fn edit_form(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<EditQuery>,
) -> Response {
    let t = match session.team_view(&s) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let r = match t.get(&id) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let Some(m) = s
        .manager
        .connectors()
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.id == r.connector)
    else {
        return (StatusCode::NOT_FOUND, "its connector is gone").into_response();
    };
    let mut values: HashMap<String, String> = r.fields.clone().into_iter().collect();
    values.insert("name".into(), r.name.clone());
    let auth = q
        .auth
        .filter(|a| m.auth_kinds.iter().any(|k| &k.id == a))
        .or_else(|| r.fields.get(&m.auth_field).cloned())
        .unwrap_or_default();
    new_page(
        &s,
        &session,
        FormPage {
            m: &m,
            auth: &auth,
            advanced: true,
            values: &values,
            error: None,
            editing: Some(&id),
        },
    )
}

/// Replaces all the connection's data; the stored connection changes
/// only if the new data verifies (otherwise the form comes back with the
/// error, and the original is untouched).
pub async fn edit(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = session.check_csrf(&s, f.get("csrf").map(String::as_str)) {
        return r;
    }
    let t = match session.team_view(&s) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let r = match t.get(&id) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let Some(m) = s
        .manager
        .connectors()
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.id == r.connector)
    else {
        return (StatusCode::NOT_FOUND, "its connector is gone").into_response();
    };
    let auth = f.get(&m.auth_field).cloned().unwrap_or_default();
    let (new, keep) = read_form(&m, &f);
    match t.edit(&id, new).await {
        Ok(_) => Redirect::to(&format!(
            "/connections/{id}?flash={}",
            urlencode("Saved: the new data verified.")
        ))
        .into_response(),
        Err(
            connhost::Error::InvalidInput { field, reason }
            | connhost::Error::Connector(connhost::ConnectorError::InvalidInput { field, reason }),
        ) => {
            let error = Some((Some(field.clone()), format!("{field} {reason}")));
            form_error(&s, &session, &m, &auth, &keep, error, Some(&id))
        }
        Err(e) => {
            let error = Some((
                None,
                format!("✗ {}: {} — nothing was changed.", e.kind(), e),
            ));
            form_error(&s, &session, &m, &auth, &keep, error, Some(&id))
        }
    }
}

/// Replaces one secret (a regenerated client secret or key): kept only
/// if the connection verifies with it.
pub async fn set_secret(
    State(s): State<AppState>,
    session: Session,
    Path((id, name)): Path<(String, String)>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = session.check_csrf(&s, f.get("csrf").map(String::as_str)) {
        return r;
    }
    let t = match session.team_view(&s) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let value = f.get("value").cloned().unwrap_or_default();
    if value.is_empty() {
        let msg = format!("Enter the new value of {name}.");
        let notes = Notes {
            secret_error: Some(msg),
            ..Notes::default()
        };
        return show_page_with(&s, &session, &id, notes).await;
    }
    match t.set_secret(&id, &name, Secret::new(value)).await {
        Ok(_) => Redirect::to(&format!(
            "/connections/{id}?flash={}",
            urlencode(&format!(
                "Replaced {name}: the connection verified with it."
            ))
        ))
        .into_response(),
        Err(e) if e.kind() == "not-found" => fail(e),
        Err(e) => {
            let msg = format!("✗ {}: {} — the old value is kept.", e.kind(), e);
            let notes = Notes {
                secret_error: Some(msg),
                ..Notes::default()
            };
            show_page_with(&s, &session, &id, notes).await
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub struct ShowQuery {
    flash: Option<String>,
}

pub async fn show(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let notes = Notes {
        flash: q.flash,
        ..Notes::default()
    };
    show_page_with(&s, &session, &id, notes).await
}

/// What a detail page says besides the connection.
#[derive(Default)]
struct Notes {
    flash: Option<String>,
    rename_error: Option<String>,
    secret_error: Option<String>,
}

async fn show_page(
    s: &AppState,
    session: &Session,
    id: &str,
    rename_error: Option<String>,
) -> Response {
    let notes = Notes {
        rename_error,
        ..Notes::default()
    };
    show_page_with(s, session, id, notes).await
}

async fn show_page_with(s: &AppState, session: &Session, id: &str, notes: Notes) -> Response {
    let t = match session.team_view(s) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let r = match t.get(id) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let m = s
        .manager
        .connectors()
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.id == r.connector);
    let (status, _) = status_words(&r);
    let usages: Vec<String> = t
        .usages()
        .unwrap_or_default()
        .into_iter()
        .filter(|u| u.connection == r.id)
        .map(|u| u.consumer)
        .collect();
    let audit: Vec<(String, String, String, String)> = t
        .audit(Some(&r.id), None)
        .unwrap_or_default()
        .into_iter()
        .rev()
        .take(20)
        .map(|a| {
            (
                when(Some(a.time)).unwrap_or_default(),
                a.operation,
                a.result,
                a.actor,
            )
        })
        .collect();
    let auth_field = m.as_ref().map(|m| m.auth_field.clone()).unwrap_or_default();
    // Tokens the connector obtained are not the user's to replace.
    let token_secrets: Vec<&str> = m
        .as_ref()
        .map(|m| {
            m.token_secrets
                .iter()
                .map(String::as_str)
                .chain(m.refresh_secret.as_deref())
                .collect()
        })
        .unwrap_or_default();
    let fields: Vec<(String, String)> = r
        .fields
        .iter()
        .filter(|(k, _)| **k != auth_field)
        .map(|(k, v)| {
            let label = m
                .as_ref()
                .and_then(|m| {
                    m.fields
                        .iter()
                        .chain(m.auth_kinds.iter().flat_map(|k| k.fields.iter()))
                        .find(|f| &f.name == k)
                        .map(|f| f.label.clone())
                })
                .unwrap_or(k.clone());
            (label, v.clone())
        })
        .collect();
    let expires = r.expires_at.map(|at| {
        let left = at.saturating_sub(super::now());
        format!(
            "renewed automatically; the current token expires in {} min",
            left / 60
        )
    });
    let (error_kind, error_message, advice_text) = match (&r.status, &r.last_error) {
        (Status::Error | Status::ReauthorizationRequired, Some(e)) => (
            Some(e.kind.clone()),
            Some(
                e.message
                    .strip_prefix(&format!("{}: ", e.kind))
                    .unwrap_or(&e.message)
                    .to_string(),
            ),
            Some(advice(&e.kind)),
        ),
        _ => (None, None, None),
    };
    page(
        "show.html",
        context! {
            team => session.team,
            csrf => session.csrf(s),
            rename_error => notes.rename_error,
            secret_error => notes.secret_error,
            flash => notes.flash,
            audit => audit,
            c => context! {
                id => r.id,
                name => r.name,
                ok => r.status == Status::Ok,
                status => status,
                account => r.account_label,
                error_kind => error_kind,
                error_message => error_message,
                advice => advice_text,
                connector => m.as_ref().map(|m| m.display_name.clone()).unwrap_or(r.connector.clone()),
                auth => auth_label(m.as_ref(), &r),
                verified => when(r.verified_at),
                expires => expires,
                fields => fields,
                secret_names => r.secret_names().filter(|n| !token_secrets.contains(n)).map(String::from).collect::<Vec<_>>(),
                usages => usages,
            },
        },
    )
}

pub async fn verify(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = session.check_csrf(&s, f.get("csrf").map(String::as_str)) {
        return r;
    }
    let t = match session.team_view(&s) {
        Ok(t) => t,
        Err(r) => return r,
    };
    // The outcome is kept on the record (status, last error), which the
    // page shows; a failure is not an error of this request.
    if let Err(e) = t.verify(&id).await {
        if e.kind() == "not-found" {
            return fail(e);
        }
    }
    Redirect::to(&format!("/connections/{id}")).into_response()
}

pub async fn rename(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = session.check_csrf(&s, f.get("csrf").map(String::as_str)) {
        return r;
    }
    let t = match session.team_view(&s) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let name = f
        .get("name")
        .map(|n| n.trim().to_string())
        .unwrap_or_default();
    match t.rename(&id, &name).await {
        Ok(_) => Redirect::to(&format!("/connections/{id}")).into_response(),
        Err(connhost::Error::InvalidInput { reason, .. }) => {
            show_page(&s, &session, &id, Some(format!("The name {reason}"))).await
        }
        Err(e) => fail(e),
    }
}

pub async fn delete_form(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    delete_page(&s, &session, &id, StatusCode::OK)
}

fn delete_page(s: &AppState, session: &Session, id: &str, status: StatusCode) -> Response {
    let t = match session.team_view(s) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let r = match t.get(id) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let consumers: Vec<String> = t
        .blocking_usages(id)
        .unwrap_or_default()
        .into_iter()
        .map(|u| u.consumer)
        .collect();
    render(
        status,
        "delete.html",
        context! {
            team => session.team,
            csrf => session.csrf(s),
            id => r.id,
            name => r.name,
            consumers => consumers,
        },
    )
}

pub async fn delete(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = session.check_csrf(&s, f.get("csrf").map(String::as_str)) {
        return r;
    }
    let t = match session.team_view(&s) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let force = f.get("force").is_some_and(|v| v == "on");
    match t.delete(&id, force).await {
        Ok(d) => Redirect::to(&format!(
            "/connections?flash={}",
            urlencode(&format!("Deleted “{}”.", d.name))
        ))
        .into_response(),
        Err(connhost::Error::InUse { .. }) => delete_page(&s, &session, &id, StatusCode::CONFLICT),
        Err(e) => fail(e),
    }
}
