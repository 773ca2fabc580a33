//! Every shipped provider definition, run through the generic connector
//! against a fake provider generated from that definition: consent (or
//! create), verify, refresh where renewable, and a request through the
//! connection. The fake checks the wire format on its side: client
//! authentication, grant parameters, token placement, static headers and
//! query. A planted secret never reaches anything the component returns.

use connhost::{ApiRequest, HostConfig, Manager, NewConnection, Secret};
use connhost_testkit::catalogue::{
    label_of, render, sample_values, token_origin_for, CatalogueFake, API_KEY, APP_KEY,
    AWS_ACCESS_KEY_ID, AWS_SECRET, CLIENT_ID, CLIENT_SECRET, CODE, HMAC_KEY_ID, HMAC_SECRET,
    OAUTH1_TEMP_TOKEN, OAUTH1_TOKEN, OAUTH1_TOKEN_SECRET, PASSWORD, USERNAME,
};
use serde_json::Value;
use std::collections::BTreeMap;

const REDIRECT: &str = "http://127.0.0.1:1/callback";

fn shipped() -> Vec<Value> {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../component/generic/providers");
    let mut out: Vec<Value> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .collect();
    out.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    out
}

/// A manager with the generic connector whose every provider host is the fake.
async fn generic_manager(home: &std::path::Path, fake: &CatalogueFake) -> Manager {
    let ca = home.join("ca.pem");
    std::fs::write(&ca, fake.ca_pem()).unwrap();
    let mut cfg = HostConfig::new(home);
    cfg.net.connect_to = fake
        .connect_to()
        .iter()
        .map(|c| c.parse().unwrap())
        .collect();
    cfg.net.add_ca_file(&ca).unwrap();
    let m = Manager::open(cfg).unwrap();
    m.add_connector(connhost::builtin::GENERIC).await.unwrap();
    m
}

