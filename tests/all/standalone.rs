//! The composed `celonis.standalone.wasm` under the stock `wasmtime` CLI:
//! no connhost host involved, only standard WASI (`wasi:http`,
//! `wasi:config`, `wasi:cli/environment`).
//!
//! Needs `wasmtime` (48.x) on PATH; `.ci/run` installs it. Outside CI the
//! tests say so and pass when it is missing; under CI they fail.

use connhost_testkit::celonis::{demo, FakeCelonis, FakeConfig};
use std::path::PathBuf;

fn wasmtime() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let found = std::env::split_paths(&path)
        .map(|d| d.join("wasmtime"))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the wasmtime CLI is not on PATH (.ci/run installs it)"
        );
        eprintln!("wasmtime CLI not found: standalone test not run");
    }
    found
}

fn component() -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".wasm").tempfile().unwrap();
    std::io::Write::write_all(&mut f, connhost::builtin::CELONIS_STANDALONE).unwrap();
    f
}

async fn run(args: &[String], env: &[(&str, &str)]) -> (bool, String, String) {
    let bin = wasmtime().unwrap();
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
async fn manifest_runs_under_the_wasmtime_cli() {
    if wasmtime().is_none() {
        return;
    }
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
async fn verify_runs_under_the_wasmtime_cli_against_the_fake() {
    if wasmtime().is_none() {
        return;
    }
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
