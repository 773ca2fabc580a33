//! Hostile neighbours: one team's traffic must not take the service away
//! from another. The real `connhost serve` process, real components and
//! fake providers on loopback.
//!
//! Invariants: a provider that closes its socket while connhost writes is
//! a `network` error and the process lives; a looping plugin holds only
//! its own team's call slots and never a request worker for more than an
//! epoch tick; a dead webhook endpoint delays only its own events;
//! trickling bodies and refused oversized bodies cost their sender, not
//! everyone.

use crate::common::library_config;
use connhost::{Manager, NewConnection, Role, Secret};
use connhost_testkit::celonis::{demo, FakeCelonis, FakeConfig};
use connhost_testkit::webhook::WebhookReceiver;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

/// `connhost serve` on `home` (seeded by the library first).
struct Served {
    child: tokio::process::Child,
    base: String,
}

impl Served {
    async fn start(home: &Path, flags: &[String]) -> Served {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_connhost"))
            .arg("--home")
            .arg(home)
            .args(flags)
            .args(["--json", "serve", "--listen", "127.0.0.1:0"])
            .args(["--renew-every-secs", "0"])
            .env_remove("CONNHOST_HOME")
            .env_remove("CONNHOST_DATABASE_URL")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn connhost serve");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
            .await
            .expect("serve started")
            .unwrap()
            .expect("serve printed its address");
        let v: Value = serde_json::from_str(&first).unwrap();
        Served {
            child,
            base: format!("http://{}", v["listen"].as_str().unwrap()),
        }
    }

    fn alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("connhost serve exited: {status:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    fn rss_mib(&self) -> u64 {
        rss_of(self.child.id().expect("running"))
    }
}

/// Resident set size of process `pid`, in MiB.
fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

/// Flags that reach the fake provider (and more hosts) from `serve`.
fn reach(home: &Path, fake: &FakeCelonis, more: &[(&str, String)]) -> Vec<String> {
    let ca = home.join("fake-ca.pem");
    std::fs::write(&ca, fake.ca_pem()).unwrap();
    let mut flags = vec![
        "--ca-file".into(),
        ca.display().to_string(),
        "--connect-to".into(),
        fake.connect_to(demo::DOMAIN),
    ];
    for (i, (ca_pem, connect_to)) in more.iter().enumerate() {
        let path = home.join(format!("ca-{i}.pem"));
        std::fs::write(&path, ca_pem).unwrap();
        flags.extend([
            "--ca-file".into(),
            path.display().to_string(),
            "--connect-to".into(),
            connect_to.clone(),
        ]);
    }
    flags
}

fn app_key_connection() -> NewConnection {
    NewConnection {
        connector: "celonis".into(),
        name: Some("Acme".into()),
        fields: BTreeMap::from([
            ("domain".to_string(), demo::DOMAIN.to_string()),
            ("auth_type".to_string(), "app-key".to_string()),
        ]),
        secrets: BTreeMap::from([("app_key".into(), Secret::new(demo::APP_KEY))]),
        ..Default::default()
    }
}

