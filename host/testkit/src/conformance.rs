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
        // Repeats the request's Authorization header in its 401 body.
        ("conformance-echo-7d1e", Behavior::Echo(401)),
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

/// Both fake providers the suite talks to: Celonis (with [`keys`]) and the
/// OAuth 2.0 server (for the generic connector's consent cases).
pub struct Fakes {
    pub celonis: crate::celonis::FakeCelonis,
    pub oauth: crate::oauth::FakeOAuth,
    /// A token endpoint that authenticates clients by TLS certificate.
    pub mtls: crate::mtls::FakeMtls,
}

impl Fakes {
    pub async fn start() -> std::io::Result<Fakes> {
        Ok(Fakes {
            celonis: crate::celonis::FakeCelonis::start(provider()).await?,
            oauth: crate::oauth::FakeOAuth::start(Default::default()).await?,
            mtls: crate::mtls::FakeMtls::conformance().await?,
        })
    }

    /// `host:443` → `127.0.0.1:PORT` for every name the fakes answer.
    pub fn connect_to(&self) -> std::collections::BTreeMap<String, String> {
        let mut map = std::collections::BTreeMap::new();
        for host in [demo::DOMAIN, "other.eu-1.celonis.cloud"] {
            map.insert(format!("{host}:443"), self.celonis.addr().to_string());
        }
        for c in [self.oauth.connect_to(), self.mtls.connect_to()] {
            let (name, addr) = c.split_once(":443:").expect("HOST:443:ADDR:PORT");
            map.insert(format!("{name}:443"), addr.to_string());
        }
        map
    }

    /// Both test CAs, PEM, one after the other.
    pub fn ca_pem(&self) -> String {
        format!(
            "{}\n{}\n{}",
            self.celonis.ca_pem().trim_end(),
            self.oauth.ca_pem().trim_end(),
            self.mtls.ca_pem()
        )
    }
}
