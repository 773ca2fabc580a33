//! Browser consent over HTTP: start returns the provider's consent URL
//! with this server's callback as the redirect URI; the callback (no key:
//! bound by the single-use `state`) finishes it, then sends the browser to
//! the return URL given at start (one of the team's allowed prefixes), or
//! answers JSON when none was given.

use super::connections::{view, ConnectionBody};
use super::views::Connected;
use super::{fail, Answer};
use crate::auth::Key;
use crate::AppState;
use axum::extract::{Path, Query, RawQuery, State};
use axum::response::{IntoResponse, Redirect};
use axum::Json;
use connhost::Caller;
use serde::Deserialize;

pub(super) async fn start(
    State(s): State<AppState>,
    key: Key,
    Json(body): Json<ConnectionBody>,
) -> Answer<connhost::AuthorizeStart> {
    let t = key.team(&s)?;
    let return_url = body.return_url.clone();
    let started = t
        .authorize_start(
            body.into_new(),
            &s.config.callback_url(),
            return_url.as_deref(),
        )
        .await
        .map_err(fail)?;
    Ok(Json(started))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct ReturnTo {
    /// Where the callback sends the browser (under an allowed prefix).
    #[serde(default)]
    #[schemars(url)]
    return_url: Option<String>,
}

pub(super) async fn reauthorize(
    State(s): State<AppState>,
    key: Key,
    Path(id): Path<String>,
    Query(q): Query<ReturnTo>,
) -> Answer<connhost::AuthorizeStart> {
    let t = key.team(&s)?;
    Ok(Json(
        t.reauthorize_start(&id, &s.config.callback_url(), q.return_url.as_deref())
            .await
            .map_err(fail)?,
    ))
}

/// `GET /v1/settings/return-urls`: where consent may return the browser.
pub(super) async fn return_urls(State(s): State<AppState>, key: Key) -> Answer<Vec<String>> {
    Ok(Json(key.team(&s)?.return_urls().map_err(fail)?))
}

/// The allowed return URL prefixes: absolute URLs.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub(super) struct ReturnUrls(#[schemars(inner(url))] Vec<String>);

/// `PUT /v1/settings/return-urls`: replaces the allowed prefixes.
pub(super) async fn set_return_urls(
    State(s): State<AppState>,
    key: Key,
    Json(ReturnUrls(urls)): Json<ReturnUrls>,
) -> Answer<Vec<String>> {
    Ok(Json(key.team(&s)?.set_return_urls(urls).map_err(fail)?))
}

/// What the provider's redirect carries (RFC 6749 §4.1.2, RFC 9207). The
/// handler reads the raw query, since the whole callback URL goes to the
/// library; this names its parameters for the document.
#[derive(Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
pub(super) struct CallbackQuery {
    /// `pend_….…`: the single-use state consent was started with.
    state: Option<String>,
    /// The authorization code, on success.
    code: Option<String>,
    /// The provider's error code, on failure.
    error: Option<String>,
    error_description: Option<String>,
    /// The issuer, when the provider names it.
    iss: Option<String>,
}

/// `GET /oauth/callback?state=pend_….…&code=…`: the provider's redirect.
pub(super) async fn callback(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    RawQuery(query): RawQuery,
) -> Answer<Connected> {
    let query = query.unwrap_or_default();
    let url = format!("{}?{query}", s.config.callback_url());
    let state = url::Url::parse(&url)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "state")
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_default();
    let pending = state.split('.').next().unwrap_or_default().to_string();
    let unknown = || {
        fail(connhost::Error::Authorization {
            error: "unknown_authorization".into(),
            description:
                "no pending authorization for this state (already used, expired or never started)"
                    .into(),
        })
    };
    let (Ok(team), Ok(return_url)) = (
        s.manager.pending_team(&pending),
        s.manager.pending_return_url(&pending),
    ) else {
        return Err(unknown());
    };
    // A consent the Connections page started finishes only in the browser
    // that started it; the pending authorization stays for that one.
    let from_page = return_url.as_deref() == Some(crate::ui::consent_return(&s).as_str());
    let elsewhere = from_page && !crate::ui::consent_bound(&s, &headers, &pending);
    let finished = async {
        if elsewhere {
            return Err(connhost::Error::Authorization {
                error: "other_browser".into(),
                description: "this consent was started in another browser; start it again here"
                    .into(),
            });
        }
        let t = s.manager.team(Caller {
            team,
            actor: "oauth-callback".into(),
        })?;
        t.authorize_finish(&pending, &url).await
    }
    .await;
    match (finished, return_url) {
        (Ok(record), None) => Ok(Json(Connected {
            connected: true,
            connection: view(&record),
        })),
        (Err(e), None) => Err(fail(e)),
        (outcome, Some(back)) => {
            let mut back = match url::Url::parse(&back) {
                Ok(u) => u,
                Err(_) => return Err(unknown()),
            };
            {
                let mut q = back.query_pairs_mut();
                match &outcome {
                    Ok(record) => q
                        .append_pair("status", "connected")
                        .append_pair("connection", &record.id),
                    Err(e) => q
                        .append_pair("status", "failed")
                        .append_pair("error", e.kind())
                        .append_pair("error_description", &e.to_string()),
                };
            }
            // A redirect: the other response this route gives.
            Err(Redirect::to(back.as_str()).into_response())
        }
    }
}