fn query(url: &str) -> BTreeMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shipped_definition_runs_against_a_fake_of_itself() {
    let defs = shipped();
    let fake = CatalogueFake::start(&defs).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = generic_manager(home.path(), &fake).await;

    let mut by_mode: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures: Vec<String> = Vec::new();
    for def in &defs {
        let id = def["id"].as_str().unwrap().to_string();
        fake.select(def);
        match run_one(&m, def, &fake).await {
            Ok(()) => {}
            Err(e) => failures.push(format!("{id}: {e}")),
        }
        let wire = fake.ledger(|l| l.errors.clone());
        failures.extend(
            wire.into_iter()
                .map(|e| format!("{id}: the fake refused: {e}")),
        );
        *by_mode
            .entry(def["auth_mode"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    println!(
        "catalogue: {} definitions exercised against fakes of themselves; by auth mode: {}",
        defs.len(),
        by_mode
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(defs.len() >= 150, "only {} shipped definitions", defs.len());
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

async fn run_one(m: &Manager, def: &Value, fake: &CatalogueFake) -> Result<(), String> {
    let id = def["id"].as_str().unwrap();
    let mode = def["auth_mode"].as_str().unwrap();
    let values = sample_values(def);
    let mut fields: BTreeMap<String, String> = values.clone();
    fields.insert("provider".into(), id.into());
    fields.insert("auth_mode".into(), mode.into());
    let mut secrets = BTreeMap::new();
    match mode {
        "oauth2" | "oauth2_cc" | "password" | "oauth1" | "oauth1_token" => {
            fields.insert("client_id".into(), CLIENT_ID.into());
            secrets.insert("client_secret".to_string(), Secret::new(CLIENT_SECRET));
        }
        _ => {}
    }
    if mode == "oauth1_token" {
        fields.insert("token_id".into(), OAUTH1_TOKEN.into());
        secrets.insert("token_secret".to_string(), Secret::new(OAUTH1_TOKEN_SECRET));
    }
    if mode == "jwt_bearer" || def["client_auth"] == "private_key_jwt" {
        fields.insert("client_id".into(), CLIENT_ID.into());
        secrets.insert(
            "private_key".to_string(),
            Secret::new(fake.private_key_for(def)),
        );
    }
    if def["api_key"]["second"].is_object() {
        secrets.insert("app_key".to_string(), Secret::new(APP_KEY));
    }
    if mode == "hmac" {
        fields.insert("key_id".into(), HMAC_KEY_ID.into());
        secrets.insert("signing_secret".to_string(), Secret::new(HMAC_SECRET));
    }
    if mode == "aws_sigv4" {
        fields.insert("access_key_id".into(), AWS_ACCESS_KEY_ID.into());
        secrets.insert("secret_access_key".to_string(), Secret::new(AWS_SECRET));
    }
    if mode == "key_exchange" && def["key_exchange"]["body"] == "json" {
        fields.insert("username".into(), USERNAME.into());
    }
    match mode {
        "api_key" | "key_exchange" => {
            secrets.insert("api_key".to_string(), Secret::new(API_KEY));
        }
        "basic" | "password" => {
            fields.insert("username".into(), USERNAME.into());
            secrets.insert("password".to_string(), Secret::new(PASSWORD));
        }
        _ => {}
    }
    let new = NewConnection {
        connector: "generic".into(),
        fields,
        secrets,
        ..Default::default()
    };
    let record = if mode == "oauth2" {
        let start = m
            .authorize_start(new, REDIRECT, None)
            .await
            .map_err(|e| format!("authorize start: {e}"))?;
        let q = query(&start.authorize_url);
        let want_base = render(def["authorize_url"].as_str().unwrap(), &values);
        if !start
            .authorize_url
            .starts_with(want_base.split('?').next().unwrap())
        {
            return Err(format!(
                "consent URL {} is not at {want_base}",
                start.authorize_url
            ));
        }
        for (k, v) in [
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT),
        ] {
            if q.get(k).map(String::as_str) != Some(v) {
                return Err(format!("consent URL: {k} should be {v}"));
            }
        }
        let pkce = def["pkce"].as_bool().unwrap_or(true);
        if pkce != q.contains_key("code_challenge") {
            return Err(format!("consent URL: code_challenge expected: {pkce}"));
        }
        let sep = def["scope_separator"].as_str().unwrap_or(" ");
        let scopes: Vec<&str> = def["default_scopes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !scopes.is_empty() && q.get("scope") != Some(&scopes.join(sep)) {
            return Err(format!(
                "consent URL: scope should be `{}`, got {:?}",
                scopes.join(sep),
                q.get("scope")
            ));
        }
        for (k, v) in def["authorize_params"].as_object().into_iter().flatten() {
            if q.get(k) != Some(&render(v.as_str().unwrap(), &values)) {
                return Err(format!("consent URL: authorize param {k} missing"));
            }
        }
        let mut back = url::Url::parse(REDIRECT).unwrap();
        back.query_pairs_mut()
            .append_pair("code", CODE)
            .append_pair("state", &q["state"]);
        if let Some(iss) = def["issuer"].as_str() {
            back.query_pairs_mut().append_pair("iss", iss);
        }
        m.authorize_finish(&start.pending_id, back.as_str())
            .await
            .map_err(|e| format!("authorize finish: {e}"))?
    } else if mode == "oauth1" {
        let start = m
            .authorize_start(new, REDIRECT, None)
            .await
            .map_err(|e| format!("authorize start: {e}"))?;
        let q = query(&start.authorize_url);
        let want_base = render(def["authorize_url"].as_str().unwrap(), &values);
        if !start
            .authorize_url
            .starts_with(want_base.split('?').next().unwrap())
            || q.get("oauth_token").map(String::as_str) != Some(OAUTH1_TEMP_TOKEN)
        {
            return Err(format!(
                "consent URL {} is not at {want_base} for the temporary token",
                start.authorize_url
            ));
        }
        for (k, v) in def["authorize_params"].as_object().into_iter().flatten() {
            if q.get(k) != Some(&render(v.as_str().unwrap(), &values)) {
                return Err(format!("consent URL: authorize param {k} missing"));
            }
        }
        // The provider redirects to the callback it was given (§2.2).
        let callback = fake
            .ledger(|l| l.oauth1_callback.clone())
            .ok_or("no temporary-credential request with oauth_callback")?;
        let mut back = url::Url::parse(&callback).map_err(|e| e.to_string())?;
        back.query_pairs_mut()
            .append_pair("oauth_token", OAUTH1_TEMP_TOKEN)
            .append_pair("oauth_verifier", CODE);
        m.authorize_finish(&start.pending_id, back.as_str())
            .await
            .map_err(|e| format!("authorize finish: {e}"))?
    } else {
        m.create(new).await.map_err(|e| format!("create: {e}"))?
    };
    // The origins kept in the signed record are the definition's, filled.
    if let Some(p) = def["token_origin"]["pattern"].as_str() {
        let o = token_origin_for(p);
        if !record.origins.contains(&o) {
            return Err(format!(
                "the token response's origin {o} is not in {:?}",
                record.origins
            ));
        }
    }
    let verified = m
        .verify(&record.id)
        .await
        .map_err(|e| format!("verify: {e}"))?;
    let want = if def["verify"]["label"]
        .as_str()
        .is_some_and(|l| !l.is_empty())
    {
        label_of(def)
    } else if def["verify"].is_object() {
        def["display_name"].as_str().unwrap_or(id).to_string()
    } else {
        String::new()
    };
    if want.is_empty() {
        // No endpoint: the label says which round trip proved it.
        if !verified.account_label.ends_with(')') {
            return Err(format!(
                "verify without an endpoint should say how: {}",
                verified.account_label
            ));
        }
    } else if verified.account_label != want {
        return Err(format!(
            "verify label `{}`, expected `{want}`",
            verified.account_label
        ));
    }
    if !matches!(
        mode,
        "api_key" | "basic" | "aws_sigv4" | "hmac" | "oauth1" | "oauth1_token"
    ) {
        match m
            .refresh(&record.id)
            .await
            .map_err(|e| format!("refresh: {e}"))?
        {
            connhost::Refreshed::Refreshed { .. } => {}
            other => return Err(format!("refresh: {other:?}")),
        }
    }
    // A request through the connection, to its API.
    let base = def["api_base"]
        .as_str()
        .or(def["hosts"][0].as_str())
        .or(def["verify"]["url"].as_str())
        .or(def["token_url"].as_str())
        .unwrap();
    let base = render(base, &values);
    let origin = {
        let u = url::Url::parse(&base).unwrap();
        format!("https://{}", u.host_str().unwrap())
    };
    let resp = m
        .request(
            &record.id,
            &ApiRequest {
                method: "GET".into(),
                url: format!("{origin}/catalogue-probe"),
                headers: vec![],
                body: vec![],
                timeout_ms: None,
            },
        )
        .await
        .map_err(|e| format!("request: {e}"))?;
    if resp.status != 200 {
        return Err(format!(
            "request: HTTP {} {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        ));
    }
    // Nothing the connection shows holds a secret the user gave.
    let shown = format!("{record:?} {verified:?}");
    for s in [
        CLIENT_SECRET,
        API_KEY,
        PASSWORD,
        APP_KEY,
        AWS_SECRET,
        OAUTH1_TOKEN_SECRET,
        "PRIVATE KEY",
    ] {
        if shown.contains(s) {
            return Err("a secret value is in the record or verification".into());
        }
    }
    // The component never read a secret's value: every secret went by
    // name (`auth`, form secrets, extra credentials, signing), and a
    // reveal would be audited.
    let team = m
        .team(connhost::Caller {
            team: connhost::DEFAULT_TEAM.into(),
            actor: "catalogue".into(),
        })
        .map_err(|e| e.to_string())?;
    let reveals = team
        .audit(Some(&record.id), None)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|r| r.operation == "secret.reveal")
        .count();
    if reveals > 0 {
        return Err(format!("the component revealed {reveals} secrets"));
    }
    m.delete(&record.id)
        .await
        .map_err(|e| format!("delete: {e}"))?;
    Ok(())
}

/// Definitions a team adds, in the modes and shapes no shipped one uses
/// yet, through the same fake: templated hosts (approved as bounded
/// patterns when added), a self-hosted host, the password grant, key
/// exchange (form and Basic), a token in the query, verification by
/// introspection and by a client-credentials round trip, a token response
/// naming the API origin. Then values that try to leave their domain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_v2_definitions_in_every_mode_run_against_the_fake() {
    use serde_json::json;
    let fields = json!({"subdomain": {"label": "Subdomain", "rule": "dns_label"}});
    let defs = vec![
        json!({"format": 2, "id": "t-password", "display_name": "Password Co", "auth_mode": "password",
               "token_url": "https://auth.password.example/oauth/token", "client_auth": "client_secret_post",
               "verify": {"url": "https://api.password.example/me", "label": "/user/name"},
               "hosts": ["https://api.password.example"]}),
        json!({"format": 2, "id": "t-exchange", "display_name": "Exchange Co", "auth_mode": "key_exchange",
               "fields": fields, "key_exchange": {"url": "https://{subdomain}.exchange.example/auth", "param": "apikey", "token_pointer": "/data/token", "expires_pointer": "/data/ttl"},
               "token": {"in": "header", "name": "X-Session", "prefix": "Session "},
               "headers": {"X-Tenant": "{subdomain}"}, "query": {"api-version": "7"},
               "api_base": "https://{subdomain}.exchange.example/api"}),
        json!({"format": 2, "id": "t-exchange-basic", "auth_mode": "key_exchange",
               "key_exchange": {"url": "https://login.exchange2.example/token", "param": "", "username": "api"},
               "token": {"in": "query", "name": "access_token"},
               "verify": {"url": "https://api.exchange2.example/whoami", "label": "/0/login"}}),
        json!({"format": 2, "id": "t-selfhosted", "auth_mode": "api_key", "self_hosted": true,
               "fields": {"host": {"label": "Server", "rule": "hostname"}},
               "api_key": {"in": "basic", "username": "x"},
               "verify": {"url": "https://{host}/api/v4/user", "label": "/username"}}),
        json!({"format": 2, "id": "t-introspect", "auth_mode": "oauth2", "fields": fields,
               "authorize_url": "https://{subdomain}.intro.example/authorize",
               "token_url": "https://{subdomain}.intro.example/token",
               "introspection_url": "https://{subdomain}.intro.example/introspect",
               "refresh_url": "https://{subdomain}.intro.example/refresh", "refresh_params": {"kind": "refresh"},
               "client_auth": "client_secret_basic", "pkce": true}),
        json!({"format": 2, "id": "t-cc-noverify", "auth_mode": "oauth2_cc",
               "token_url": "https://auth.cc.example/token", "default_scopes": ["read"],
               "token_origin": {"pointer": "/instance_url", "pattern": "https://*.cc-api.example"}}),
        json!({"format": 2, "id": "t-code-origin", "auth_mode": "oauth2",
               "authorize_url": "https://login.co.example/authorize", "token_url": "https://login.co.example/token",
               "client_auth": "client_secret_post", "default_scopes": ["api"],
               "token_origin": {"pointer": "/instance_url", "pattern": "https://*.co-api.example"}}),
        json!({"format": 2, "id": "t-second-key", "display_name": "Two Keys", "auth_mode": "api_key",
               "api_key": {"in": "header", "name": "DD-API-KEY", "second": {"in": "header", "name": "DD-APPLICATION-KEY"}},
               "verify": {"url": "https://api.twokeys.example/api/v1/validate", "label": "/valid"}}),
        json!({"format": 2, "id": "t-key-as-user", "auth_mode": "api_key",
               "api_key": {"in": "basic_user", "password": "X"},
               "verify": {"url": "https://{subdomain}.keyuser.example/api/v2/agents/me", "label": "/contact/email"},
               "fields": fields}),
        json!({"format": 2, "id": "t-key-as-user-second-query", "auth_mode": "api_key",
               "api_key": {"in": "basic_user", "second": {"in": "query", "name": "token"}},
               "verify": {"url": "https://api.keyuser2.example/1/members/me", "label": "/username"}}),
        json!({"format": 2, "id": "t-json-exchange", "auth_mode": "key_exchange",
               "key_exchange": {"url": "https://hub.jsonx.example/v2/auth/token", "body": "json",
                                "json": {"identifier": "{username}"}, "key_pointer": "/secret", "token_pointer": "/access_token"},
               "verify": {"url": "https://hub.jsonx.example/v2/user", "label": "/username"}}),
        json!({"format": 2, "id": "t-aws", "display_name": "AWS STS", "auth_mode": "aws_sigv4",
               "fields": {"region": {"label": "Region", "one_of": ["us-east-1", "eu-west-1"]}},
               "aws": {"service": "sts"},
               "verify": {"url": "https://sts.{region}.aws.example/?Action=GetCallerIdentity&Version=2011-06-15",
                          "label": "/GetCallerIdentityResponse/GetCallerIdentityResult/Arn"}}),
        json!({"format": 2, "id": "t-jwt-rs256", "auth_mode": "jwt_bearer",
               "token_url": "https://oauth2.jwt.example/token", "default_scopes": ["read"],
               "jwt": {"alg": "RS256"},
               "verify": {"url": "https://api.jwt.example/v1/userinfo", "label": "/email"}}),
        json!({"format": 2, "id": "t-jwt-es256", "auth_mode": "jwt_bearer", "fields": fields,
               "token_url": "https://{subdomain}.jwt2.example/oauth2/token", "default_scopes": ["a", "b"],
               "jwt": {"alg": "ES256", "scope_claim": true, "claims": {"tenant": "{subdomain}"}}}),
        json!({"format": 2, "id": "t-private-key-jwt", "auth_mode": "oauth2_cc",
               "token_url": "https://login.pkjwt.example/oauth2/v2.0/token", "client_auth": "private_key_jwt",
               "jwt": {"alg": "ES256"}, "default_scopes": ["api://x/.default"]}),
        json!({"format": 2, "id": "t-hmac-hex", "auth_mode": "hmac",
               "hmac": {"string_to_sign": "{timestamp}{method}{path}{body}", "header": "CB-ACCESS-SIGN",
                        "key_header": "CB-ACCESS-KEY", "timestamp_header": "CB-ACCESS-TIMESTAMP"},
               "verify": {"url": "https://api.hmac.example/v2/user?fields=all", "label": "/data/name"}}),
        json!({"format": 2, "id": "t-hmac-base64-sha1", "auth_mode": "hmac", "fields": fields,
               "hmac": {"algorithm": "hmac-sha1", "encoding": "base64", "prefix": "HMAC ",
                        "string_to_sign": "{method}\n{path}\n{nonce}\n{key_id}\n{subdomain}", "header": "Authorization",
                        "nonce_header": "X-Nonce", "key_header": "X-Key"},
               "verify": {"url": "https://{subdomain}.hmac2.example/me", "label": "/id"}}),
        json!({"format": 2, "id": "t-refresh-verify", "auth_mode": "oauth2",
               "authorize_url": "https://auth.rv.example/authorize", "token_url": "https://auth.rv.example/token",
               "client_auth": "client_secret_basic_raw", "pkce": false, "scope_separator": ",",
               "default_scopes": ["a", "b"], "authorize_params": {"audience": "api.rv.example"}}),
        json!({"format": 2, "id": "t-oauth1-sha256", "auth_mode": "oauth1", "fields": fields,
               "oauth1": {"request_token_url": "https://{subdomain}.one.example/oauth/request", "signature_method": "HMAC-SHA256"},
               "authorize_url": "https://{subdomain}.one.example/oauth/authorize",
               "token_url": "https://{subdomain}.one.example/oauth/access", "authorize_params": {"perms": "read"},
               "verify": {"url": "https://api.one.example/me?format=json", "label": "/user/name"},
               "hosts": ["https://api.one.example"]}),
        json!({"format": 2, "id": "t-oauth1-token", "auth_mode": "oauth1_token",
               "fields": {"account": {"label": "Account", "rule": "id"}, "subdomain": {"label": "Subdomain", "rule": "dns_label"}},
               "oauth1": {"signature_method": "HMAC-SHA256", "realm": "{account}"},
               "verify": {"url": "https://{subdomain}.suite.example/rest/me?q=a%20b", "label": ""}}),
    ];
    let fake = CatalogueFake::start(&defs).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let m = generic_manager(home.path(), &fake).await;
    let mut failures = Vec::new();
    for def in &defs {
        m.add_provider(connhost::DEFAULT_TEAM, "generic", &def.to_string())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", def["id"]));
        fake.select(def);
        if let Err(e) = run_one(&m, def, &fake).await {
            failures.push(format!("{}: {e}", def["id"]));
        }
        failures.extend(fake.ledger(|l| l.errors.clone()));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Verification without an endpoint says which round trip it made.
    let by = |id: &str| defs.iter().find(|d| d["id"] == id).unwrap().clone();
    fake.select(&by("t-introspect"));
    let rec = connect(&m, &by("t-introspect")).await;
    let label = m.verify(&rec.id).await.unwrap().account_label;
    assert_eq!(label, "t-introspect (token introspection)");
    fake.select(&by("t-refresh-verify"));
    let rec = connect(&m, &by("t-refresh-verify")).await;
    assert_eq!(
        m.verify(&rec.id).await.unwrap().account_label,
        "t-refresh-verify (token refresh)"
    );
    // The origins a templated definition produced are kept in the record.
    fake.select(&defs[1]);
    let rec = create(&m, &defs[1], &[("subdomain", "acme")])
        .await
        .unwrap();
    assert!(
        rec.origins
            .contains(&"https://acme.exchange.example".to_string()),
        "{:?}",
        rec.origins
    );

    // A value that would leave the declared domain is refused, naming
    // the field, and nothing is stored.
    let before = m.list(None).unwrap().len();
    for bad in ["evil.com#", "acme.evil", "a/b", "-x", "acme\r\nX: y", ""] {
        let e = create(&m, &defs[1], &[("subdomain", bad)])
            .await
            .unwrap_err();
        assert!(
            matches!(&e, connhost::Error::Connector(connhost::ConnectorError::InvalidInput { field, .. }) if field == "subdomain"),
            "{bad:?}: {e:?}"
        );
    }
    for bad in [
        "localhost",
        "10.0.0.1",
        "db.internal",
        "printer.local",
        "10.0.0.1.nip.io/x",
        "a b.example",
    ] {
        let e = create(&m, &defs[3], &[("host", bad)]).await.unwrap_err();
        assert!(
            matches!(&e, connhost::Error::Connector(connhost::ConnectorError::InvalidInput { field, .. }) if field == "host"),
            "{bad:?}: {e:?}"
        );
    }
    assert_eq!(m.list(None).unwrap().len(), before);

    // Verifying by refresh and refreshing at once never spend one
    // rotating refresh token twice (the fake refuses a stale one): a
    // verify that renews holds the renewal lock like a refresh.
    let m = std::sync::Arc::new(m);
    let def = by("t-refresh-verify");
    fake.select(&def);
    let rec = connect(&m, &def).await;
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..16 {
        let (m, id) = (m.clone(), rec.id.clone());
        calls.spawn(async move {
            if i % 2 == 0 {
                m.verify(&id).await.map(|_| ())
            } else {
                m.refresh(&id).await.map(|_| ())
            }
        });
    }
    while let Some(done) = calls.join_next().await {
        done.unwrap().unwrap();
    }
    assert_eq!(fake.ledger(|l| l.errors.clone()), Vec::<String>::new());
    assert!(fake.ledger(|l| l.issued) >= 2, "the calls renewed");
}

async fn create(
    m: &Manager,
    def: &Value,
    values: &[(&str, &str)],
) -> connhost::Result<connhost::ConnectionRecord> {
    let mut fields: BTreeMap<String, String> = values
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    fields.insert("provider".into(), def["id"].as_str().unwrap().into());
    fields.insert(
        "auth_mode".into(),
        def["auth_mode"].as_str().unwrap().into(),
    );
    m.create(NewConnection {
        connector: "generic".into(),
        fields,
        secrets: BTreeMap::from([("api_key".to_string(), Secret::new(API_KEY))]),
        ..Default::default()
    })
    .await
}

async fn connect(m: &Manager, def: &Value) -> connhost::ConnectionRecord {
    let mut fields = sample_values(def);
    fields.insert("provider".into(), def["id"].as_str().unwrap().into());
    fields.insert("client_id".into(), CLIENT_ID.into());
    let start = m
        .authorize_start(
            NewConnection {
                connector: "generic".into(),
                fields,
                secrets: BTreeMap::from([(
                    "client_secret".to_string(),
                    Secret::new(CLIENT_SECRET),
                )]),
                ..Default::default()
            },
            REDIRECT,
            None,
        )
        .await
        .unwrap();
    let state = query(&start.authorize_url)["state"].clone();
    let back = format!("{REDIRECT}?code={CODE}&state={state}");
    m.authorize_finish(&start.pending_id, &back).await.unwrap()
}
