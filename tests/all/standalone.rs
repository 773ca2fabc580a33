//! The composed `celonis.standalone.wasm` under the stock `wasmtime` CLI:
//! no connhost host involved, only standard WASI (`wasi:http`,
//! `wasi:config`, `wasi:cli/environment`).
//!
//! Needs `wasmtime` (48.x) on PATH; `.ci/run` installs it. Without it
//! the tests are ignored (`host/cli/build.rs` looks for it when the tests
//! are built), so `cargo test` reports them as ignored, never as passed;
//! with `CI` set they run, and fail when it is missing.

use connhost_testkit::celonis::{demo, FakeCelonis, FakeConfig};
use std::path::PathBuf;

/// Why the tests are ignored where they are.
const NEEDS_CLI: &str = "needs the wasmtime CLI on PATH (.ci/run installs it)";

/// The CLI; a test that runs without it fails (it is ignored where the
/// CLI was missing at build time, unless under CI).
fn wasmtime() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("wasmtime"))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("the wasmtime CLI is not on PATH: {NEEDS_CLI}"))
}

fn component() -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".wasm").tempfile().unwrap();
    std::io::Write::write_all(&mut f, connhost::builtin::CELONIS_STANDALONE).unwrap();
    f
}

async fn run(args: &[String], env: &[(&str, &str)]) -> (bool, String, String) {
    let bin = wasmtime();
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(args).env("HOME", std::env::temp_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Unqualified names work when unique; the qualified form is
/// `connhost:connector/connector.verify@0.3.0(…)`.
const INVOKE_PREFIX: &str = "";

fn verify_call() -> String {
    format!(
        "{INVOKE_PREFIX}verify({{id: \"standalone\", fields: [(\"domain\", \"{}\"), (\"api_type\", \"intelligence\"), (\"auth_type\", \"app-key\")], granted-scopes: [], expires-at: none}})",
        demo::DOMAIN
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(wasmtime_cli),
    ignore = "needs the wasmtime CLI on PATH (.ci/run installs it)"
)]
async fn manifest_runs_under_the_wasmtime_cli() {
    let c = component();
    let (ok, stdout, stderr) = run(
        &[
            "run".into(),
            "-S".into(),
            "http".into(),
            "-S".into(),
            "config".into(),
            "--invoke".into(),
            format!("{INVOKE_PREFIX}manifest()"),
            c.path().display().to_string(),
        ],
        &[],
    )
    .await;
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("id: \"celonis\""), "{stdout}");
    assert!(stdout.contains("hosts: [\"https://{domain}\"]"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(wasmtime_cli),
    ignore = "needs the wasmtime CLI on PATH (.ci/run installs it)"
)]
async fn verify_runs_under_the_wasmtime_cli_against_the_fake() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let plain = fake.serve_plain_http().await.unwrap();
    let c = component();
    let base = |allow: bool| {
        let mut a: Vec<String> = ["run", "-S", "http", "-S", "config"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if allow {
            a.extend([
                "-S".into(),
                format!("config-var=allowed-origins=https://{}", demo::DOMAIN),
            ]);
        }
        a.extend([
            "-S".into(),
            format!(
                "config-var=connect-to={}:443:127.0.0.1:{}",
                demo::DOMAIN,
                plain.port()
            ),
            "--env".into(),
            "CONNHOST_SECRET_APP_KEY".into(),
            "--invoke".into(),
            verify_call(),
            c.path().display().to_string(),
        ]);
        a
    };
    // The secret comes from the environment, never argv.
    let env = [("CONNHOST_SECRET_APP_KEY", demo::APP_KEY)];
    let (ok, stdout, stderr) = run(&base(true), &env).await;
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "ok({{account-label: \"{} ({})\"}})",
            demo::USER,
            demo::TEAM
        )),
        "{stdout}\n{stderr}"
    );
    assert!(fake.requests().contains(&"GET /api/cloud".to_string()));

    // Deny by default: no allowlist, no request.
    let before = fake.requests().len();
    let (_, stdout, stderr) = run(&base(false), &env).await;
    assert!(
        stdout.contains(&format!(
            "err(denied-host(\"https://{}:443\"))",
            demo::DOMAIN
        )),
        "{stdout}\n{stderr}"
    );
    assert_eq!(fake.requests().len(), before);

    // A wrong key: the typed error comes back as WAVE.
    let (_, stdout, _) = run(&base(true), &[("CONNHOST_SECRET_APP_KEY", "wrong")]).await;
    assert!(stdout.contains("err(unauthorized("), "{stdout}");
}

/// The generic connector composed with the adapter signs with the
/// adapter's `signing`: an OAuth 1.0 request (consumer and token secrets
/// from the environment) verifies at the fake, which recomputes the
/// signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(wasmtime_cli),
    ignore = "needs the wasmtime CLI on PATH (.ci/run installs it)"
)]
async fn the_generic_connector_signs_oauth1_under_the_wasmtime_cli() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let plain = fake.serve_plain_http().await.unwrap();
    let mut f = tempfile::Builder::new().suffix(".wasm").tempfile().unwrap();
    std::io::Write::write_all(&mut f, connhost::builtin::GENERIC_STANDALONE).unwrap();
    let definition = serde_json::json!({
        "format": 2, "id": "oauth1c", "auth_mode": "oauth1_token",
        "verify": {"url": format!("https://{}/conformance/oauth1?b=2&a=1%2F+x", demo::DOMAIN), "label": "/account"},
    })
    .to_string();
    let wave = |s: &str| serde_json::to_string(s).unwrap();
    let call = format!(
        "verify({{id: \"standalone\", fields: [(\"definition\", {}), (\"auth_mode\", \"oauth1_token\"), (\"client_id\", \"conformance-consumer\"), (\"token_id\", \"conformance-token\")], granted-scopes: [], expires-at: none}})",
        wave(&definition)
    );
    let args: Vec<String> = vec![
        "run".into(),
        "-S".into(),
        "http".into(),
        "-S".into(),
        "config".into(),
        "-S".into(),
        format!("config-var=allowed-origins=https://{}", demo::DOMAIN),
        "-S".into(),
        format!(
            "config-var=connect-to={}:443:127.0.0.1:{}",
            demo::DOMAIN,
            plain.port()
        ),
        "--env".into(),
        "CONNHOST_SECRET_CLIENT_SECRET".into(),
        "--env".into(),
        "CONNHOST_SECRET_TOKEN_SECRET".into(),
        "--invoke".into(),
        call,
        f.path().display().to_string(),
    ];
    let env = [
        ("CONNHOST_SECRET_CLIENT_SECRET", demo::API_KEY),
        ("CONNHOST_SECRET_TOKEN_SECRET", demo::APP_KEY),
    ];
    let (ok, stdout, stderr) = run(&args, &env).await;
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("ok({account-label: \"oauth1\"})"),
        "{stdout}\n{stderr}"
    );
    // A wrong token secret: the fake refuses the signature.
    let env = [
        ("CONNHOST_SECRET_CLIENT_SECRET", demo::API_KEY),
        ("CONNHOST_SECRET_TOKEN_SECRET", "wrong"),
    ];
    let (_, stdout, _) = run(&args, &env).await;
    assert!(stdout.contains("err(unauthorized("), "{stdout}");
}
