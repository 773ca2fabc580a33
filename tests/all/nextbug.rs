//! Kinds of test the security audit found missing, one each:
//!
//! 1. a team member's operations in their bulk or filter-only forms
//!    (`remove_usage(consumer, None)`, `DELETE /v1/usages?consumer=X`, a
//!    forced delete blocked only through a dynamic connection): refused
//!    whenever the single form would be, and nothing changes;
//! 2. a process that opened the store before a key rotation and then
//!    writes without reading first: refused (`wrong-master-key`), and the
//!    store still opens, verifies and names no old key afterwards;
//! 3. a provider that repeats the request's credentials (Authorization
//!    header, form body) in its error: the secret reaches no library
//!    error, `last_error`, stored record, API answer or CLI output.

use crate::common::{library_config, Behavior, Env};
use connhost::{
    Caller, DynamicConnection, Error, Manager, NewConnection, Role, Secret, Usage, UsageState,
};
use connhost_testkit::celonis::{demo, FakeCelonis, FakeConfig};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn caller(team: &str, actor: &str) -> Caller {
    Caller {
        team: team.into(),
        actor: actor.into(),
    }
}

/// An App key connection of `team`. Named, so creating it reads nothing
/// from the store (no default name is looked up).
fn app_key(team: &str, key: &str) -> NewConnection {
    NewConnection {
        connector: "celonis".into(),
        name: Some("Acme".into()),
        team: Some(team.into()),
        fields: BTreeMap::from([
            ("domain".into(), demo::DOMAIN.into()),
            ("auth_type".into(), "app-key".into()),
        ]),
        secrets: BTreeMap::from([("app_key".into(), Secret::new(key))]),
    }
}

fn usage(consumer: &str, connection: &str, state: UsageState) -> Usage {
    Usage {
        consumer: consumer.into(),
        connection: connection.into(),
        scopes: vec!["studio".into()],
        state,
    }
}

/// The API on loopback, in this process, with no background loops.
async fn serve(m: Arc<Manager>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut cfg = connhost_server::ServerConfig::new(&base);
    cfg.renew_every = None;
    cfg.deliver_every = None;
    let router = connhost_server::router(m, cfg);
    tokio::spawn(connhost_server::serve(
        listener,
        router,
        std::future::pending(),
    ));
    base
}

