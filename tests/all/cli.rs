//! End-to-end: the real `connhost` binary, the real Celonis component and
//! a fake Celonis speaking HTTPS on loopback.

use crate::common::{Behavior, Env, DOMAIN};
use connhost_testkit::celonis::demo;
use std::time::Duration;

const INTEL: [&str; 3] = [
    "domain=acme.eu-1.celonis.cloud",
    "api_type=intelligence",
    "auth_type=api-key",
];

/// Creates an API-key connection whose key makes the fake behave as `b`,
/// then verifies it.
async fn verify_with_behavior(env: &Env, b: Behavior, fields: &[&str]) -> crate::common::Run {
    let key = format!("key-{}", rand_suffix());
    env.fake.configure(|c| {
        c.keys.insert(key.clone(), b);
    });
    let mut args = vec!["--json", "connection", "create", "--connector", "celonis"];
    for f in fields {
        args.extend(["--field", f]);
    }
    args.extend(["--secret", "api_key=env:TEST_KEY"]);
    let id = env
        .run_with(&args, &[("TEST_KEY", &key)], None)
        .await
        .ok()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.run(&["--json", "connection", "verify", &id]).await
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_succeeds_for_every_auth_type() {
    let env = Env::new().await;
    env.add_celonis().await;
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["domain=acme.eu-1.celonis.cloud", "auth_type=app-key"],
            "app_key=env:APP_KEY",
        ),
        (
            vec!["domain=acme.eu-1.celonis.cloud", "auth_type=api-key"],
            "api_key=env:API_KEY",
        ),
        (
            vec![
                "domain=acme.eu-1.celonis.cloud",
                "auth_type=oauth2",
                "client_id=demo-client",
                "client_auth=client_secret_basic",
                "scopes=studio intelligence.knowledge-models:read",
            ],
            "client_secret=env:CLIENT_SECRET",
        ),
        (
            vec![
                "domain=acme.eu-1.celonis.cloud",
                "auth_type=oauth2",
                "client_id=post-client",
                "client_auth=client_secret_post",
                "scopes=intelligence.knowledge-models:read",
            ],
            "client_secret=env:CLIENT_SECRET",
        ),
        (
            vec![
                "domain=acme.eu-1.celonis.cloud",
                "api_type=data_push",
                "pool_id=pool-42",
                "auth_type=app-key",
            ],
            "app_key=env:APP_KEY",
        ),
    ];
    for (fields, secret) in cases {
        let id = env.create(&fields, &[secret]).await;
        let v = env
            .run(&["--json", "connection", "verify", &id])
            .await
            .ok()
            .json();
        assert_eq!(v["ok"], true, "{fields:?}");
        assert_eq!(
            v["account_label"],
            format!("{} ({})", demo::USER, demo::TEAM)
        );
        // Human output: the check mark and the label.
        let human = env.run(&["connection", "verify", &id]).await.ok();
        assert!(human.stdout.starts_with("✓ "), "{}", human.stdout);
        assert!(human.stdout.contains(demo::USER));
        let shown = env
            .run(&["--json", "connection", "show", &id])
            .await
            .ok()
            .json();
        assert_eq!(shown["status"], "ok");
    }
    // Each OAuth create asked for exactly one token.
    assert_eq!(env.fake.token_requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_token_stores_granted_scopes_and_expiry() {
    let env = Env::new().await;
    env.add_celonis().await;
    let before = now();
    // `machine-learning` is in the catalogue but not allowed for this
    // client: the provider grants a narrower set, stored as granted.
    let r = env
        .create_run(
            &[
                "domain=acme.eu-1.celonis.cloud",
                "auth_type=oauth2",
                "client_id=demo-client",
                "scopes=studio machine-learning",
            ],
            &["client_secret=env:CLIENT_SECRET"],
        )
        .await
        .ok()
        .json();
    assert_eq!(r["granted_scopes"], serde_json::json!(["studio"]));
    let exp = r["expires_at"].as_u64().unwrap();
    assert!(
        exp >= before + 899 && exp <= now() + 899,
        "expires_at {exp}"
    );
    let id = r["id"].as_str().unwrap();

    // Scope check: AccountValidationError names exactly the missing scope.
    let e = env
        .run(&[
            "--json",
            "connection",
            "check",
            id,
            "--scopes",
            "studio,machine-learning",
        ])
        .await
        .error();
    assert_eq!(e["kind"], "account-validation");
    assert_eq!(e["missing"], serde_json::json!(["machine-learning"]));
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("AccountValidationError"));
    env.run(&["--json", "connection", "check", id, "--scopes", "studio"])
        .await
        .ok();

    // Refresh asks for a new token (no refresh token in this grant).
    let rf = env
        .run(&["--json", "connection", "refresh", id])
        .await
        .ok()
        .json();
    assert_eq!(rf["outcome"], "refreshed");
    assert_eq!(env.fake.token_requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_response_variants_are_accepted() {
    let env = Env::new().await;
    env.add_celonis().await;
    // token_type in lower case, no scope, no expires_in.
    env.fake.configure(|c| {
        c.token_type = "bearer".into();
        c.omit_scope = true;
        c.token_lifetime = None;
    });
    let r = env
        .create_run(
            &[
                "domain=acme.eu-1.celonis.cloud",
                "auth_type=oauth2",
                "client_id=demo-client",
                "scopes=studio audit.log:read",
            ],
            &["client_secret=env:CLIENT_SECRET"],
        )
        .await
        .ok()
        .json();
    // RFC 6749 §5.1: an omitted scope means the requested ones.
    assert_eq!(
        r["granted_scopes"],
        serde_json::json!(["studio", "audit.log:read"])
    );
    assert!(r["expires_at"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_client_errors_are_typed() {
    let env = Env::new().await;
    env.add_celonis().await;
    let base = [
        "domain=acme.eu-1.celonis.cloud",
        "auth_type=oauth2",
        "scopes=studio",
    ];
    // Wrong secret → unauthorized (invalid_client).
    let mut fields = base.to_vec();
    fields.push("client_id=demo-client");
    let e = env
        .run_with(
            &[
                "--json",
                "connection",
                "create",
                "--connector",
                "celonis",
                "--field",
                fields[0],
                "--field",
                fields[1],
                "--field",
                fields[2],
                "--field",
                fields[3],
                "--secret",
                "client_secret=env:WRONG",
            ],
            &[("WRONG", "not-the-secret")],
            None,
        )
        .await
        .error();
    assert_eq!(e["kind"], "unauthorized");
    // A basic-auth client sent with client_secret_post → unauthorized.
    let mut post = fields.clone();
    post.push("client_auth=client_secret_post");
    let e = env
        .create_run(&post, &["client_secret=env:CLIENT_SECRET"])
        .await
        .error();
    assert_eq!(e["kind"], "unauthorized");
    // Only scopes this client may not have → invalid_scope → field `scopes`.
    let e = env
        .create_run(
            &[
                "domain=acme.eu-1.celonis.cloud",
                "auth_type=oauth2",
                "client_id=demo-client",
                "scopes=machine-learning",
            ],
            &["client_secret=env:CLIENT_SECRET"],
        )
        .await
        .error();
    assert_eq!(
        (e["kind"].as_str(), e["field"].as_str()),
        (Some("invalid-input"), Some("scopes"))
    );
    // Unknown scope is refused by the component before any request.
    let before = env.fake.token_requests();
    let e = env
        .create_run(
            &[
                "domain=acme.eu-1.celonis.cloud",
                "auth_type=oauth2",
                "client_id=demo-client",
                "scopes=studio nope:write",
            ],
            &["client_secret=env:CLIENT_SECRET"],
        )
        .await
        .error();
    assert_eq!(e["field"], "scopes");
    assert!(e["reason"].as_str().unwrap().contains("nope:write"));
    assert_eq!(env.fake.token_requests(), before);
    // Nothing was stored by any failed create.
    let list = env.run(&["--json", "connection", "list"]).await.ok().json();
    assert_eq!(list.as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_errors_map_to_typed_errors() {
    let env = Env::new().await;
    env.add_celonis().await;

    let e = verify_with_behavior(
        &env,
        Behavior::InsufficientScope(vec!["studio".into()]),
        &INTEL,
    )
    .await
    .error();
    assert_eq!(e["kind"], "account-validation");
    assert_eq!(e["missing"], serde_json::json!(["studio"]));

    let e = verify_with_behavior(&env, Behavior::RateLimited(7), &INTEL)
        .await
        .error();
    assert_eq!(
        (e["kind"].as_str(), e["retry_after"].as_u64()),
        (Some("rate-limited"), Some(7))
    );

    let e = verify_with_behavior(&env, Behavior::ServerError, &INTEL)
        .await
        .error();
    assert_eq!(
        (e["kind"].as_str(), e["status"].as_u64()),
        (Some("provider-error"), Some(500))
    );

    let e = verify_with_behavior(&env, Behavior::Malformed, &INTEL)
        .await
        .error();
    assert_eq!(e["kind"], "provider-error");
    assert!(
        e["message"].as_str().unwrap().contains("malformed JSON"),
        "{e}"
    );

    let e = verify_with_behavior(&env, Behavior::Huge(8 << 20), &INTEL)
        .await
        .error();
    assert_eq!(e["kind"], "provider-error");
    assert!(e["message"].as_str().unwrap().contains("limit"), "{e}");

    let e = verify_with_behavior(
        &env,
        Behavior::Redirect("https://evil.example.com/steal".into()),
        &INTEL,
    )
    .await
    .error();
    assert_eq!(
        (e["kind"].as_str(), e["status"].as_u64()),
        (Some("provider-error"), Some(302))
    );
    assert!(!env.fake.requests().iter().any(|r| r.contains("steal")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_and_missing_pool_name_the_cause() {
    let mut env = Env::new().await;
    env.add_celonis().await;
    env.set_env("NOPE", "revoked-key");
    let id = env.create(&INTEL, &["api_key=env:NOPE"]).await;
    let e = env
        .run(&["--json", "connection", "verify", &id])
        .await
        .error();
    assert_eq!(e["kind"], "unauthorized");
    // The failure is recorded on the connection.
    let shown = env
        .run(&["--json", "connection", "show", &id])
        .await
        .ok()
        .json();
    assert_eq!(shown["status"], "error");
    assert_eq!(shown["last_error"]["kind"], "unauthorized");
    let human = env.run(&["connection", "verify", &id]).await.failed();
    assert!(
        human.stderr.starts_with("✗ unauthorized"),
        "{}",
        human.stderr
    );

    let id = env
        .create(
            &[
                "domain=acme.eu-1.celonis.cloud",
                "api_type=data_push",
                "pool_id=no-such-pool",
                "auth_type=app-key",
            ],
            &["app_key=env:APP_KEY"],
        )
        .await;
    let e = env
        .run(&["--json", "connection", "verify", &id])
        .await
        .error();
    assert_eq!(
        (e["kind"].as_str(), e["field"].as_str()),
        (Some("invalid-input"), Some("pool_id"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_provider_times_out() {
    let env = Env::new().await;
    env.add_celonis().await;
    let key = "slow-key";
    env.fake.configure(|c| {
        c.keys
            .insert(key.into(), Behavior::Slow(Duration::from_secs(3)));
    });
    let id = env
        .run_with(
            &[
                "--json",
                "connection",
                "create",
                "--connector",
                "celonis",
                "--field",
                INTEL[0],
                "--field",
                INTEL[2],
                "--secret",
                "api_key=env:K",
            ],
            &[("K", key)],
            None,
        )
        .await
        .ok()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let started = std::time::Instant::now();
    let e = env
        .run(&[
            "--json",
            "--http-timeout-ms",
            "300",
            "connection",
            "verify",
            &id,
        ])
        .await
        .error();
    assert_eq!(e["kind"], "timeout");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "did not stop at the deadline"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_the_field_named() {
    let env = Env::new().await;
    env.add_celonis().await;
    let cases: Vec<(Vec<&str>, Vec<&str>, &str)> = vec![
        (
            vec!["domain=http://acme.eu-1.celonis.cloud", "auth_type=app-key"],
            vec!["app_key=env:APP_KEY"],
            "domain",
        ),
        (
            vec!["domain=acme.example.com", "auth_type=app-key"],
            vec!["app_key=env:APP_KEY"],
            "domain",
        ),
        (
            vec!["domain=evil.com/x", "auth_type=app-key"],
            vec!["app_key=env:APP_KEY"],
            "domain",
        ),
        (
            vec!["domain=acme.eu-1.celonis.cloud", "auth_type=app-key"],
            vec![],
            "app_key",
        ),
        (
            vec!["domain=acme.eu-1.celonis.cloud", "auth_type=basic"],
            vec![],
            "auth_type",
        ),
        (
            vec![
                "domain=acme.eu-1.celonis.cloud",
                "api_type=data_push",
                "auth_type=app-key",
            ],
            vec!["app_key=env:APP_KEY"],
            "pool_id",
        ),
        (
            vec![
                "domain=acme.eu-1.celonis.cloud",
                "auth_type=app-key",
                "colour=blue",
            ],
            vec!["app_key=env:APP_KEY"],
            "colour",
        ),
        (
            vec![
                "domain=acme.eu-1.celonis.cloud",
                "auth_type=app-key",
                "app_key=plain",
            ],
            vec![],
            "app_key",
        ),
        (
            vec![
                "domain=acme.eu-1.celonis.cloud",
                "auth_type=oauth2",
                "scopes=studio",
            ],
            vec!["client_secret=env:CLIENT_SECRET"],
            "client_id",
        ),
    ];
    for (fields, secrets, field) in cases {
        let e = env.create_run(&fields, &secrets).await.error();
        assert_eq!(e["kind"], "invalid-input", "{fields:?}: {e}");
        assert_eq!(e["field"], field, "{fields:?}: {e}");
    }
    // A secret as a plain value on the command line is refused outright.
    let r = env
        .create_run(&["domain=acme.eu-1.celonis.cloud"], &["app_key=hunter2"])
        .await
        .failed();
    assert!(r.stdout.contains("plain values are not accepted"), "{r:?}");
    assert!(!r.stdout.contains("hunter2") && !r.stderr.contains("hunter2"));
    let list = env.run(&["--json", "connection", "list"]).await.ok().json();
    assert_eq!(list.as_array().unwrap().len(), 0, "nothing stored");
    // No request reached the provider for any of these.
    assert!(env.fake.requests().is_empty(), "{:?}", env.fake.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_never_leave_the_store_encrypted() {
    let mut env = Env::new().await;
    let planted = "PLANTED-b7f3e1-app-key";
    env.fake.configure(|c| {
        c.keys.insert(planted.into(), Behavior::Ok);
    });
    env.set_env("PLANTED", planted);
    env.add_celonis().await;
    let id = env
        .create(
            &["domain=acme.eu-1.celonis.cloud", "auth_type=app-key"],
            &["app_key=env:PLANTED"],
        )
        .await;
    // Secret from a file and from stdin too.
    let file = env
        .home()
        .join("..")
        .join(format!("secret-{}", rand_suffix()));
    std::fs::write(&file, format!("{planted}\n")).unwrap();
    let from_file = format!("app_key=file:{}", file.display());
    let id2 = env
        .create(
            &["domain=acme.eu-1.celonis.cloud", "auth_type=app-key"],
            &[&from_file],
        )
        .await;
    std::fs::remove_file(&file).unwrap();
    let id3 = env
        .run_with(
            &[
                "--json",
                "connection",
                "create",
                "--connector",
                "celonis",
                "--field",
                "domain=acme.eu-1.celonis.cloud",
                "--field",
                "auth_type=app-key",
                "--secret",
                "app_key=stdin",
            ],
            &[],
            Some(&format!("{planted}\n")),
        )
        .await
        .ok()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    for i in [&id, &id2, &id3] {
        env.run(&["--json", "connection", "verify", i]).await.ok();
        env.run(&["connection", "verify", i, "-vv"]).await.ok();
        env.run(&["connection", "show", i]).await.ok();
        let shown = env
            .run(&["--json", "connection", "show", i])
            .await
            .ok()
            .json();
        assert_eq!(shown["secrets"]["app_key"], "set");
    }
    env.run(&["--json", "connection", "list"]).await.ok();
    env.run(&["connection", "list"]).await.ok();
    env.run(&["--json", "connection", "refresh", &id])
        .await
        .ok();
    env.run(&["--json", "connection", "rename", &id, "Renamed"])
        .await
        .ok();
    env.run(&[
        "--json",
        "connection",
        "edit",
        &id,
        "--field",
        "domain=acme.eu-1.celonis.cloud",
        "--field",
        "auth_type=app-key",
        "--secret",
        "app_key=env:PLANTED",
        "-vv",
    ])
    .await
    .ok();
    env.run(&["--json", "connection", "delete", &id2, "--yes"])
        .await
        .ok();
    // An error path with the planted value in play.
    env.run(&[
        "--json",
        "connection",
        "edit",
        &id,
        "--field",
        "domain=acme.eu-1.celonis.cloud",
        "--field",
        "auth_type=api-key",
        "--secret",
        "api_key=env:PLANTED",
    ])
    .await;

    // Even at TRACE, a token the component stores is never logged.
    let traced = env
        .run_with(
            &[
                "--json",
                "connection",
                "create",
                "--connector",
                "celonis",
                "--field",
                "domain=acme.eu-1.celonis.cloud",
                "--field",
                "auth_type=oauth2",
                "--field",
                "client_id=demo-client",
                "--field",
                "scopes=studio",
                "--secret",
                "client_secret=env:CLIENT_SECRET",
            ],
            &[("CONNHOST_LOG", "trace")],
            None,
        )
        .await
        .ok();
    assert!(traced.stderr.contains("http.send"), "trace log is on");
    assert!(
        !traced.stderr.contains("fake-at-"),
        "an access token reached the trace log"
    );
    assert!(!traced.stderr.contains(demo::CLIENT_SECRET));

    let transcript = env.transcript.lock().unwrap().clone();
    assert!(transcript.contains(&id), "transcript captured output");
    assert!(
        !transcript.contains(planted),
        "planted secret in CLI output"
    );
    for (path, bytes) in env.store_files() {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(planted),
            "planted secret in plain text in {}",
            path.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_replaces_data_only_when_new_data_verifies() {
    let mut env = Env::new().await;
    env.add_celonis().await;
    let id = env
        .create(
            &["domain=acme.eu-1.celonis.cloud", "auth_type=app-key"],
            &["app_key=env:APP_KEY"],
        )
        .await;
    env.run(&["--json", "connection", "verify", &id]).await.ok();
    let before = std::fs::read(env.home().join(format!("connections/{id}.json"))).unwrap();

    // Bad key: verification fails, stored connection unchanged and working.
    env.set_env("BAD", "revoked");
    let e = env
        .run(&[
            "--json",
            "connection",
            "edit",
            &id,
            "--field",
            "domain=acme.eu-1.celonis.cloud",
            "--field",
            "auth_type=api-key",
            "--secret",
            "api_key=env:BAD",
        ])
        .await
        .error();
    assert_eq!(e["kind"], "unauthorized");
    assert_eq!(
        std::fs::read(env.home().join(format!("connections/{id}.json"))).unwrap(),
        before
    );
    env.run(&["--json", "connection", "verify", &id]).await.ok();

    // Edit without re-entering the secret: refused, it is write-only.
    let e = env
        .run(&[
            "--json",
            "connection",
            "edit",
            &id,
            "--field",
            "domain=acme.eu-1.celonis.cloud",
            "--field",
            "auth_type=app-key",
        ])
        .await
        .error();
    assert_eq!(e["field"], "app_key");

    // A good edit switches auth type, keeps the id.
    let r = env
        .run(&[
            "--json",
            "connection",
            "edit",
            &id,
            "--field",
            "domain=acme.eu-1.celonis.cloud",
            "--field",
            "auth_type=api-key",
            "--secret",
            "api_key=env:API_KEY",
        ])
        .await
        .ok()
        .json();
    assert_eq!(r["id"], id.as_str());
    assert_eq!(r["fields"]["auth_type"], "api-key");
    assert_eq!(
        r["secrets"],
        serde_json::json!({"api_key": "set"}),
        "old app_key gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_list_delete_and_default_names() {
    let env = Env::new().await;
    env.add_celonis().await;
    let a = env
        .create(
            &["domain=acme.eu-1.celonis.cloud"],
            &["app_key=env:APP_KEY"],
        )
        .await;
    let b = env
        .create(
            &["domain=acme.eu-1.celonis.cloud"],
            &["app_key=env:APP_KEY"],
        )
        .await;
    let list = env.run(&["--json", "connection", "list"]).await.ok().json();
    let mut names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["Celonis 1", "Celonis 2"]);
    let r = env
        .run(&[
            "--json",
            "connection",
            "rename",
            &a,
            "Process mining (prod)",
        ])
        .await
        .ok()
        .json();
    assert_eq!(r["name"], "Process mining (prod)");
    // Without --yes and with no terminal, delete refuses.
    let r = env.run(&["connection", "delete", &b]).await.failed();
    assert!(r.stderr.contains("--yes"), "{r:?}");
    env.run(&["--json", "connection", "show", &b]).await.ok();
    let r = env
        .run(&["--json", "connection", "delete", &b, "--yes"])
        .await
        .ok()
        .json();
    assert_eq!(r["deleted"], true);
    let e = env.run(&["--json", "connection", "show", &b]).await.error();
    assert_eq!(e["kind"], "not-found");
    // Human create prints just the id on stdout, for scripts.
    let r = env
        .run(&[
            "connection",
            "create",
            "--connector",
            "celonis",
            "--field",
            "domain=acme.eu-1.celonis.cloud",
            "--secret",
            "app_key=env:APP_KEY",
        ])
        .await
        .ok();
    assert!(
        r.stdout.trim().starts_with("conn_") && r.stdout.trim().lines().count() == 1,
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connector_list_and_show() {
    let env = Env::new().await;
    env.add_celonis().await;
    let list = env.run(&["--json", "connector", "list"]).await.ok().json();
    assert_eq!(list[0]["id"], "celonis");
    let m = env
        .run(&["--json", "connector", "show", "celonis"])
        .await
        .ok()
        .json();
    assert_eq!(m["hosts"], serde_json::json!(["https://{domain}"]));
    let kinds: Vec<&str> = m["auth_kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["app-key", "api-key", "oauth2"]);
    let scopes = m["scopes"].as_array().unwrap();
    assert!(scopes
        .iter()
        .any(|s| s["name"] == "integration.data-pools:data_push" && s["group"] == "Integration"));
    assert_eq!(scopes.len(), 35);
    let human = env.run(&["connector", "show", "celonis"]).await.ok();
    assert!(human.stdout.contains("client_secret") && human.stdout.contains("secret"));
    let e = env
        .run(&["--json", "connector", "show", "nope"])
        .await
        .error();
    assert_eq!(e["kind"], "not-found");
    let e = env
        .run(&["--json", "connector", "add", "/nonexistent.wasm"])
        .await
        .error();
    assert!(e["message"].as_str().unwrap().contains("/nonexistent.wasm"));
    let junk = env.home().join("junk.wasm");
    std::fs::write(&junk, b"\0asm not really").unwrap();
    let e = env
        .run(&["--json", "connector", "add", junk.to_str().unwrap()])
        .await
        .error();
    assert_eq!(e["kind"], "invalid-component");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_record_and_wrong_key_are_refused() {
    let env = Env::new().await;
    env.add_celonis().await;
    let id = env
        .create(
            &["domain=acme.eu-1.celonis.cloud"],
            &["app_key=env:APP_KEY"],
        )
        .await;
    let path = env.home().join(format!("connections/{id}.json"));
    let original = std::fs::read_to_string(&path).unwrap();
    // Point the connection (and its key) at another host.
    std::fs::write(&path, original.replace(DOMAIN, "other.eu-1.celonis.cloud")).unwrap();
    let e = env
        .run(&["--json", "connection", "verify", &id])
        .await
        .error();
    assert_eq!(e["kind"], "tampered");
    assert!(
        !env.fake.requests().iter().any(|r| r.contains("/api/cloud")),
        "no request made"
    );
    std::fs::write(&path, &original).unwrap();
    env.run(&["--json", "connection", "verify", &id]).await.ok();

    // A wrong master key: clear error, nothing rewritten.
    let wrong = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let before: Vec<_> = env.store_files();
    let r = env
        .run_with(
            &["--json", "connection", "list"],
            &[("CONNHOST_MASTER_KEY", wrong)],
            None,
        )
        .await;
    assert_eq!(r.error()["kind"], "wrong-master-key");
    let r = env
        .run_with(
            &["--json", "connection", "rename", &id, "x"],
            &[("CONNHOST_MASTER_KEY", wrong)],
            None,
        )
        .await;
    assert_eq!(r.error()["kind"], "wrong-master-key");
    assert_eq!(env.store_files(), before);
    let r = env
        .run_with(
            &["--json", "connection", "list"],
            &[("CONNHOST_MASTER_KEY", "short")],
            None,
        )
        .await;
    assert_eq!(r.error()["kind"], "bad-master-key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_end_to_end() {
    let home = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(crate::common::bin())
        .arg("demo")
        .arg("--home")
        .arg(home.path())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("✓ ").count(), 2, "{stdout}");
    assert!(
        stdout.contains("AccountValidationError: missing audit.log:read"),
        "{stdout}"
    );
    assert!(stdout.contains("unauthorized"), "{stdout}");
    assert!(!stdout.contains(demo::APP_KEY) && !stdout.contains(demo::CLIENT_SECRET));
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_and_renaming_work_under_a_small_address_space_limit() {
    // Commands that run no component build no engine: the instance pool's
    // address-space reservation is made only when a plugin runs.
    let env = Env::new().await;
    env.add_celonis().await;
    let id = env
        .create(
            &["domain=acme.eu-1.celonis.cloud"],
            &["app_key=env:APP_KEY"],
        )
        .await;
    let bin = crate::common::bin().display().to_string();
    let home = env.home().display().to_string();
    for args in [
        "--json connection list".to_string(),
        format!("--json connection rename {id} Limited"),
        format!("--json connection show {id}"),
    ] {
        let out = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -v 2000000 && exec {bin} --home {home} {args}"
            ))
            .env_remove("CONNHOST_MASTER_KEY")
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{args}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let shown = env
        .run(&["--json", "connection", "show", &id])
        .await
        .ok()
        .json();
    assert_eq!(shown["name"], "Limited");
    // A command that runs the component fits in 16 GB of address space:
    // pool slots reserve the memory limit, not 4 GiB per memory.
    let ca = env.home().join("test-ca.pem");
    let connect = env.fake.connect_to(DOMAIN);
    let out = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 16000000 && exec {bin} --home {home} --ca-file {} --connect-to {connect} --json connection verify {id}",
            ca.display()
        ))
        .env_remove("CONNHOST_MASTER_KEY")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_cannot_disguise_themselves_on_the_terminal() {
    // A right-to-left override makes "invoice\u{202e}fdp.exe" show as
    // "invoiceexe.pdf"; an escape sequence could clear the screen.
    use connhost_testkit::celonis::FakeConfig;
    let disguised = "invoice\u{202e}fdp.exe\u{200b}";
    let env = Env::with(FakeConfig {
        team_name: disguised.into(),
        ..FakeConfig::default()
    })
    .await;
    env.add_celonis().await;
    let id = env
        .create(
            &["domain=acme.eu-1.celonis.cloud"],
            &["app_key=env:APP_KEY"],
        )
        .await;
    let show = ["--json", "connection", "show", id.as_str()];
    let name = env.run(&show).await.ok().json()["name"].clone();
    // A name is the user's: such characters are refused outright.
    let refused = env
        .run(&["--json", "connection", "rename", &id, disguised])
        .await
        .error();
    assert_eq!(refused["kind"], "invalid-input", "{refused}");
    assert_eq!(refused["field"], "name", "{refused}");
    // Text from a provider (the account label) is shown defused.
    env.run(&["connection", "verify", &id]).await.ok();
    let listed = env.run(&["connection", "list"]).await.ok().stdout;
    assert!(listed.contains("invoice\u{fffd}fdp.exe"), "{listed}");
    assert!(!listed.contains('\u{202e}') && !listed.contains('\u{200b}'));
    // JSON keeps the exact value for programs; the name is unchanged.
    let json = env.run(&show).await.ok().json();
    assert!(
        json["account_label"].as_str().unwrap().contains(disguised),
        "{json}"
    );
    assert_eq!(json["name"], name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apikey_create_operator_makes_an_operator_key() {
    let env = Env::new().await;
    let op = env
        .run(&["--json", "apikey", "create", "--operator", "--name", "ops"])
        .await
        .ok()
        .json();
    assert!(op["team"].is_null(), "{op}");
    let team = env
        .run(&["--json", "apikey", "create", "--team", "acme"])
        .await
        .ok()
        .json();
    assert_eq!(team["team"], "acme", "{team}");
}
