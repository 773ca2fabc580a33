//! Bodies that stream: a request body passed through from a caller
//! ([`OutBody`]) and a provider's response body as it arrives
//! ([`PassBody`]), which hands its connection back to the pool at its end.

use super::pool::{Pool, Sender};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::sync::Arc;

/// Errors of a request body passed through ([`HttpsClient::stream`]).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body as sent: whole, or streamed from the caller.
pub type OutBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

pub(super) fn whole(body: Vec<u8>) -> OutBody {
    Full::new(Bytes::from(body))
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A response whose body is still arriving ([`HttpsClient::stream`]).
pub struct Streamed {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: PassBody,
}

/// A provider's response body as it arrives. At its end the connection
/// goes back to the pool (unless the provider said `close`); dropped
/// early, the connection is dropped with it.
pub struct PassBody {
    pub(super) inner: hyper::body::Incoming,
    pub(super) back: Option<(Arc<Pool>, (String, u16), Sender)>,
}

impl hyper::body::Body for PassBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let polled = std::pin::Pin::new(&mut this.inner).poll_frame(cx);
        // A reader may stop at the last frame, when `is_end_stream` says
        // so, and never poll for the end: the connection goes back then.
        let done = matches!(
            polled,
            std::task::Poll::Ready(None) | std::task::Poll::Ready(Some(Err(_)))
        ) || this.inner.is_end_stream();
        if done {
            if let Some((pool, key, sender)) = this.back.take() {
                if matches!(polled, std::task::Poll::Ready(Some(Err(_)))) {
                    drop(sender);
                } else {
                    pool.put(key, sender);
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