/// `(status, JSON body)` of a request (`Null` when the body is not JSON).
async fn answer(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn is_forbidden<T: std::fmt::Debug>(what: &str, r: connhost::Result<T>) {
    match r {
        Err(Error::Forbidden(_)) => {}
        other => panic!("{what}: a member was not refused: {other:?}"),
    }
}

// ---------------------------------------------------------------------
// 1. Bulk and filter-only forms of a member's operations
// ---------------------------------------------------------------------

/// A member may remove usages that are switched off, one or all of a
/// consumer's, but not active or scheduled ones: not singly, and not by
/// naming only the consumer (the filter-only, bulk form), where the
/// first matching usage may be an inactive one. Through the library
/// and through `DELETE /v1/usages` with a member's key; an admin's same
/// calls work, and remove exactly what the filter names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cannot_do_in_bulk_or_by_filter_what_it_may_not_do_singly() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = Arc::new(Manager::open(library_config(home.path(), &fake)).unwrap());
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    let admin = m.team(caller("team-a", "ada")).unwrap();
    let a = admin
        .create(app_key("team-a", demo::APP_KEY))
        .await
        .unwrap()
        .id;
    let b = admin
        .create(app_key("team-a", demo::APP_KEY))
        .await
        .unwrap()
        .id;
    // `c` is needed only through a dynamic connection.
    let c = admin
        .create(app_key("team-a", demo::APP_KEY))
        .await
        .unwrap()
        .id;
    let pick = DynamicConnection {
        name: "pick".into(),
        connector: "celonis".into(),
        key: "dept".into(),
        choices: BTreeMap::from([("x".to_string(), c.clone())]),
        default: None,
    };
    admin.put_dynamic(pick.clone()).unwrap();
    for u in [
        // The consumer's first usage is off, its second active.
        usage("flow-mixed", &a, UsageState::Inactive),
        usage("flow-mixed", &b, UsageState::Active),
        usage("flow-sched", &a, UsageState::Scheduled),
        usage("flow-dyn", "dynamic:pick", UsageState::Active),
        usage("flow-off", &a, UsageState::Inactive),
        usage("flow-off", &b, UsageState::Inactive),
    ] {
        admin.add_usage(u).unwrap();
    }
    let all = admin.usages().unwrap();
    assert_eq!(all.len(), 6);

    let member = m
        .team(caller("team-a", "mia"))
        .unwrap()
        .acting_as(Role::Member);
    assert_eq!(member.role(), Role::Member);

    // Filter-only (bulk) removal of a consumer with an active or
    // scheduled usage, directly or through a dynamic connection.
    for consumer in ["flow-mixed", "flow-sched", "flow-dyn"] {
        is_forbidden(
            &format!("remove_usage({consumer}, None)"),
            member.remove_usage(consumer, None),
        );
        assert_eq!(admin.usages().unwrap(), all, "{consumer}: usages changed");
    }
    // The single forms are refused as well.
    is_forbidden(
        "remove_usage(flow-mixed, b)",
        member.remove_usage("flow-mixed", Some(b.as_str())),
    );
    is_forbidden(
        "switching flow-mixed's usage of b off",
        member.add_usage(usage("flow-mixed", &b, UsageState::Inactive)),
    );
    // A forced delete blocked directly, or only through `pick`.
    for id in [&b, &c] {
        is_forbidden(
            &format!("delete({id}, force)"),
            member.delete(id, true).await,
        );
        admin.get(id).expect("still there");
    }
    // Re-pointing the dynamic connection an active usage runs through.
    let mut repointed = pick.clone();
    repointed.choices = BTreeMap::from([("x".to_string(), b.clone())]);
    is_forbidden("re-pointing pick", member.put_dynamic(repointed));
    assert_eq!(admin.dynamics().unwrap(), vec![pick]);
    assert_eq!(admin.usages().unwrap(), all, "nothing changed");
    assert_eq!(admin.list().unwrap().len(), 3);

    // What a member may do, in bulk too: remove usages that are all off.
    assert_eq!(member.remove_usage("flow-off", None).unwrap(), 2);
    let left = admin.usages().unwrap();
    assert_eq!(left, all[..4].to_vec());

    // The same through the API, with a member's key and an admin's.
    let (_, member_key) = m
        .create_api_key_as(Some("team-a"), "member", Role::Member)
        .unwrap();
    let (_, admin_key) = m.create_api_key(Some("team-a"), "admin").unwrap();
    let base = serve(m.clone()).await;
    let http = reqwest::Client::new();
    let remove = |key: &str, query: String| {
        let req = http
            .delete(format!("{base}/v1/usages?{query}"))
            .bearer_auth(key);
        async move { answer(req.send().await.unwrap()).await }
    };
    for query in [
        "consumer=flow-sched".to_string(),
        "consumer=flow-mixed".to_string(),
        "consumer=flow-dyn".to_string(),
        format!("consumer=flow-mixed&connection={b}"),
    ] {
        let (status, v) = remove(member_key.expose(), query.clone()).await;
        assert_eq!(status, 403, "member DELETE /v1/usages?{query}: {v}");
        assert_eq!(v["error"]["kind"], "forbidden", "{query}: {v}");
        assert_eq!(admin.usages().unwrap(), left, "{query}: usages changed");
    }
    let (status, listed) = answer(
        http.get(format!("{base}/v1/usages"))
            .bearer_auth(member_key.expose())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().map(Vec::len), Some(4), "{listed}");
    for id in [&b, &c] {
        let (status, v) = answer(
            http.delete(format!("{base}/v1/connections/{id}?force=true"))
                .bearer_auth(member_key.expose())
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 403, "member's forced delete of {id}: {v}");
        admin.get(id).expect("still there");
    }
    // The member's filter by connection removes the one inactive usage
    // it names (not the consumer's others, which it may not remove).
    let (status, v) = remove(
        member_key.expose(),
        format!("consumer=flow-mixed&connection={a}"),
    )
    .await;
    assert_eq!((status, &v["removed"]), (200, &Value::from(1)), "{v}");
    let mut expected = all[1..4].to_vec();
    assert_eq!(admin.usages().unwrap(), expected);
    // An admin's bulk removals work, and remove only what they name.
    let (status, v) = remove(admin_key.expose(), "consumer=flow-sched".into()).await;
    assert_eq!((status, &v["removed"]), (200, &Value::from(1)), "{v}");
    expected.remove(1);
    assert_eq!(admin.usages().unwrap(), expected);
    let (status, v) = remove(admin_key.expose(), "consumer=flow-mixed".into()).await;
    assert_eq!((status, &v["removed"]), (200, &Value::from(1)), "{v}");
    assert_eq!(admin.usages().unwrap(), vec![all[3].clone()]);
    assert_eq!(admin.remove_usage("flow-dyn", None).unwrap(), 1);
    assert!(admin.usages().unwrap().is_empty());
    // With nothing needing them any more, a member may delete.
    member.delete(&c, false).await.unwrap();
}

