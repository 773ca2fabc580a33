//! The Connections page: server-rendered HTML for the people of one team
//! (sign in with a team API key; list, create, verify, rename, delete).
//!
//! * Session: a cookie `connhost_ui=<team>:<key id>:<expiry>~<tag>` tagged
//!   under the store's key (any replica checks it; the key's secret is
//!   never in it), HttpOnly, SameSite=Strict, Secure when the public URL
//!   is https. Every request re-checks that the key is still live.
//! * CSRF: every form carries a token tagged over the session; every POST
//!   checks it before anything else.
//! * Headers: a strict Content-Security-Policy (no inline script or
//!   style, nothing from elsewhere), no caching, no referrer to other
//!   origins (`same-origin`: with `no-referrer`, Chromium sends `Origin:
//!   null` on our own form posts), no framing.
//! * Cross-site posts: refused by `Sec-Fetch-Site` and `Origin` first.
//! * Secrets: secret fields are password inputs, never filled in and
//!   never sent back; pages show secret names only.

mod pages;
mod session;

use session::{clear_cookie, session_cookie};
pub use session::{consent_bound, consent_cookie, consent_return, PreSession, Session};

use crate::AppState;
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The page routes (merged into the API router).
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/signin", get(pages::signin_form).post(pages::signin))
        .route("/signout", post(pages::signout))
        .route("/connections", get(pages::list))
        .route("/teams/{team}/connections", get(pages::team_list))
        .route("/connections/new", get(pages::new_form).post(pages::create))
        .route("/connections/{id}", get(pages::show))
        .route("/connections/{id}/verify", post(pages::verify))
        .route("/connections/{id}/rename", post(pages::rename))
        .route(
            "/connections/{id}/edit",
            get(pages::edit_form).post(pages::edit),
        )
        .route("/connections/{id}/secrets/{name}", post(pages::set_secret))
        .route("/connections/{id}/reauthorize", post(pages::reauthorize))
        .route("/connections/consented", get(pages::consented))
        .route("/connections/consent-done", get(pages::consent_done))
        .route(
            "/connections/{id}/delete",
            get(pages::delete_form).post(pages::delete),
        )
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
        .layer(axum::middleware::from_fn_with_state(state, same_origin))
        .layer(axum::middleware::from_fn(headers))
}

/// Every POST must come from a page of this server: one another site (or
/// a sibling subdomain) made the browser send is refused before anything
/// reads it, whatever cookies came along. Browsers say where a request
/// comes from in `Sec-Fetch-Site` and `Origin`; a client that sends
/// neither still meets the CSRF tokens.
async fn same_origin(
    axum::extract::State(s): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if req.method() == axum::http::Method::POST {
        let h = req.headers();
        let text = |name: header::HeaderName| h.get(name).and_then(|v| v.to_str().ok());
        let site = text(header::HeaderName::from_static("sec-fetch-site"));
        let from_elsewhere = matches!(site, Some("cross-site" | "same-site"));
        // "null" says nothing (privacy settings send it); the fetch
        // metadata and the tokens still apply.
        let origin = text(header::ORIGIN).filter(|o| *o != "null");
        let origin_ok = origin.is_none_or(|o| {
            let authority = url::Url::parse(o).ok().and_then(|u| {
                let host = u.host_str()?.to_string();
                Some(match u.port() {
                    Some(p) => format!("{host}:{p}"),
                    None => host,
                })
            });
            let public = url::Url::parse(&s.config.public_url)
                .ok()
                .map(|u| u.origin().ascii_serialization());
            authority.is_some() && authority.as_deref() == text(header::HOST)
                || public.as_deref() == Some(o)
        });
        if from_elsewhere || !origin_ok {
            return (
                StatusCode::FORBIDDEN,
                "This form was sent from another site. Open the page here and try again.",
            )
                .into_response();
        }
    }
    next.run(req).await
}

/// Security headers on every page.
async fn headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

async fn css() -> Response {
    static_file("text/css", include_str!("../../ui/static/app.css"))
}

async fn js() -> Response {
    static_file("text/javascript", include_str!("../../ui/static/app.js"))
}

fn static_file(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=300"),
            ),
        ],
        body,
    )
        .into_response()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
