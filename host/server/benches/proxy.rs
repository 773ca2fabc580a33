//! `cargo bench -p connhost-server --bench proxy`: a request through
//! `connhost serve`, by the JSON route (`POST /v1/connections/{id}/request`:
//! API key, record, component instance, `authenticate-request`, policed
//! HTTPS, audit record, base64 body) and by the pass-through proxy
//! (`GET /v1/proxy/{id}/…`: the same steps, the body streamed), against
//! the same request made directly with the same keep-alive HTTPS client.
//! Then 1 GiB downloaded through the pass-through proxy, with the
//! process's RSS growth (goal < 32 MiB). Prints p50, throughput (16 concurrent callers) and what serve
//! adds per request, for a provider that answers at once (loopback: the
//! worst case for any proxy, whose own hop then costs as much as the call)
//! and for one that takes 20 ms (a fast real API). Goals (not asserted):
//! p50 ratio ≤ 1.15, throughput ratio ≥ 0.8.

use connhost::net::{HttpsClient, NetConfig, OutRequest};
use connhost::{HostConfig, Manager, NewConnection, Secret};
use connhost_testkit::celonis::{demo, FakeCelonis, FakeConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn p50(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn throughput<F, Fut>(callers: usize, window: Duration, f: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let (f, done) = (f.clone(), done.clone());
            tokio::spawn(async move {
                while start.elapsed() < window {
                    f().await;
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    done.load(std::sync::atomic::Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (n, window) = if quick {
        (50, Duration::from_secs(1))
    } else {
        (400, Duration::from_secs(4))
    };
    println!("connhost proxy benchmark ({n} sequential requests each, then 16 callers for {} s; 2 worker threads)", window.as_secs());
    for delay in [Duration::ZERO, Duration::from_millis(20)] {
        scenario(delay, n, window).await;
    }
    streaming(if quick { 1 } else { 4 }).await;
}

/// The process's resident set, from `/proc` (0 where there is none).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// `rounds` downloads of 256 MiB through the pass-through proxy, RSS
/// sampled every 5 ms; the fake's body is one shared buffer, built in the
/// warm-up, so the growth is the proxy's (and the client's chunks).
async fn streaming(rounds: u64) {
    let (_fake, _home, base, id, token) = serve(Duration::ZERO).await;
    let http = reqwest::Client::new();
    let url = format!("{base}/v1/proxy/{id}/api/bytes?n={}", 256u64 << 20);
    let download = || async {
        let mut r = http
            .get(&url)
            .bearer_auth(token.expose())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let mut n = 0u64;
        while let Some(chunk) = r.chunk().await.unwrap() {
            n += chunk.len() as u64;
        }
        assert_eq!(n, 256 << 20);
        n
    };
    download().await;
    let before = rss_bytes();
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak.fetch_max(rss_bytes(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let t = Instant::now();
    let mut total = 0;
    for _ in 0..rounds {
        total += download().await;
    }
    let secs = t.elapsed().as_secs_f64();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    sampler.await.unwrap();
    let growth = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(before);
    println!(
        "\npass-through download: {} MiB in {secs:.2} s ({:.0} MiB/s); RSS grew {:.1} MiB at peak (goal < 32 MiB)",
        total >> 20,
        (total >> 20) as f64 / secs,
        growth as f64 / (1 << 20) as f64
    );
}

/// A fake provider answering after `api_delay`, a server on loopback with
/// one app-key connection, and that server's base URL, the connection and
/// a team key.
async fn serve(
    api_delay: Duration,
) -> (
    FakeCelonis,
    tempfile::TempDir,
    String,
    String,
    connhost::Secret,
) {
    let fake = FakeCelonis::start(FakeConfig {
        api_delay: (!api_delay.is_zero()).then_some(api_delay),
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let ca = home.path().join("ca.pem");
    std::fs::write(&ca, fake.ca_pem()).unwrap();
    let mut net = NetConfig {
        connect_to: vec![fake.connect_to(demo::DOMAIN).parse().unwrap()],
        ..Default::default()
    };
    net.add_ca_file(&ca).unwrap();
    let mut cfg = HostConfig::new(home.path());
    cfg.net = net.clone();
    let m = Manager::open(cfg).unwrap();
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    let (_, key) = m.create_api_key(Some("bench"), "bench").unwrap();
    let team = m
        .team(connhost::Caller {
            team: "bench".into(),
            actor: "bench".into(),
        })
        .unwrap();
    let id = team
        .create(NewConnection {
            connector: "celonis".into(),
            fields: [("domain", demo::DOMAIN), ("auth_type", "app-key")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            secrets: [("app_key".to_string(), Secret::new(demo::APP_KEY))].into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .id;
    drop(team);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut scfg = connhost_server::ServerConfig::new(base.clone());
    scfg.renew_every = None;
    scfg.deliver_every = None;
    let router = connhost_server::router(Arc::new(m), scfg);
    tokio::spawn(connhost_server::serve(
        listener,
        router,
        std::future::pending(),
    ));
    (fake, home, base, id, key)
}

async fn scenario(api_delay: Duration, n: usize, window: Duration) {
    let (fake, home, base, id, key) = serve(api_delay).await;
    let ca = home.path().join("ca.pem");
    let mut net = NetConfig {
        connect_to: vec![fake.connect_to(demo::DOMAIN).parse().unwrap()],
        ..Default::default()
    };
    net.add_ca_file(&ca).unwrap();
    let direct_client = HttpsClient::new(net).unwrap();
    let direct = move || {
        let c = direct_client.clone();
        async move {
            let r = c
                .send(OutRequest {
                    method: hyper::Method::GET,
                    url: url::Url::parse(&format!("https://{}/api/cloud", demo::DOMAIN)).unwrap(),
                    headers: vec![("authorization".into(), format!("AppKey {}", demo::APP_KEY))],
                    body: vec![],
                    timeout: None,
                })
                .await
                .unwrap();
            assert_eq!(r.status, 200);
        }
    };
    let http = reqwest::Client::new();
    let url = format!("{base}/v1/connections/{id}/request");
    let token = key.expose().to_string();
    let proxied = move || {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        async move {
            let r = http
                .post(&url)
                .bearer_auth(&token)
                .json(&serde_json::json!({"method": "GET", "url": "/api/cloud"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["status"], 200);
        }
    };
    let http = reqwest::Client::new();
    let url = format!("{base}/v1/proxy/{id}/api/cloud");
    let token = key.expose().to_string();
    let passed = move || {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        async move {
            let r = http.get(&url).bearer_auth(&token).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["userEmail"], demo::USER);
        }
    };
    // Warm up (compile cache, connections).
    for _ in 0..20 {
        direct().await;
        proxied().await;
        passed().await;
    }
    let (mut d, mut p, mut q) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let t = Instant::now();
        direct().await;
        d.push(t.elapsed());
        let t = Instant::now();
        proxied().await;
        p.push(t.elapsed());
        let t = Instant::now();
        passed().await;
        q.push(t.elapsed());
    }
    let (d50, p50v, q50) = (p50(d), p50(p), p50(q));
    let d_rps = throughput(16, window, direct.clone()).await;
    let p_rps = throughput(16, window, proxied.clone()).await;
    let q_rps = throughput(16, window, passed.clone()).await;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "\nprovider answers in {} ms\n{:<24} {:>12} {:>12} {:>12}",
        api_delay.as_millis(),
        "",
        "direct",
        "JSON route",
        "pass-through"
    );
    println!(
        "{:<24} {:>9.3} ms {:>9.3} ms {:>9.3} ms",
        "p50 latency",
        ms(d50),
        ms(p50v),
        ms(q50)
    );
    println!(
        "{:<24} {:>8.0} r/s {:>8.0} r/s {:>8.0} r/s",
        "throughput, 16 callers", d_rps, p_rps, q_rps
    );
    println!(
        "{:<24} {:>12} {:>9.3} ms {:>9.3} ms",
        "added by serve, p50",
        "",
        ms(p50v) - ms(d50),
        ms(q50) - ms(d50)
    );
}