// ---------------------------------------------------------------------
// 2. A write with the old key after a rotation
// ---------------------------------------------------------------------

/// The key id the store's `keycheck` names.
fn key_id(home: &Path) -> String {
    let check = std::fs::read_to_string(home.join("keycheck")).unwrap();
    check.trim().split('.').nth(1).unwrap().to_string()
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// "Every write takes a shared key lock, which `key rotate` takes
/// exclusively, and refuses to write once the store's key has changed"
/// (README; `rotate::write_guard`). Manager A is open across a rotation
/// run by another process, then writes what it can without reading
/// first: a connection (its connector is in A's memory), an API key and
/// a team list it never wrote. Each is refused `wrong-master-key`; a
/// fresh Manager with the new key then finds the store exactly as the
/// rotation left it: the same connection, usage and key, nothing
/// refused or quarantined, the audit chain whole, no file naming the
/// old key, and the old connection still verifying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_opened_before_a_key_rotation_writes_nothing_with_the_old_key() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let a = Manager::open(library_config(home, &fake)).unwrap();
    a.add_connector(connhost::builtin::CELONIS).await.unwrap();
    let id = {
        let t = a.team(caller("team-a", "ada")).unwrap();
        let id = t.create(app_key("team-a", demo::APP_KEY)).await.unwrap().id;
        t.add_usage(usage("flow-1", &id, UsageState::Active))
            .unwrap();
        id
    };
    a.create_api_key(Some("team-a"), "before").unwrap();
    let usages_before = a.team(caller("team-a", "ada")).unwrap().usages().unwrap();
    let audit_before = a.verify_audit().unwrap();
    assert_eq!(audit_before.broken, None);
    assert!(audit_before.verified >= 2, "{audit_before:?}");
    let old_kid = key_id(home);

    // `connhost key rotate` in another process, as rotation.rs runs it.
    let out = tokio::process::Command::new(crate::common::bin())
        .arg("--home")
        .arg(home)
        .args(["--json", "key", "rotate"])
        .env_remove("CONNHOST_MASTER_KEY")
        .env_remove("CONNHOST_NEW_MASTER_KEY")
        .env_remove("CONNHOST_HOME")
        .env_remove("CONNHOST_DATABASE_URL")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "key rotate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_kid = key_id(home);
    assert_ne!(new_kid, old_kid, "the keycheck names the new key");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["key_id"], new_kid.as_str());

    // A, never having read since, writes.
    let e = a
        .create(app_key("team-a", demo::APP_KEY))
        .await
        .expect_err("A created a connection with the old key");
    assert_eq!(e.kind(), "wrong-master-key", "{e}");
    let e = a
        .create_api_key(Some("team-a"), "late")
        .expect_err("A stored an API key with the old key");
    assert_eq!(e.kind(), "wrong-master-key", "{e}");
    {
        let t = a.team(caller("team-a", "ada")).unwrap();
        // The list is refused, then so is its audit record.
        match t.set_return_urls(vec!["https://app.example.com/back".into()]) {
            Err(Error::AuditFailed { outcome, .. }) => {
                assert_eq!(outcome, "wrong-master-key", "the list was written")
            }
            Err(e) => assert_eq!(e.kind(), "wrong-master-key", "{e}"),
            Ok(urls) => panic!("A wrote return URLs with the old key: {urls:?}"),
        }
    }
    // And a write that reads first.
    let e = a
        .rename(&id, "late")
        .expect_err("A renamed with the old key");
    assert_eq!(e.kind(), "wrong-master-key", "{e}");

    // A fresh process with the new key (master.key now holds it).
    let b = Manager::open(library_config(home, &fake)).unwrap();
    let audit = b.verify_audit().unwrap();
    assert_eq!(audit.broken, None, "{audit:?}");
    assert_eq!(
        audit.verified, audit_before.verified,
        "no record added or lost"
    );
    assert_eq!(b.quarantined().unwrap(), Vec::<String>::new());
    let refused = b.refused_documents().unwrap();
    assert!(refused.is_empty(), "{refused:?}");
    let ids: Vec<String> = b
        .list(Some("team-a"))
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, vec![id.clone()], "no connection added or lost");
    let r = b.get(&id).unwrap();
    assert_eq!(r.name, "Acme", "the rename did not land");
    let keys: Vec<String> = b
        .api_keys(Some("team-a"))
        .unwrap()
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(keys, ["before"]);
    let t = b.team(caller("team-a", "ada")).unwrap();
    assert_eq!(t.usages().unwrap(), usages_before);
    assert_eq!(t.return_urls().unwrap(), Vec::<String>::new());
    // Nothing outside the compile cache names the old key.
    let mut files = Vec::new();
    files_under(home, &mut files);
    let marker = format!("v2.{old_kid}.");
    for f in files.iter().filter(|f| !f.starts_with(home.join("cache"))) {
        let text = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
        assert!(!text.contains(&marker), "{} names the old key", f.display());
    }
    // The secret opens with the new key, and the store takes writes.
    b.verify(&id).await.unwrap();
    t.create(app_key("team-a", demo::APP_KEY)).await.unwrap();
    assert_eq!(b.list(Some("team-a")).unwrap().len(), 2);
    assert_eq!(b.verify_audit().unwrap().broken, None);
}

