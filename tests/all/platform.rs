//! Connections as the seeds describe them, through the real CLI, the real
//! Celonis component and the fake Celonis: teams, usages and least
//! privilege, AccountValidationError, dynamic connections, edit, the
//! delete guard and the audit log.

use crate::common::{Behavior, Env};
use connhost_testkit::celonis::demo;

const APP: [&str; 2] = ["domain=acme.eu-1.celonis.cloud", "auth_type=app-key"];

async fn create_in(env: &Env, team: &str, name: &str) -> String {
    let r = env
        .run(&[
            "--json",
            "--team",
            team,
            "connection",
            "create",
            "--connector",
            "celonis",
            "--name",
            name,
            "--field",
            APP[0],
            "--field",
            APP[1],
            "--secret",
            "app_key=env:APP_KEY",
        ])
        .await
        .ok();
    r.json()["id"].as_str().unwrap().to_string()
}

async fn create_oauth(env: &Env, team: &str, scopes: &str) -> String {
    let scopes = format!("scopes={scopes}");
    let r = env
        .run(&[
            "--json",
            "--team",
            team,
            "connection",
            "create",
            "--connector",
            "celonis",
            "--field",
            APP[0],
            "--field",
            "auth_type=oauth2",
            "--field",
            "client_id=demo-client",
            "--field",
            &scopes,
            "--secret",
            "client_secret=env:CLIENT_SECRET",
        ])
        .await
        .ok();
    r.json()["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_teams_connection_is_not_found_for_every_operation() {
    let env = Env::new().await;
    env.add_celonis().await;
    let id = create_in(&env, "finance", "Finance Celonis").await;
    let before = std::fs::read(env.home().join(format!("connections/{id}.json"))).unwrap();
    let choice = format!("v={id}");
    let ops: Vec<Vec<&str>> = vec![
        vec!["connection", "show", &id],
        vec!["connection", "verify", &id],
        vec!["connection", "refresh", &id],
        vec!["connection", "rename", &id, "Mine now"],
        vec![
            "connection",
            "edit",
            &id,
            "--field",
            APP[0],
            "--field",
            APP[1],
            "--secret",
            "app_key=env:APP_KEY",
        ],
        vec![
            "connection",
            "set-secret",
            &id,
            "--secret",
            "app_key=env:APP_KEY",
        ],
        vec!["connection", "check", &id, "--scopes", "studio"],
        vec!["connection", "delete", &id, "--yes", "--force"],
        vec![
            "connection",
            "reauthorize",
            &id,
            "--redirect-uri",
            "http://127.0.0.1:9/cb",
            "--no-wait",
        ],
        vec!["usage", "add", "--consumer", "flow-x", "--connection", &id],
        vec![
            "dynamic",
            "put",
            "d",
            "--connector",
            "celonis",
            "--key",
            "k",
            "--choice",
            &choice,
        ],
    ];
    for op in ops {
        let mut args = vec!["--json", "--team", "marketing"];
        args.extend(op.iter().copied());
        let e = env.run(&args).await.error();
        assert_eq!(e["kind"], "not-found", "{op:?}: {e}");
        assert!(e["message"].as_str().unwrap().contains(&id), "{op:?}: {e}");
    }
    let list = env
        .run(&["--json", "--team", "marketing", "connection", "list"])
        .await
        .ok()
        .json();
    assert_eq!(list, serde_json::json!([]));
    let list = env
        .run(&["--json", "--team", "finance", "connection", "list"])
        .await
        .ok()
        .json();
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(
        std::fs::read(env.home().join(format!("connections/{id}.json"))).unwrap(),
        before,
        "untouched"
    );
    // Members of the owning team can manage it.
    env.run(&["--json", "--team", "finance", "connection", "verify", &id])
        .await
        .ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_plan_is_the_union_of_usages_and_names_unknown_scopes() {
    let env = Env::new().await;
    env.add_celonis().await;
    let a = env.home().join("flow-a.json");
    let b = env.home().join("flows-b.json");
    std::fs::write(
        &a,
        r#"{"consumer": "flow-a", "scopes": ["studio", "intelligence.knowledge-models:read"]}"#,
    )
    .unwrap();
    std::fs::write(
        &b,
        r#"[{"scopes": ["studio"]}, {"scopes": ["audit.log:read"]}]"#,
    )
    .unwrap();
    let r = env
        .run(&[
            "--json",
            "scopes",
            "plan",
            "--connector",
            "celonis",
            "--usage",
            a.to_str().unwrap(),
            "--usage",
            b.to_str().unwrap(),
        ])
        .await
        .ok()
        .json();
    assert_eq!(
        r["scopes"],
        serde_json::json!([
            "studio",
            "intelligence.knowledge-models:read",
            "audit.log:read"
        ])
    );
    std::fs::write(&b, r#"{"scopes": ["studio", "everything:write"]}"#).unwrap();
    let e = env
        .run(&[
            "--json",
            "scopes",
            "plan",
            "--connector",
            "celonis",
            "--usage",
            b.to_str().unwrap(),
        ])
        .await
        .error();
    assert_eq!(
        (e["kind"].as_str(), e["field"].as_str()),
        (Some("invalid-input"), Some("scopes"))
    );
    assert!(e["message"].as_str().unwrap().contains("everything:write"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_usage_lacking_scopes_fails_with_account_validation_before_any_call() {
    let env = Env::new().await;
    env.add_celonis().await;
    let id = create_oauth(&env, "default", "studio").await;
    env.run(&[
        "--json",
        "usage",
        "add",
        "--consumer",
        "flow-1",
        "--connection",
        &id,
        "--scopes",
        "studio,audit.log:read",
    ])
    .await
    .ok();
    env.run(&[
        "--json",
        "usage",
        "add",
        "--consumer",
        "flow-2",
        "--connection",
        &id,
        "--scopes",
        "studio",
    ])
    .await
    .ok();
    let seen = env.fake.requests().len();
    let e = env
        .run(&["--json", "usage", "check", "--consumer", "flow-1"])
        .await
        .error();
    assert_eq!(e["kind"], "account-validation");
    assert_eq!(e["missing"], serde_json::json!(["audit.log:read"]));
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("AccountValidationError"));
    let ok = env
        .run(&["--json", "usage", "check", "--consumer", "flow-2"])
        .await
        .ok()
        .json();
    assert_eq!(ok[0]["connection"], id.as_str());
    assert_eq!(
        env.fake.requests().len(),
        seen,
        "the pre-run check calls no provider"
    );
    // Unknown scope in a usage is refused, naming it.
    let e = env
        .run(&[
            "--json",
            "usage",
            "add",
            "--consumer",
            "flow-3",
            "--connection",
            &id,
            "--scopes",
            "nope:read",
        ])
        .await
        .error();
    assert!(e["message"].as_str().unwrap().contains("nope:read"), "{e}");
    // A provider's 403 insufficient_scope is the same error.
    env.fake.configure(|c| {
        c.keys.insert(
            "scoped-key".into(),
            Behavior::InsufficientScope(vec!["audit.log:read".into()]),
        );
    });
    let k = env
        .run_with(
            &[
                "--json",
                "connection",
                "create",
                "--connector",
                "celonis",
                "--field",
                APP[0],
                "--field",
                "auth_type=api-key",
                "--secret",
                "api_key=env:K",
            ],
            &[("K", "scoped-key")],
            None,
        )
        .await
        .ok()
        .json();
    let e = env
        .run(&["--json", "connection", "verify", k["id"].as_str().unwrap()])
        .await
        .error();
    assert_eq!(
        (e["kind"].as_str(), &e["missing"]),
        (
            Some("account-validation"),
            &serde_json::json!(["audit.log:read"])
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_connections_resolve_by_context_with_default_and_name_a_missing_key() {
    let env = Env::new().await;
    env.add_celonis().await;
    let sales = create_in(&env, "default", "Sales").await;
    let eng = create_in(&env, "default", "Engineering").await;
    let fallback = create_in(&env, "default", "Shared").await;
    let choice_s = format!("sales={sales}");
    let choice_e = format!("eng={eng}");
    env.run(&[
        "--json",
        "dynamic",
        "put",
        "by-dept",
        "--connector",
        "celonis",
        "--key",
        "department",
        "--choice",
        &choice_s,
        "--choice",
        &choice_e,
    ])
    .await
    .ok();
    let r = env
        .run(&[
            "--json",
            "dynamic",
            "resolve",
            "by-dept",
            "--context",
            "department=sales",
        ])
        .await
        .ok()
        .json();
    assert_eq!(r["connection"], sales.as_str());
    let e = env
        .run(&["--json", "dynamic", "resolve", "by-dept"])
        .await
        .error();
    assert_eq!(
        (e["kind"].as_str(), e["field"].as_str()),
        (Some("invalid-input"), Some("department"))
    );
    let e = env
        .run(&[
            "--json",
            "dynamic",
            "resolve",
            "by-dept",
            "--context",
            "department=legal",
        ])
        .await
        .error();
    assert!(e["message"].as_str().unwrap().contains("legal"), "{e}");
    env.run(&[
        "--json",
        "dynamic",
        "put",
        "by-dept",
        "--connector",
        "celonis",
        "--key",
        "department",
        "--choice",
        &choice_s,
        "--choice",
        &choice_e,
        "--default",
        &fallback,
    ])
    .await
    .ok();
    let r = env
        .run(&[
            "--json",
            "dynamic",
            "resolve",
            "by-dept",
            "--context",
            "department=legal",
        ])
        .await
        .ok()
        .json();
    assert_eq!(r["connection"], fallback.as_str());

    // A usage through it; the run records which connection was used.
    env.run(&[
        "--json",
        "usage",
        "add",
        "--consumer",
        "flow-d",
        "--connection",
        "dynamic:by-dept",
    ])
    .await
    .ok();
    let checks = env
        .run(&[
            "--json",
            "--actor",
            "ada",
            "usage",
            "check",
            "--consumer",
            "flow-d",
            "--context",
            "department=eng",
        ])
        .await
        .ok()
        .json();
    assert_eq!(checks[0]["connection"], eng.as_str());
    let audit = env
        .run(&["--json", "audit", "--connection", &eng])
        .await
        .ok()
        .json();
    let rec = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["operation"] == "usage.check")
        .unwrap();
    assert_eq!(
        (rec["actor"].as_str(), rec["via"].as_str()),
        (Some("ada"), Some("dynamic:by-dept"))
    );

    // Only connections of the same connector and team may be targets.
    let e = env
        .run(&[
            "--json",
            "dynamic",
            "put",
            "x",
            "--connector",
            "generic",
            "--key",
            "k",
            "--choice",
            &choice_s,
        ])
        .await
        .error();
    assert_eq!(e["kind"], "invalid-input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_is_refused_while_usages_need_it_and_force_breaks_them_clearly() {
    let env = Env::new().await;
    env.add_celonis().await;
    let id = create_in(&env, "default", "Prod").await;
    let other = create_in(&env, "default", "Other").await;
    let choice = format!("x={id}");
    env.run(&[
        "--json",
        "dynamic",
        "put",
        "pick",
        "--connector",
        "celonis",
        "--key",
        "k",
        "--choice",
        &choice,
        "--default",
        &other,
    ])
    .await
    .ok();
    for (consumer, conn, state) in [
        ("flow-active", id.as_str(), "active"),
        ("flow-scheduled", "dynamic:pick", "scheduled"),
        ("flow-off", id.as_str(), "inactive"),
    ] {
        env.run(&[
            "--json",
            "usage",
            "add",
            "--consumer",
            consumer,
            "--connection",
            conn,
            "--state",
            state,
        ])
        .await
        .ok();
    }
    let e = env
        .run(&["--json", "connection", "delete", &id, "--yes"])
        .await
        .error();
    assert_eq!(e["kind"], "in-use");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("flow-active") && msg.contains("flow-scheduled"),
        "{msg}"
    );
    assert!(
        !msg.contains("flow-off"),
        "inactive usages do not block: {msg}"
    );
    env.run(&["--json", "connection", "show", &id]).await.ok();
    // The library's message names no flag; the CLI adds its own advice.
    assert!(!msg.contains("--"), "{msg}");
    let human = env
        .run(&["connection", "delete", &id, "--yes"])
        .await
        .failed();
    assert!(human.stderr.contains("use --force"), "{}", human.stderr);

    let d = env
        .run(&["--json", "connection", "delete", &id, "--yes", "--force"])
        .await
        .ok()
        .json();
    assert_eq!(d["deleted"], true);
    let e = env
        .run(&["--json", "usage", "check", "--consumer", "flow-active"])
        .await
        .error();
    assert_eq!(e["kind"], "connection-deleted");
    assert!(e["message"].as_str().unwrap().contains(&id));
    let e = env
        .run(&[
            "--json",
            "usage",
            "check",
            "--consumer",
            "flow-scheduled",
            "--context",
            "k=x",
        ])
        .await
        .error();
    assert_eq!(e["kind"], "connection-deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_switches_every_usage_at_once_and_a_regenerated_secret_must_verify() {
    let mut env = Env::new().await;
    env.add_celonis().await;
    let id = create_oauth(&env, "default", "studio intelligence.knowledge-models:read").await;
    env.run(&[
        "--json",
        "usage",
        "add",
        "--consumer",
        "flow-e",
        "--connection",
        &id,
        "--scopes",
        "studio,audit.log:read",
    ])
    .await
    .ok();
    assert_eq!(
        env.run(&["--json", "usage", "check", "--consumer", "flow-e"])
            .await
            .error()["kind"],
        "account-validation"
    );
    // Edit with more scopes: same id, the usage passes at once.
    env.run(&[
        "--json",
        "connection",
        "edit",
        &id,
        "--field",
        APP[0],
        "--field",
        "auth_type=oauth2",
        "--field",
        "client_id=demo-client",
        "--field",
        "scopes=studio audit.log:read intelligence.knowledge-models:read",
        "--secret",
        "client_secret=env:CLIENT_SECRET",
    ])
    .await
    .ok();
    env.run(&["--json", "usage", "check", "--consumer", "flow-e"])
        .await
        .ok();

    // The client secret is regenerated at the provider (004_*).
    let new_secret = "regenerated/secret:42";
    env.fake
        .configure(|c| c.clients[0].secret = new_secret.into());
    env.set_env("NEW_SECRET", new_secret);
    env.set_env("WRONG_SECRET", "not-it");
    let before = std::fs::read(env.home().join(format!("connections/{id}.json"))).unwrap();
    let e = env
        .run(&[
            "--json",
            "connection",
            "set-secret",
            &id,
            "--secret",
            "client_secret=env:WRONG_SECRET",
        ])
        .await
        .error();
    assert_eq!(e["kind"], "unauthorized");
    assert_eq!(
        std::fs::read(env.home().join(format!("connections/{id}.json"))).unwrap(),
        before
    );
    let r = env
        .run(&[
            "--json",
            "connection",
            "set-secret",
            &id,
            "--secret",
            "client_secret=env:NEW_SECRET",
        ])
        .await
        .ok()
        .json();
    assert_eq!(
        (r["id"].as_str(), r["status"].as_str()),
        (Some(id.as_str()), Some("ok"))
    );
    env.run(&["--json", "connection", "refresh", &id])
        .await
        .ok();
    let e = env
        .run(&[
            "--json",
            "connection",
            "set-secret",
            &id,
            "--secret",
            "domain=env:NEW_SECRET",
        ])
        .await
        .error();
    assert_eq!(e["field"], "domain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_records_each_operation_and_no_secret() {
    let mut env = Env::new().await;
    let planted = "PLANTED-audit-7c1e";
    env.fake.configure(|c| {
        c.keys.insert(planted.into(), Behavior::Ok);
    });
    env.set_env("PLANTED", planted);
    env.add_celonis().await;
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let id = env
        .run(&[
            "--json",
            "--actor",
            "grace",
            "connection",
            "create",
            "--connector",
            "celonis",
            "--field",
            APP[0],
            "--field",
            APP[1],
            "--secret",
            "app_key=env:PLANTED",
        ])
        .await
        .ok()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    for op in [
        vec!["connection", "verify", id.as_str()],
        vec!["connection", "rename", id.as_str(), "Audited"],
        vec!["connection", "refresh", id.as_str()],
        vec![
            "connection",
            "set-secret",
            id.as_str(),
            "--secret",
            "app_key=env:PLANTED",
        ],
        vec!["connection", "check", id.as_str(), "--scopes", "studio"],
        vec!["connection", "delete", id.as_str(), "--yes"],
    ] {
        let mut args = vec!["--json", "--actor", "grace"];
        args.extend(op);
        env.run(&args).await;
    }
    let audit = env
        .run(&[
            "--json",
            "audit",
            "--connection",
            &id,
            "--since",
            &start.to_string(),
        ])
        .await
        .ok()
        .json();
    let ops: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["operation"].as_str().unwrap(),
                r["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ops,
        [
            ("connection.create", "ok"),
            ("connection.verify", "ok"),
            ("connection.rename", "ok"),
            ("connection.refresh", "ok"),
            ("connection.set-secret", "ok"),
            ("connection.check", "account-validation"),
            ("connection.delete", "ok"),
        ]
    );
    assert!(audit
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["actor"] == "grace" && r["team"] == "default" && r["connector"] == "celonis"));
    let other_team = env
        .run(&["--json", "--team", "ops", "audit"])
        .await
        .ok()
        .json();
    assert_eq!(other_team, serde_json::json!([]));
    let log = std::fs::read_to_string(env.home().join("audit.log")).unwrap();
    assert!(!log.contains(planted) && !log.contains(demo::APP_KEY));
    let future = env
        .run(&["--json", "audit", "--since", "99999999999"])
        .await
        .ok()
        .json();
    assert_eq!(future, serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_chain_verifies_and_an_unwritable_log_fails_closed() {
    let env = Env::new().await;
    env.add_celonis().await;
    let id = create_in(&env, "default", "audited").await;
    env.run(&["connection", "rename", &id, "renamed"])
        .await
        .ok();
    let report = env.run(&["--json", "audit", "verify"]).await.ok().json();
    assert!(report["verified"].as_u64().unwrap() >= 3, "{report}");
    assert!(report["broken"].is_null());

    // An edited line: verify names it and exits 1.
    let log = env.home().join("audit.log");
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(
        &log,
        text.replacen("\"connection.create\"", "\"connection.verify\"", 1),
    )
    .unwrap();
    let broken = env.run(&["audit", "verify"]).await.failed();
    assert!(
        broken.stderr.contains("broken at line"),
        "{}",
        broken.stderr
    );

    // A log that cannot be written: the operation reports it, not silence.
    std::fs::remove_file(&log).unwrap();
    std::fs::create_dir(&log).unwrap();
    let r = env
        .run(&["--json", "connection", "rename", &id, "again"])
        .await;
    assert_eq!(r.error()["kind"], "audit-failed", "{r:?}");
}
