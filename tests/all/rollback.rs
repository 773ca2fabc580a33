//! Anti-rollback for every signed document, not only connection records:
//! an API key, a connect session, a team's usages, dynamic connections and
//! return URLs, a webhook, a provider definition, a connector, the events
//! delivery state and a pending authorization. For each: a copy is taken, the
//! store moves on (a write or a removal), the copy is put back (raw bytes
//! through the backend, as an attacker with write access to the disk or
//! the database would), and the read is refused (a typed error) and
//! `connhost store check` exits 1 naming it. Runs on the file store and on
//! PostgreSQL. Then the attacks end to end over HTTP.

use crate::common::library_config;
use crate::db::TestDb;
use connhost::{
    Backend, Caller, ConnectionRecord, DynamicConnection, Manager, NewConnection, Pending, Secret,
    Usage, UsageState,
};
use connhost_testkit::celonis::{demo, FakeCelonis, FakeConfig};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

struct Target {
    home: tempfile::TempDir,
    db: Option<TestDb>,
    fake: FakeCelonis,
}

impl Target {
    async fn new(test: &str, postgres: bool) -> Option<Target> {
        let db = if postgres {
            Some(TestDb::new(test)?)
        } else {
            None
        };
        Some(Target {
            home: tempfile::tempdir().unwrap(),
            db,
            fake: FakeCelonis::start(FakeConfig::default()).await.unwrap(),
        })
    }

    fn manager(&self) -> Manager {
        let mut cfg = library_config(self.home.path(), &self.fake);
        cfg.database = self.db.as_ref().map(|d| d.url.clone());
        cfg.net.connect_to.push(HOOKS.parse().unwrap());
        Manager::open(cfg).unwrap()
    }

    fn backend(&self) -> Arc<dyn Backend> {
        match &self.db {
            Some(db) => db.backend(),
            None => Arc::new(connhost::FileBackend::new(self.home.path())),
        }
    }

    /// `connhost --json store check` on this store: exit code and output.
    fn store_check(&self) -> (i32, String) {
        let mut cmd = std::process::Command::new(crate::common::bin());
        cmd.arg("--home")
            .arg(self.home.path())
            .args(["--json", "store", "check"])
            .env_remove("CONNHOST_MASTER_KEY")
            .env_remove("CONNHOST_HOME")
            .env_remove("CONNHOST_DATABASE_URL");
        if let Some(db) = &self.db {
            cmd.env("CONNHOST_DATABASE_URL", &db.url);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

/// Webhooks are checked for a public target when added: this one is
/// reached (never, here) through `connect-to`.
const HOOKS: &str = "hooks.example.com:443:127.0.0.1:9";

fn caller(team: &str) -> Caller {
    Caller {
        team: team.into(),
        actor: "tester".into(),
    }
}

fn app_key(name: &str) -> NewConnection {
    NewConnection {
        connector: "celonis".into(),
        name: Some(name.into()),
        team: None,
        fields: BTreeMap::from([
            ("domain".into(), demo::DOMAIN.into()),
            ("auth_type".into(), "app-key".into()),
        ]),
        secrets: BTreeMap::from([("app_key".into(), Secret::new(demo::APP_KEY))]),
    }
}

fn usage(consumer: &str, connection: &str) -> Usage {
    Usage {
        consumer: consumer.into(),
        connection: connection.into(),
        scopes: vec![],
        state: UsageState::Active,
    }
}

fn raw(b: &dyn Backend, path: &str) -> Vec<u8> {
    b.read(path).unwrap().unwrap_or_else(|| panic!("no {path}"))
}

#[test]
fn every_document_kind_rolled_back_is_refused_and_named_file() {
    every_document_kind(false);
}

#[test]
fn every_document_kind_rolled_back_is_refused_and_named_postgres() {
    every_document_kind(true);
}

fn every_document_kind(postgres: bool) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let Some(t) = Target::new("every_document_kind", postgres).await else {
            return;
        };
        every_document_kind_on(&t).await
    });
}