// ---------------------------------------------------------------------
// 3. A secret repeated inside a provider's error
// ---------------------------------------------------------------------

/// Every place a secret came back, collected so that one run names all
/// of them (the library error, `last_error`, the record, the API, the CLI).
#[derive(Default)]
struct Leaks(std::sync::Mutex<Vec<String>>);

impl Leaks {
    fn check(&self, what: &str, text: &str, secrets: &[&str]) {
        for (i, s) in secrets.iter().enumerate() {
            if text.contains(s) {
                self.0.lock().unwrap().push(format!(
                    "{what} repeats secret #{i} of {}: {text}",
                    secrets.len()
                ));
            }
        }
    }

    /// A library error as Display, Debug and the JSON the CLI and API show.
    fn error(&self, what: &str, e: &Error, secrets: &[&str]) {
        self.check(&format!("{what}: error"), &e.to_string(), secrets);
        self.check(
            &format!("{what}: error (Debug)"),
            &format!("{e:?}"),
            secrets,
        );
        self.check(
            &format!("{what}: error (JSON)"),
            &e.to_json().to_string(),
            secrets,
        );
    }

    fn assert_none(&self) {
        let leaks = self.0.lock().unwrap();
        assert!(
            leaks.is_empty(),
            "{} places repeat a secret the provider echoed:\n{}",
            leaks.len(),
            leaks.join("\n")
        );
    }
}

/// The stored record's bytes (its `last_error` is not sealed).
fn record_file(home: &Path, id: &str) -> String {
    std::fs::read_to_string(home.join("connections").join(format!("{id}.json"))).unwrap()
}

