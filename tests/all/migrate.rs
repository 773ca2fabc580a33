//! `connhost store migrate`: a directory store to PostgreSQL and back,
//! resumed after an interruption, refused onto another store, and the
//! connections usable on the other side with the same key.

use crate::common::Env;
use crate::db::TestDb;

const APP_KEY: [&str; 2] = ["domain=acme.eu-1.celonis.cloud", "auth_type=app-key"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_moves_to_postgres_and_back_verified_and_resumable() {
    let Some(db) = TestDb::new("migrate") else {
        return;
    };
    let env = Env::new().await;
    env.add_celonis().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(env.create(&APP_KEY, &["app_key=env:APP_KEY"]).await);
    }
    env.run(&["--json", "connection", "verify", &ids[0]])
        .await
        .ok();
    env.run(&["--json", "connection", "delete", &ids[2], "--yes"])
        .await
        .ok();
    let listed = |r: crate::common::Run| -> Vec<String> {
        let v = r.ok().json();
        let mut names: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|c| format!("{} {} {}", c["id"], c["name"], c["status"]))
            .collect();
        names.sort();
        names
    };
    let before = listed(env.run(&["--json", "connection", "list"]).await);
    assert_eq!(before.len(), 2);
    let key = std::fs::read_to_string(env.home().join("master.key")).unwrap();
    let key_env = [("CONNHOST_MASTER_KEY", key.trim())];
    let home = env.home().display().to_string();

    let first = env
        .run(&[
            "--json", "store", "migrate", "--from", &home, "--to", &db.url,
        ])
        .await
        .ok()
        .json();
    assert_eq!(first["connections_verified"], 2, "{first}");
    assert!(first["audit_records"].as_u64().unwrap() >= 5, "{first}");
    assert_eq!(first["copied"], first["documents"], "{first}");
    // Again: nothing left to copy.
    let again = env
        .run(&[
            "--json", "store", "migrate", "--from", &home, "--to", &db.url,
        ])
        .await
        .ok()
        .json();
    assert_eq!(again["copied"], 0, "{again}");

    // As if a run died part way: the keycheck (written last) and two
    // documents are missing. The destination refuses to open; a new run
    // finishes it.
    db.psql("DELETE FROM connhost_docs WHERE stem = 'keycheck' OR (dir = 'connections' AND stem = (SELECT min(stem) FROM connhost_docs WHERE dir = 'connections'))");
    let on_db = |args: Vec<&str>| {
        let mut full = vec!["--json", "--database", db.url.as_str()];
        full.extend(args);
        full.into_iter().map(String::from).collect::<Vec<String>>()
    };
    let args = on_db(vec!["connection", "list"]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let half = env.run_with(&refs, &key_env, None).await;
    assert_eq!(half.error()["kind"], "corrupt-store", "{half:?}");
    let resumed = env
        .run(&[
            "--json", "store", "migrate", "--from", &home, "--to", &db.url,
        ])
        .await
        .ok()
        .json();
    assert_eq!(resumed["copied"], 2, "{resumed}");
    let after = listed(env.run_with(&refs, &key_env, None).await);
    assert_eq!(after, before, "the same connections on PostgreSQL");
    let args = on_db(vec!["connection", "verify", &ids[1]]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let v = env.run_with(&refs, &key_env, None).await.ok().json();
    assert_eq!(v["id"], ids[1].as_str(), "{v}");
    let args = on_db(vec!["connection", "list"]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let on_postgres = listed(env.run_with(&refs, &key_env, None).await);
    assert_ne!(
        on_postgres, before,
        "the verify on PostgreSQL changed a status"
    );

    // Back to a new directory, with the key from the environment.
    let back = tempfile::tempdir().unwrap();
    let back_dir = back.path().join("store");
    let back_s = back_dir.display().to_string();
    let home_args = [
        "--json", "store", "migrate", "--from", &db.url, "--to", &back_s,
    ];
    let r = env.run_with(&home_args, &key_env, None).await.ok().json();
    assert_eq!(r["connections_verified"], 2, "{r}");
    let out = tokio::process::Command::new(crate::common::bin())
        .args(["--home", &back_s, "--json", "connection", "list"])
        .env("CONNHOST_MASTER_KEY", key.trim())
        .env_remove("CONNHOST_DATABASE_URL")
        .output()
        .await
        .unwrap();
    let round = listed(crate::common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    });
    assert_eq!(
        round, on_postgres,
        "the same connections after the round trip"
    );

    // Onto another store (another key): refused, nothing written.
    let other = Env::new().await;
    other.add_celonis().await;
    let other_home = other.home().display().to_string();
    let docs_before = db.psql("SELECT count(*) FROM connhost_docs");
    let refused = env
        .run(&[
            "--json",
            "store",
            "migrate",
            "--from",
            &other_home,
            "--to",
            &db.url,
        ])
        .await;
    assert_eq!(refused.error()["kind"], "wrong-master-key", "{refused:?}");
    assert_eq!(db.psql("SELECT count(*) FROM connhost_docs"), docs_before);
    // A password on the command line is refused before anything runs.
    let pw = env
        .run(&[
            "store",
            "migrate",
            "--from",
            "postgres://u:hunter2@127.0.0.1/x",
            "--to",
            &home,
        ])
        .await;
    assert!(pw.code != 0 && pw.stderr.contains("PGPASSWORD"), "{pw:?}");
    assert!(!env.transcript.lock().unwrap().contains("hunter2"));
    println!(
        "store migrate: {} documents, 2 connections and {} audit records verified on PostgreSQL; resumed run wrote {}; back to a directory: same 2 connections",
        first["documents"], first["audit_records"], resumed["copied"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_a_clear_error_and_a_password_never_goes_in_argv() {
    let env = Env::new().await;
    // Nothing listens on port 1: a typed error naming the server.
    let r = env
        .run(&[
            "--json",
            "--database",
            "postgres://postgres@127.0.0.1:1/connhost",
            "connection",
            "list",
        ])
        .await;
    let e = r.error();
    assert_eq!(e["kind"], "database", "{r:?}");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("127.0.0.1:1/connhost") && msg.contains("unreachable"),
        "{msg}"
    );
    // A password in --database is refused before connecting, and not echoed.
    let r = env
        .run(&[
            "--json",
            "--database",
            "postgres://u:hunter2@127.0.0.1:1/connhost",
            "connection",
            "list",
        ])
        .await
        .failed();
    assert!(r.stdout.contains("PGPASSWORD"), "{r:?}");
    // In the environment it is accepted, and errors do not show it.
    let r = env
        .run_with(
            &["--json", "connection", "list"],
            &[(
                "CONNHOST_DATABASE_URL",
                "postgres://u:hunter2@127.0.0.1:1/connhost",
            )],
            None,
        )
        .await;
    assert_eq!(r.error()["kind"], "database", "{r:?}");
    assert!(!env.transcript.lock().unwrap().contains("hunter2"));
}
