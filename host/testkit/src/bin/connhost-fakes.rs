//! `connhost-fakes`: the fake providers, as a process, for host test
//! suites written in other languages (the conformance suite's JS and
//! Python runners). Prints one JSON line, then serves on loopback until
//! its standard input closes:
//! `{"connect_to": {"host:443": "127.0.0.1:PORT", …}, "ca_pem": "…",
//! "addr", "hosts", "keys", "oauth_definition"}` (`addr` and `hosts`: the
//! fake Celonis alone; `oauth_definition`: a provider definition for the
//! generic connector pointing at the fake OAuth server).
//!
//! The keys are the conformance cases' ways of choosing what the provider
//! does (see `connhost_testkit::conformance`).

use connhost_testkit::celonis::demo;
use connhost_testkit::conformance;
use tokio::io::AsyncReadExt;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let names: serde_json::Map<_, _> = conformance::keys()
        .into_iter()
        .map(|(key, behaviour)| (key.to_string(), format!("{behaviour:?}").into()))
        .collect();
    let fakes = conformance::Fakes::start()
        .await
        .expect("start the fake providers");
    println!(
        "{}",
        serde_json::json!({
            "connect_to": fakes.connect_to(),
            "ca_pem": fakes.ca_pem(),
            "addr": fakes.celonis.addr().to_string(),
            "hosts": [demo::DOMAIN, "other.eu-1.celonis.cloud"],
            "keys": names,
            "oauth_definition": fakes.oauth.definition(),
        })
    );
    // Serve until the parent closes our stdin (or dies).
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
}