/// A provider that repeats the request in its error answer (the
/// `Authorization` header with an App key, for 401, 403, 418 and 500;
/// a token endpoint's 400 repeating the client secret raw, form-encoded
/// and inside the Basic header): the error the library returns (its
/// Display, Debug and JSON), the connection's `last_error`, the record
/// on disk (`last_error` is not sealed), the API's answers and the
/// CLI's output never hold the secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_the_provider_echoes_back_is_in_no_error_or_last_error() {
    let env = Env::new().await;
    let home = env.home().to_path_buf();
    let m = Arc::new(Manager::open(library_config(&home, &env.fake)).unwrap());
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    let leaks = Leaks::default();

    // Static keys: the fake repeats `Authorization: AppKey <key>`.
    let mut echoed: Vec<(String, String, &str)> = Vec::new();
    for (status, kind) in [
        (401u16, "unauthorized"),
        (403, "account-validation"),
        (418, "provider-error"),
        (500, "provider-error"),
    ] {
        let key = format!("PLANTED-echo-{status}-5d2c81");
        env.fake.configure(|c| {
            c.keys.insert(key.clone(), Behavior::Echo(status));
        });
        let id = m.create(app_key("team-a", &key)).await.unwrap().id;
        let e = m.verify(&id).await.expect_err("an error answer verified");
        // The echo answered (an unknown key is a 401 "invalid key").
        assert_eq!(e.kind(), kind, "HTTP {status}");
        if status == 418 {
            assert!(
                matches!(
                    &e,
                    Error::Connector(connhost::ConnectorError::ProviderError { status: 418, .. })
                ),
                "{status}"
            );
        }
        let what = format!("verify, HTTP {status}");
        leaks.error(&what, &e, &[key.as_str()]);
        let last = m.get(&id).unwrap().last_error.expect("the failure is kept");
        assert_eq!(last.kind, kind);
        leaks.check(
            &format!("{what}: last_error"),
            &last.message,
            &[key.as_str()],
        );
        leaks.check(
            &format!("{what}: stored record"),
            &record_file(&home, &id),
            &[key.as_str()],
        );
        echoed.push((id, key, kind));
    }

    // A token endpoint repeating the client secret: raw, form-encoded (a
    // `client_secret_post` body) and inside the Basic header it was sent in.
    let oauth = m
        .create(NewConnection {
            connector: "celonis".into(),
            name: Some("Acme OAuth".into()),
            team: Some("team-a".into()),
            fields: BTreeMap::from([
                ("domain".into(), demo::DOMAIN.into()),
                ("auth_type".into(), "oauth2".into()),
                ("client_id".into(), demo::CLIENT_ID.into()),
                ("scopes".into(), "studio".into()),
            ]),
            secrets: BTreeMap::from([("client_secret".into(), Secret::new(demo::CLIENT_SECRET))]),
        })
        .await
        .unwrap()
        .id;
    let form = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let encoded = form(demo::CLIENT_SECRET);
    let basic = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{encoded}", form(demo::CLIENT_ID)))
    };
    let description = format!(
        "client authentication failed: secret `{}`; body `grant_type=client_credentials&client_secret={encoded}`; Authorization `Basic {basic}`",
        demo::CLIENT_SECRET
    );
    env.fake.configure(|c| {
        c.token_response = Some((
            400,
            serde_json::json!({"error": "invalid_client", "error_description": description})
                .to_string(),
        ))
    });
    let client_secrets = [demo::CLIENT_SECRET, encoded.as_str(), basic.as_str()];
    let e = m
        .refresh(&oauth)
        .await
        .expect_err("the token endpoint refused");
    assert_eq!(e.kind(), "unauthorized", "{}", e.kind());
    leaks.error("refresh, token endpoint 400", &e, &client_secrets);
    let last = m
        .get(&oauth)
        .unwrap()
        .last_error
        .expect("the failure is kept");
    assert_eq!(last.kind, "unauthorized");
    leaks.check("refresh: last_error", &last.message, &client_secrets);
    leaks.check(
        "refresh: stored record",
        &record_file(&home, &oauth),
        &client_secrets,
    );

    // The API: the verify and refresh answers, the connection, the audit.
    let (_, team_key) = m.create_api_key(Some("team-a"), "echo").unwrap();
    let base = serve(m.clone()).await;
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: String| {
        let req = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(team_key.expose());
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap())
        }
    };
    for (id, key, kind) in &echoed {
        let (status, text) = call(
            reqwest::Method::POST,
            format!("/v1/connections/{id}/verify"),
        )
        .await;
        assert!(status >= 400, "{status}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["kind"], *kind, "{text}");
        leaks.check("POST …/verify", &text, &[key.as_str()]);
        let (status, text) = call(reqwest::Method::GET, format!("/v1/connections/{id}")).await;
        assert_eq!(status, 200, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["last_error"]["kind"], *kind, "{text}");
        leaks.check("GET /v1/connections/{id}", &text, &[key.as_str()]);
    }
    let (status, text) = call(
        reqwest::Method::POST,
        format!("/v1/connections/{oauth}/refresh"),
    )
    .await;
    assert_eq!(status, 502, "{text}");
    leaks.check("POST …/refresh", &text, &client_secrets);
    let (status, text) = call(reqwest::Method::GET, format!("/v1/connections/{oauth}")).await;
    assert_eq!(status, 200, "{text}");
    leaks.check("GET the OAuth connection", &text, &client_secrets);
    let (status, text) = call(reqwest::Method::GET, "/v1/audit".into()).await;
    assert_eq!(status, 200, "{text}");
    let keys: Vec<&str> = echoed.iter().map(|(_, k, _)| k.as_str()).collect();
    leaks.check("GET /v1/audit", &text, &keys);
    leaks.check("GET /v1/audit", &text, &client_secrets);
    env.fake.configure(|c| c.token_response = None);

    // The CLI, `--json` and not.
    let key = "PLANTED-echo-cli-71be04";
    env.fake.configure(|c| {
        c.keys.insert(key.into(), Behavior::Echo(401));
    });
    let domain = format!("domain={}", demo::DOMAIN);
    let created = env
        .run_with(
            &[
                "--json",
                "connection",
                "create",
                "--connector",
                "celonis",
                "--field",
                &domain,
                "--field",
                "auth_type=app-key",
                "--secret",
                "app_key=env:ECHO_KEY",
            ],
            &[("ECHO_KEY", key)],
            None,
        )
        .await
        .ok();
    let id = created.json()["id"].as_str().unwrap().to_string();
    let verify = env.run(&["--json", "connection", "verify", &id]).await;
    assert_eq!(verify.error()["kind"], "unauthorized", "{verify:?}");
    let human = env.run(&["connection", "verify", &id]).await.failed();
    assert!(!human.stderr.trim().is_empty(), "the failure is said");
    env.run(&["--json", "connection", "show", &id]).await.ok();
    env.run(&["connection", "show", &id]).await.ok();
    env.run(&["--json", "connection", "list"]).await.ok();
    let transcript = env.transcript.lock().unwrap().clone();
    leaks.check("the CLI's output", &transcript, &[key]);
    leaks.check("the CLI's output", &transcript, &keys);
    leaks.check("stored record (CLI)", &record_file(&home, &id), &[key]);
    leaks.assert_none();
}

