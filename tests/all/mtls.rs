//! Mutual TLS at a token endpoint (RFC 8705 `tls_client_auth`): the
//! generic connector names the certificate and key secrets, and the host
//! presents them in the TLS handshake (`http.send-mtls`), so neither
//! enters the component. The fake requires a client certificate from its
//! CA and issues tokens only to the certificate registered for the client.

use connhost::{Error, HostConfig, Manager, NewConnection, Refreshed, Secret};
use connhost_testkit::mtls::{FakeMtls, BASE, CLIENT_ID};
use std::collections::BTreeMap;

async fn manager(fake: &FakeMtls, home: &std::path::Path) -> Manager {
    let mut cfg = HostConfig::new(home);
    cfg.net = crate::common::fake_net(home, &[fake.connect_to()], fake.ca_pem());
    let m = Manager::open(cfg).unwrap();
    m.add_connector(connhost::builtin::GENERIC).await.unwrap();
    let def = serde_json::json!({
        "format": 2, "id": "mtls-co", "display_name": "mTLS Co", "auth_mode": "oauth2_cc",
        "token_url": format!("{BASE}/token"), "client_auth": "tls_client_auth",
        "verify": {"url": format!("{BASE}/me"), "label": "/name"},
    });
    m.add_provider(connhost::DEFAULT_TEAM, "generic", &def.to_string())
        .await
        .unwrap();
    m
}

fn connection(cert: &str, key: &str) -> NewConnection {
    NewConnection {
        connector: "generic".into(),
        fields: BTreeMap::from([
            ("provider".into(), "mtls-co".into()),
            ("auth_mode".into(), "oauth2_cc".into()),
            ("client_id".into(), CLIENT_ID.into()),
        ]),
        secrets: BTreeMap::from([
            ("client_certificate".into(), Secret::new(cert)),
            ("client_key".into(), Secret::new(key)),
        ]),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_presents_the_client_certificate_from_secrets() {
    let fake = FakeMtls::start().await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = manager(&fake, home.path()).await;
    let (cert, key) = fake.client_pem.clone();
    let record = m.create(connection(&cert, &key)).await.unwrap();
    assert_eq!(
        m.verify(&record.id).await.unwrap().account_label,
        "mtls-service"
    );
    assert!(matches!(
        m.refresh(&record.id).await.unwrap(),
        Refreshed::Refreshed { .. }
    ));
    let requests = fake.ledger(|l| l.token_requests.clone());
    assert_eq!(requests.len(), 2);
    assert!(
        requests.iter().all(|(c, ok)| c == CLIENT_ID && *ok),
        "{requests:?}"
    );
    // The key never reached the component: no reveal, not in the record.
    let shown = format!("{:?}", m.get(&record.id).unwrap());
    assert!(!shown.contains("PRIVATE KEY") && !shown.contains(key.lines().nth(1).unwrap()));
    let team = m
        .team(connhost::Caller {
            team: connhost::DEFAULT_TEAM.into(),
            actor: "test".into(),
        })
        .unwrap();
    let reveals = team
        .audit(Some(&record.id), None)
        .unwrap()
        .into_iter()
        .filter(|r| r.operation == "secret.reveal")
        .count();
    assert_eq!(reveals, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_clients_certificate_or_a_bad_key_stores_nothing() {
    let fake = FakeMtls::start().await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = manager(&fake, home.path()).await;
    // A certificate the CA signed, but not the client's: the provider refuses.
    let (cert, key) = fake.other_client();
    let e = m.create(connection(&cert, &key)).await.unwrap_err();
    assert!(matches!(e, Error::Connector(_)), "{e:?}");
    assert_eq!(
        fake.ledger(|l| l.token_requests.clone()),
        [(CLIENT_ID.to_string(), false)]
    );
    // Not PEM: refused before any connection, naming the secrets, not their text.
    let (cert, _) = fake.client_pem.clone();
    let e = m
        .create(connection(&cert, "hunter2-not-a-key"))
        .await
        .unwrap_err();
    let text = format!("{e}");
    assert!(
        text.contains("client_key") && !text.contains("hunter2"),
        "{text}"
    );
    assert!(m.list(None).unwrap().is_empty());
    assert_eq!(fake.ledger(|l| l.token_requests.len()), 1);
}
