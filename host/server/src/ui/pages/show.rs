//! One connection: its state and history, verify, rename, regenerate a
//! secret, delete.

use super::*;

/// Replaces one secret (a regenerated client secret or key): kept only
/// if the connection verifies with it.
pub async fn set_secret(
    State(s): State<AppState>,
    session: Session,
    Path((id, name)): Path<(String, String)>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let t = or_return!(posted(&s, &session, &f));
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
            "/connections/{id}?flash=replaced&secret={}",
            urlencode(&name)
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
    /// A code of [`flash_text`].
    flash: Option<String>,
    /// With `flash=replaced`: which secret (named only if it is one of
    /// the connection's).
    secret: Option<String>,
}

pub async fn show(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let notes = Notes {
        replaced: q.secret.filter(|_| q.flash.as_deref() == Some("replaced")),
        flash: flash_text(q.flash.as_deref()),
        ..Notes::default()
    };
    show_page_with(&s, &session, &id, notes).await
}

/// What a detail page says besides the connection.
#[derive(Default)]
struct Notes {
    /// Server-chosen text only (see [`flash_text`]).
    flash: Option<String>,
    /// The secret a `flash=replaced` names.
    replaced: Option<String>,
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
    let t = or_return!(session.team_view(s));
    let r = or_return!(t.get(id).map_err(fail));
    let m = manifest_of(s, &r.connector);
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
    // Connections made by consent can be reauthorized.
    let consent = m.as_ref().is_some_and(|m| {
        r.fields
            .get(&m.auth_field)
            .and_then(|kind| m.auth_kind(kind))
            .is_some_and(|k| k.authorization_code)
    });
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
    // Scopes from a catalogue are shown grouped, with what each grants.
    let requested = m
        .as_ref()
        .map(|m| scopes::requested(m, &r.fields))
        .unwrap_or_default();
    let scope_field = m.as_ref().and_then(|m| scopes::catalogue_field(m));
    let scope_groups = m
        .as_ref()
        .filter(|_| !requested.is_empty())
        .map(|m| scopes::grouped(m, &requested));
    let fields: Vec<(String, String)> = r
        .fields
        .iter()
        .filter(|(k, _)| **k != auth_field)
        .filter(|(k, _)| scope_groups.is_none() || Some(k.as_str()) != scope_field)
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
        let left = at.saturating_sub(crate::ui::now());
        format!(
            "renewed automatically; the current token expires in {} min",
            left / 60
        )
    });
    let secret_names: Vec<String> = r
        .secret_names()
        .filter(|n| !token_secrets.contains(n))
        .map(String::from)
        .collect();
    let flash = match notes.replaced {
        Some(n) if secret_names.contains(&n) => {
            Some(format!("Replaced {n}: the connection verified with it."))
        }
        _ => notes.flash,
    };
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
            flash => flash,
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
                secret_names => secret_names,
                usages => usages,
                consent => consent,
                scope_groups => scope_groups,
                // Granted differs from asked for: say what the provider gave.
                granted => (!r.granted_scopes.is_empty() && r.granted_scopes != requested)
                    .then(|| r.granted_scopes.join(" ")),
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
    let t = or_return!(posted(&s, &session, &f));
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
    let t = or_return!(posted(&s, &session, &f));
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
    let t = or_return!(session.team_view(s));
    let r = or_return!(t.get(id).map_err(fail));
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
            may_force => t.may(connhost::Operation::DeleteInUse).is_ok(),
        },
    )
}

pub async fn delete(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let t = or_return!(posted(&s, &session, &f));
    let force = f.get("force").is_some_and(|v| v == "on");
    match t.delete(&id, force).await {
        Ok(_) => Redirect::to("/connections?flash=deleted").into_response(),
        Err(connhost::Error::InUse { .. }) => delete_page(&s, &session, &id, StatusCode::CONFLICT),
        Err(connhost::Error::Forbidden(_)) => delete_page(&s, &session, &id, StatusCode::FORBIDDEN),
        Err(e) => fail(e),
    }
}

/// Consent again (access expired or was revoked): off to the provider,
/// back through the callback to [`consented`].
pub async fn reauthorize(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let t = or_return!(posted(&s, &session, &f));
    match t
        .reauthorize_start(&id, &s.config.callback_url(), Some(&consent_return(&s)))
        .await
    {
        Ok(start) => to_provider(&s, &start),
        Err(e) if e.kind() == "not-found" => fail(e),
        Err(e) => {
            let notes = Notes {
                secret_error: Some(format!("✗ {}: {}", e.kind(), e)),
                ..Notes::default()
            };
            show_page_with(&s, &session, &id, notes).await
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub struct Consented {
    status: Option<String>,
    connection: Option<String>,
    error: Option<String>,
}

/// Where consent comes back, from the provider's site: a browser sends no
/// SameSite=Strict cookie along a navigation another site started, so
/// this page (no session needed, nothing done) moves on to
/// [`consent_done`] from our own origin, where the cookie comes along.
pub async fn consented(Query(q): Query<Consented>) -> Response {
    let mut url = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("status", &q.status),
        ("connection", &q.connection),
        ("error", &q.error),
    ] {
        if let Some(v) = v {
            url.append_pair(k, v);
        }
    }
    let url = format!("/connections/consent-done?{}", url.finish());
    page("back.html", context! { url => url })
}

/// The new (or reauthorized) connection is verified and shown; a failure
/// is said in words of our own (the query is anyone's to write, so its
/// description is not shown).
pub async fn consent_done(
    State(s): State<AppState>,
    session: Session,
    Query(q): Query<Consented>,
) -> Response {
    let t = or_return!(session.team_view(&s));
    match (q.status.as_deref(), q.connection) {
        (Some("connected"), Some(id)) => {
            // Only the team's own connection is shown, and verified only if
            // it has not been since consent changed it: this is a GET any
            // site can send a browser to, so it must not be a way to make
            // the server call providers again and again.
            let r = or_return!(t.get(&id).map_err(fail));
            let fresh = r.last_error.is_none() && r.verified_at.is_none_or(|v| v < r.updated_at);
            if fresh {
                let _ = t.verify(&id).await;
            }
            Redirect::to(&format!("/connections/{id}?flash=connected")).into_response()
        }
        _ => {
            let code = match q.error.as_deref() {
                Some("access-denied") => "access-denied",
                _ => "consent-failed",
            };
            Redirect::to(&format!("/connections?flash={code}")).into_response()
        }
    }
}
