//! Signing in with a team key, and out.

use super::*;

pub async fn home(session: Result<Session, Response>) -> Response {
    match session {
        Ok(_) => Redirect::to("/connections").into_response(),
        Err(_) => Redirect::to("/signin").into_response(),
    }
}

pub async fn signin_form(State(s): State<AppState>, pre: PreSession) -> Response {
    signin_page(&s, &pre, StatusCode::OK, None)
}

/// The sign-in form, with its token, (re)setting the nonce cookie.
fn signin_page(
    s: &AppState,
    pre: &PreSession,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let mut resp = render(
        status,
        "signin.html",
        context! { error => error, csrf => pre.token(s) },
    );
    resp.headers_mut().insert(header::SET_COOKIE, pre.cookie(s));
    resp
}

#[derive(serde::Deserialize)]
pub struct SignIn {
    key: String,
    csrf: Option<String>,
}

pub async fn signin(State(s): State<AppState>, pre: PreSession, Form(f): Form<SignIn>) -> Response {
    if !pre.check(&s, f.csrf.as_deref()) {
        // A post from another site, or a form older than its nonce.
        return signin_page(
            &s,
            &pre,
            StatusCode::FORBIDDEN,
            Some("This sign-in form has expired or did not come from this page. Try again."),
        );
    }
    match s.manager.authenticate(f.key.trim()) {
        Ok(key) if key.team.is_some() => {
            let team = key.team.clone().unwrap_or_default();
            let mut resp = Redirect::to("/connections").into_response();
            resp.headers_mut()
                .insert(header::SET_COOKIE, session_cookie(&s, &team, &key.id));
            resp.headers_mut()
                .append(header::SET_COOKIE, PreSession::spent(&s));
            resp
        }
        Ok(_) => signin_page(
            &s,
            &pre,
            StatusCode::FORBIDDEN,
            Some("An operator key does not act for a team: sign in with a team key."),
        ),
        Err(_) => signin_page(
            &s,
            &pre,
            StatusCode::UNAUTHORIZED,
            Some("That is not a live team API key."),
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
    // Ends the key's page sessions on the server too: a copy of the
    // cookie is no good after this.
    if let Err(e) = s.manager.end_ui_sessions(&session.key_id) {
        return fail(e);
    }
    let mut resp = Redirect::to("/signin").into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, clear_cookie(&s));
    resp
}
