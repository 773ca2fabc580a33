//! The host's HTTPS client: real sockets, TLS with rustls, a deadline on
//! the whole exchange, a cap on the body, and no redirects followed.
//! Connections are kept alive in a small pool per origin (a TLS handshake
//! costs more than most API calls on a fast network); a connection goes back
//! to the pool only after its response was read whole (a streamed
//! response: at its end, [`PassBody`]). `connect_to` reroutes an origin to
//! another socket address while TLS still checks the original name (curl's
//! `--connect-to`), which is how tests reach a fake provider on loopback.

use http_body_util::BodyExt;
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use url::Url;

mod egress;
mod pool;
use pool::{Pool, Sender};
mod stream;
pub use egress::check_destination;
use egress::public_addresses;
use stream::whole;
pub use stream::{BoxError, OutBody, PassBody, Streamed};

/// `HOST:PORT:ADDR:PORT`: connect to `ADDR:PORT` when asked for `HOST:PORT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectTo {
    pub host: String,
    pub port: u16,
    pub addr: String,
    pub addr_port: u16,
}

impl FromStr for ConnectTo {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let [host, port, addr, addr_port] = parts[..] else {
            return Err(format!("`{s}`: expected HOST:PORT:ADDR:PORT"));
        };
        let parse_port = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| format!("`{s}`: `{p}` is not a port number"))
        };
        if host.is_empty() || addr.is_empty() {
            return Err(format!("`{s}`: host and address must not be empty"));
        }
        Ok(ConnectTo {
            host: host.to_ascii_lowercase(),
            port: parse_port(port)?,
            addr: addr.to_string(),
            addr_port: parse_port(addr_port)?,
        })
    }
}

/// Settings of the HTTPS client.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Socket overrides (see [`ConnectTo`]).
    pub connect_to: Vec<ConnectTo>,
    /// Extra trust roots (PEM), in addition to the public web roots.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Largest response body accepted.
    pub max_body_bytes: usize,
    /// Deadline when a request names none.
    pub default_timeout: Duration,
    /// Upper bound on any request's deadline.
    pub max_timeout: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            connect_to: Vec::new(),
            extra_roots: Vec::new(),
            max_body_bytes: 4 * 1024 * 1024,
            default_timeout: Duration::from_secs(30),
            max_timeout: Duration::from_secs(120),
        }
    }
}

impl NetConfig {
    /// Adds every certificate in a PEM file as a trust root.
    pub fn add_ca_file(&mut self, path: &Path) -> Result<(), String> {
        let certs: Vec<_> = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("CA file {}: {e}", path.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("CA file {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("CA file {}: no certificate found", path.display()));
        }
        self.extra_roots.extend(certs);
        Ok(())
    }
}

/// A request ready to send. It holds filled-in secrets (headers, form
/// body), so `Debug` shows header names and the body's length only.
pub struct OutRequest {
    pub method: hyper::Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout: Option<Duration>,
}

impl std::fmt::Debug for OutRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutRequest")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A complete response.
#[derive(Debug)]
pub struct OutResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a request got no response.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("{0}")]
    Network(String),
    #[error("{0}")]
    Timeout(String),
    #[error("response body over {0} bytes")]
    TooLarge(u64),
}

/// Headers the host sets itself; a plugin may not.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "proxy-authorization",
    "keep-alive",
];

/// HTTPS client shared by every plugin call.
#[derive(Clone)]
pub struct HttpsClient {
    tls: tokio_rustls::TlsConnector,
    /// The trust roots, for connections that present a client certificate.
    roots: Arc<rustls::RootCertStore>,
    cfg: Arc<NetConfig>,
    pool: Arc<Pool>,
}

/// A TLS client certificate chain and its key (mutual TLS). `Debug` shows
/// neither.
pub struct ClientIdentity {
    chain: Vec<rustls_pki_types::CertificateDer<'static>>,
    key: rustls_pki_types::PrivateKeyDer<'static>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientIdentity({} certificates)", self.chain.len())
    }
}

impl ClientIdentity {
    /// From PEM text; an error says which part is wrong, never its content.
    pub fn from_pem(chain: &str, key: &str) -> Result<Self, String> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|_| "the certificate is not PEM".to_string())?;
        if chain.is_empty() {
            return Err("the certificate holds no `BEGIN CERTIFICATE` block".into());
        }
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
            .map_err(|_| "the key is not a PEM private key (PKCS#8, PKCS#1 or SEC1)".to_string())?;
        Ok(ClientIdentity { chain, key })
    }
}

