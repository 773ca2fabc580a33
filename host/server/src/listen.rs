//! The accept loop: HTTP/1.1 connections under a cap in all and a cap
//! per client address, each with a deadline for its request headers, so
//! a flood of idle or trickling sockets from one client cannot take the
//! ones every other client needs. Each request carries its client's
//! address (`ConnectInfo`) for the per-client limits of [`crate::limits`].

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceExt as _;

/// Connection limits, with their defaults.
#[derive(Clone, Debug)]
pub struct ConnLimits {
    /// Open connections in all; more are closed as soon as accepted.
    pub max_connections: usize,
    /// Open connections per client address.
    pub max_connections_per_client: usize,
    /// A request's headers must arrive within this (also how long an idle
    /// keep-alive connection stays open).
    pub header_timeout: Duration,
    /// How long a shutdown waits for requests in flight.
    pub drain: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_connections: 8192,
            max_connections_per_client: 512,
            header_timeout: Duration::from_secs(20),
            drain: crate::ops::REQUEST_DEADLINE,
        }
    }
}

#[derive(Default)]
struct Open {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// One open connection's place in the counts; freed on drop.
struct Slot {
    open: Arc<Mutex<Open>>,
    ip: IpAddr,
}

impl Slot {
    fn take(open: &Arc<Mutex<Open>>, ip: IpAddr, limits: &ConnLimits) -> Option<Slot> {
        let mut o = open.lock().unwrap_or_else(|p| p.into_inner());
        let mine = o.per_client.get(&ip).copied().unwrap_or(0);
        if o.total >= limits.max_connections || mine >= limits.max_connections_per_client {
            return None;
        }
        o.total += 1;
        *o.per_client.entry(ip).or_default() += 1;
        Some(Slot {
            open: open.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut o = self.open.lock().unwrap_or_else(|p| p.into_inner());
        o.total -= 1;
        if let Some(n) = o.per_client.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                o.per_client.remove(&self.ip);
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes; requests in
/// flight are finished first (for at most `limits.drain`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let open = Arc::new(Mutex::new(Open::default()));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = Slot::take(&open, peer.ip(), &limits) else {
            crate::ops::METRICS.error("connection-refused");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(req.map(axum::body::Body::new))
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(TokioIo::new(tcp), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(limits.drain, graceful.shutdown()).await;
    Ok(())
}
