//! `cargo bench -p connhost-server --bench proxy`: a request through
//! `connhost serve` (`POST /v1/connections/{id}/request`: API key, record,
//! component instance, `authenticate-request`, policed HTTPS, audit record)
//! against the same request made directly with the same keep-alive HTTPS
//! client. Prints p50, throughput (16 concurrent callers) and what serve
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
}

async fn scenario(api_delay: Duration, n: usize, window: Duration) {
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
    // Warm up (compile cache, connections).
    for _ in 0..20 {
        direct().await;
        proxied().await;
    }
    let mut d = Vec::new();
    let mut p = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        direct().await;
        d.push(t.elapsed());
        let t = Instant::now();
        proxied().await;
        p.push(t.elapsed());
    }
    let (d50, p50v) = (p50(d), p50(p));
    let d_rps = throughput(16, window, direct.clone()).await;
    let p_rps = throughput(16, window, proxied.clone()).await;
    println!(
        "\nprovider answers in {} ms\n{:<34} {:>12} {:>12}",
        api_delay.as_millis(),
        "",
        "direct",
        "via serve"
    );
    println!(
        "{:<34} {:>9.3} ms {:>9.3} ms   ratio {:.2} (goal ≤ 1.15)",
        "p50 latency",
        d50.as_secs_f64() * 1e3,
        p50v.as_secs_f64() * 1e3,
        p50v.as_secs_f64() / d50.as_secs_f64()
    );
    println!(
        "{:<34} {:>8.0} r/s {:>8.0} r/s   ratio {:.2} (goal ≥ 0.80)",
        "throughput, 16 callers",
        d_rps,
        p_rps,
        p_rps / d_rps
    );
    println!(
        "{:<34} {:>9.3} ms",
        "added by serve, p50",
        (p50v.as_secs_f64() - d50.as_secs_f64()) * 1e3
    );
}
