//! A hostile-input corpus: field values, domains, provider definitions,
//! token responses, HTTP statuses and bodies, and store files, each
//! through the real component and host. Every case must end in a value or
//! a typed error (a known kind), never a panic; the count is printed.

use connhost::{Caller, Error, Manager, NewConnection, Secret};
use connhost_testkit::celonis::{demo, Behavior, FakeCelonis, FakeConfig};
use std::collections::BTreeMap;

/// Error kinds the library documents; anything else is a bug.
const KINDS: &[&str] = &[
    "invalid-input",
    "unauthorized",
    "account-validation",
    "reauthorization-required",
    "rate-limited",
    "provider-error",
    "network",
    "timeout",
    "denied-host",
    "unsupported",
    "not-found",
    "already-exists",
    "conflict",
    "lock-timeout",
    "audit-failed",
    "plugin-failure",
    "invalid-component",
    "wrong-master-key",
    "tampered",
    "bad-master-key",
    "corrupt-store",
    "io",
    "runtime",
    "in-use",
    "connection-deleted",
    "access-denied",
    "authorization-failed",
    "busy",
];

#[derive(Default)]
struct Tally {
    cases: usize,
    errors: usize,
}

impl Tally {
    fn check<T>(&mut self, what: &str, r: connhost::Result<T>) {
        self.cases += 1;
        if let Err(e) = r {
            self.errors += 1;
            assert!(KINDS.contains(&e.kind()), "{what}: untyped error {e:?}");
            assert!(!e.to_string().is_empty(), "{what}: empty message");
        }
    }
}