fn looping_connection() -> NewConnection {
    NewConnection {
        connector: "testbed".into(),
        fields: BTreeMap::from([
            ("domain".to_string(), demo::DOMAIN.to_string()),
            ("action".to_string(), "loop".to_string()),
        ]),
        secrets: BTreeMap::from([("token".into(), Secret::new("t"))]),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_closes_while_connhost_writes_is_a_network_error_and_serve_lives() {
    // The provider answers 413 to anything over 1 MiB before reading it,
    // and closes: connhost is still writing the rest of a 3 MiB body.
    let fake = FakeCelonis::start(FakeConfig {
        max_request_body: Some(1 << 20),
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let (id, key) = {
        let m = Manager::open(library_config(home.path(), &fake)).unwrap();
        m.add_connector(connhost::builtin::CELONIS).await.unwrap();
        let team = m.team(connhost::Caller {
            team: "team-a".into(),
            actor: "test".into(),
        });
        let id = team.unwrap().create(app_key_connection()).await.unwrap().id;
        let (_, key) = m
            .create_api_key_as(Some("team-a"), "member", Role::Member)
            .unwrap();
        (id, key.expose().to_string())
    };
    let mut served = Served::start(home.path(), &reach(home.path(), &fake, &[])).await;
    let http = reqwest::Client::new();
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; 3 << 20]);
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let r = http
            .post(format!("{}/v1/connections/{id}/request", served.base))
            .bearer_auth(&key)
            .json(&json!({"method": "POST", "url": "/api/cloud", "body": body}))
            .send()
            .await
            .expect("connhost answered (it did not die mid-request)");
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        outcomes.push((status, v));
    }
    for (status, v) in &outcomes {
        // Either the provider's early 413 was read, or the write failed
        // and says so as a typed `network` error.
        let ok = (*status == 200 && v["status"] == 413)
            || (*status == 502 && v["error"]["kind"] == "network");
        assert!(ok, "unexpected answer {status}: {v}");
    }
    served.alive().unwrap();
    let health = http
        .get(format!("{}/healthz", served.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    println!(
        "closed mid-body: {:?}; serve alive",
        outcomes.iter().map(|(s, _)| *s).collect::<Vec<_>>()
    );
}

/// The `q`-quantile of `samples` (ms).
fn quantile(samples: &mut [f64], q: f64) -> f64 {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
    samples[i.min(samples.len() - 1)]
}

/// Team A's figures: verify and proxied request latencies (ms), one
/// sign-in's latency, and how long its webhook events take to arrive.
#[derive(Debug)]
struct Figures {
    #[allow(dead_code)] // printed
    verify_p50: f64,
    verify_p99: f64,
    request_p99: f64,
    signin_p99: f64,
    health_p99: f64,
    webhook_max: f64,
}

async fn measure(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    id: &str,
    hooks: &WebhookReceiver,
    rounds: usize,
) -> Figures {
    let (mut verify, mut request, mut signin, mut health, mut webhook) =
        (vec![], vec![], vec![], vec![], vec![]);
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
    for i in 0..rounds {
        let before = hooks.received().len();
        let t = Instant::now();
        let r = http
            .post(format!("{base}/v1/connections/{id}/verify"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{:?}", r.text().await);
        verify.push(ms(t));
        let sent = Instant::now();

        let t = Instant::now();
        let r = http
            .post(format!("{base}/v1/connections/{id}/request"))
            .bearer_auth(key)
            .json(&json!({"method": "GET", "url": "/api/cloud"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        request.push(ms(t));

        let t = Instant::now();
        let r = http.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        health.push(ms(t));

        if i % 4 == 0 {
            let t = Instant::now();
            sign_in(http, base, key).await;
            signin.push(ms(t));
        }
        // The verify's event reaches team A's endpoint.
        while hooks.received().len() <= before {
            assert!(
                sent.elapsed() < Duration::from_secs(30),
                "team A's webhook event did not arrive"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        webhook.push(ms(sent));
    }
    Figures {
        verify_p50: quantile(&mut verify, 0.5),
        verify_p99: quantile(&mut verify, 0.99),
        request_p99: quantile(&mut request, 0.99),
        signin_p99: quantile(&mut signin, 0.99),
        health_p99: quantile(&mut health, 0.99),
        webhook_max: quantile(&mut webhook, 1.0),
    }
}

/// The page's sign-in: the form (its token and nonce cookie), then the
/// post; a real sign-in ends in a redirect with a session cookie.
async fn sign_in(http: &reqwest::Client, base: &str, key: &str) {
    let form = http.get(format!("{base}/signin")).send().await.unwrap();
    let cookies: Vec<String> = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").to_string())
        .collect();
    let html = form.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the form has a CSRF token")
        .to_string();
    let r = http
        .post(format!("{base}/signin"))
        .header("cookie", cookies.join("; "))
        .form(&[("key", key), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303, "sign-in: {:?}", r.text().await);
}

/// A TCP listener that accepts and never answers: a dead endpoint.
async fn black_hole() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    (
        format!("dead.example.com:443:{}:{}", addr.ip(), addr.port()),
        task,
    )
}

/// Slow-body connections from another loopback address: `POST /signin`
/// with a declared body sent a byte a second.
async fn trickle(base: &str, n: usize) -> Vec<tokio::task::JoinHandle<()>> {
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    (0..n)
        .map(|_| {
            tokio::spawn(async move {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
                let Ok(mut s) = socket.connect(addr).await else {
                    return;
                };
                let head = "POST /signin HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 4000\r\n\r\n";
                if s.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for _ in 0..4000 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if s.write_all(b"k").await.is_err() {
                        return;
                    }
                }
            })
        })
        .collect()
}

/// Team B, as noisy as a tenant can be without a key of team A's:
/// looping plugin calls, slow bodies, a dead webhook endpoint (its
/// failing verifies are events for it) and oversized bodies a member may
/// not send.
async fn noise(
    http: &reqwest::Client,
    base: &str,
    admin: &str,
    member: &str,
    looping: &[String],
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = trickle(base, 270).await;
    for id in looping.iter().cycle().take(8) {
        let (http, url, key) = (
            http.clone(),
            format!("{base}/v1/connections/{id}/verify"),
            admin.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let r = http.post(&url).bearer_auth(&key).send().await;
                // Told to retry: a well-behaved client waits a little.
                if r.is_ok_and(|r| r.status().as_u16() == 429) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    for _ in 0..4 {
        let (http, url, key) = (
            http.clone(),
            format!("{base}/v1/providers"),
            member.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let big: bytes::Bytes = {
                let mut v = b"[".to_vec();
                while v.len() < 14 << 20 {
                    v.extend_from_slice(b"{\"a\":[1,2,3]},");
                }
                v.extend_from_slice(b"1]");
                v.into()
            };
            // Four at once, again and again (the generator itself must not
            // take the cores the figures are measured on).
            loop {
                let _ = http
                    .post(&url)
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(big.clone())
                    .send()
                    .await;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }));
    }
    tasks
}

/// The proof the hostile-neighbours issue asks for: team A's figures on a
/// quiet server, then while team B is as noisy as it can be; each stays
/// within 2× (with a floor of 25 ms under which differences are
/// scheduling noise on 2 cores), the server's RSS under 256 MiB.
/// Timing-sensitive, so `scripts/test.sh` runs it alone (`--ignored`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing: run alone by scripts/test.sh"]
async fn a_noisy_team_leaves_a_quiet_team_its_latency() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let hooks = WebhookReceiver::start(0).await.unwrap();
    let (dead, _hole) = black_hole().await;
    let home = tempfile::tempdir().unwrap();
    let (a_id, a_key, b_admin, b_member, looping) = {
        let mut cfg = library_config(home.path(), &fake);
        cfg.net.connect_to.push(hooks.connect_to().parse().unwrap());
        cfg.net.connect_to.push(dead.parse().unwrap());
        let m = Manager::open(cfg).unwrap();
        m.add_connector(connhost::builtin::CELONIS).await.unwrap();
        m.add_connector(connhost::builtin::TESTBED).await.unwrap();
        let team = |t: &str| {
            m.team(connhost::Caller {
                team: t.into(),
                actor: "test".into(),
            })
            .unwrap()
        };
        let a_id = team("team-a")
            .create(app_key_connection())
            .await
            .unwrap()
            .id;
        let mut looping = Vec::new();
        for _ in 0..6 {
            looping.push(
                team("team-b")
                    .create(looping_connection())
                    .await
                    .unwrap()
                    .id,
            );
        }
        let (_, a_key) = m.create_api_key(Some("team-a"), "a").unwrap();
        let (_, b_admin) = m.create_api_key(Some("team-b"), "b").unwrap();
        let (_, b_member) = m
            .create_api_key_as(Some("team-b"), "b member", Role::Member)
            .unwrap();
        m.add_webhook(
            "team-a",
            &format!("https://{}/a", connhost_testkit::webhook::HOST),
        )
        .await
        .unwrap();
        m.add_webhook("team-b", "https://dead.example.com/b")
            .await
            .unwrap();
        (
            a_id,
            a_key.expose().to_string(),
            b_admin.expose().to_string(),
            b_member.expose().to_string(),
            looping,
        )
    };
    let mut flags = reach(home.path(), &fake, &[(hooks.ca_pem(), hooks.connect_to())]);
    flags.extend([
        "--connect-to".into(),
        dead,
        "--call-timeout-ms".into(),
        "3000".into(),
    ]);
    let mut served = Served::start(home.path(), &flags).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = served.base.clone();
    // Warm up (compile caches, connections), then the quiet figures.
    measure(&http, &base, &a_key, &a_id, &hooks, 2).await;
    let quiet = measure(&http, &base, &a_key, &a_id, &hooks, 12).await;
    let quiet_rss = served.rss_mib();

    let noisy_http = reqwest::Client::new();
    let tasks = noise(&noisy_http, &base, &b_admin, &b_member, &looping).await;
    // Let the noise build up: every slot team B may have is taken.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The highest RSS seen while team A measures.
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let rss_probe = {
        let (pid, peak) = (served.child.id().unwrap(), peak.clone());
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_of(pid), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let within = |what: &str, q: f64, n: f64| {
        let bound = 2.0 * q.max(25.0);
        match n <= bound {
            true => Ok(()),
            false => Err(format!(
                "{what}: {n:.1} ms under noise against {q:.1} ms quiet (bound {bound:.1} ms)"
            )),
        }
    };
    // A p99 of a dozen samples is their maximum: one scheduling hiccup on
    // 2 cores can spoil a round, so each figure gets three rounds under
    // the same noise and must hold in at least one (every round printed).
    let mut verdict = Err(String::new());
    for round in 1..=3 {
        let noisy = measure(&http, &base, &a_key, &a_id, &hooks, 12).await;
        println!("noisy neighbours: noisy round {round}: {noisy:?}");
        verdict = within("verify p99", quiet.verify_p99, noisy.verify_p99)
            .and(within("request p99", quiet.request_p99, noisy.request_p99))
            .and(within("sign-in p99", quiet.signin_p99, noisy.signin_p99))
            .and(within("healthz p99", quiet.health_p99, noisy.health_p99))
            .and(within(
                "webhook delivery",
                quiet.webhook_max,
                noisy.webhook_max,
            ));
        if verdict.is_ok() {
            break;
        }
    }
    rss_probe.abort();
    let noisy_rss = peak.load(std::sync::atomic::Ordering::Relaxed);
    for t in &tasks {
        t.abort();
    }
    served.alive().unwrap();
    println!("noisy neighbours: quiet {quiet:?}, RSS {quiet_rss} MiB; peak RSS under noise {noisy_rss} MiB");
    if let Err(e) = verdict {
        panic!("three rounds under noise, none within bounds; the last: {e}");
    }
    assert!(noisy_rss < 256, "RSS {noisy_rss} MiB under noise");
}

/// An in-process server for `m` on loopback; `tweak` adjusts its config.
async fn in_process(
    m: Manager,
    tweak: impl FnOnce(&mut connhost_server::ServerConfig),
) -> (String, std::sync::Arc<Manager>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let m = std::sync::Arc::new(m);
    let mut cfg = connhost_server::ServerConfig::new(&base);
    cfg.renew_every = None;
    tweak(&mut cfg);
    let router = connhost_server::router(m.clone(), cfg);
    tokio::spawn(connhost_server::serve(
        listener,
        router,
        std::future::pending(),
    ));
    (base, m)
}

/// Sends a request head by hand (from `from`, a loopback address) and
/// reads what comes back within `wait`.
async fn raw(base: &str, from: &str, head: &str, wait: Duration) -> String {
    use tokio::io::AsyncReadExt;
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let mut s = socket.connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(wait, s.read(&mut buf)).await {
        Ok(Ok(n)) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        Ok(Err(e)) => format!("read error: {e}"),
        Err(_) => "no answer".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_is_refused_by_role_and_size_before_it_is_read() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = Manager::open(library_config(home.path(), &fake)).unwrap();
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    let (_, member) = m
        .create_api_key_as(Some("team-b"), "member", Role::Member)
        .unwrap();
    let (_, admin) = m.create_api_key(Some("team-b"), "admin").unwrap();
    let (base, _m) = in_process(m, |_| {}).await;
    // Headers only: a 14 MiB body is declared and never sent. The answer
    // comes anyway, so nothing waited for (or parsed) the body.
    let head = |key: &str, path: &str, len: usize| {
        format!("POST {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {key}\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n")
    };
    let wait = Duration::from_secs(5);
    let got = raw(
        &base,
        "127.0.0.1",
        &head(member.expose(), "/v1/providers", 14 << 20),
        wait,
    )
    .await;
    assert!(
        got.starts_with("HTTP/1.1 403"),
        "member's definition: {got}"
    );
    assert!(got.contains("\"kind\":\"forbidden\""), "{got}");
    // The unread body stays on that connection: it is closed, and says so.
    assert!(
        got.to_ascii_lowercase().contains("connection: close"),
        "{got}"
    );
    let got = raw(
        &base,
        "127.0.0.1",
        &head(admin.expose(), "/v1/providers", 14 << 20),
        wait,
    )
    .await;
    assert!(
        got.starts_with("HTTP/1.1 413"),
        "admin's 14 MiB definition: {got}"
    );
    assert!(
        got.contains("\"kind\":\"too-large\"") && got.contains("262144 bytes"),
        "{got}"
    );
    let got = raw(
        &base,
        "127.0.0.1",
        &head("chk_nope", "/v1/connections", 1 << 20),
        wait,
    )
    .await;
    assert!(got.starts_with("HTTP/1.1 401"), "unknown key: {got}");
    // A small route keeps a small cap.
    let got = raw(
        &base,
        "127.0.0.1",
        &head(admin.expose(), "/v1/connections", 1 << 20),
        wait,
    )
    .await;
    assert!(
        got.starts_with("HTTP/1.1 413") && got.contains("65536 bytes"),
        "{got}"
    );
    // The component upload keeps its large one (an operator's; a team
    // key is refused before the body).
    let got = raw(
        &base,
        "127.0.0.1",
        &head(admin.expose(), "/v1/connectors", 8 << 20),
        wait,
    )
    .await;
    assert!(got.starts_with("HTTP/1.1 403"), "{got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_s_own_rejections_answer_the_api_s_json_error() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = Manager::open(library_config(home.path(), &fake)).unwrap();
    let (_, key) = m.create_api_key(Some("team-a"), "a").unwrap();
    let (base, _m) = in_process(m, |_| {}).await;
    let http = reqwest::Client::new();
    for (body, ctype) in [
        ("{not json", "application/json"),
        ("{\"name\": 5}", "application/json"),
        ("{}", "text/plain"),
    ] {
        let r = http
            .post(format!("{base}/v1/connections"))
            .bearer_auth(key.expose())
            .header("content-type", ctype)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert!((400..500).contains(&status), "{body}: {status}");
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "application/json",
            "{body}"
        );
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["kind"], "invalid-input", "{body}: {v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    let r = http
        .get(format!("{base}/v1/connections?limit=abc"))
        .bearer_auth(key.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["kind"], "invalid-input", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_bodies_take_only_their_client_s_slots_and_time_out() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = Manager::open(library_config(home.path(), &fake)).unwrap();
    let (_, key) = m.create_api_key(Some("team-a"), "a").unwrap();
    let (base, _m) = in_process(m, |c| {
        c.limits.anonymous_per_client = 3;
        c.limits.body_timeout = Duration::from_secs(2);
    })
    .await;
    // Three slow sign-ins from 127.0.0.2 hold that client's three slots.
    let slow = trickle(&base, 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let head = "POST /signin HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 10\r\n\r\n";
    let fourth = raw(&base, "127.0.0.2", head, Duration::from_secs(1)).await;
    assert!(
        fourth.starts_with("HTTP/1.1 429"),
        "a fourth from the same client: {fourth}"
    );
    assert!(fourth.contains("\"kind\":\"busy\""), "{fourth}");
    // Another client signs in meanwhile.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let t = Instant::now();
    sign_in(&http, &base, key.expose()).await;
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    // A trickled body ends at its deadline: 408, and the slot is free.
    let t = Instant::now();
    let answer = raw(
        &base,
        "127.0.0.2",
        &format!("{head}k"),
        Duration::from_secs(6),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 408") || answer.starts_with("HTTP/1.1 429"),
        "{answer}"
    );
    tokio::time::sleep(Duration::from_millis(2500).saturating_sub(t.elapsed())).await;
    let after = raw(
        &base,
        "127.0.0.2",
        &format!("{head}k"),
        Duration::from_secs(6),
    )
    .await;
    assert!(
        after.starts_with("HTTP/1.1 408"),
        "after the deadline: {after}"
    );
    for s in slow {
        s.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_webhook_endpoint_delays_only_its_own_team_s_events() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let hooks = WebhookReceiver::start(0).await.unwrap();
    let (dead, _hole) = black_hole().await;
    let home = tempfile::tempdir().unwrap();
    let mut cfg = library_config(home.path(), &fake);
    cfg.net.connect_to.push(hooks.connect_to().parse().unwrap());
    cfg.net.connect_to.push(dead.parse().unwrap());
    let ca = home.path().join("hooks-ca.pem");
    std::fs::write(&ca, hooks.ca_pem()).unwrap();
    cfg.net.add_ca_file(&ca).unwrap();
    let m = Manager::open(cfg).unwrap();
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    let (_, b_key) = m.create_api_key(Some("team-b"), "b").unwrap();
    m.add_webhook(
        "team-a",
        &format!("https://{}/a", connhost_testkit::webhook::HOST),
    )
    .await
    .unwrap();
    let (dead_hook, _) = m
        .add_webhook("team-b", "https://dead.example.com/b")
        .await
        .unwrap();
    let (base, m) = in_process(m, |c| c.deliver_every = Some(Duration::from_millis(100))).await;
    let team = |t: &str| {
        m.team(connhost::Caller {
            team: t.into(),
            actor: "test".into(),
        })
        .unwrap()
    };
    // Team B's events go first, to its dead endpoint (5 s a try).
    for _ in 0..3 {
        team("team-b").create(app_key_connection()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    team("team-a").create(app_key_connection()).await.unwrap();
    while hooks.received().is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "team A's event waited behind team B's dead endpoint"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let a_latency = t.elapsed();
    // Team B's webhook is marked failing, with a next try.
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(40);
    let listed = loop {
        let v: Value = http
            .get(format!("{base}/v1/webhooks"))
            .bearer_auth(b_key.expose())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v[0]["delivery"]["failing"] == true || Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(listed[0]["id"], dead_hook.id.as_str());
    assert_eq!(listed[0]["delivery"]["failing"], true, "{listed}");
    assert!(listed[0]["delivery"]["retry_at"].as_u64().unwrap() > 0);
    println!(
        "dead webhook: team A's event in {a_latency:?}; team B's webhook {}",
        listed[0]["delivery"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looping_plugins_hold_their_team_s_slots_not_the_server() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut cfg = library_config(home.path(), &fake);
    cfg.runtime.call_timeout = Duration::from_secs(4);
    cfg.runtime.max_calls_per_team = 2;
    cfg.runtime.call_wait = Duration::from_millis(500);
    let m = Manager::open(cfg).unwrap();
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    m.add_connector(connhost::builtin::TESTBED).await.unwrap();
    let (_, a_key) = m.create_api_key(Some("team-a"), "a").unwrap();
    let (_, b_key) = m.create_api_key(Some("team-b"), "b").unwrap();
    let (base, m) = in_process(m, |_| {}).await;
    let team = |t: &str| {
        m.team(connhost::Caller {
            team: t.into(),
            actor: "test".into(),
        })
        .unwrap()
    };
    let a_id = team("team-a")
        .create(app_key_connection())
        .await
        .unwrap()
        .id;
    let mut looping = Vec::new();
    for _ in 0..6 {
        looping.push(
            team("team-b")
                .create(looping_connection())
                .await
                .unwrap()
                .id,
        );
    }
    let http = reqwest::Client::new();
    let verify = |key: String, id: String| {
        let http = http.clone();
        let url = format!("{base}/v1/connections/{id}/verify");
        tokio::spawn(async move {
            let r = http.post(url).bearer_auth(key).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        })
    };
    let noisy: Vec<_> = looping
        .iter()
        .map(|id| verify(b_key.expose().to_string(), id.clone()))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    let health_ms = t.elapsed();
    assert_eq!(health.status().as_u16(), 200);
    let t = Instant::now();
    let (status, v) = verify(a_key.expose().to_string(), a_id.clone())
        .await
        .unwrap();
    let a_ms = t.elapsed();
    assert_eq!(status, 200, "{v}");
    assert!(
        health_ms < Duration::from_millis(500),
        "healthz took {health_ms:?}"
    );
    assert!(
        a_ms < Duration::from_secs(2),
        "team A's verify took {a_ms:?}"
    );
    let mut kinds = Vec::new();
    for n in noisy {
        let (status, v) = n.await.unwrap();
        kinds.push((
            status,
            v["error"]["kind"].as_str().unwrap_or("").to_string(),
        ));
    }
    // Two ran into their time limit; the other four waited for team B's
    // slots and were told to retry.
    let busy = kinds
        .iter()
        .filter(|(s, k)| *s == 429 && k == "busy")
        .count();
    let stopped = kinds.iter().filter(|(_, k)| k == "plugin-failure").count();
    assert_eq!((busy, stopped), (4, 2), "{kinds:?}");
    println!(
        "looping plugins: healthz {health_ms:?}, team A's verify {a_ms:?} while team B looped"
    );
}
