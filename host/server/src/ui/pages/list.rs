//! The team's connections, a page at a time.

use super::*;

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