fn hostile_strings() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        " ",
        "\0",
        "\u{202e}acme",
        "a\r\nHost: evil.example.com",
        "a/../../b",
        "../keycheck",
        "acme.eu-1.celonis.cloud:444",
        "user@evil.example.com",
        "evil.example.com#.celonis.cloud",
        "http://acme.eu-1.celonis.cloud",
        "https://",
        "https://[::1]",
        "[::1]",
        "127.0.0.1",
        "acme.eu-1.celonis.cloud/../x",
        "acme.eu-1.celonis.cloud?x=1",
        "%2e%2e",
        "\u{ffff}",
        "ａｃｍｅ.eu-1.celonis.cloud",
        "xn--80ak6aa92e.com",
        "-acme.eu-1.celonis.cloud",
        "acme..celonis.cloud",
        ".",
        "..",
        "*",
        "{domain}",
        "${HOME}",
        "'; DROP TABLE x; --",
        "<script>alert(1)</script>",
        "\\\\evil\\share",
        "file:///etc/passwd",
        "javascript:x",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("a".repeat(70_000));
    v.push("é".repeat(300));
    v.push(format!("{}.celonis.cloud", "x".repeat(64)));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_hostile_inputs_end_in_values_or_typed_errors() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = Manager::open(crate::common::library_config(home.path(), &fake)).unwrap();
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    m.add_connector(connhost::builtin::GENERIC).await.unwrap();
    let mut t = Tally::default();

    // Field values: every hostile string in every Celonis field.
    for field in [
        "domain",
        "api_type",
        "pool_id",
        "auth_type",
        "client_id",
        "scopes",
        "name",
    ] {
        for value in hostile_strings() {
            let mut fields = BTreeMap::from([
                ("domain".to_string(), demo::DOMAIN.to_string()),
                ("auth_type".to_string(), "api-key".to_string()),
            ]);
            let mut name = None;
            if field == "name" {
                name = Some(value.clone());
            } else {
                fields.insert(field.into(), value.clone());
            }
            let r = m
                .create(NewConnection {
                    connector: "celonis".into(),
                    name,
                    fields,
                    secrets: BTreeMap::from([("api_key".into(), Secret::new(demo::API_KEY))]),
                    ..Default::default()
                })
                .await;
            if field == "domain" {
                assert!(r.is_err(), "domain {value:?} was accepted");
            }
            t.check(&format!("{field}={value:.40?}"), r);
        }
    }

    // Provider definitions for the generic connector.
    let team = m
        .team(Caller {
            team: "hostile".into(),
            actor: "fuzzer".into(),
        })
        .unwrap();
    let definitions: Vec<String> = vec![
        "".into(), "null".into(), "[]".into(), "{}".into(), "{\"id\": 1}".into(),
        "{\"id\": \"x\"}".into(),
        r#"{"id":"x","auth_mode":"oauth2"}"#.into(),
        r#"{"id":"x","auth_mode":"nope","token_url":"https://a.example.com/t"}"#.into(),
        r#"{"id":"x","auth_mode":"oauth2_cc","token_url":"http://a.example.com/t"}"#.into(),
        r#"{"id":"x","auth_mode":"oauth2_cc","token_url":"https://u:p@a.example.com/t"}"#.into(),
        r#"{"id":"x","auth_mode":"oauth2_cc","token_url":"https://a.example.com:99999/t"}"#.into(),
        r#"{"id":"x","auth_mode":"oauth2_cc","token_url":"not a url"}"#.into(),
        r#"{"id":"../x","auth_mode":"oauth2_cc","token_url":"https://a.example.com/t"}"#.into(),
        r#"{"id":"x","auth_mode":"api_key","api_key":{"in":"cookie","name":"k"}}"#.into(),
        r#"{"id":"x","auth_mode":"oauth2_cc","token_url":"https://a.example.com/t","default_lifetime":-1}"#.into(),
        r#"{"id":"x","auth_mode":"oauth2_cc","token_url":"https://a.example.com/t","default_lifetime":1e400}"#.into(),
        r#"{"id":"x","auth_mode":"oauth2_cc","token_url":"https://a.example.com/t","hosts":["https://*"]}"#.into(),
        format!("{{\"id\":\"x\",\"pad\":\"{}\"}}", "z".repeat(100_000)),
        "{\"id\":\"x\",".repeat(10),
        "[".repeat(10_000),
    ];
    for (i, d) in definitions.iter().enumerate() {
        t.check(
            &format!("definition #{i}"),
            team.add_provider("generic", d).await,
        );
    }
    for s in hostile_strings() {
        let d = serde_json::json!({"id": "h", "auth_mode": "oauth2_cc", "token_url": s});
        t.check(
            "definition token_url",
            team.add_provider("generic", &d.to_string()).await,
        );
    }

    // HTTP statuses and bodies from the provider, through verify.
    let bodies = [
        "",
        "{",
        "null",
        "[]",
        "{\"teamName\": 5}",
        "\u{0}\u{1}binary",
        "{\"error\":\"x\"}",
    ];
    let mut n = 0;
    for status in (200..=599).step_by(9) {
        for body in bodies.iter().take(if status == 200 { 7 } else { 2 }) {
            n += 1;
            let key = format!("hostile-key-{n}");
            fake.configure(|c| {
                c.keys
                    .insert(key.clone(), Behavior::Raw(status, body.to_string()));
            });
            let r = m
                .create(NewConnection {
                    connector: "celonis".into(),
                    fields: BTreeMap::from([
                        ("domain".into(), demo::DOMAIN.into()),
                        ("auth_type".into(), "api-key".into()),
                    ]),
                    secrets: BTreeMap::from([("api_key".into(), Secret::new(key))]),
                    ..Default::default()
                })
                .await;
            let id = r.unwrap().id;
            let v = m.verify(&id).await;
            if status != 200 {
                assert!(v.is_err(), "HTTP {status} verified");
            }
            t.check(&format!("HTTP {status} {body:?}"), v);
        }
    }

    // Token responses.
    let tokens = [
        (200, "{}"),
        (200, "{\"access_token\": 5}"),
        (200, "{\"access_token\": \"\"}"),
        (200, "{\"access_token\":\"t\",\"token_type\":\"mac\"}"),
        (
            200,
            "{\"access_token\":\"t\",\"token_type\":\"Bearer\",\"expires_in\":-5}",
        ),
        (
            200,
            "{\"access_token\":\"t\",\"token_type\":\"Bearer\",\"expires_in\":1e300}",
        ),
        (
            200,
            "{\"access_token\":\"t\",\"token_type\":\"Bearer\",\"expires_in\":\"soon\"}",
        ),
        (
            200,
            "{\"access_token\":\"t\",\"token_type\":\"Bearer\",\"scope\":5}",
        ),
        (200, "not json"),
        (200, ""),
        (400, "{\"error\":\"invalid_client\"}"),
        (400, "{\"error\":\"invalid_scope\"}"),
        (400, "{\"error\":5}"),
        (401, ""),
        (403, "{}"),
        (429, "{}"),
        (500, "<html>"),
        (503, ""),
    ];
    for (status, body) in tokens {
        fake.configure(|c| c.token_response = Some((status, body.to_string())));
        let r = m
            .create(NewConnection {
                connector: "celonis".into(),
                fields: BTreeMap::from([
                    ("domain".into(), demo::DOMAIN.into()),
                    ("auth_type".into(), "oauth2".into()),
                    ("client_id".into(), demo::CLIENT_ID.into()),
                    ("scopes".into(), "studio".into()),
                ]),
                secrets: BTreeMap::from([(
                    "client_secret".into(),
                    Secret::new(demo::CLIENT_SECRET),
                )]),
                ..Default::default()
            })
            .await;
        if status != 200 {
            assert!(r.is_err(), "token HTTP {status} created a connection");
        }
        t.check(&format!("token {status} {body:?}"), r);
    }
    fake.configure(|c| c.token_response = None);

    // Store files: a record replaced by hostile bytes.
    let id = m.list(None).unwrap()[0].id.clone();
    let path = home.path().join("connections").join(format!("{id}.json"));
    let original = std::fs::read(&path).unwrap();
    let mut files: Vec<Vec<u8>> = vec![
        vec![],
        b"{".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        vec![0xff, 0xfe, 0x00],
        original[..original.len() / 2].to_vec(),
        String::from_utf8_lossy(&original)
            .replace("\"version\"", "\"versi0n\"")
            .into_bytes(),
        String::from_utf8_lossy(&original)
            .replace("celonis", "generic")
            .into_bytes(),
        String::from_utf8_lossy(&original)
            .replace(&id, "conn_other")
            .into_bytes(),
    ];
    files.push(vec![b' '; 1 << 20]);
    for bytes in files {
        std::fs::write(&path, &bytes).unwrap();
        let r = m.get(&id);
        assert!(
            matches!(r, Err(Error::Corrupt { .. } | Error::Tampered(_))),
            "{r:?}"
        );
        t.check("store file", r);
        t.check("list with a bad file", m.list(None));
    }
    std::fs::write(&path, &original).unwrap();
    m.get(&id).unwrap();

    println!(
        "hostile corpus: {} cases, {} typed errors, 0 panics",
        t.cases, t.errors
    );
    assert!(t.cases >= 300, "corpus too small: {}", t.cases);
}
