//! The pass-through proxy, `ANY /v1/proxy/{connection}/{path…}`, over
//! real HTTP on loopback against the fake provider: credentials on, the
//! caller's key and hop-by-hop headers off, path, query and bodies intact
//! both ways (streamed past the JSON route's caps), connhost's refusals
//! marked, the team boundary kept, and a 401 renewed (and retried when
//! the body can be sent again).

use crate::common::library_config;
use crate::serve::{app_key_connection, start};
use connhost::Manager;
use connhost_testkit::celonis::{demo, FakeCelonis, FakeConfig};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Digest as _;

fn sha(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_pass_through_with_the_connections_credentials_and_bodies_stream_both_ways() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = Manager::open(library_config(home.path(), &fake)).unwrap();
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    let (_, a) = m.create_api_key(Some("team-a"), "a").unwrap();
    let (_, b) = m.create_api_key(Some("team-b"), "b").unwrap();
    let (s, _m) = start(m, |_| {}).await;
    let (a, b) = (a.expose().to_string(), b.expose().to_string());
    let (st, c) = s
        .call(
            Some(&a),
            Method::POST,
            "/v1/connections",
            Some(app_key_connection()),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    let url = |path: &str| format!("{}/v1/proxy/{id}{path}", s.base);

    // A GET: the provider's answer as it sent it.
    let r = s
        .http
        .get(url("/api/cloud"))
        .bearer_auth(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "connhost-connector"), Some("celonis"));
    assert_eq!(header(&r, "connhost-renewed"), Some("false"));
    assert!(header(&r, "content-type").unwrap().contains("json"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["userEmail"], demo::USER);

    // Sequential requests share one kept-alive connection to the provider.
    let opened = fake.connections();
    for _ in 0..20 {
        let r = s
            .http
            .get(url("/api/cloud"))
            .bearer_auth(&a)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.bytes().await.unwrap();
    }
    let used = fake.connections() - opened;
    assert!(
        used <= 1,
        "{used} provider connections for 20 sequential requests"
    );

    // A POST: method, raw query, headers and body arrive as sent; the
    // caller's key and connhost's own headers do not.
    let small: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let r = s
        .http
        .post(url("/api/echo?a=1&b=%2F&c=x+y"))
        .bearer_auth(&a)
        .header("x-trace", "t-1")
        .header("content-type", "application/octet-stream")
        .header("connhost-timeout-ms", "5000")
        .header("connection", "x-hop")
        .header("x-hop", "dropped")
        .body(small.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "x-fake-request-id"), Some("req-1"));
    assert_eq!(header(&r, "keep-alive"), None, "hop-by-hop comes off");
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["query"], "a=1&b=%2F&c=x+y");
    assert_eq!(echo["bytes"], small.len());
    assert_eq!(echo["sha256"], sha(&small));
    let seen = &echo["headers"];
    assert_eq!(seen["x-trace"], "t-1");
    assert_eq!(seen["content-type"], "application/octet-stream");
    assert!(seen.get("x-hop").is_none(), "{seen}");
    assert!(seen.get("connhost-timeout-ms").is_none(), "{seen}");
    assert!(
        !seen.to_string().contains(&a),
        "the caller's key reached the provider"
    );

    // Past the JSON route's caps: a 24 MiB upload (16 MiB there) and a
    // 40 MiB download (4 MiB there), byte for byte.
    let big: Vec<u8> = (0..24u32 << 20).map(|i| (i % 253) as u8).collect();
    let r = s
        .http
        .put(url("/api/echo"))
        .bearer_auth(&a)
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let echo: Value = r.json().await.unwrap();
    assert_eq!(
        (echo["bytes"].as_u64(), echo["sha256"].as_str()),
        (Some(24 << 20), Some(sha(&big).as_str()))
    );
    let n = 40usize << 20;
    let r = s
        .http
        .get(url(&format!("/api/bytes?n={n}")))
        .bearer_auth(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-length"), Some(n.to_string().as_str()));
    let got = r.bytes().await.unwrap();
    assert_eq!(got.len(), n);
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, b)| *b == b'0' + (i % 10) as u8));
    let (st, json_route) = s
        .call(
            Some(&a),
            Method::POST,
            &format!("/v1/connections/{id}/request"),
            Some(json!({"request": {"method": "GET", "url": "/api/huge"}})),
        )
        .await;
    assert_ne!(
        st,
        StatusCode::OK,
        "the JSON route keeps its cap: {json_route}"
    );

    // A chunked upload of unknown length streams too.
    let chunked = raw_chunked(&s.base, &format!("/v1/proxy/{id}/api/echo"), &a, 3, 100_000).await;
    assert!(chunked.starts_with("HTTP/1.1 200"), "{chunked}");
    assert!(chunked.contains("\"bytes\":300000"), "{chunked}");

    // The provider's errors are its answers, unmarked.
    let r = s
        .http
        .get(url("/nope"))
        .bearer_auth(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&r, "connhost-error"), None);
    assert_eq!(r.json::<Value>().await.unwrap()["message"], "not found");

    // connhost's refusals are marked, name the cause, and send nothing.
    let before = fake.requests().len();
    let refusals = [
        (
            s.http
                .get(url("/api/cloud"))
                .bearer_auth(&a)
                .header("cookie", "sid=1"),
            StatusCode::BAD_REQUEST,
            "invalid-input",
            "cookie",
        ),
        (
            s.http
                .get(url("/api/cloud"))
                .bearer_auth(&a)
                .header("connhost-bogus", "1"),
            StatusCode::BAD_REQUEST,
            "invalid-input",
            "connhost-bogus",
        ),
        (
            s.http
                .request(reqwest::Method::OPTIONS, url("/api/cloud"))
                .bearer_auth(&a),
            StatusCode::BAD_REQUEST,
            "invalid-input",
            "method",
        ),
        (
            s.http.get(url("/api/cloud")).bearer_auth(&b),
            StatusCode::NOT_FOUND,
            "connection-deleted",
            &id,
        ),
        (
            s.http
                .get(url("/api/cloud"))
                .header("connhost-consumer", "flow-9")
                .bearer_auth(&a),
            StatusCode::NOT_FOUND,
            "not-found",
            "flow-9",
        ),
        (
            s.http
                .get(format!("{}/v1/proxy/conn_nope/api/cloud", s.base))
                .bearer_auth(&a),
            StatusCode::NOT_FOUND,
            "connection-deleted",
            "conn_nope",
        ),
    ];
    for (req, status, kind, names) in refusals {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), status);
        assert_eq!(header(&r, "connhost-error"), Some(kind));
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["kind"], kind, "{e}");
        assert!(e.to_string().contains(names), "{e} names {names}");
    }
    let r = s.http.get(url("/api/cloud")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        fake.requests().len(),
        before,
        "a refused request reached the provider"
    );

    // Each passed request is audited, against the team, as a proxy call.
    let (_, audit) = s
        .call(Some(&a), Method::GET, "/v1/audit?limit=1000", None)
        .await;
    let proxied = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["operation"] == "connection.proxy" && r["result"] == "ok")
        .count();
    assert!(proxied >= 6, "{proxied} audited proxy calls: {audit}");
}

