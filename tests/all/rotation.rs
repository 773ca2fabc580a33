//! Key rotation under crashes: `connhost key rotate` is stopped after every
//! durable step in turn (and, separately, SIGKILLed at random times);
//! each time the store refuses to open until the rotation is run again,
//! the second run finishes it, every connection still verifies with its
//! secrets, the audit chain holds, no file names the old key, and the old
//! key is refused.

use crate::common::Env;
use std::path::Path;

const OAUTH: [&str; 4] = [
    "domain=acme.eu-1.celonis.cloud",
    "auth_type=oauth2",
    "client_id=demo-client",
    "scopes=studio intelligence.knowledge-models:read",
];

/// A store with connections, a usage and an audit trail, copied aside.
async fn populated() -> (Env, Vec<String>, tempfile::TempDir) {
    let env = Env::new().await;
    env.add_celonis().await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(
            env.create(&OAUTH, &["client_secret=env:CLIENT_SECRET"])
                .await,
        );
    }
    env.run(&["--json", "connection", "verify", &ids[0]])
        .await
        .ok();
    env.run(&[
        "--json",
        "usage",
        "add",
        "--consumer",
        "flow-1",
        "--connection",
        &ids[1],
    ])
    .await
    .ok();
    let pristine = tempfile::tempdir().unwrap();
    copy_dir(env.home(), pristine.path());
    (env, ids, pristine)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn restore(env: &Env, pristine: &Path) {
    for e in std::fs::read_dir(env.home()).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            std::fs::remove_dir_all(&p).unwrap();
        } else {
            std::fs::remove_file(&p).unwrap();
        }
    }
    copy_dir(pristine, env.home());
}

fn key_id(env: &Env) -> String {
    let check = std::fs::read_to_string(env.home().join("keycheck")).unwrap();
    check.split('.').nth(1).unwrap().to_string()
}

/// After a finished rotation: everything works under the new key only.
async fn assert_rotated(env: &Env, ids: &[String], old_key: &str, old_id: &str, what: &str) {
    assert_ne!(
        key_id(env),
        old_id,
        "{what}: keycheck still names the old key"
    );
    for id in ids {
        let v = env.run(&["--json", "connection", "verify", id]).await;
        assert_eq!(v.code, 0, "{what}: {id} does not verify: {v:?}");
    }
    let usages = env.run(&["--json", "usage", "list"]).await.ok();
    assert!(usages.stdout.contains("flow-1"), "{what}: {usages:?}");
    let audit = env.run(&["--json", "audit", "verify"]).await.ok();
    assert!(
        audit.json()["verified"].as_u64().unwrap() >= 5,
        "{what}: {audit:?}"
    );
    for (path, bytes) in env.store_files() {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&format!("v2.{old_id}.")),
            "{what}: {} still names the old key",
            path.display()
        );
    }
    let old = env
        .run_with(
            &["--json", "connection", "list"],
            &[("CONNHOST_MASTER_KEY", old_key)],
            None,
        )
        .await;
    assert_eq!(old.error()["kind"], "wrong-master-key", "{what}: {old:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_stopped_after_every_step_finishes_on_the_next_run() {
    let (env, ids, pristine) = populated().await;
    let old_key = std::fs::read_to_string(env.home().join("master.key")).unwrap();
    let old_id = key_id(&env);
    let mut steps = 0;
    for n in 1.. {
        restore(&env, pristine.path());
        let n_text = n.to_string();
        let first = env
            .run_with(
                &["--json", "key", "rotate"],
                &[("CONNHOST_TEST_ROTATE_CRASH_AFTER", &n_text)],
                None,
            )
            .await;
        if first.code == 0 {
            break; // fewer than n steps: every crash point is covered
        }
        steps = n;
        assert_eq!(first.code, -1, "step {n}: not the planned abort: {first:?}");
        let closed = env.run(&["--json", "connection", "list"]).await;
        // Before the marker exists nothing has changed yet.
        if closed.code != 0 {
            assert_eq!(closed.error()["kind"], "rotation-in-progress", "step {n}");
        }
        let second = env.run(&["--json", "key", "rotate"]).await;
        assert_eq!(second.code, 0, "step {n}: resume failed: {second:?}");
        assert_rotated(
            &env,
            &ids,
            &old_key,
            &old_id,
            &format!("crash after step {n}"),
        )
        .await;
    }
    assert!(steps >= 8, "only {steps} steps were exercised");
    eprintln!("rotation: stopped after each of {steps} steps; every one finished on the next run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_killed_at_random_times_always_finishes() {
    let (env, ids, pristine) = populated().await;
    let old_key = std::fs::read_to_string(env.home().join("master.key")).unwrap();
    let old_id = key_id(&env);
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let (mut killed, mut finished) = (0, 0);
    for trial in 0..24 {
        restore(&env, pristine.path());
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = std::time::Duration::from_micros((seed >> 33) % 30_000);
        let mut child = tokio::process::Command::new(crate::common::bin())
            .arg("--home")
            .arg(env.home())
            .args(["key", "rotate"])
            .env_remove("CONNHOST_MASTER_KEY")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        match tokio::time::timeout(delay, child.wait()).await {
            Ok(status) => {
                assert!(status.unwrap().success(), "trial {trial}");
                finished += 1;
            }
            Err(_) => {
                child.start_kill().unwrap(); // SIGKILL
                child.wait().await.unwrap();
                killed += 1;
                let again = env.run(&["--json", "key", "rotate"]).await;
                // Killed before it began: the second run is a whole rotation.
                assert_eq!(again.code, 0, "trial {trial}: {again:?}");
            }
        }
        assert_rotated(&env, &ids, &old_key, &old_id, &format!("trial {trial}")).await;
    }
    eprintln!("rotation kill -9: 24 trials ({killed} killed, {finished} finished); all finished, old key refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_with_keys_from_the_environment() {
    let (mut env, ids, _pristine) = populated().await;
    let file_key = std::fs::read_to_string(env.home().join("master.key")).unwrap();
    let old_id = key_id(&env);
    std::fs::remove_file(env.home().join("master.key")).unwrap();
    env.set_env("CONNHOST_MASTER_KEY", file_key.trim());
    let missing = env.run(&["--json", "key", "rotate"]).await;
    assert!(
        missing.error()["message"]
            .as_str()
            .unwrap()
            .contains("CONNHOST_NEW_MASTER_KEY"),
        "{missing:?}"
    );
    let new_key = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    let r = env
        .run_with(
            &["--json", "key", "rotate"],
            &[("CONNHOST_NEW_MASTER_KEY", new_key)],
            None,
        )
        .await
        .ok();
    assert_eq!(r.json()["key_id"].as_str().unwrap(), key_id(&env));
    assert!(!r.stdout.contains(new_key) && !r.stderr.contains(new_key));
    env.set_env("CONNHOST_MASTER_KEY", new_key);
    assert_rotated(
        &env,
        &ids,
        file_key.trim(),
        &old_id,
        "keys from the environment",
    )
    .await;
    assert!(
        !env.home().join("master.key").exists(),
        "no key file written"
    );
}
