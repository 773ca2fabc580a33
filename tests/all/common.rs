//! Helpers for end-to-end tests: a fake provider on loopback and the real
//! `connhost` binary run against it with its own store.

use connhost_testkit::celonis::{demo, FakeCelonis, FakeConfig};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub use connhost_testkit::celonis::Behavior;

/// A fake Celonis plus a fresh store directory and the flags to reach it.
pub struct Env {
    pub fake: FakeCelonis,
    pub home: tempfile::TempDir,
    ca: PathBuf,
    /// Extra environment for every run (secret sources).
    pub env: Vec<(String, String)>,
    /// Every stdout and stderr seen, for leak checks.
    pub transcript: std::sync::Mutex<String>,
    /// The store is in this database (the home keeps the key file).
    pub db: Option<crate::db::TestDb>,
}

/// What one CLI run produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "command failed: {self:?}");
        self
    }
    pub fn failed(self) -> Self {
        assert_ne!(self.code, 0, "command should have failed: {self:?}");
        self
    }
    /// The `error` object of a failed `--json` run.
    pub fn error(&self) -> Value {
        assert_ne!(self.code, 0, "command should have failed: {self:?}");
        self.json()["error"].clone()
    }
}

impl Env {
    pub async fn new() -> Env {
        Self::with(FakeConfig::default()).await
    }

    pub async fn with(cfg: FakeConfig) -> Env {
        let fake = FakeCelonis::start(cfg).await.expect("start fake provider");
        let home = tempfile::tempdir().expect("tempdir");
        let ca = home.path().join("test-ca.pem");
        std::fs::write(&ca, fake.ca_pem()).unwrap();
        Env {
            fake,
            home,
            ca,
            env: vec![
                ("APP_KEY".into(), demo::APP_KEY.into()),
                ("API_KEY".into(), demo::API_KEY.into()),
                ("CLIENT_SECRET".into(), demo::CLIENT_SECRET.into()),
            ],
            transcript: Default::default(),
            db: None,
        }
    }

    /// [`Env::new`] with the store in a fresh schema of the test
    /// database; `None` when there is none (see [`crate::db`]).
    pub async fn on_postgres(test: &str) -> Option<Env> {
        let db = crate::db::TestDb::new(test)?;
        let mut env = Self::new().await;
        env.db = Some(db);
        Some(env)
    }

    /// `connhost` with this env's store and the flags to reach the fake.
    pub fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(bin());
        cmd.arg("--home")
            .arg(self.home())
            .arg("--ca-file")
            .arg(&self.ca)
            .arg("--connect-to")
            .arg(self.fake.connect_to(demo::DOMAIN))
            .arg("--connect-to")
            .arg(self.fake.connect_to("other.eu-1.celonis.cloud"))
            .env_remove("CONNHOST_MASTER_KEY")
            .env_remove("CONNHOST_HOME")
            .env_remove("CONNHOST_DATABASE_URL");
        if let Some(db) = &self.db {
            cmd.env("CONNHOST_DATABASE_URL", &db.url);
        }
        cmd
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    pub fn set_env(&mut self, k: &str, v: &str) {
        self.env.retain(|(key, _)| key != k);
        self.env.push((k.into(), v.into()));
    }

    /// Runs `connhost --json …` against the fake.
    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[], None).await
    }

    pub async fn run_with(
        &self,
        args: &[&str],
        extra_env: &[(&str, &str)],
        stdin: Option<&str>,
    ) -> Run {
        use tokio::io::AsyncWriteExt;
        let mut cmd = self.command();
        cmd.args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn connhost");
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).await.unwrap();
        }
        drop(input);
        let out = child.wait_with_output().await.expect("wait connhost");
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        let mut t = self.transcript.lock().unwrap();
        t.push_str(&run.stdout);
        t.push_str(&run.stderr);
        run
    }

    /// `connector add builtin:celonis`.
    pub async fn add_celonis(&self) {
        let r = self
            .run(&["--json", "connector", "add", "builtin:celonis"])
            .await
            .ok();
        assert_eq!(r.json()["id"], "celonis");
    }

    /// Creates a Celonis connection; returns its id.
    pub async fn create(&self, fields: &[&str], secrets: &[&str]) -> String {
        let r = self.create_run(fields, secrets).await.ok();
        r.json()["id"].as_str().unwrap().to_string()
    }

    pub async fn create_run(&self, fields: &[&str], secrets: &[&str]) -> Run {
        let mut args = vec!["--json", "connection", "create", "--connector", "celonis"];
        for f in fields {
            args.extend(["--field", f]);
        }
        for s in secrets {
            args.extend(["--secret", s]);
        }
        self.run(&args).await
    }

    /// All bytes under the store directory, file by file.
    pub fn store_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(p: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            for e in std::fs::read_dir(p).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push((path.clone(), std::fs::read(&path).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(self.home(), &mut out);
        out
    }
}

pub const DOMAIN: &str = demo::DOMAIN;

/// A library `HostConfig` on `home` that reaches `fake` (connect-to and
/// its CA), for tests that drive the library directly.
pub fn library_config(home: &Path, fake: &FakeCelonis) -> connhost::HostConfig {
    let mut cfg = connhost::HostConfig::new(home);
    cfg.net.connect_to = vec![fake.connect_to(demo::DOMAIN).parse().unwrap()];
    let ca = home.join("ca.pem");
    std::fs::create_dir_all(home).unwrap();
    std::fs::write(&ca, fake.ca_pem()).unwrap();
    cfg.net.add_ca_file(&ca).unwrap();
    cfg
}

/// The `connhost` binary under test: the one built with this test, or
/// `CONNHOST_TEST_BIN` (a copy, when the target directory is shared with
/// other builds that may replace it mid-run).
pub fn bin() -> std::path::PathBuf {
    std::env::var_os("CONNHOST_TEST_BIN")
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_connhost").into())
}

/// Egress to one fake provider: its `HOST:443:ADDR:PORT` overrides and its
/// test CA (written under `home`).
pub fn fake_net(home: &Path, connect_to: &[String], ca_pem: &str) -> connhost::net::NetConfig {
    let ca = home.join("fake-ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let mut net = connhost::net::NetConfig {
        connect_to: connect_to.iter().map(|c| c.parse().unwrap()).collect(),
        ..Default::default()
    };
    net.add_ca_file(&ca).unwrap();
    net
}