/// Mutation testing found these unchecked (scripts/mutants.sh sessions): a
/// connect-session token is its id *and* its secret, and its lifetime is
/// the one asked for, capped at an hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_session_token_needs_its_own_secret_and_lives_as_long_as_asked() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = Manager::open(library_config(home.path(), &fake)).unwrap();
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let before = now();
    let (s, token) = m
        .create_connect_session(connhost::DEFAULT_TEAM, "celonis", 600)
        .unwrap();
    assert!(
        (before + 600..=now() + 600).contains(&s.expires_at),
        "{}",
        s.expires_at
    );
    let t = token.expose().to_string();
    // The same session id with another secret of the same shape.
    let mut forged = t.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert!(matches!(
        m.connect_session(&forged),
        Err(Error::Unauthenticated(_))
    ));
    let (_, other) = m
        .create_connect_session(connhost::DEFAULT_TEAM, "celonis", 600)
        .unwrap();
    // `cst_cs_<16 hex>_` then the secret: this id, the other's secret.
    let swapped = format!("{}{}", &t[..24], &other.expose()[24..]);
    assert!(m.connect_session(&swapped).is_err());
    assert!(m.connect_session(other.expose()).is_ok());
    assert_eq!(m.connect_session(&t).unwrap().id, s.id);
    let (long, _) = m
        .create_connect_session(connhost::DEFAULT_TEAM, "celonis", 1_000_000)
        .unwrap();
    assert!(long.expires_at <= now() + 3600, "{}", long.expires_at);
}

