//! OAuth 1.0a through the generic connector against a fake provider that
//! recomputes every signature from the wire (RFC 5849): three-legged
//! consent through the host's callback flow, then signed verification and
//! signed requests through the connection; and the token-based variant
//! (a token the user created, HMAC-SHA256, a `realm`). Both secrets of a
//! signature stay in the host: none is revealed, shown or sent.

use connhost::net::{HttpsClient, NetConfig, OutRequest};
use connhost::{ApiRequest, Error, HostConfig, Manager, NewConnection, Secret};
use connhost_testkit::oauth1::{
    base_string, header_params, signature, FakeOAuth1, OAuth1Config, BASE, CONSUMER_KEY,
    CONSUMER_SECRET, GIVEN_TOKEN, GIVEN_TOKEN_SECRET, SCREEN_NAME,
};
use std::collections::BTreeMap;

const REDIRECT: &str = "http://127.0.0.1:1/callback";

struct Setup {
    fake: FakeOAuth1,
    home: tempfile::TempDir,
}

impl Setup {
    async fn new(cfg: OAuth1Config) -> Setup {
        Setup {
            fake: FakeOAuth1::start(cfg).await.unwrap(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn net(&self) -> NetConfig {
        crate::common::fake_net(
            self.home.path(),
            &[self.fake.connect_to()],
            self.fake.ca_pem(),
        )
    }

    async fn manager(&self, mode: &str) -> Manager {
        let mut cfg = HostConfig::new(self.home.path());
        cfg.net = self.net();
        let m = Manager::open(cfg).unwrap();
        m.add_connector(connhost::builtin::GENERIC).await.unwrap();
        m.add_provider(
            connhost::DEFAULT_TEAM,
            "generic",
            &self.fake.definition(mode).to_string(),
        )
        .await
        .unwrap();
        m
    }

    /// Plays the browser: the provider's authorization page redirects at once.
    async fn consent(&self, authorize_url: &str) -> String {
        let client = HttpsClient::new(self.net()).unwrap();
        let resp = client
            .send(OutRequest {
                method: hyper::Method::GET,
                url: url::Url::parse(authorize_url).unwrap(),
                headers: vec![],
                body: vec![],
                timeout: None,
            })
            .await
            .unwrap();
        assert_eq!(resp.status, 302, "{}", String::from_utf8_lossy(&resp.body));
        resp.headers
            .iter()
            .find(|(k, _)| k == "location")
            .unwrap()
            .1
            .clone()
    }
}

fn three_legged() -> NewConnection {
    NewConnection {
        connector: "generic".into(),
        fields: BTreeMap::from([
            ("provider".into(), "fake-oauth1".into()),
            ("auth_mode".into(), "oauth1".into()),
            ("client_id".into(), CONSUMER_KEY.into()),
        ]),
        secrets: BTreeMap::from([("client_secret".into(), Secret::new(CONSUMER_SECRET))]),
        ..Default::default()
    }
}

/// No secret value in any header the provider received, in the record, or
/// revealed to the component (a reveal is audited).
async fn secrets_stayed_in_the_host(m: &Manager, s: &Setup, id: &str, planted: &[&str]) {
    let headers = s.fake.ledger(|l| l.requests.clone());
    let record = m.get(id).unwrap();
    let shown = format!("{record:?} {headers:?}");
    for p in planted {
        let encoded = connhost_testkit::oauth1::encode(p);
        assert!(
            !shown.contains(p) && !shown.contains(&encoded),
            "secret {p:?} leaked"
        );
    }
    let team = m
        .team(connhost::Caller {
            team: connhost::DEFAULT_TEAM.into(),
            actor: "test".into(),
        })
        .unwrap();
    let reveals = team
        .audit(Some(id), None)
        .unwrap()
        .into_iter()
        .filter(|r| r.operation == "secret.reveal")
        .count();
    assert_eq!(reveals, 0, "the component revealed a secret");
}

/// The fake's own verifier, checked against RFC 5849 §1.2 (its base string
/// and signature computed from the RFC's text, not by the connector).
#[test]
fn the_fakes_verifier_matches_rfc_5849() {
    let oauth: Vec<(String, String)> = [
        ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
        ("oauth_token", "nnch734d00sl2jdk"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "1191242096"),
        ("oauth_nonce", "kllo9940pd9333jh"),
        ("oauth_version", "1.0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let query = vec![
        ("file".to_string(), "vacation.jpg".to_string()),
        ("size".to_string(), "original".to_string()),
    ];
    let base = base_string(
        "GET",
        "http://photos.example.net/photos",
        &query,
        &[],
        &oauth,
    );
    assert_eq!(
        signature("HMAC-SHA1", "kd94hf93k423kf44", "pfkkdhi9sl3r4s00", &base),
        "tR3+Ty81lMeYAr/Fid0kMTYa/WM="
    );
    let h = header_params(r#"OAuth realm="Photos", oauth_nonce="a%20b%2F""#).unwrap();
    assert_eq!(h[1], ("oauth_nonce".into(), "a b/".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_legged_consent_then_signed_verify_and_requests() {
    let s = Setup::new(OAuth1Config::default()).await;
    let m = s.manager("oauth1").await;
    let start = m
        .authorize_start(three_legged(), REDIRECT, None)
        .await
        .unwrap();
    let authorize = url::Url::parse(&start.authorize_url).unwrap();
    let q: BTreeMap<String, String> = authorize.query_pairs().into_owned().collect();
    assert!(q["oauth_token"].starts_with("temp-"), "{q:?}");
    assert_eq!(q.get("scope").map(String::as_str), Some("read,write"));
    assert_eq!(q.get("name").map(String::as_str), Some("connhost"));
    let location = s.consent(&start.authorize_url).await;
    // The callback carries the host's state back (it was in oauth_callback).
    assert!(location.contains("state=") && location.contains("oauth_verifier="));
    let record = m
        .authorize_finish(&start.pending_id, &location)
        .await
        .unwrap();
    assert!(record.fields["oauth_token"].starts_with("access-"));
    // The same callback again: the pending authorization is spent.
    assert!(m
        .authorize_finish(&start.pending_id, &location)
        .await
        .is_err());

    let v = m.verify(&record.id).await.unwrap();
    assert_eq!(v.account_label, SCREEN_NAME);
    // A platform call with a form body: its parameters are signed too.
    let resp = m
        .request(
            &record.id,
            &ApiRequest {
                method: "POST".into(),
                url: format!("{BASE}/1/statuses/update?trim=true"),
                headers: vec![(
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                )],
                body: b"status=Hello%20Ladies%20%2B%20Gentlemen%2C%20a%20signed%20OAuth%20request%21&x=%E2%9C%93".to_vec(),
                timeout_ms: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(body["form"], 2);
    let (requests, refused) = s.fake.ledger(|l| (l.requests.clone(), l.refused.clone()));
    assert!(refused.is_empty(), "{refused:?}");
    let paths: Vec<&str> = requests.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/oauth/request_token",
            "/oauth/authorize",
            "/oauth/access_token",
            "/1/account",
            "/1/statuses/update"
        ]
    );
    // Every call to the provider but the browser's is signed.
    for (path, auth) in &requests {
        if path != "/oauth/authorize" {
            let p = header_params(auth).unwrap_or_else(|| panic!("{path}: {auth}"));
            assert!(p.iter().any(|(k, _)| k == "oauth_signature"), "{path}");
        }
    }
    let token_secret_seen = s.fake.ledger(|l| format!("{l:?}"));
    assert!(token_secret_seen.contains("access-"));
    secrets_stayed_in_the_host(&m, &s, &record.id, &[CONSUMER_SECRET]).await;
    // The temporary secret did not outlive the exchange.
    let record = m.get(&record.id).unwrap();
    let names: Vec<&str> = record.secret_names().collect();
    assert!(names.contains(&"oauth_token_secret"), "{names:?}");
    assert!(!names.contains(&"oauth1_request_secret"), "{names:?}");

    // The user refuses (RFC 5849 servers redirect with `denied`): a typed
    // refusal, and the connection stays as it was.
    let refusal = m
        .reauthorize_start(&record.id, REDIRECT, None)
        .await
        .unwrap();
    let location = s.consent(&refusal.authorize_url).await;
    let mut denied = url::Url::parse(&location).unwrap();
    let state = denied
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    denied
        .query_pairs_mut()
        .clear()
        .append_pair("state", &state)
        .append_pair("denied", "temp-x");
    match m
        .authorize_finish(&refusal.pending_id, denied.as_str())
        .await
    {
        Err(Error::Authorization { error, .. }) => assert_eq!(error, "access_denied"),
        other => panic!("expected access_denied, got {other:?}"),
    }
    assert_eq!(
        m.get(&record.id).unwrap().fields["oauth_token"],
        record.fields["oauth_token"]
    );

    // Reauthorization: new temporary credentials, a new token for the same
    // connection, and signing with the new token's secret.
    let again = m
        .reauthorize_start(&record.id, REDIRECT, None)
        .await
        .unwrap();
    let location = s.consent(&again.authorize_url).await;
    let renewed = m
        .authorize_finish(&again.pending_id, &location)
        .await
        .unwrap();
    assert_eq!(renewed.id, record.id);
    assert_ne!(renewed.fields["oauth_token"], record.fields["oauth_token"]);
    assert_eq!(
        m.verify(&record.id).await.unwrap().account_label,
        SCREEN_NAME
    );
    let refused = s.fake.ledger(|l| l.refused.clone());
    assert!(refused.is_empty(), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_consumer_secret_or_an_unconfirmed_callback_stores_nothing() {
    let s = Setup::new(OAuth1Config::default()).await;
    let m = s.manager("oauth1").await;
    let mut wrong = three_legged();
    wrong
        .secrets
        .insert("client_secret".into(), Secret::new("not-the-secret"));
    let e = m.authorize_start(wrong, REDIRECT, None).await.unwrap_err();
    assert!(matches!(e, Error::Connector(_)), "{e:?}");
    let refused = s.fake.ledger(|l| l.refused.clone());
    assert!(refused[0].starts_with("signature mismatch"), "{refused:?}");
    assert!(!format!("{e}").contains("not-the-secret"), "{e}");
    assert!(m.list(None).unwrap().is_empty());

    let s = Setup::new(OAuth1Config {
        unconfirmed_callback: true,
        ..Default::default()
    })
    .await;
    let m = s.manager("oauth1").await;
    let e = m
        .authorize_start(three_legged(), REDIRECT, None)
        .await
        .unwrap_err();
    assert!(format!("{e}").contains("oauth_callback_confirmed"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_the_user_created_signs_with_hmac_sha256_and_a_realm() {
    let s = Setup::new(OAuth1Config {
        signature_method: "HMAC-SHA256".into(),
        realm: Some("TSTDRV1234".into()),
        ..Default::default()
    })
    .await;
    let m = s.manager("oauth1_token").await;
    let fields: BTreeMap<String, String> = BTreeMap::from([
        ("provider".into(), "fake-oauth1_token".into()),
        ("auth_mode".into(), "oauth1_token".into()),
        ("client_id".into(), CONSUMER_KEY.into()),
        ("token_id".into(), GIVEN_TOKEN.into()),
        ("account".into(), "TSTDRV1234".into()),
    ]);
    let record = m
        .create(NewConnection {
            connector: "generic".into(),
            fields: fields.clone(),
            secrets: BTreeMap::from([
                ("client_secret".into(), Secret::new(CONSUMER_SECRET)),
                ("token_secret".into(), Secret::new(GIVEN_TOKEN_SECRET)),
            ]),
            ..Default::default()
        })
        .await
        .unwrap();
    let v = m.verify(&record.id).await.unwrap();
    assert_eq!(v.account_label, SCREEN_NAME);
    let (requests, refused) = s.fake.ledger(|l| (l.requests.clone(), l.refused.clone()));
    assert!(refused.is_empty(), "{refused:?}");
    let p = header_params(&requests.last().unwrap().1).unwrap();
    assert_eq!(p[0], ("realm".into(), "TSTDRV1234".into()));
    assert!(p.contains(&("oauth_signature_method".into(), "HMAC-SHA256".into())));
    secrets_stayed_in_the_host(&m, &s, &record.id, &[CONSUMER_SECRET, GIVEN_TOKEN_SECRET]).await;

    // A wrong token secret: the provider's 401 is a typed error, the
    // connection is kept as it was.
    let bad = m
        .create(NewConnection {
            connector: "generic".into(),
            fields,
            secrets: BTreeMap::from([
                ("client_secret".into(), Secret::new(CONSUMER_SECRET)),
                ("token_secret".into(), Secret::new("wrong")),
            ]),
            ..Default::default()
        })
        .await
        .unwrap();
    match m.verify(&bad.id).await {
        Err(Error::Connector(e)) => assert!(!format!("{e}").contains("wrong\""), "{e}"),
        other => panic!("expected a connector error, got {other:?}"),
    }
}
