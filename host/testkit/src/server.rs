//! What the fake providers share: the server loop and small protocol
//! helpers (Basic credentials, scopes, JSON and OAuth error responses).

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;
use url::form_urlencoded;

/// Serves `handler` on every connection `listener` accepts, over TLS when
/// an acceptor is given, counting connections in `accepted`. Shared by the
/// fake providers.
pub(crate) fn spawn_server<H, Fut>(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    accepted: Arc<AtomicUsize>,
    handler: H,
) -> tokio::task::JoinHandle<()>
where
    H: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    async fn serve<IO, H, Fut>(io: IO, handler: H)
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
        H: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>>
            + Send
            + 'static,
    {
        let svc = hyper::service::service_fn(handler);
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(io), svc)
            .await;
    }
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            accepted.fetch_add(1, Ordering::SeqCst);
            let (tls, handler) = (tls.clone(), handler.clone());
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            serve(stream, handler).await;
                        }
                    }
                    None => serve(tcp, handler).await,
                }
            });
        }
    })
}

/// RFC 6749 §2.3.1: `Basic base64(urlencode(id):urlencode(secret))`.
pub(crate) fn basic_credentials(auth: &str) -> Option<(String, String)> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth.strip_prefix("Basic ")?)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((decode(id)?, decode(secret)?))
}

/// The space-separated `scope` of a form, as a list.
pub(crate) fn scope_list(form: &BTreeMap<String, String>) -> Vec<String> {
    form.get("scope")
        .map(|s| {
            s.split(' ')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn json(status: u16, value: serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(value.to_string())))
        .expect("response")
}

pub(crate) fn oauth_error(status: u16, code: &str, description: &str) -> Response<Full<Bytes>> {
    json(
        status,
        serde_json::json!({"error": code, "error_description": description}),
    )
}

/// What a fake reads from every request: method, `Host` (as sent), path,
/// query, headers by name, the whole body.
pub(crate) struct Received {
    pub method: String,
    pub host: String,
    pub uri: hyper::Uri,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub async fn read(req: Request<Incoming>) -> Received {
        use http_body_util::BodyExt as _;
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Received {
            method: parts.method.to_string(),
            host: parts
                .headers
                .get("host")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
            uri: parts.uri,
            headers: parts.headers,
            body,
        }
    }

    /// A header's text, `""` when absent or not text.
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }

    /// The host name without its port.
    pub fn host_name(&self) -> String {
        self.host.split(':').next().unwrap_or_default().to_string()
    }

    pub fn query(&self) -> BTreeMap<String, String> {
        self.uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default()
    }

    /// The body as form pairs (whatever its content type).
    pub fn form(&self) -> BTreeMap<String, String> {
        form_urlencoded::parse(&self.body).into_owned().collect()
    }
}