impl HttpsClient {
    pub fn new(cfg: NetConfig) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for cert in &cfg.extra_roots {
            roots
                .add(cert.clone())
                .map_err(|e| format!("extra trust root: {e}"))?;
        }
        let roots = Arc::new(roots);
        Ok(HttpsClient {
            tls: connector(roots.clone(), None)?,
            roots,
            cfg: Arc::new(cfg),
            pool: Arc::default(),
        })
    }

    /// [`HttpsClient::send`] on a new connection that presents `identity`
    /// (mutual TLS); never pooled, so no other request reuses it.
    pub async fn send_with_identity(
        &self,
        req: OutRequest,
        identity: ClientIdentity,
    ) -> Result<OutResponse, NetError> {
        let tls =
            connector(self.roots.clone(), Some(identity)).map_err(NetError::InvalidRequest)?;
        self.send_on(req, Some(&tls)).await
    }

    pub fn config(&self) -> &NetConfig {
        &self.cfg
    }

    /// Sends `req` and reads the whole response, within its deadline.
    pub async fn send(&self, req: OutRequest) -> Result<OutResponse, NetError> {
        self.send_on(req, None).await
    }

    /// Sends `req` with `body` streamed in place of its own, and answers
    /// once the response head arrives (within the deadline); the body then
    /// streams, uncapped, as the caller reads it. A pooled connection the
    /// provider closed meanwhile is retried only while the body is unsent.
    pub async fn stream(&self, req: OutRequest, body: OutBody) -> Result<Streamed, NetError> {
        let timeout = self.deadline(&req);
        let target = target_of(&req.url);
        let head = tokio::time::timeout(timeout, self.open(&req, body, None));
        let (sender, resp, key, close) = match head.await {
            Ok(r) => r?,
            Err(_) => return Err(late(&target, timeout)),
        };
        let headers = header_pairs(&resp);
        Ok(Streamed {
            status: resp.status().as_u16(),
            headers,
            body: PassBody {
                inner: resp.into_body(),
                back: (!close).then(|| (self.pool.clone(), key, sender)),
            },
        })
    }

    fn deadline(&self, req: &OutRequest) -> Duration {
        req.timeout
            .unwrap_or(self.cfg.default_timeout)
            .min(self.cfg.max_timeout)
    }

    async fn send_on(
        &self,
        req: OutRequest,
        own: Option<&tokio_rustls::TlsConnector>,
    ) -> Result<OutResponse, NetError> {
        let timeout = self.deadline(&req);
        let target = target_of(&req.url);
        match tokio::time::timeout(timeout, self.exchange(req, own)).await {
            Ok(r) => r,
            Err(_) => Err(late(&target, timeout)),
        }
    }

    async fn exchange(
        &self,
        req: OutRequest,
        own: Option<&tokio_rustls::TlsConnector>,
    ) -> Result<OutResponse, NetError> {
        let body = whole(req.body.clone());
        let (sender, resp, key, close) = self.open(&req, body, own).await?;
        let status = resp.status().as_u16();
        let headers = header_pairs(&resp);
        let body = read_capped(resp.into_body(), self.cfg.max_body_bytes, &key.0).await?;
        if !close && own.is_none() {
            self.pool.put(key, sender);
        }
        Ok(OutResponse {
            status,
            headers,
            body,
        })
    }

    /// Sends `req` with `body` on a pooled or new connection and waits for
    /// the response head. Also answers the connection, its pool key, and
    /// whether the provider said it closes.
    async fn open(
        &self,
        req: &OutRequest,
        body: OutBody,
        own: Option<&tokio_rustls::TlsConnector>,
    ) -> Result<
        (
            Sender,
            hyper::Response<hyper::body::Incoming>,
            (String, u16),
            bool,
        ),
        NetError,
    > {
        if req.url.scheme() != "https" {
            return Err(NetError::InvalidRequest(format!(
                "only https URLs are allowed, got {}://",
                req.url.scheme()
            )));
        }
        let host = req
            .url
            .host_str()
            .ok_or_else(|| NetError::InvalidRequest("URL has no host".into()))?
            .to_ascii_lowercase();
        let port = req.url.port_or_known_default().unwrap_or(443);
        let mut http_req = build_request(req, body, &host, port)?;
        let key = (host.clone(), port);

        // A pooled connection the provider closed meanwhile gives the
        // request back unsent; it then goes on another or a new connection.
        let (sender, resp) = loop {
            let pooled = match own {
                Some(_) => None,
                None => self.pool.take(&key),
            };
            let Some(mut sender) = pooled else {
                let mut sender = self.connect(&host, port, own.unwrap_or(&self.tls)).await?;
                let resp = sender
                    .send_request(http_req)
                    .await
                    .map_err(|e| NetError::Network(format!("request to {host}: {e}")))?;
                break (sender, resp);
            };
            if sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(http_req).await {
                Ok(resp) => break (sender, resp),
                Err(mut e) => match e.take_message() {
                    Some(back) => http_req = back,
                    None => {
                        return Err(NetError::Network(format!(
                            "request to {host}: {}",
                            e.into_error()
                        )))
                    }
                },
            }
        };
        let close = own.is_some()
            || resp
                .headers()
                .get(hyper::header::CONNECTION)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        Ok((sender, resp, key, close))
    }

    /// A new TLS connection to `host:port`, its driver running until the
    /// sender is dropped or the provider closes it.
    async fn connect(
        &self,
        host: &str,
        port: u16,
        tls: &tokio_rustls::TlsConnector,
    ) -> Result<Sender, NetError> {
        let tcp = match self
            .cfg
            .connect_to
            .iter()
            .find(|c| c.host == host && c.port == port)
        {
            // The operator's explicit override (tests, local development).
            Some(c) => TcpStream::connect((c.addr.as_str(), c.addr_port)).await,
            None => TcpStream::connect(public_addresses(host, port).await?.as_slice()).await,
        }
        .map_err(|e| NetError::Network(format!("connect to {host}:{port}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let name = ServerName::try_from(bare)
            .map_err(|e| NetError::InvalidRequest(format!("host `{host}`: {e}")))?;
        let tls = tls
            .connect(name, tcp)
            .await
            .map_err(|e| NetError::Network(format!("TLS with {host}:{port}: {e}")))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| NetError::Network(format!("HTTP handshake with {host}: {e}")))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }
}

/// The TLS connector: the roots, ALPN `http/1.1`, and a client certificate
/// when given.
fn connector(
    roots: Arc<rustls::RootCertStore>,
    identity: Option<ClientIdentity>,
) -> Result<tokio_rustls::TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let mut tls = match identity {
        None => builder.with_no_client_auth(),
        Some(id) => builder
            .with_client_auth_cert(id.chain, id.key)
            .map_err(|_| {
                "the client certificate and key do not form a usable identity".to_string()
            })?,
    };
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(tls)))
}

