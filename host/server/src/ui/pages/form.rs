//! The connection form: create, and edit (all data replaced).

use super::*;

/// The form of `m` for auth kind `auth`: the connector's fields and the
/// kind's, with values (never secret ones) and errors.
fn form_fields(
    m: &Manifest,
    auth: &str,
    advanced: bool,
    values: &HashMap<String, String>,
    (error_field, error): (Option<&str>, Option<&str>),
    team_definitions: &[String],
    provider: Option<&ProviderDetail>,
) -> (Vec<Value>, bool) {
    let reference = m.definitions.as_ref().map(|d| d.reference.as_str());
    let content = m.definitions.as_ref().map(|d| d.content.as_str());
    // With a provider chosen: its own fields, as it labels them; no
    // definition text or issuer to give.
    let declared =
        |name: &str| provider.and_then(|p| p.field_specs.iter().find(|f| f.name == name));
    let hidden = |name: &str| {
        provider.is_some() && (Some(name) == content || m.issuer_field.as_deref() == Some(name))
    };
    let catalogue = scopes::catalogue_field(m);
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
        .filter(|f| !hidden(&f.name))
        .filter(|f| {
            let own = declared(&f.name).is_some();
            has_advanced |= f.advanced && !own;
            own || advanced || !f.advanced || error_field == Some(f.name.as_str())
        })
        .map(|f| {
            let own = declared(&f.name);
            let value = if f.secret {
                None
            } else {
                values
                    .get(&f.name)
                    .cloned()
                    .or(f.default.clone())
                    .or(own.and_then(|d| d.default.clone()))
            };
            context! {
                name => f.name,
                label => own.map(|d| d.label.clone()).unwrap_or(f.label.clone()),
                required => f.required || own.is_some_and(|d| d.default.is_none()),
                secret => f.secret,
                advanced => f.advanced && own.is_none(),
                help => own.and_then(|d| d.help.clone()).or(f.help.clone()),
                allowed_values => if reference == Some(f.name.as_str()) && !f.allowed_values.is_empty() {
                    team_definitions.iter().chain(&f.allowed_values).cloned().collect::<Vec<_>>()
                } else if let Some(d) = own.filter(|d| !d.one_of.is_empty()) {
                    d.one_of.clone()
                } else {
                    f.allowed_values.clone()
                },
                value => value,
                catalogue => catalogue == Some(f.name.as_str()),
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
    /// The GET query (a least-privilege plan's picks).
    query: &'a HashMap<String, String>,
}

fn new_page(s: &AppState, session: &Session, p: FormPage) -> Response {
    let FormPage {
        m,
        auth,
        advanced,
        values,
        error,
        editing,
        query,
    } = p;
    let team = session.team_view(s).ok();
    // A field naming a stored definition offers the team's too.
    let team_definitions: Vec<String> = team
        .as_ref()
        .and_then(|t| t.providers().ok())
        .unwrap_or_default();
    // A data-driven connector's chosen provider (the form's or the query's).
    let provider = m
        .definitions
        .as_ref()
        .and_then(|d| values.get(&d.reference).or(query.get(&d.reference)))
        .and_then(|id| team.as_ref()?.provider_detail(id).ok());
    let (error_field, message) = match &error {
        Some((f, msg)) => (f.clone(), Some(msg.clone())),
        None => (None, None),
    };
    let (fields, has_advanced) = form_fields(
        m,
        auth,
        advanced,
        values,
        (error_field.as_deref(), message.as_deref()),
        &team_definitions,
        provider.as_ref(),
    );
    let field_shown = error_field.as_deref().is_some_and(|name| {
        fields
            .iter()
            .any(|f| f.get_attr("name").is_ok_and(|n| n.as_str() == Some(name)))
    });
    // The catalogue, when this kind asks for scopes.
    let shows_catalogue = fields
        .iter()
        .any(|f| f.get_attr("catalogue").is_ok_and(|c| c.is_true()));
    let scopes = shows_catalogue.then(|| {
        let value = scopes::catalogue_field(m).and_then(|f| values.get(f));
        scopes::section(team.as_ref(), m, value.map(String::as_str), query)
    });
    let auth_label = m
        .fields
        .iter()
        .find(|f| f.name == m.auth_field)
        .map(|f| f.label.clone())
        .unwrap_or("Authentication".into());
    let default_name = values.get("name").cloned().unwrap_or_else(|| {
        let name = provider
            .as_ref()
            .map(|p| p.summary.display_name.as_str())
            .unwrap_or(&m.display_name);
        format!("My {name} connection")
    });
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
            // An error of a field the form shows goes next to it; any
            // other (or none named) above the button.
            error => if field_shown { None } else { message },
            action => action,
            cancel => cancel,
            title => title,
            editing => editing.is_some(),
            provider => provider.as_ref().map(|p| context! { id => p.summary.id, display_name => p.summary.display_name, docs => p.summary.docs, category => p.summary.category }),
            consent => is_consent(m, auth),
            scope_groups => scopes.as_ref().map(|x| x.groups.clone()),
            plan_usages => scopes.as_ref().map(|x| x.usages.clone()),
            plan_note => scopes.as_ref().and_then(|x| x.note.clone()),
            plan_error => scopes.as_ref().and_then(|x| x.error.clone()),
        },
    )
}

/// `?connector=&auth=&advanced=` and a plan's `use:N`, `plan`.
pub async fn new_form(
    State(s): State<AppState>,
    session: Session,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let connectors = s.manager.connectors().unwrap_or_default();
    let Some(id) = q.get("connector").filter(|c| !c.is_empty()) else {
        let list: Vec<Value> = connectors
            .iter()
            .map(|m| context! { id => m.id, display_name => m.display_name })
            .collect();
        return page(
            "new.html",
            context! { team => session.team, csrf => session.csrf(&s), connectors => list },
        );
    };
    let Some(m) = connectors.into_iter().find(|m| &m.id == id) else {
        return (StatusCode::NOT_FOUND, "no such connector").into_response();
    };
    // A data-driven connector: first the provider, from the catalogue.
    let chosen = match &m.definitions {
        Some(d) => match q.get(&d.reference).filter(|p| !p.is_empty()) {
            Some(id) => Some(id.clone()),
            None => return provider_picker(&s, &session, &m, &q),
        },
        None => None,
    };
    let mut values = HashMap::new();
    if let (Some(id), Some(d)) = (&chosen, &m.definitions) {
        values.insert(d.reference.clone(), id.clone());
    }
    let provider_mode = chosen
        .as_ref()
        .and_then(|id| session.team_view(&s).ok()?.provider_detail(id).ok())
        .map(|p| p.summary.auth_mode);
    let auth = q
        .get("auth")
        .filter(|a| m.auth_kinds.iter().any(|k| &k.id == *a))
        .cloned()
        .or(provider_mode.filter(|a| m.auth_kinds.iter().any(|k| &k.id == a)))
        .or_else(|| m.auth_kinds.first().map(|k| k.id.clone()))
        .unwrap_or_default();
    new_page(
        &s,
        &session,
        FormPage {
            m: &m,
            auth: &auth,
            advanced: q.contains_key("advanced"),
            values: &values,
            error: None,
            editing: None,
            query: &q,
        },
    )
}

/// The catalogue for a data-driven connector: a search box (name or
/// category), then the matching providers, each a link to its form.
fn provider_picker(
    s: &AppState,
    session: &Session,
    m: &Manifest,
    q: &HashMap<String, String>,
) -> Response {
    const SHOWN: usize = 60;
    let search = q.get("q").map(|v| v.trim().to_string()).unwrap_or_default();
    let t = or_return!(session.team_view(s));
    let all = t
        .provider_catalogue(Some(&search), None)
        .unwrap_or_default();
    let list: Vec<Value> = all
        .iter()
        .take(SHOWN)
        .map(|p| context! { id => p.id, display_name => p.display_name, category => p.category, auth_mode => p.auth_mode, added => p.source == "added" })
        .collect();
    page(
        "new.html",
        context! {
            team => session.team,
            csrf => session.csrf(s),
            picker => context! { connector => m.id, display_name => m.display_name, q => search, providers => list, total => all.len(), shown => all.len().min(SHOWN) },
        },
    )
}

pub async fn create(
    State(s): State<AppState>,
    session: Session,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let t = or_return!(posted(&s, &session, &f));
    let connector = f.get("connector").cloned().unwrap_or_default();
    let Some(m) = manifest_of(&s, &connector) else {
        return (StatusCode::BAD_REQUEST, "no such connector").into_response();
    };
    let auth = f.get(&m.auth_field).cloned().unwrap_or_default();
    let (new, keep) = read_form(&m, &f);
    // A kind that needs the user's consent: off to the provider, back
    // through the callback to `consented`, which verifies.
    if is_consent(&m, &auth) {
        let started = t
            .authorize_start(new, &s.config.callback_url(), Some(&consent_return(&s)))
            .await;
        return consent_or_form(&s, &session, (&m, &auth, &keep), started, None);
    }
    // Saved only if it verifies: a failure comes back to the form, next
    // to the field it is about, and nothing is stored.
    match t.create_verified(new).await {
        Ok(created) => Redirect::to(&format!("/connections/{}", created.id)).into_response(),
        Err(
            connhost::Error::InvalidInput { field, reason }
            | connhost::Error::Connector(connhost::ConnectorError::InvalidInput { field, reason }),
        ) => {
            let message = format!("{field} {reason}");
            let error = Some((Some(field), message));
            form_error(&s, &session, &m, &auth, &keep, error, None)
        }
        Err(e) => {
            let field = failed_field(&m, &auth, &e);
            let error = Some((field, format!("✗ {}: {} — nothing was saved.", e.kind(), e)));
            form_error(&s, &session, &m, &auth, &keep, error, None)
        }
    }
}

/// The form field a failed verification is about: the credentials (the
/// kind's first secret) when the service refused them, the scopes when
/// some are missing; otherwise none (said above the button).
fn failed_field(m: &Manifest, auth: &str, e: &connhost::Error) -> Option<String> {
    use connhost::ConnectorError as C;
    match e {
        connhost::Error::Connector(C::Unauthorized { .. }) => m
            .auth_kind(auth)
            .and_then(|k| k.fields.iter().find(|f| f.secret))
            .map(|f| f.name.clone()),
        connhost::Error::Connector(C::AccountValidation { .. }) => {
            scopes::catalogue_field(m).map(String::from)
        }
        _ => None,
    }
}

fn connector_gone() -> Response {
    (StatusCode::NOT_FOUND, "its connector is gone").into_response()
}

/// Whether auth kind `auth` of `m` is a browser consent flow.
fn is_consent(m: &Manifest, auth: &str) -> bool {
    m.auth_kind(auth).is_some_and(|k| k.authorization_code)
}

/// A started consent goes to the provider; one that could not start
/// comes back to the form (`m`, `auth`, the values kept) saying why.
fn consent_or_form(
    s: &AppState,
    session: &Session,
    (m, auth, keep): (&Manifest, &str, &HashMap<String, String>),
    started: connhost::Result<connhost::AuthorizeStart>,
    editing: Option<&str>,
) -> Response {
    match started {
        Ok(start) => to_provider(s, &start),
        Err(e) => {
            let error = Some((None, format!("✗ {}: {}", e.kind(), e)));
            form_error(s, session, m, auth, keep, error, editing)
        }
    }
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
            query: &HashMap::new(),
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
        if k == "csrf" || k == "connector" || k == "name" || v.is_empty() || scopes::is_own_key(k) {
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
    if let (Some(field), Some(value)) = (scopes::catalogue_field(m), scopes::checked(m, f)) {
        match value.is_empty() {
            true => new.fields.remove(field),
            false => new.fields.insert(field.to_string(), value),
        };
    }
    let mut keep: HashMap<String, String> = new.fields.clone().into_iter().collect();
    if let Some(n) = &new.name {
        keep.insert("name".into(), n.clone());
    }
    (new, keep)
}

/// Edit: the same form, filled with the connection's non-secret data.
pub async fn edit_form(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let t = or_return!(session.team_view(&s));
    let r = or_return!(t.get(&id).map_err(fail));
    let m = or_return!(manifest_of(&s, &r.connector).ok_or_else(connector_gone));
    let mut values: HashMap<String, String> = r.fields.clone().into_iter().collect();
    values.insert("name".into(), r.name.clone());
    let auth = q
        .get("auth")
        .filter(|a| m.auth_kinds.iter().any(|k| &k.id == *a))
        .cloned()
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
            query: &q,
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
    let t = or_return!(posted(&s, &session, &f));
    let r = or_return!(t.get(&id).map_err(fail));
    let m = or_return!(manifest_of(&s, &r.connector).ok_or_else(connector_gone));
    let auth = f.get(&m.auth_field).cloned().unwrap_or_default();
    let (new, keep) = read_form(&m, &f);
    // A kind that needs the user's consent: the same connection gets the
    // new data and tokens once the provider says yes (untouched until then).
    if is_consent(&m, &auth) {
        let callback = s.config.callback_url();
        let started = t
            .edit_authorize_start(&id, new, &callback, Some(&consent_return(&s)))
            .await;
        return consent_or_form(&s, &session, (&m, &auth, &keep), started, Some(&id));
    }
    match t.edit(&id, new).await {
        Ok(_) => Redirect::to(&format!("/connections/{id}?flash=saved")).into_response(),
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
