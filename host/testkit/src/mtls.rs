//! A fake token endpoint that authenticates clients by TLS certificate
//! (RFC 8705 §2, `tls_client_auth`), on loopback: a client certificate
//! must be one the test CA signed, and the token goes only to the
//! certificate registered for the `client_id`. A resource endpoint (no
//! client certificate needed) takes the token it issued.

use crate::pki::TestPki;
use crate::server::{json, oauth_error, Received};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

pub const HOST: &str = "mtls.example.com";
pub const BASE: &str = "https://mtls.example.com";
pub const CLIENT_ID: &str = "mtls-client";

/// What the fake saw.
#[derive(Default, Debug)]
pub struct Ledger {
    /// Each token request: the client id and whether its certificate was
    /// the one registered for it.
    pub token_requests: Vec<(String, bool)>,
    pub tokens: Vec<String>,
    /// TLS handshakes refused (a certificate the CA did not sign).
    pub handshakes_refused: usize,
}

pub struct FakeMtls {
    addr: SocketAddr,
    pki: TestPki,
    /// The registered client's certificate and key (PEM).
    pub client_pem: (String, String),
    state: Arc<Mutex<Ledger>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeMtls {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The conformance suite's client: a certificate, its key and the CA that
/// signed it, committed for tests only (nothing trusts that CA but this
/// fake), so every host's runner presents the same identity.
pub const CONFORMANCE_CLIENT_PEM: &str = include_str!("../../../tests/conformance/mtls-client.pem");
pub const CONFORMANCE_CLIENT_KEY_PEM: &str =
    include_str!("../../../tests/conformance/mtls-client-key.pem");
const CONFORMANCE_CLIENT_CA_PEM: &str =
    include_str!("../../../tests/conformance/mtls-client-ca.pem");

fn der(pem: &str) -> rustls::pki_types::CertificateDer<'static> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).expect("a PEM certificate")
}

impl FakeMtls {
    /// With a client certificate made for this run.
    pub async fn start() -> std::io::Result<FakeMtls> {
        let pki = TestPki::new(&[HOST]);
        let client_pem = pki.client_certificate(CLIENT_ID);
        Self::serve(pki, client_pem, None).await
    }

    /// With the conformance suite's committed client certificate.
    pub async fn conformance() -> std::io::Result<FakeMtls> {
        let pki = TestPki::new(&[HOST]);
        let client_pem = (
            CONFORMANCE_CLIENT_PEM.to_string(),
            CONFORMANCE_CLIENT_KEY_PEM.to_string(),
        );
        Self::serve(pki, client_pem, Some(der(CONFORMANCE_CLIENT_CA_PEM))).await
    }

    async fn serve(
        pki: TestPki,
        client_pem: (String, String),
        client_ca: Option<rustls::pki_types::CertificateDer<'static>>,
    ) -> std::io::Result<FakeMtls> {
        let registered: Vec<u8> = der(&client_pem.0).to_vec();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let acceptor = pki.mtls_acceptor(client_ca);
        let state = Arc::new(Mutex::new(Ledger::default()));
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, st, registered) = (acceptor.clone(), st.clone(), registered.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        st.lock().unwrap().handshakes_refused += 1;
                        return;
                    };
                    let presented = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| c.to_vec());
                    let same = presented.as_deref() == Some(registered.as_slice());
                    let svc = hyper::service::service_fn(move |req| {
                        let st = st.clone();
                        async move { Ok::<_, std::convert::Infallible>(handle(&st, same, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        Ok(FakeMtls {
            addr,
            pki,
            client_pem,
            state,
            task,
        })
    }

    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    /// A certificate the same CA signed for another client.
    pub fn other_client(&self) -> (String, String) {
        self.pki.client_certificate("someone-else")
    }

    pub fn connect_to(&self) -> String {
        format!("{HOST}:443:{}:{}", self.addr.ip(), self.addr.port())
    }

    pub fn ledger<T>(&self, f: impl FnOnce(&Ledger) -> T) -> T {
        f(&self.state.lock().unwrap())
    }
}

async fn handle(
    st: &Mutex<Ledger>,
    registered_cert: bool,
    req: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let r = Received::read(req).await;
    let (path, auth, form) = (
        r.uri.path().to_string(),
        r.header("authorization"),
        r.form(),
    );
    let mut l = st.lock().unwrap();
    match path.as_str() {
        "/token" => {
            let client = form.get("client_id").cloned().unwrap_or_default();
            l.token_requests.push((client.clone(), registered_cert));
            if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
                return oauth_error(400, "unsupported_grant_type", "client_credentials only");
            }
            // §2: the certificate authenticates the client; no secret.
            if client != CLIENT_ID
                || !registered_cert
                || !auth.is_empty()
                || form.contains_key("client_secret")
            {
                return oauth_error(
                    401,
                    "invalid_client",
                    "the TLS client certificate is not this client's",
                );
            }
            let token = format!("mtls-token-{}", l.tokens.len() + 1);
            l.tokens.push(token.clone());
            json(
                200,
                serde_json::json!({"access_token": token, "token_type": "Bearer", "expires_in": 600}),
            )
        }
        "/me" => match auth.strip_prefix("Bearer ") {
            Some(t) if l.tokens.iter().any(|x| x == t) => {
                json(200, serde_json::json!({"name": "mtls-service"}))
            }
            _ => json(401, serde_json::json!({"error": "invalid_token"})),
        },
        _ => json(404, serde_json::json!({"error": "not found"})),
    }
}
