//! `cargo bench -p connhost --bench runtime`: prints the runtime's figures
//! in one run. Targets (not asserted): cached load ≤ 0.5 ms, instantiate
//! ≤ 10 µs p50, component ≤ 150 KB, plugin/native verify ≤ 1.10.

use connhost::net::{HttpsClient, NetConfig, OutRequest};
use connhost::policy::Allowlist;
use connhost::runtime::{CallContext, Runtime, RuntimeConfig};
use connhost::{Secret, SecretScope};
use connhost_testkit::celonis::{demo, FakeCelonis, FakeConfig};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn row(what: &str, value: String, target: &str) {
    println!("{what:<34} {value:<28} {target}");
}

async fn time_n<F, Fut>(n: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f().await;
        out.push(t.elapsed());
    }
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n_inst = if quick { 500 } else { 10_000 };
    let n_http = if quick { 50 } else { 500 };
    let wasm = connhost::builtin::CELONIS;
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut net = NetConfig {
        connect_to: vec![fake.connect_to(demo::DOMAIN).parse().unwrap()],
        ..Default::default()
    };
    let ca = cache.path().join("ca.pem");
    std::fs::write(&ca, fake.ca_pem()).unwrap();
    net.add_ca_file(&ca).unwrap();
    let client = HttpsClient::new(net).unwrap();
    let mut rt = Runtime::new(
        RuntimeConfig {
            cache_dir: Some(cache.path().to_path_buf()),
            ..Default::default()
        },
        client.clone(),
    )
    .unwrap();
    rt.set_cache_key(std::sync::Arc::new(
        connhost::MasterKey::from_bytes(&[7; 32]).unwrap(),
    ));

    println!(
        "connhost runtime benchmark ({} mode)\n",
        if quick { "quick" } else { "full" }
    );
    row(
        "component size",
        format!(
            "{} bytes ({:.1} KB)",
            wasm.len(),
            wasm.len() as f64 / 1024.0
        ),
        "target ≤ 150 KB",
    );

    let t = Instant::now();
    let component = rt.load_component(wasm).unwrap(); // compiles, writes cache
    row("first compile (+ cache write)", ms(t.elapsed()), "");
    let mut loads = Vec::new();
    for _ in 0..if quick { 20 } else { 200 } {
        let t = Instant::now();
        let _c = rt.load_component(wasm).unwrap();
        loads.push(t.elapsed());
    }
    row(
        "cached load (hash + deserialize)",
        format!("{} p50", ms(percentile(&mut loads, 0.5))),
        "target ≤ 0.5 ms",
    );

    let plugin = rt.prepare("celonis", &component).unwrap();
    // Ten rounds: this VM's noise moves whole runs by ±30%, so the best
    // round's p50 is printed beside the p50 of all samples.
    let (mut inst, mut best) = (Vec::new(), Duration::MAX);
    for _ in 0..10 {
        let mut round = time_n(n_inst / 10, || async {
            drop(rt.instantiate(&plugin, CallContext::empty()).await.unwrap())
        })
        .await;
        best = best.min(percentile(&mut round, 0.5));
        inst.extend(round);
    }
    row(
        "instantiate (pooling, InstancePre)",
        format!(
            "{} p50, {} p99, best round {}",
            us(percentile(&mut inst, 0.5)),
            us(percentile(&mut inst, 0.99)),
            us(best)
        ),
        "target ≤ 10 µs p50",
    );
    let mut wasi = time_n(n_inst, || async {
        drop(std::hint::black_box(
            wasmtime_wasi::WasiCtx::builder().build(),
        ))
    })
    .await;
    row(
        "  of which a WASI context",
        format!("{} p50", us(percentile(&mut wasi, 0.5))),
        "",
    );
    let mut call = time_n(n_inst, || async {
        let scopes = ["studio".to_string()];
        let mut instance = rt.instantiate(&plugin, CallContext::empty()).await.unwrap();
        instance.validate_scopes(&scopes, &scopes).await.unwrap();
    })
    .await;
    row(
        "instantiate + validate-scopes()",
        format!("{} p50", us(percentile(&mut call, 0.5))),
        "",
    );

    // verify: the plugin (two HTTPS requests through the host) against the
    // same two requests made natively with the same client.
    let fields = BTreeMap::from([
        ("domain".to_string(), demo::DOMAIN.to_string()),
        ("api_type".to_string(), "intelligence".to_string()),
        ("auth_type".to_string(), "app-key".to_string()),
    ]);
    let allowlist = Allowlist::from_templates(&["https://{domain}".into()], &fields).unwrap();
    let input = connhost::wit::ConnectionInput {
        id: "bench".into(),
        fields: fields.clone().into_iter().collect(),
        granted_scopes: vec![],
        expires_at: None,
    };
    let secrets = SecretScope::new(BTreeMap::from([(
        "app_key".into(),
        Secret::new(demo::APP_KEY),
    )]));
    let plugin_verify = || async {
        let ctx = CallContext {
            team: "bench".into(),
            connection_id: "bench".into(),
            secrets: secrets.clone(),
            allowlist: allowlist.clone(),
        };
        let mut instance = rt.instantiate(&plugin, ctx).await.unwrap();
        instance.verify(&input).await.unwrap();
    };
    let native_verify = || async {
        let get = |path: &str| OutRequest {
            method: hyper::Method::GET,
            url: url::Url::parse(&format!("https://{}{path}", demo::DOMAIN)).unwrap(),
            headers: vec![
                ("accept".into(), "application/json".into()),
                ("authorization".into(), format!("AppKey {}", demo::APP_KEY)),
            ],
            body: vec![],
            timeout: None,
        };
        let cloud = client.send(get("/api/cloud")).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&cloud.body).unwrap();
        assert!(v.get("teamName").is_some());
        let km = client
            .send(get("/intelligence/api/knowledge-models"))
            .await
            .unwrap();
        assert_eq!(km.status, 200);
    };
    // Warm up both, then interleave rounds so drift hits both alike.
    time_n(20, plugin_verify).await;
    time_n(20, native_verify).await;
    let (mut p, mut n) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        p.extend(time_n(n_http / 10, plugin_verify).await);
        n.extend(time_n(n_http / 10, native_verify).await);
    }
    let (pp, np) = (percentile(&mut p, 0.5), percentile(&mut n, 0.5));
    row(
        "verify via plugin (2 HTTPS reqs)",
        format!("{} p50", ms(pp)),
        "",
    );
    row("verify native (same 2 reqs)", format!("{} p50", ms(np)), "");
    row(
        "plugin / native",
        format!("{:.3}", pp.as_secs_f64() / np.as_secs_f64()),
        "target ≤ 1.10",
    );
}
