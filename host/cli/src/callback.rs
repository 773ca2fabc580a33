//! The loopback listener for the interactive consent flow (RFC 8252 §7.3):
//! waits for the provider's redirect on `http://127.0.0.1:PORT/PATH`,
//! answers the browser with a short page, and hands back the full URL.

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;

/// Binds the listener first (so the URL printed works at once).
pub async fn bind(redirect_uri: &str) -> anyhow::Result<(tokio::net::TcpListener, url::Url)> {
    let url = url::Url::parse(redirect_uri).context("--redirect-uri")?;
    let host = url.host_str().unwrap_or("");
    if url.scheme() != "http" || !matches!(host, "127.0.0.1" | "[::1]" | "localhost") {
        bail!("--redirect-uri: waiting for the callback needs http://127.0.0.1:PORT/…; for other redirect URIs use `connection authorize start` and `finish`");
    }
    let port = url
        .port()
        .context("--redirect-uri needs an explicit port")?;
    let addr = if host == "[::1]" {
        format!("[::1]:{port}")
    } else {
        format!("127.0.0.1:{port}")
    };
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("listen on {addr} for the OAuth callback"))?;
    Ok((listener, url))
}

/// Requests to the redirect path, as they arrive.
pub struct Callbacks {
    rx: mpsc::Receiver<String>,
    server: tokio::task::JoinHandle<()>,
}

impl Callbacks {
    /// The next callback's full URL, or an error at `deadline`.
    pub async fn next(&mut self, deadline: tokio::time::Instant) -> anyhow::Result<String> {
        match tokio::time::timeout_at(deadline, self.rx.recv()).await {
            Ok(Some(url)) => Ok(url),
            _ => bail!("no valid callback before the deadline"),
        }
    }
}

impl Drop for Callbacks {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Serves the redirect path: every request to it is handed on, and the
/// browser gets a short page.
pub fn listen(listener: tokio::net::TcpListener, redirect: url::Url) -> Callbacks {
    let (tx, rx) = mpsc::channel::<String>(8);
    let path = redirect.path().to_string();
    let base = format!(
        "{}://{}",
        redirect.scheme(),
        redirect.host_str().unwrap_or("127.0.0.1")
    );
    let port = redirect.port().unwrap_or(80);
    let server = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (tx, path, base) = (tx.clone(), path.clone(), base.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let (tx, path, base) = (tx.clone(), path.clone(), base.clone());
                        async move {
                            let page = if req.uri().path() == path {
                                let pq = req
                                    .uri()
                                    .path_and_query()
                                    .map(|p| p.as_str())
                                    .unwrap_or("/");
                                let _ = tx.send(format!("{base}:{port}{pq}")).await;
                                (200, "connhost received the authorization. You can close this window and return to the terminal.")
                            } else {
                                (404, "Not the OAuth callback path.")
                            };
                            Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .status(page.0)
                                    .header("content-type", "text/plain; charset=utf-8")
                                    .body(Full::new(Bytes::from(page.1)))
                                    .expect("response"),
                            )
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    Callbacks { rx, server }
}
