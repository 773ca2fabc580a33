//! Kept-alive connections to providers, by origin, for reuse.

use super::OutBody;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Idle connections kept per origin, and for how long.
const MAX_IDLE_PER_ORIGIN: usize = 32;
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) type Sender = hyper::client::conn::http1::SendRequest<OutBody>;
type Idle = Vec<(Sender, Instant)>;

/// Idle keep-alive connections by `(host, port)`. The address was checked
/// when the connection was made, so reuse cannot reach a refused address.
#[derive(Default)]
pub(super) struct Pool {
    idle: Mutex<HashMap<(String, u16), Idle>>,
}

impl Pool {
    pub(super) fn take(&self, key: &(String, u16)) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(key)?;
        while let Some((sender, since)) = list.pop() {
            if since.elapsed() < IDLE_TIMEOUT && !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    pub(super) fn put(&self, key: (String, u16), sender: Sender) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(key).or_default();
        list.retain(|(s, since)| since.elapsed() < IDLE_TIMEOUT && !s.is_closed());
        if list.len() < MAX_IDLE_PER_ORIGIN {
            list.push((sender, Instant::now()));
        }
    }
}
