//! Trustworthy state: what one team adds never reaches another team, the
//! code run for a connection is the code that was added, and concurrent
//! registry changes are all kept.

use crate::common::Env;
use connhost::{Caller, Error, HostConfig, Manager, NewConnection, Secret};
use connhost_testkit::celonis::{demo, FakeCelonis, FakeConfig};
use connhost_testkit::oauth::{FakeOAuth, OAuthConfig, CLIENT_ID, CLIENT_SECRET};
use std::collections::BTreeMap;

fn caller(team: &str) -> Caller {
    Caller {
        team: team.into(),
        actor: "tester".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teams_provider_is_invisible_to_other_teams_and_shipped_ids_cannot_be_shadowed() {
    let fake = FakeOAuth::start(OAuthConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = Manager::open(HostConfig::new(home.path())).unwrap();
    m.add_connector(connhost::builtin::GENERIC).await.unwrap();
    let a = m.team(caller("team-a")).unwrap();
    let b = m.team(caller("team-b")).unwrap();

    // Team A may not take a shipped id (it would redirect `github` users).
    let mut hijack = fake.definition();
    hijack["id"] = "github".into();
    let err = a
        .add_provider("generic", &hijack.to_string())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { field, .. } if field == "definition.id"),
        "{err}"
    );

    let id = a
        .add_provider("generic", &fake.definition().to_string())
        .await
        .unwrap();
    assert_eq!(a.providers().unwrap(), std::slice::from_ref(&id));
    assert!(b.providers().unwrap().is_empty());

    // Team B naming A's provider gets no definition: its connection does
    // not go to A's host with B's client secret.
    let new = NewConnection {
        connector: "generic".into(),
        fields: BTreeMap::from([
            ("provider".into(), id.clone()),
            ("client_id".into(), CLIENT_ID.into()),
        ]),
        secrets: BTreeMap::from([("client_secret".into(), Secret::new(CLIENT_SECRET))]),
        ..Default::default()
    };
    let err = b
        .authorize_start(new.clone(), "http://127.0.0.1:9/cb", None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "invalid-input", "{err}");
    // Team A's own connection starts at its provider.
    let started = a
        .authorize_start(new, "http://127.0.0.1:9/cb", None)
        .await
        .unwrap();
    assert!(started
        .authorize_url
        .starts_with("https://oauth.example.com/"));

    // Both changes are audited for team A only.
    let ops: Vec<String> = a
        .audit(None, None)
        .unwrap()
        .into_iter()
        .map(|r| format!("{} {}", r.operation, r.result))
        .collect();
    assert!(ops.contains(&"provider.add ok".to_string()), "{ops:?}");
    assert!(
        ops.contains(&"provider.add invalid-input".to_string()),
        "{ops:?}"
    );
    assert!(b
        .audit(None, None)
        .unwrap()
        .iter()
        .all(|r| r.team == "team-b"));
    a.remove_provider(&id).unwrap();
    assert!(a.providers().unwrap().is_empty());
}

async fn celonis_manager(home: &std::path::Path, fake: &FakeCelonis) -> Manager {
    Manager::open(crate::common::library_config(home, fake)).unwrap()
}

async fn app_key_connection(m: &Manager) -> String {
    m.create(NewConnection {
        connector: "celonis".into(),
        fields: BTreeMap::from([
            ("domain".into(), demo::DOMAIN.into()),
            ("auth_type".into(), "app-key".into()),
        ]),
        secrets: BTreeMap::from([("app_key".into(), Secret::new(demo::APP_KEY))]),
        ..Default::default()
    })
    .await
    .unwrap()
    .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_code_copied_over_a_connector_is_refused() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    {
        let m = celonis_manager(home.path(), &fake).await;
        m.add_connector(connhost::builtin::CELONIS).await.unwrap();
        m.add_connector(connhost::builtin::TESTBED).await.unwrap();
        let id = app_key_connection(&m).await;
        m.verify(&id).await.unwrap();
    }
    let dir = home.path().join("connectors");
    let celonis = std::fs::read(dir.join("celonis.wasm")).unwrap();
    std::fs::copy(dir.join("testbed.wasm"), dir.join("celonis.wasm")).unwrap();
    let m = celonis_manager(home.path(), &fake).await;
    let id = m.list(None).unwrap()[0].id.clone();
    let err = m.verify(&id).await.unwrap_err();
    assert_eq!(err.kind(), "tampered", "{err}");

    // An edited manifest (pointing its hosts elsewhere) is refused too.
    std::fs::write(dir.join("celonis.wasm"), &celonis).unwrap();
    let json = dir.join("celonis.json");
    let text = std::fs::read_to_string(&json).unwrap();
    std::fs::write(
        &json,
        text.replace("https://{domain}", "https://evil.example.com"),
    )
    .unwrap();
    let m = celonis_manager(home.path(), &fake).await;
    assert_eq!(m.verify(&id).await.unwrap_err().kind(), "tampered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_compiled_artifact_is_never_loaded() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let id = {
        let m = celonis_manager(home.path(), &fake).await;
        m.add_connector(connhost::builtin::CELONIS).await.unwrap();
        m.add_connector(connhost::builtin::TESTBED).await.unwrap();
        app_key_connection(&m).await
    };
    // Swap the two cached artifacts (each with its own valid-looking tag
    // file), as an attacker with write access to the cache would.
    let cache = home.path().join("cache");
    let mut artifacts: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    artifacts.sort();
    assert_eq!(artifacts.len(), 2, "{artifacts:?}");
    let (a, b) = (
        std::fs::read(&artifacts[0]).unwrap(),
        std::fs::read(&artifacts[1]).unwrap(),
    );
    std::fs::write(&artifacts[0], &b).unwrap();
    std::fs::write(&artifacts[1], &a).unwrap();
    // The Celonis connection still runs Celonis code: the swapped
    // artifacts fail their tags and are recompiled from the added bytes.
    let m = celonis_manager(home.path(), &fake).await;
    let v = m.verify(&id).await.unwrap();
    assert!(v.account_label.contains(demo::TEAM), "{}", v.account_label);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_usage_adds_from_many_processes_are_all_kept() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let id = {
        let m = celonis_manager(home.path(), &fake).await;
        m.add_connector(connhost::builtin::CELONIS).await.unwrap();
        app_key_connection(&m).await
    };
    let mut children = Vec::new();
    for i in 0..20 {
        let mut cmd = tokio::process::Command::new(crate::common::bin());
        cmd.arg("--home")
            .arg(home.path())
            .args(["usage", "add", "--consumer", &format!("flow-{i}")])
            .args(["--connection", &id])
            .env_remove("CONNHOST_MASTER_KEY")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        children.push(tokio::spawn(async move { cmd.output().await.unwrap() }));
    }
    for child in children {
        let out = child.await.unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let m = celonis_manager(home.path(), &fake).await;
    let usages = m.team(caller("default")).unwrap().usages().unwrap();
    assert_eq!(usages.len(), 20, "lost usages: {usages:?}");
}

#[test]
fn processes_opening_a_new_store_at_once_agree_on_one_key() {
    for _ in 0..5 {
        let home = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let home = home.path().to_path_buf();
                std::thread::spawn(move || Manager::open(HostConfig::new(home)).map(|_| ()))
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        // The key file and the key check belong to the same key.
        let text = std::fs::read_to_string(home.path().join("master.key")).unwrap();
        let mut cfg = HostConfig::new(home.path());
        cfg.master_key = Some(connhost::MasterKey::from_base64(&text).unwrap());
        Manager::open(cfg).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_copies_and_deleted_records_put_back_are_refused_and_quarantined() {
    let env = Env::new().await;
    env.add_celonis().await;
    let fields = ["domain=acme.eu-1.celonis.cloud", "auth_type=app-key"];
    let a = env.create(&fields, &["app_key=env:APP_KEY"]).await;
    let b = env.create(&fields, &["app_key=env:APP_KEY"]).await;
    let path = |id: &str| env.home().join("connections").join(format!("{id}.json"));
    let a_v1 = std::fs::read(path(&a)).unwrap();
    let b_v1 = std::fs::read(path(&b)).unwrap();
    env.run(&["--json", "connection", "rename", &a, "renamed"])
        .await
        .ok();
    env.run(&["--json", "connection", "delete", &b, "--yes"])
        .await
        .ok();
    // An attacker (or a careless restore) puts the old files back.
    std::fs::write(path(&a), &a_v1).unwrap();
    std::fs::write(path(&b), &b_v1).unwrap();
    let shown = env.run(&["--json", "connection", "show", &a]).await;
    assert_eq!(shown.error()["kind"], "tampered", "{shown:?}");
    assert!(shown.stdout.contains("older copy"), "{shown:?}");
    let gone = env.run(&["--json", "connection", "show", &b]).await;
    assert_eq!(gone.error()["kind"], "not-found", "{gone:?}");
    let list = env.run(&["--json", "connection", "list"]).await.ok();
    assert!(
        !list.stdout.contains(&a) && !list.stdout.contains(&b),
        "{list:?}"
    );
    let check = env.run(&["--json", "store", "check"]).await;
    assert_eq!(check.code, 1, "{check:?}");
    assert!(check.stdout.contains(&format!("{a}.json.")), "{check:?}");
    assert!(!path(&a).exists(), "moved to quarantine/");
}
