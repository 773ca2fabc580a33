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
/// A filtered page reads at most this many records, then offers to go on.
const SCAN: usize = 2_000;

/// Up to [`PAGE`] of the team's connections after `cursor` that `matches`
/// accepts, read a chunk at a time across the team's listing; the cursor
/// to go on from (the last record read, if any follow); how many were read.
fn filtered_page(
    t: &connhost::TeamView,
    mut cursor: Option<String>,
    filtering: bool,
    matches: impl Fn(&ConnectionRecord) -> bool,
) -> connhost::Result<(Vec<ConnectionRecord>, Option<String>, usize)> {
    let chunk = if filtering { 200 } else { PAGE };
    let (mut rows, mut scanned) = (Vec::new(), 0);
    loop {
        let (batch, more) = t.list_page(cursor.as_deref(), chunk)?;
        let len = batch.len();
        for (i, r) in batch.into_iter().enumerate() {
            scanned += 1;
            cursor = Some(r.id.clone());
            if matches(&r) {
                rows.push(r);
            }
            if rows.len() == PAGE || scanned >= SCAN {
                let follows = i + 1 < len || more.is_some();
                return Ok((rows, cursor.filter(|_| follows), scanned));
            }
        }
        if more.is_none() || len == 0 {
            return Ok((rows, None, scanned));
        }
    }
}

/// "45 min", "3 h", "2 days": how long a renewable connection's access
/// has left (`None` without an expiry).
fn expires_in(r: &ConnectionRecord) -> Option<String> {
    let left = r.expires_at?.saturating_sub(crate::ui::now());
    Some(match left {
        0 => "0 min (renewing)".to_string(),
        1..=5_399 => format!("{} min", left.div_ceil(60)),
        5_400..=172_799 => format!("{} h", left / 3600),
        _ => format!("{} days", left / 86_400),
    })
}

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
    let t = or_return!(session.team_view(&s));
    let manifests: BTreeMap<String, Manifest> = s
        .manager
        .connectors()
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect();
    let usages = t.usages().unwrap_or_default();
    let want_connector = q.connector.clone().filter(|c| !c.is_empty());
    let want_status = q.status.clone().filter(|c| !c.is_empty());
    let matches = |r: &ConnectionRecord| {
        want_connector.as_ref().is_none_or(|c| &r.connector == c)
            && want_status.as_ref().is_none_or(|w| {
                serde_json::to_value(r.status)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .as_deref()
                    == Some(w.as_str())
            })
    };
    let filtering = want_connector.is_some() || want_status.is_some();
    let (page_rows, next, scanned) = match filtered_page(&t, q.after.clone(), filtering, matches) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let rows: Vec<Value> = page_rows
        .iter()
        .map(|r| {
            let m = manifests.get(&r.connector);
            let (mut status, class) = status_words(r);
            if let (Status::Ok, Some(left)) = (r.status, expires_in(r)) {
                status = format!("OK, expires in {left}");
            }
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
            flash => flash_text(q.flash.as_deref()),
            rows => rows,
            next => next,
            connectors => connectors,
            filter_connector => want_connector,
            filter_status => want_status,
            // A filtered page that stopped at the scan limit, not the end.
            searched => (filtering && next.is_some() && rows.is_empty()).then_some(scanned),
            statuses => vec![
                ("ok", "OK"),
                ("error", "Error"),
                ("created", "Not verified yet"),
                ("reauthorization-required", "Reauthorization required"),
            ],
        },
    )
}
