//! `connhost-fakes`: the fake providers, as a process, for host test
//! suites written in other languages (the conformance suite's JS and
//! Python runners). Prints one JSON line, `{"addr", "ca_pem", "hosts",
//! "keys"}`, then serves on loopback until its standard input closes.
//!
//! The keys are the conformance cases' ways of choosing what the provider
//! does (see `connhost_testkit::conformance`).

use connhost_testkit::celonis::{demo, FakeCelonis};
use connhost_testkit::conformance;
use tokio::io::AsyncReadExt;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let names: serde_json::Map<_, _> = conformance::keys()
        .into_iter()
        .map(|(key, behaviour)| (key.to_string(), format!("{behaviour:?}").into()))
        .collect();
    let fake = FakeCelonis::start(conformance::provider())
        .await
        .expect("start the fake provider");
    println!(
        "{}",
        serde_json::json!({
            "addr": fake.addr().to_string(),
            "ca_pem": fake.ca_pem(),
            "hosts": [demo::DOMAIN, "other.eu-1.celonis.cloud"],
            "keys": names,
        })
    );
    // Serve until the parent closes our stdin (or dies).
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
}
