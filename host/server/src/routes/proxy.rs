//! `ANY /v1/proxy/{connection}/{path…}`: the pass-through proxy. The
//! caller's request goes to the provider with the connection's
//! credentials on (path and query kept, hop-by-hop headers and the
//! caller's own key removed), and the provider's status, headers and body
//! come back, each body streamed: nothing is base64'd or held whole, so a
//! large upload or download passes in constant memory.
//!
//! Headers for connhost, never forwarded: `connhost-consumer` (whose
//! usages' scopes are checked first), `connhost-context-NAME` (a dynamic
//! connection's context), `connhost-timeout-ms` (the deadline for the
//! response head). Answers carry `connhost-connector` and
//! `connhost-renewed`; connhost's own refusals also `connhost-error: KIND`
//! (its JSON error body), so a caller can tell them from the provider's.

use crate::auth::Key;
use crate::error::ApiError;
use crate::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use connhost::{ApiRequest, Upload};
use http_body_util::BodyExt as _;
use std::collections::BTreeMap;

/// The route's prefix; the guard knows it by this.
pub const PREFIX: &str = "/v1/proxy/";

/// A body up to this size is read first, so it can be sent again after
/// a 401 and a renewal; a larger (or chunked) one streams, sent once.
pub const REPLAYABLE_BYTES: u64 = 64 * 1024;

/// Hop-by-hop headers (RFC 9110 §7.6.1) and the ones the host sets.
const HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

fn is_hop(name: &str, listed: &[String]) -> bool {
    HOP.contains(&name) || listed.iter().any(|l| l == name)
}

/// Names a `Connection` header lists: hop-by-hop too.
fn listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect()
}

/// A refusal of connhost's own, marked as such.
fn refuse(e: connhost::Error) -> Response {
    let kind = e.kind();
    let mut r = ApiError(e).into_response();
    if let Ok(v) = HeaderValue::from_str(kind) {
        r.headers_mut().insert("connhost-error", v);
    }
    r
}

/// What the caller asked for, split into the head connhost reads and the
/// instructions meant for connhost itself.
struct Parsed {
    reference: String,
    head: ApiRequest,
    consumer: Option<String>,
    context: BTreeMap<String, String>,
}

fn parse(req: &Request) -> Result<Parsed, connhost::Error> {
    let invalid = |field: &str, why: String| connhost::Error::invalid(field, why);
    let rest = req
        .uri()
        .path()
        .strip_prefix(PREFIX)
        .ok_or_else(|| invalid("path", format!("must start with {PREFIX}")))?;
    // The raw path, as the caller encoded it, goes on unchanged.
    let (reference, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let reference = percent_decode(reference);
    let url = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let listed = listed(req.headers());
    let mut head = ApiRequest {
        method: req.method().as_str().to_string(),
        url,
        ..Default::default()
    };
    let mut consumer = None;
    let mut context = BTreeMap::new();
    for (name, value) in req.headers() {
        let name = name.as_str();
        // The caller's key is connhost's; the connection sets the provider's.
        if name == "authorization" || is_hop(name, &listed) {
            continue;
        }
        let text = || {
            value
                .to_str()
                .map(str::to_string)
                .map_err(|_| invalid("headers", format!("`{name}` is not visible ASCII")))
        };
        if let Some(key) = name.strip_prefix("connhost-context-") {
            context.insert(key.to_string(), text()?);
        } else if name == "connhost-consumer" {
            consumer = Some(text()?);
        } else if name == "connhost-timeout-ms" {
            let ms = text()?.parse::<u32>().map_err(|_| {
                invalid(
                    "connhost-timeout-ms",
                    "must be a whole number of milliseconds".into(),
                )
            })?;
            head.timeout_ms = Some(ms);
        } else if name.starts_with("connhost-") {
            return Err(invalid(
                "headers",
                format!("`{name}` is not a header connhost knows"),
            ));
        } else {
            head.headers.push((name.to_string(), text()?));
        }
    }
    Ok(Parsed {
        reference,
        head,
        consumer,
        context,
    })
}

/// `%XX` decoded (a `dynamic:NAME` reference may arrive as `dynamic%3ANAME`).
fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(s.replace('+', "%2B").as_bytes())
        .next()
        .map(|(k, _)| k.into_owned())
        .unwrap_or_default()
}

/// The caller's body: none, read whole when small and declared, or
/// streamed. A small body must arrive within the server's body deadline.
async fn upload(
    body: Body,
    headers: &HeaderMap,
    deadline: std::time::Duration,
) -> Result<Upload, Response> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let chunked = headers.contains_key(header::TRANSFER_ENCODING);
    match declared {
        None | Some(0) if !chunked => Ok(Upload::Empty),
        Some(n) if n <= REPLAYABLE_BYTES && !chunked => {
            match tokio::time::timeout(deadline, axum::body::to_bytes(body, n as usize)).await {
                Ok(Ok(b)) => Ok(Upload::Whole(b)),
                Ok(Err(e)) => Err(refuse(connhost::Error::invalid(
                    "body",
                    format!("the request body could not be read: {e}"),
                ))),
                Err(_) => Err(refuse(connhost::Error::invalid(
                    "body",
                    format!(
                        "the request body did not arrive within {} s",
                        deadline.as_secs()
                    ),
                ))),
            }
        }
        _ => Ok(Upload::Stream(
            body.map_err(|e| -> connhost::net::BoxError { Box::new(e) })
                .boxed_unsync(),
        )),
    }
}

pub(super) async fn pass(State(s): State<AppState>, key: Key, req: Request) -> Response {
    let t = match key.team(&s) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let parsed = match parse(&req) {
        Ok(p) => p,
        Err(e) => return refuse(e),
    };
    let (parts, body) = req.into_parts();
    let body = match upload(body, &parts.headers, s.gate.limits().body_timeout).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let passed = match t
        .pass(
            &parsed.reference,
            &parsed.head,
            body,
            parsed.consumer.as_deref(),
            &parsed.context,
        )
        .await
    {
        Ok(p) => p,
        Err(e) => return refuse(e),
    };
    let status = StatusCode::from_u16(passed.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out = Response::new(Body::new(passed.body));
    *out.status_mut() = status;
    let answered: HeaderMap = passed
        .headers
        .iter()
        .filter_map(|(k, v)| {
            Some((
                HeaderName::from_bytes(k.as_bytes()).ok()?,
                HeaderValue::from_str(v).ok()?,
            ))
        })
        .collect();
    let listed = listed(&answered);
    let headers = out.headers_mut();
    for (name, value) in answered.iter() {
        // The body's own length stays: it streams as the provider sent it.
        let keep = name == header::CONTENT_LENGTH || !is_hop(name.as_str(), &listed);
        if keep && !name.as_str().starts_with("connhost-") {
            headers.append(name.clone(), value.clone());
        }
    }
    headers.insert(
        "connhost-renewed",
        HeaderValue::from_static(if passed.renewed { "true" } else { "false" }),
    );
    if let Ok(v) = HeaderValue::from_str(&passed.connector) {
        headers.insert("connhost-connector", v);
    }
    out
}