/// Mutation testing found these unchecked (scripts/mutants.sh roles): a
/// member's key is refused every team setting (provider definitions,
/// consent return URLs), and a team name must be an id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_settings_are_an_admin_s_and_team_names_are_ids() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = Manager::open(library_config(home.path(), &fake)).unwrap();
    m.add_connector(connhost::builtin::GENERIC).await.unwrap();
    let def = serde_json::json!({
        "id": "acme-x", "auth_mode": "api_key",
        "api_key": {"in": "header", "name": "X-Key"},
        "verify": {"url": "https://api.acme-x.example/me", "label": "/name"},
    })
    .to_string();
    let back = vec!["https://app.example.com/connections/done".to_string()];
    let member = || {
        m.team(caller("team-a", "bob"))
            .unwrap()
            .acting_as(Role::Member)
    };
    let admin = || m.team(caller("team-a", "ada")).unwrap();
    let forbidden =
        |r: connhost::Result<()>| assert!(matches!(r, Err(Error::Forbidden(_))), "{r:?}");
    forbidden(member().add_provider("generic", &def).await.map(|_| ()));
    forbidden(member().set_return_urls(back.clone()).map(|_| ()));
    assert_eq!(
        admin().add_provider("generic", &def).await.unwrap(),
        "acme-x"
    );
    forbidden(member().remove_provider("acme-x"));
    admin().set_return_urls(back.clone()).unwrap();
    assert_eq!(admin().return_urls().unwrap(), back);
    admin().remove_provider("acme-x").unwrap();
    for bad in ["../team-b", "a/b", "", "team a", &"x".repeat(65)] {
        assert!(
            matches!(m.team(caller(bad, "ada")), Err(Error::InvalidInput { .. })),
            "{bad:?}"
        );
    }
}

/// Mutation testing found this unchecked (scripts/mutants.sh roles): a
/// usage through a dynamic connection blocks deleting that dynamic
/// connection's targets only, not another dynamic connection's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamic_usage_blocks_only_its_own_targets() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = Manager::open(library_config(home.path(), &fake)).unwrap();
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    let admin = m.team(caller("team-a", "ada")).unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(
            admin
                .create(app_key("team-a", demo::APP_KEY))
                .await
                .unwrap()
                .id,
        );
    }
    for (name, target) in [("used", &ids[0]), ("unused", &ids[1])] {
        admin
            .put_dynamic(DynamicConnection {
                name: name.into(),
                connector: "celonis".into(),
                key: "dept".into(),
                choices: BTreeMap::from([("x".to_string(), target.clone())]),
                default: None,
            })
            .unwrap();
    }
    admin
        .add_usage(usage("flow", "dynamic:used", UsageState::Active))
        .unwrap();
    assert_eq!(admin.blocking_usages(&ids[0]).unwrap().len(), 1);
    assert!(admin.blocking_usages(&ids[1]).unwrap().is_empty());
    // The unused one's target goes without force; the used one's does not.
    admin.delete(&ids[1], false).await.unwrap();
    assert!(admin.delete(&ids[0], false).await.is_err());
}