async fn every_document_kind_on(t: &Target) {
    let m = t.manager();
    let b = t.backend();
    let store = m.store();
    let team = m.team(caller("team-a")).unwrap();
    // What is put back at the end, once every kind has moved on: the path
    // and the bytes (`None`: removed behind the store's back).
    let mut put_back: Vec<(String, Option<Vec<u8>>)> = Vec::new();

    // Connector: added, then added again (its manifest at version 2).
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    let p = "connectors/celonis.json".to_string();
    let v1 = raw(&*b, &p);
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    put_back.push((p, Some(v1)));

    // API key: revoked after the copy.
    let (key, token) = m.create_api_key(Some("team-a"), "ci").unwrap();
    let p = format!("apikeys/{}.json", key.id);
    let v1 = raw(&*b, &p);
    m.revoke_api_key(&key.id).unwrap();
    put_back.push((p, Some(v1)));

    // Connect session: spent after the copy (one connection made).
    let (session, session_token) = m.create_connect_session("team-a", "celonis", 600).unwrap();
    let p = format!("sessions/{}.json", session.id);
    let v1 = raw(&*b, &p);
    let made = m
        .connect_create(session_token.expose(), app_key("via session"))
        .await
        .unwrap();
    put_back.push((p, Some(v1)));

    // Usages: a second one added after the copy.
    let conn = team.create(app_key("main")).await.unwrap();
    team.add_usage(usage("flow-0", &conn.id)).unwrap();
    let p = "teams/team-a/usages.json".to_string();
    let v1 = raw(&*b, &p);
    team.add_usage(usage("flow-1", &conn.id)).unwrap();
    put_back.push((p, Some(v1)));

    // Dynamic connections: one removed after the copy.
    team.put_dynamic(DynamicConnection {
        name: "by-dept".into(),
        connector: "celonis".into(),
        key: "department".into(),
        choices: BTreeMap::from([("sales".into(), conn.id.clone())]),
        default: None,
    })
    .unwrap();
    let p = "teams/team-a/dynamic.json".to_string();
    let v1 = raw(&*b, &p);
    team.remove_dynamic("by-dept").unwrap();
    put_back.push((p, Some(v1)));

    // Return URLs: a prefix removed after the copy.
    team.set_return_urls(vec!["https://old.example.com/".into()])
        .unwrap();
    let p = "teams/team-a/return-urls.json".to_string();
    let v1 = raw(&*b, &p);
    team.set_return_urls(vec!["https://new.example.com/".into()])
        .unwrap();
    put_back.push((p, Some(v1)));

    // Another team's return URLs, deleted behind the store's back.
    let team_b = m.team(caller("team-b")).unwrap();
    team_b
        .set_return_urls(vec!["https://b.example.com/".into()])
        .unwrap();
    put_back.push(("teams/team-b/return-urls.json".into(), None));

    // Webhook: removed after the copy.
    let (hook, _secret) = m
        .add_webhook("team-a", "https://hooks.example.com/x")
        .await
        .unwrap();
    let p = format!("webhooks/{}.json", hook.id);
    let v1 = raw(&*b, &p);
    m.remove_webhook("team-a", &hook.id).unwrap();
    put_back.push((p, Some(v1)));

    // Provider definitions: one removed, one replaced, after the copy.
    store
        .put_provider("team-a", "gone", r#"{"id":"gone"}"#, &[])
        .unwrap();
    let p = "providers/team-a/gone.json".to_string();
    let v1 = raw(&*b, &p);
    assert!(store.remove_provider("team-a", "gone").unwrap());
    put_back.push((p, Some(v1)));
    store
        .put_provider("team-a", "acme", r#"{"id":"acme","v":1}"#, &[])
        .unwrap();
    let p = "providers/team-a/acme.json".to_string();
    let v1 = raw(&*b, &p);
    store
        .put_provider("team-a", "acme", r#"{"id":"acme","v":2}"#, &[])
        .unwrap();
    put_back.push((p, Some(v1)));

    // A webhook's delivery state: it fails a delivery after the copy (its
    // endpoint refuses connections), so the copy says it is healthy and
    // owed nothing it was not owed.
    let (kept, _secret) = m
        .add_webhook("team-a", "https://hooks.example.com/kept")
        .await
        .unwrap();
    let p = format!("webhooks/{}.state", kept.id);
    let v1 = raw(&*b, &p);
    team.verify(&conn.id).await.unwrap();
    m.deliver_events(1000, 1).await.unwrap();
    assert_eq!(m.webhook_state("team-a", &kept.id).unwrap().failures, 1);
    put_back.push((p, Some(v1)));

    // Pending authorization: taken (used) after the copy.
    let mut pending = Pending {
        id: "pend_rollback".into(),
        record: ConnectionRecord::new(
            "conn_pending".into(),
            "team-a".into(),
            "celonis".into(),
            "p".into(),
        ),
        reauthorize: false,
        rename: None,
        must_grant: vec![],
        redirect_uri: "http://127.0.0.1/cb".into(),
        requested_scopes: vec![],
        expires_at: u64::MAX / 2,
        return_url: None,
        integrity: String::new(),
    };
    store.put_pending(&mut pending).unwrap();
    let p = "pending/pend_rollback.json".to_string();
    let v1 = raw(&*b, &p);
    assert!(store.take_pending("pend_rollback").unwrap());
    put_back.push((p, Some(v1)));

    // Nothing is refused before the attack.
    assert_eq!(m.refused_documents().unwrap(), vec![]);
    let (code, out) = t.store_check();
    assert_eq!(code, 0, "{out}");

    // The attack: every older copy put back at once.
    for (path, bytes) in &put_back {
        match bytes {
            Some(bytes) => b.write(path, bytes).unwrap(),
            None => assert!(b.remove(path).unwrap()),
        }
    }
    if let Some(db) = &t.db {
        // The same through SQL: an UPDATE of the row, not the backend.
        let hex: String = raw(&*b, "teams/team-a/usages.json")
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect();
        db.psql(&format!(
            "UPDATE connhost_docs SET body = decode('{hex}', 'hex') WHERE dir = 'teams/team-a' AND stem = 'usages' AND ext = 'json'"
        ));
    }
    // A store opened now (a restart) sees the same: nothing is re-adopted.
    let m = t.manager();
    let store = m.store();
    let team = m.team(caller("team-a")).unwrap();
    let kind = |r: connhost::Result<()>| r.map_err(|e| e.kind().to_string());

    // Each read is refused with a typed error (never a panic). Every
    // verdict is collected first, so a failure lists every kind let in.
    let team_b = m.team(caller("team-b")).unwrap();
    let hooks = m
        .webhooks("team-a")
        .map(|h| h.iter().filter(|w| w.id == hook.id).count());
    let verdicts: Vec<(&str, Result<(), String>, &str)> = vec![
        (
            "connector",
            kind(m.connector("celonis").map(drop)),
            "tampered",
        ),
        (
            "revoked api key",
            kind(m.authenticate(token.expose()).map(drop)),
            "unauthenticated",
        ),
        (
            "used connect session",
            kind(m.connect_session(session_token.expose()).map(drop)),
            "unauthenticated",
        ),
        ("usages", kind(team.usages().map(drop)), "tampered"),
        (
            "dynamic connections",
            kind(team.dynamics().map(drop)),
            "tampered",
        ),
        (
            "return urls",
            kind(team.return_urls().map(drop)),
            "tampered",
        ),
        (
            "return urls removed behind the store's back",
            kind(team_b.return_urls().map(drop)),
            "tampered",
        ),
        (
            "removed webhook",
            kind(match hooks {
                Ok(0) => Err(connhost::Error::NotFound {
                    what: "webhook",
                    id: hook.id.clone(),
                }),
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            }),
            "not-found",
        ),
        (
            "removed provider",
            kind(match store.provider("team-a", "gone") {
                Ok(None) if store.providers("team-a").unwrap() == ["acme"] => {
                    Err(connhost::Error::NotFound {
                        what: "provider",
                        id: "gone".into(),
                    })
                }
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            }),
            "not-found",
        ),
        (
            "older provider",
            kind(store.provider("team-a", "acme").map(drop)),
            "tampered",
        ),
        (
            "older webhook delivery state",
            kind(m.webhook_state("team-a", &kept.id).map(drop)),
            "tampered",
        ),
        (
            "used pending authorization",
            kind(store.get_pending("pend_rollback").map(drop)),
            "not-found",
        ),
    ];
    let let_in: Vec<String> = verdicts
        .iter()
        .filter(|(_, got, want)| got.as_ref().err().map(String::as_str) != Some(*want))
        .map(|(what, got, want)| format!("{what}: {got:?}, expected {want}"))
        .collect();
    assert!(
        let_in.is_empty(),
        "{} of {} rolled-back documents were not refused:\n{}",
        let_in.len(),
        verdicts.len(),
        let_in.join("\n")
    );
    assert!(!store.take_pending("pend_rollback").unwrap());
    // The session made one connection, and only that one.
    assert!(team.get(&made.id).is_ok());

    // The check names every one of them, and exits 1.
    let refused = m.refused_documents().unwrap();
    let named: Vec<&str> = refused.iter().map(|r| r.path.as_str()).collect();
    let mut expected: Vec<&str> = put_back
        .iter()
        .map(|(p, _)| p.as_str())
        .filter(|p| *p != "pending/pend_rollback.json")
        .collect();
    // `take_pending` above cleared the put-back file (it stays removed).
    expected.sort();
    assert_eq!(named, expected, "{refused:#?}");
    for r in &refused {
        assert!(
            !r.problem.contains(demo::APP_KEY) && r.problem.contains(&r.id),
            "{r:?}"
        );
    }
    let (code, out) = t.store_check();
    assert_eq!(code, 1, "{out}");
    for p in &expected {
        assert!(out.contains(p), "store check does not name {p}: {out}");
    }
    assert!(out.contains("older copy"), "{out}");
    println!(
        "{}: {} rolled-back documents refused on read, {} named by store check (exit 1)",
        t.db.as_ref().map_or("file", |_| "postgres"),
        verdicts.len(),
        refused.len()
    );
}

// ---- the attacks, end to end over HTTP (file store, files on disk) ----

struct Server {
    base: String,
    http: Client,
}

async fn serve(m: Manager) -> (Server, Arc<Manager>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let m = Arc::new(m);
    let router = connhost_server::router(m.clone(), connhost_server::ServerConfig::new(&base));
    tokio::spawn(connhost_server::serve(
        listener,
        router,
        std::future::pending(),
    ));
    (
        Server {
            base,
            http: Client::new(),
        },
        m,
    )
}

impl Server {
    async fn call(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn app_key_body() -> Value {
    json!({
        "connector": "celonis",
        "name": "Acme",
        "fields": {"domain": demo::DOMAIN, "auth_type": "app-key"},
        "secrets": {"app_key": demo::APP_KEY},
    })
}

async fn server() -> (Server, Arc<Manager>, tempfile::TempDir, FakeCelonis) {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut cfg = library_config(home.path(), &fake);
    cfg.net.connect_to.push(HOOKS.parse().unwrap());
    let m = Manager::open(cfg).unwrap();
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    let (s, m) = serve(m).await;
    (s, m, home, fake)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_keys_file_put_back_does_not_authenticate() {
    let (s, m, home, _fake) = server().await;
    let (admin, _) = m.create_api_key(None, "operator").unwrap();
    let (key, token) = m.create_api_key(Some("team-a"), "ci").unwrap();
    let path = home.path().join(format!("apikeys/{}.json", key.id));
    let (st, _) = s
        .call(token.expose(), Method::GET, "/v1/connections", None)
        .await;
    assert_eq!(st, StatusCode::OK);
    let before = std::fs::read(&path).unwrap();
    m.revoke_api_key(&key.id).unwrap();
    let (st, _) = s
        .call(token.expose(), Method::GET, "/v1/connections", None)
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    std::fs::write(&path, &before).unwrap();
    let (st, e) = s
        .call(token.expose(), Method::GET, "/v1/connections", None)
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{e}");
    // Key listings leave it out rather than show it unrevoked.
    assert!(m
        .api_keys(None)
        .unwrap()
        .iter()
        .all(|k| k.id != key.id || k.revoked_at.is_some()));
    let _ = admin;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_connect_sessions_file_put_back_makes_no_second_connection() {
    let (s, m, home, _fake) = server().await;
    let (_, a) = m.create_api_key(Some("team-a"), "a").unwrap();
    let (st, session) = s
        .call(
            a.expose(),
            Method::POST,
            "/v1/connect-sessions",
            Some(json!({"connector": "celonis"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{session}");
    let token = session["token"].as_str().unwrap().to_string();
    let id = session["id"].as_str().unwrap().to_string();
    let path = home.path().join(format!("sessions/{id}.json"));
    let unused = std::fs::read(&path).unwrap();
    let (st, created) = s
        .call(
            &token,
            Method::POST,
            "/v1/connect/connections",
            Some(app_key_body()),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{created}");
    std::fs::write(&path, &unused).unwrap();
    let (st, e) = s
        .call(
            &token,
            Method::POST,
            "/v1/connect/connections",
            Some(app_key_body()),
        )
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{e}");
    let (_, list) = s
        .call(a.expose(), Method::GET, "/v1/connections", None)
        .await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_usages_list_put_back_does_not_let_a_member_delete() {
    let (s, m, home, _fake) = server().await;
    let (_, admin) = m.create_api_key(Some("team-a"), "a").unwrap();
    let (_, member) = m
        .create_api_key_as(Some("team-a"), "m", connhost::Role::Member)
        .unwrap();
    let (st, c) = s
        .call(
            admin.expose(),
            Method::POST,
            "/v1/connections",
            Some(app_key_body()),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    let use_it = |consumer: &str| json!({"consumer": consumer, "connection": id, "scopes": [], "state": "active"});
    // An older list: usages of nothing else, then flow-1 on this one.
    let other = s
        .call(
            admin.expose(),
            Method::POST,
            "/v1/connections",
            Some(app_key_body()),
        )
        .await
        .1["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, _) = s
        .call(
            admin.expose(),
            Method::POST,
            "/v1/usages",
            Some(
                json!({"consumer": "flow-0", "connection": other, "scopes": [], "state": "active"}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let path = home.path().join("teams/team-a/usages.json");
    let older = std::fs::read(&path).unwrap();
    let (st, _) = s
        .call(
            admin.expose(),
            Method::POST,
            "/v1/usages",
            Some(use_it("flow-1")),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let del = format!("/v1/connections/{id}");
    let (st, _) = s.call(member.expose(), Method::DELETE, &del, None).await;
    assert_eq!(st, StatusCode::CONFLICT);
    std::fs::write(&path, &older).unwrap();
    let (st, e) = s.call(member.expose(), Method::DELETE, &del, None).await;
    assert_ne!(st, StatusCode::OK, "{e}");
    assert_eq!(e["error"]["kind"], "tampered", "{e}");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("older copy"));
    let (st, _) = s.call(admin.expose(), Method::GET, &del, None).await;
    assert_eq!(st, StatusCode::OK, "the connection is still there");
    let (code, out) = check(home.path());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("teams/team-a/usages.json"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_webhook_provider_or_return_url_put_back_stays_removed() {
    let (s, m, home, _fake) = server().await;
    let (_, a) = m.create_api_key(Some("team-a"), "a").unwrap();
    let a = a.expose();
    // Webhook.
    let (st, hook) = s
        .call(
            a,
            Method::POST,
            "/v1/webhooks",
            Some(json!({"url": "https://hooks.example.com/x"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{hook}");
    let hook_id = hook["id"].as_str().unwrap().to_string();
    let hook_path = home.path().join(format!("webhooks/{hook_id}.json"));
    let hook_file = std::fs::read(&hook_path).unwrap();
    let (st, _) = s
        .call(a, Method::DELETE, &format!("/v1/webhooks/{hook_id}"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    // Provider definition (stored for the team, as `provider add` does).
    m.store()
        .put_provider("team-a", "acme", r#"{"id":"acme"}"#, &[])
        .unwrap();
    let prov_path = home.path().join("providers/team-a/acme.json");
    let prov_file = std::fs::read(&prov_path).unwrap();
    let (st, e) = s.call(a, Method::DELETE, "/v1/providers/acme", None).await;
    assert_eq!(st, StatusCode::OK, "{e}");
    // Return URL prefix.
    let (st, _) = s
        .call(
            a,
            Method::PUT,
            "/v1/settings/return-urls",
            Some(json!(["https://app.example.com/"])),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let urls_path = home.path().join("teams/team-a/return-urls.json");
    let urls_file = std::fs::read(&urls_path).unwrap();
    let (st, _) = s
        .call(a, Method::PUT, "/v1/settings/return-urls", Some(json!([])))
        .await;
    assert_eq!(st, StatusCode::OK);

    std::fs::write(&hook_path, &hook_file).unwrap();
    std::fs::write(&prov_path, &prov_file).unwrap();
    std::fs::write(&urls_path, &urls_file).unwrap();

    let (_, hooks) = s.call(a, Method::GET, "/v1/webhooks", None).await;
    assert!(!hooks.to_string().contains(&hook_id), "{hooks}");
    let (_, provs) = s
        .call(a, Method::GET, "/v1/providers?source=added", None)
        .await;
    assert!(!provs.to_string().contains("acme"), "{provs}");
    assert_eq!(m.store().provider("team-a", "acme").unwrap(), None);
    // The removed prefix does not come back: the older list is refused.
    let (st, e) = s
        .call(a, Method::GET, "/v1/settings/return-urls", None)
        .await;
    assert!(!e.to_string().contains("app.example.com"), "{st} {e}");
    assert_eq!(e["error"]["kind"], "tampered", "{e}");
    let (code, out) = check(home.path());
    assert_eq!(code, 1, "{out}");
    for p in [
        format!("webhooks/{hook_id}.json"),
        "providers/team-a/acme.json".into(),
        "teams/team-a/return-urls.json".into(),
    ] {
        assert!(out.contains(&p), "{p}: {out}");
    }
}

fn check(home: &std::path::Path) -> (i32, String) {
    let out = std::process::Command::new(crate::common::bin())
        .arg("--home")
        .arg(home)
        .args(["--json", "store", "check"])
        .env_remove("CONNHOST_MASTER_KEY")
        .env_remove("CONNHOST_HOME")
        .env_remove("CONNHOST_DATABASE_URL")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_migrate_carries_the_versions_and_refuses_a_rolled_back_source() {
    let Some(db) = TestDb::new("rollback_migrate") else {
        return;
    };
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = Manager::open(library_config(home.path(), &fake)).unwrap();
    let (key, token) = m.create_api_key(Some("team-a"), "ci").unwrap();
    let copy = raw(
        &*m.store().backend().clone(),
        &format!("apikeys/{}.json", key.id),
    );
    m.revoke_api_key(&key.id).unwrap();
    let master = connhost::read_key_file(&home.path().join("master.key"))
        .unwrap()
        .unwrap();
    let src: Arc<dyn Backend> = Arc::new(connhost::FileBackend::new(home.path()));
    let to_home = tempfile::tempdir().unwrap();
    let report = connhost::store_migrate(
        src.clone(),
        home.path(),
        db.backend(),
        to_home.path(),
        &master,
    )
    .unwrap();
    assert!(report.documents_verified >= 1, "{report:?}");
    // At the destination the revocation holds and its index came along:
    // the older copy put back there is refused.
    let mut cfg = library_config(to_home.path(), &fake);
    cfg.database = Some(db.url.clone());
    cfg.master_key = Some(master.clone());
    let dest = Manager::open(cfg).unwrap();
    assert_eq!(
        dest.authenticate(token.expose()).unwrap_err().kind(),
        "unauthenticated"
    );
    let path = format!("apikeys/{}.json", key.id);
    db.backend().write(&path, &copy).unwrap();
    assert_eq!(
        dest.authenticate(token.expose()).unwrap_err().kind(),
        "unauthenticated"
    );
    assert_eq!(dest.refused_documents().unwrap()[0].path, path);
    // A source holding an older copy does not migrate as if it were fine.
    src.write(&path, &copy).unwrap();
    let Some(db2) = TestDb::new("rollback_migrate2") else {
        return;
    };
    let err = connhost::store_migrate(src, home.path(), db2.backend(), to_home.path(), &master)
        .unwrap_err();
    assert_eq!(err.kind(), "tampered", "{err}");
    assert!(err.to_string().contains(&path), "{err}");
}
