//! OAuth for an MCP server the user names, against a fake server and
//! authorization server that follow the MCP authorization spec: the host
//! reads the server's protected-resource metadata (RFC 9728) and takes its
//! authorization server as the issuer; the generic connector discovers it
//! (RFC 8414), registers a client (RFC 7591), asks consent with PKCE and
//! `resource` (RFC 8707), verifies with MCP `initialize`, and the platform
//! calls the server through the connection. Metadata that names another
//! resource, or a non-https authorization server, stores nothing.

use connhost::net::{HttpsClient, NetConfig, OutRequest};
use connhost::{ApiRequest, Error, HostConfig, Manager, NewConnection, Refreshed};
use connhost_testkit::mcp::{FakeMcp, McpConfig, AUTH_ISSUER, MCP_URL, SERVER_NAME};
use std::collections::BTreeMap;

const REDIRECT: &str = "http://127.0.0.1:1/callback";

struct Setup {
    fake: FakeMcp,
    home: tempfile::TempDir,
}

impl Setup {
    async fn new(cfg: McpConfig) -> Setup {
        Setup {
            fake: FakeMcp::start(cfg).await.unwrap(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn net(&self) -> NetConfig {
        crate::common::fake_net(
            self.home.path(),
            &self.fake.connect_to(),
            self.fake.ca_pem(),
        )
    }

    async fn manager(&self) -> Manager {
        let mut cfg = HostConfig::new(self.home.path());
        cfg.net = self.net();
        let m = Manager::open(cfg).unwrap();
        m.add_connector(connhost::builtin::GENERIC).await.unwrap();
        m
    }
}

/// Only the server's URL: no client, no secret, no provider definition.
fn mcp_connection() -> NewConnection {
    NewConnection {
        connector: "generic".into(),
        fields: BTreeMap::from([
            ("mcp_server".into(), MCP_URL.into()),
            ("auth_mode".into(), "oauth2".into()),
        ]),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_server_url_is_enough_to_connect_verify_and_call_it() {
    let s = Setup::new(McpConfig::default()).await;
    let m = s.manager().await;
    let start = m
        .authorize_start(mcp_connection(), REDIRECT, None)
        .await
        .unwrap();
    let url = url::Url::parse(&start.authorize_url).unwrap();
    assert_eq!(url.origin().ascii_serialization(), AUTH_ISSUER);
    let q: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    assert!(q["client_id"].starts_with("dyn-"), "{q:?}");
    assert_eq!(q["resource"], MCP_URL);
    assert_eq!(q["code_challenge_method"], "S256");
    // The browser: the authorization server redirects at once.
    let client = HttpsClient::new(s.net()).unwrap();
    let resp = client
        .send(OutRequest {
            method: hyper::Method::GET,
            url,
            headers: vec![],
            body: vec![],
            timeout: None,
        })
        .await
        .unwrap();
    assert_eq!(resp.status, 302, "{}", String::from_utf8_lossy(&resp.body));
    let location = resp
        .headers
        .iter()
        .find(|(k, _)| k == "location")
        .unwrap()
        .1
        .clone();
    let record = m
        .authorize_finish(&start.pending_id, &location)
        .await
        .unwrap();
    // The issuer came from the server's metadata, the client from registration.
    assert_eq!(record.fields["issuer"], AUTH_ISSUER);
    assert_eq!(record.fields["client_id"], q["client_id"]);
    for o in ["https://mcp.example.com", AUTH_ISSUER] {
        assert!(
            record.origins.contains(&o.to_string()),
            "{:?}",
            record.origins
        );
    }
    let v = m.verify(&record.id).await.unwrap();
    assert_eq!(v.account_label, format!("{SERVER_NAME} (MCP initialize)"));
    let resp = m
        .request(
            &record.id,
            &ApiRequest {
                method: "POST".into(),
                url: MCP_URL.into(),
                headers: vec![("content-type".into(), "application/json".into())],
                body: br#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#.to_vec(),
                timeout_ms: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(body["result"]["tools"][0]["name"], "echo");
    // Refresh carries `resource` too, and the rotated token still works.
    assert!(matches!(
        m.refresh(&record.id).await.unwrap(),
        Refreshed::Refreshed { .. }
    ));
    m.verify(&record.id).await.unwrap();
    let (grants, methods, refused, clients) = s.fake.ledger(|l| {
        (
            l.grants.clone(),
            l.methods.clone(),
            l.refused.clone(),
            l.clients.len(),
        )
    });
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(grants, ["authorization_code", "refresh_token"]);
    assert_eq!(methods, ["initialize", "tools/list", "initialize"]);
    assert_eq!(clients, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_for_another_resource_or_a_plain_http_server_is_refused() {
    for (cfg, why) in [
        (
            McpConfig {
                metadata_resource: "https://evil.example.com/mcp".into(),
                ..Default::default()
            },
            "RFC 9728 §3.3",
        ),
        (
            McpConfig {
                authorization_servers: vec!["http://mcp-auth.example.com".into()],
                ..Default::default()
            },
            "not an https issuer",
        ),
        (
            McpConfig {
                authorization_servers: vec![],
                ..Default::default()
            },
            "no authorization server",
        ),
    ] {
        let s = Setup::new(cfg).await;
        let m = s.manager().await;
        match m.authorize_start(mcp_connection(), REDIRECT, None).await {
            Err(Error::InvalidInput { field, reason }) => {
                assert_eq!(field, "mcp_server");
                assert!(reason.contains(why), "{reason}");
            }
            other => panic!("expected invalid mcp_server ({why}), got {other:?}"),
        }
        assert!(m.list(None).unwrap().is_empty());
        assert_eq!(s.fake.ledger(|l| l.clients.len()), 0);
    }
}