/// `https://host`, for messages.
fn target_of(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default())
}

fn late(target: &str, timeout: Duration) -> NetError {
    NetError::Timeout(format!(
        "{target} did not answer within {} ms",
        timeout.as_millis()
    ))
}

/// A response's headers whose values are text.
fn header_pairs<B>(resp: &hyper::Response<B>) -> Vec<(String, String)> {
    resp.headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect()
}

fn build_request(
    req: &OutRequest,
    body: OutBody,
    host: &str,
    port: u16,
) -> Result<hyper::Request<OutBody>, NetError> {
    let path = match req.url.query() {
        Some(q) => format!("{}?{q}", req.url.path()),
        None => req.url.path().to_string(),
    };
    let authority = if port == 443 {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    let mut builder = hyper::Request::builder()
        .method(req.method.clone())
        .uri(path)
        .header("host", authority)
        .header(
            "user-agent",
            concat!("connhost/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in &req.headers {
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(NetError::InvalidRequest(format!(
                "header `{lower}` is set by the host"
            )));
        }
        let name = HeaderName::from_bytes(lower.as_bytes())
            .map_err(|_| NetError::InvalidRequest(format!("bad header name `{lower}`")))?;
        // The value may hold a secret: never echo it.
        let value = HeaderValue::from_str(value)
            .map_err(|_| NetError::InvalidRequest(format!("bad value for header `{name}`")))?;
        builder = builder.header(name, value);
    }
    builder
        .body(body)
        .map_err(|e| NetError::InvalidRequest(e.to_string()))
}

async fn read_capped(
    mut body: hyper::body::Incoming,
    cap: usize,
    host: &str,
) -> Result<Vec<u8>, NetError> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| NetError::Network(format!("reading response from {host}: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > cap {
                return Err(NetError::TooLarge(cap as u64));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_debug_shows_no_header_values_or_body() {
        let r = OutRequest {
            method: hyper::Method::POST,
            url: Url::parse("https://a.example.com/token").unwrap(),
            headers: vec![("authorization".into(), "Bearer hunter2".into())],
            body: b"client_secret=hunter2".to_vec(),
            timeout: None,
        };
        let text = format!("{r:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("authorization"), "{text}");
    }

    #[test]
    fn parses_connect_to() {
        let c: ConnectTo = "Acme.eu-1.celonis.cloud:443:127.0.0.1:8443"
            .parse()
            .unwrap();
        assert_eq!(c.host, "acme.eu-1.celonis.cloud");
        assert_eq!(
            (c.port, c.addr.as_str(), c.addr_port),
            (443, "127.0.0.1", 8443)
        );
    }

    #[test]
    fn rejects_bad_connect_to() {
        assert!("a:443:127.0.0.1".parse::<ConnectTo>().is_err());
        assert!("a:x:127.0.0.1:1"
            .parse::<ConnectTo>()
            .unwrap_err()
            .contains("`x`"));
    }
}