/// `chunks` chunks of `size` bytes as `Transfer-Encoding: chunked` over a
/// raw socket (reqwest here has no streaming bodies); the response text.
async fn raw_chunked(base: &str, path: &str, key: &str, chunks: usize, size: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    for _ in 0..chunks {
        tcp.write_all(format!("{size:x}\r\n").as_bytes())
            .await
            .unwrap();
        tcp.write_all(&vec![b'z'; size]).await.unwrap();
        tcp.write_all(b"\r\n").await.unwrap();
    }
    tcp.write_all(b"0\r\n\r\n").await.unwrap();
    let mut out = Vec::new();
    tcp.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_renews_access_and_is_retried_only_when_the_body_can_be_sent_again() {
    let (fake, _home, m) = crate::proxy::short_lived(3600).await;
    let (_, a) = m.create_api_key(Some("team-a"), "a").unwrap();
    let (s, _m) = start(m, |c| c.renew_every = None).await;
    let a = a.expose().to_string();
    let (st, c) = s
        .call(
            Some(&a),
            Method::POST,
            "/v1/connections",
            Some(json!({
                "connector": "celonis",
                "fields": {"domain": demo::DOMAIN, "auth_type": "oauth2", "client_id": demo::CLIENT_ID, "scopes": "studio"},
                "secrets": {"client_secret": demo::CLIENT_SECRET},
            })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    let url = format!("{}/v1/proxy/{}/api/echo", s.base, c["id"].as_str().unwrap());
    let send = |body: Vec<u8>| s.http.post(&url).bearer_auth(&a).body(body).send();

    // A small body is read first, so it goes again with the new token.
    fake.revoke_tokens();
    let tokens = fake.token_requests();
    let r = send(vec![b'q'; 1000]).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "connhost-renewed"), Some("true"));
    assert_eq!(r.json::<Value>().await.unwrap()["bytes"], 1000);
    assert_eq!(fake.token_requests() - tokens, 1);

    // A streamed one was sent once: the 401 comes back, access renewed,
    // and the caller's own retry goes through.
    fake.revoke_tokens();
    let r = send(vec![b'q'; 100_000]).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "connhost-renewed"), Some("true"));
    assert_eq!(header(&r, "connhost-error"), None, "the provider's own 401");
    assert_eq!(fake.token_requests() - tokens, 2);
    let r = send(vec![b'q'; 100_000]).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "connhost-renewed"), Some("false"));
    assert_eq!(r.json::<Value>().await.unwrap()["bytes"], 100_000);
}
