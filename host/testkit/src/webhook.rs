//! A webhook receiver over HTTPS (test CA) that records every delivery and
//! can fail the first few, to test signatures and retries.

use crate::pki::TestPki;
use crate::server::spawn_server;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The receiver's host name (reach it with `connect_to`).
pub const HOST: &str = "hooks.example.com";

/// One delivery as received.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Default)]
struct State {
    received: Vec<Delivery>,
    fail_first: usize,
}

pub struct WebhookReceiver {
    addr: SocketAddr,
    pki: TestPki,
    state: Arc<Mutex<State>>,
}

impl WebhookReceiver {
    /// Starts a receiver that answers 500 to its first `fail_first`
    /// deliveries, then 204.
    pub async fn start(fail_first: usize) -> std::io::Result<WebhookReceiver> {
        let pki = TestPki::new(&[HOST]);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            fail_first,
            ..State::default()
        }));
        let s = state.clone();
        spawn_server(
            listener,
            Some(pki.acceptor()),
            Default::default(),
            move |req| {
                let s = s.clone();
                async move {
                    let path = req.uri().path().to_string();
                    let headers = req
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                        .collect();
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes().to_vec())
                        .unwrap_or_default();
                    let mut st = s.lock().unwrap();
                    st.received.push(Delivery {
                        path,
                        headers,
                        body,
                    });
                    let status = if st.fail_first > 0 {
                        st.fail_first -= 1;
                        500
                    } else {
                        204
                    };
                    Ok(hyper::Response::builder()
                        .status(status)
                        .body(Full::new(Bytes::new()))
                        .expect("response"))
                }
            },
        );
        Ok(WebhookReceiver { addr, pki, state })
    }

    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    /// `hooks.example.com:443:127.0.0.1:PORT` for `--connect-to`.
    pub fn connect_to(&self) -> String {
        format!("{HOST}:443:{}:{}", self.addr.ip(), self.addr.port())
    }

    /// Every delivery so far, failed ones included.
    pub fn received(&self) -> Vec<Delivery> {
        self.state.lock().unwrap().received.clone()
    }
}
