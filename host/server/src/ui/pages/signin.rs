//! Signing in with a team key, and out.

use super::*;

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