/// Mutation testing found this unchecked (scripts/mutants.sh roles): a
/// consumer calls through a connection only with a usage of its own on
/// that connection; its usage elsewhere, or another consumer's usage here,
/// is not one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_calls_only_through_connections_it_has_a_usage_of() {
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = Manager::open(library_config(home.path(), &fake)).unwrap();
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    let admin = m.team(caller("team-a", "ada")).unwrap();
    let a = admin
        .create(app_key("team-a", demo::APP_KEY))
        .await
        .unwrap()
        .id;
    let b = admin
        .create(app_key("team-a", demo::APP_KEY))
        .await
        .unwrap()
        .id;
    // No scopes needed: the usage itself is what is checked.
    let bare = |consumer: &str, connection: &str| Usage {
        scopes: vec![],
        ..usage(consumer, connection, UsageState::Active)
    };
    admin.add_usage(bare("flow", &a)).unwrap();
    admin.add_usage(bare("other", &b)).unwrap();
    let req = connhost::ApiRequest {
        method: "GET".into(),
        url: "/api/cloud".into(),
        headers: vec![],
        body: vec![],
        timeout_ms: None,
    };
    let none = BTreeMap::new();
    assert_eq!(
        admin
            .request(&a, &req, Some("flow"), &none)
            .await
            .unwrap()
            .status,
        200
    );
    match admin.request(&b, &req, Some("flow"), &none).await {
        Err(Error::NotFound { what: "usage", .. }) => {}
        other => panic!("expected no usage of `flow` on b, got {other:?}"),
    }
    // A usage whose scopes the connection lacks: the platform's
    // AccountValidationError, naming them; other errors are not one.
    admin
        .add_usage(usage("studio-flow", &a, UsageState::Active))
        .unwrap();
    let e = admin
        .request(&a, &req, Some("studio-flow"), &none)
        .await
        .unwrap_err();
    assert_eq!(
        connhost::is_account_validation(&e),
        Some(&["studio".to_string()][..])
    );
    let e = admin
        .request(&b, &req, Some("flow"), &none)
        .await
        .unwrap_err();
    assert_eq!(connhost::is_account_validation(&e), None);
}

/// A webhook whose endpoint failed waits out its backoff (no request
/// before `retry_at`), then delivers what it owes once, in order, and
/// never sends an event twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_webhook_waits_out_its_backoff_then_delivers_each_event_once() {
    use connhost_testkit::webhook::{WebhookReceiver, HOST};
    let fake = FakeCelonis::start(FakeConfig::default()).await.unwrap();
    let hooks = WebhookReceiver::start(1).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut cfg = library_config(home.path(), &fake);
    cfg.net.connect_to.push(hooks.connect_to().parse().unwrap());
    let ca = home.path().join("hooks-ca.pem");
    std::fs::write(&ca, hooks.ca_pem()).unwrap();
    cfg.net.add_ca_file(&ca).unwrap();
    let m = Manager::open(cfg).unwrap();
    m.add_connector(connhost::builtin::CELONIS).await.unwrap();
    let (hook, _) = m
        .add_webhook("team-a", &format!("https://{HOST}/a"))
        .await
        .unwrap();
    let team = m
        .team(Caller {
            team: "team-a".into(),
            actor: "test".into(),
        })
        .unwrap();
    let connection = || NewConnection {
        connector: "celonis".into(),
        fields: BTreeMap::from([
            ("domain".to_string(), demo::DOMAIN.to_string()),
            ("auth_type".to_string(), "app-key".to_string()),
        ]),
        secrets: BTreeMap::from([("app_key".into(), Secret::new(demo::APP_KEY))]),
        ..Default::default()
    };
    let secs = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    team.create(connection()).await.unwrap();
    // The receiver answers 500 once: the round fails and backs off one
    // second from when it failed.
    let before = secs();
    assert_eq!(m.deliver_events(100, 1).await.unwrap(), 0);
    let state = m.webhook_state("team-a", &hook.id).unwrap();
    assert_eq!(state.failures, 1);
    assert!(
        (before + 1..=secs() + 1).contains(&state.retry_at),
        "retry_at {} for a round failed at {before}",
        state.retry_at
    );
    if secs() < state.retry_at {
        assert_eq!(m.deliver_events(100, 1).await.unwrap(), 0);
        assert_eq!(hooks.received().len(), 1, "a request before retry_at");
        assert_eq!(m.webhook_state("team-a", &hook.id).unwrap().failures, 1);
    }
    while secs() < state.retry_at {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(m.deliver_events(100, 1).await.unwrap(), 1);
    assert_eq!(m.webhook_state("team-a", &hook.id).unwrap().failures, 0);
    team.create(connection()).await.unwrap();
    assert_eq!(m.deliver_events(100, 1).await.unwrap(), 1);
    assert_eq!(m.deliver_events(100, 1).await.unwrap(), 0, "nothing owed");
    let ids: Vec<String> = hooks
        .received()
        .iter()
        .map(|d| serde_json::from_slice::<Value>(&d.body).unwrap()["id"].to_string())
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(ids[0], ids[1], "the failed event is retried");
    assert_ne!(ids[1], ids[2], "each event once after that: {ids:?}");
}
