//! The provider the conformance suite (`tests/conformance/cases.json`)
//! runs against, in every host's runner: the fake Celonis with static keys
//! that each select one behaviour.

use crate::celonis::{demo, Behavior, FakeConfig};
use std::time::Duration;

/// Static keys and the behaviour each selects.
pub fn keys() -> Vec<(&'static str, Behavior)> {
    vec![
        (demo::APP_KEY, Behavior::Ok),
        (demo::API_KEY, Behavior::Ok),
        (
            "conformance-scope",
            Behavior::InsufficientScope(vec!["intelligence.knowledge-models:read".into()]),
        ),
        ("conformance-429", Behavior::RateLimited(7)),
        ("conformance-500", Behavior::ServerError),
        ("conformance-huge", Behavior::Huge(5 << 20)),
        ("conformance-slow", Behavior::Slow(Duration::from_secs(5))),
        (
            "conformance-redirect",
            Behavior::Redirect("https://evil.example.com/steal".into()),
        ),
    ]
}

/// The fake Celonis configured with [`keys`].
pub fn provider() -> FakeConfig {
    let mut cfg = FakeConfig::default();
    for (key, behaviour) in keys() {
        cfg.keys.insert(key.to_string(), behaviour);
    }
    cfg
}
