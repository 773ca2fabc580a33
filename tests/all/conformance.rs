//! The conformance suite (`tests/conformance/cases.json`) run by the Rust
//! host's runtime. The JavaScript and Python hosts run the same file
//! against the same fake providers (`connhost-fakes`); every host must give
//! the same results. Results are compared as JSON with the shapes the
//! file's `about` describes.

use connhost::net::{HttpsClient, NetConfig};
use connhost::policy::{pattern, Origin};
use connhost::runtime::{CallContext, Runtime};
use connhost::{wit, ConnectorError, Error, RuntimeConfig, Secret, SecretScope};
use connhost_testkit::conformance::Fakes;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

pub(crate) fn error_json(e: &Error) -> Value {
    let Error::Connector(c) = e else {
        return json!({"kind": e.kind(), "payload": e.to_string()});
    };
    let payload = match c {
        ConnectorError::InvalidInput { field, reason } => json!({"field": field, "reason": reason}),
        ConnectorError::AccountValidation { missing } => json!(missing),
        ConnectorError::RateLimited { retry_after } => json!(retry_after),
        ConnectorError::ProviderError { status, message } => {
            json!({"status": status, "message": message})
        }
        ConnectorError::Unauthorized { message }
        | ConnectorError::ReauthorizationRequired { message }
        | ConnectorError::Network { message }
        | ConnectorError::Timeout { message }
        | ConnectorError::Unsupported { message } => json!(message),
        ConnectorError::DeniedHost { target } => json!(target),
        other => json!(other.to_string()),
    };
    json!({"kind": c.kind(), "payload": payload})
}

fn state_json(s: &wit::ConnectionState) -> Value {
    json!({
        "granted_scopes": s.granted_scopes,
        "expires_at": s.expires_at,
        "fields": s.fields.iter().cloned().collect::<BTreeMap<_, _>>(),
    })
}

/// `expected` is a subset of `actual`: objects by key (a `null` expected
/// value only asks for the key), everything else equal.
pub(crate) fn subset(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e.iter().all(|(k, v)| match a.get(k) {
            Some(av) => v.is_null() || subset(v, av),
            None => false,
        }),
        _ => expected == actual,
    }
}

/// Asks `allowed-origins` and lets the instance reach what it answers,
/// when every answer matches one of the manifest's origin patterns (with
/// the case's `definition_origins` as the approved ones); otherwise
/// `denied-host`, as the Rust manager refuses it.
async fn allow_origins(
    i: &mut connhost::runtime::ConnectorInstance,
    manifest: &wit::ConnectorManifest,
    input: &wit::ConnectionInput,
    approved: &[String],
) -> Result<(), Error> {
    let origins = i.allowed_origins(input).await?;
    let patterns = pattern::parse_all(&manifest.origin_patterns).unwrap();
    let approved: Vec<pattern::OriginPattern> = approved
        .iter()
        .map(|o| pattern::OriginPattern::parse(o).unwrap())
        .collect();
    let fields: std::collections::BTreeMap<String, String> = input.fields.iter().cloned().collect();
    let scope = pattern::MatchScope {
        approved: &approved,
        issuer: None,
        fields: &fields,
    };
    for o in &origins {
        let Ok(origin) = Origin::parse_bare(o) else {
            // Not a bare https origin: the runtime names it.
            return i.allow_origins(&origins);
        };
        if !patterns.iter().any(|p| p.matches(&origin, &scope)) {
            return Err(ConnectorError::DeniedHost {
                target: origin.to_string(),
            }
            .into());
        }
    }
    i.allow_origins(&origins)
}

/// A JSON list of strings (empty when absent).
fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

async fn run_case(
    rt: &Runtime,
    plugin: &connhost::runtime::Plugin,
    case: &Value,
) -> (Value, Vec<String>) {
    let strings = |key: &str| -> BTreeMap<String, String> {
        case[key]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let list = |key: &str| strs(&case[key]);
    let fields = strings("fields");
    let secrets: BTreeMap<String, Secret> = strings("secrets")
        .into_iter()
        .map(|(k, v)| (k, Secret::new(v)))
        .collect();
    let manifest = rt.manifest(plugin).await.unwrap();
    let allowlist =
        connhost::policy::Allowlist::from_templates(&manifest.hosts, &fields).unwrap_or_default();
    let ctx = CallContext {
        team: "conformance".into(),
        connection_id: "conn_conformance".into(),
        secrets: SecretScope::new(secrets),
        allowlist,
    };
    let input = wit::ConnectionInput {
        id: "conn_conformance".into(),
        fields: fields.clone().into_iter().collect(),
        granted_scopes: vec![],
        expires_at: None,
    };
    let mut i = rt.instantiate(plugin, ctx).await.unwrap();
    let call = case["call"].as_str().unwrap();
    let asks_first = !matches!(call, "manifest" | "validate_scopes" | "allowed_origins");
    let first = match asks_first {
        true => allow_origins(&mut i, &manifest, &input, &list("definition_origins")).await,
        false => Ok(()),
    };
    let result: Result<Value, Error> = if let Err(e) = first {
        Err(e)
    } else {
        match call {
            "manifest" => i.manifest().await.map(|m| {
                json!({
                    "id": m.id, "display_name": m.display_name, "version": m.version,
                    "auth_field": m.auth_field, "hosts": m.hosts,
                    "scopes": m.scopes.iter().map(|s| &s.name).collect::<Vec<_>>(),
                    "origin_patterns": m.origin_patterns,
                })
            }),
            "verify" => i
                .verify(&input)
                .await
                .map(|v| json!({"account_label": v.account_label})),
            "create" => i.create(&input).await.map(|s| state_json(&s)),
            "refresh" => i.refresh(&input).await.map(|o| match o {
                wit::RefreshOutcome::Refreshed(s) => json!({"refreshed": state_json(&s)}),
                wit::RefreshOutcome::NotNeeded(why) => json!({"not_needed": why}),
            }),
            "validate_scopes" => i
                .validate_scopes(&list("required"), &list("granted"))
                .await
                .map(|()| Value::Null),
            "revoke" => i.revoke(&input).await.map(|()| Value::Null),
            "allowed_origins" => i.allowed_origins(&input).await.map(|o| json!(o)),
            "request" => {
                let r = &case["request"];
                let req = wit::Request {
                    method: match r["method"].as_str().unwrap() {
                        "GET" => wit::Method::Get,
                        "POST" => wit::Method::Post,
                        other => panic!("method {other}"),
                    },
                    // A path goes to the connection's first origin, as
                    // the manager resolves it.
                    url: match connhost::resolve_request_url(
                        &connhost::policy::Allowlist::from_templates(&manifest.hosts, &fields)
                            .unwrap_or_default(),
                        r["url"].as_str().unwrap(),
                    ) {
                        Ok(url) => url,
                        Err(e) => return (json!({"error": error_json(&e)}), vec![]),
                    },
                    headers: vec![],
                    auth: wit::Auth::None,
                    body: wit::Body::Empty,
                    timeout_ms: None,
                };
                match i.authenticate_request(&input, &req).await {
                    Ok(authed) => i
                        .send(authed)
                        .await
                        .map(|resp| json!({"status": resp.status})),
                    Err(e) => Err(e),
                }
            }
            "authorize_url" => {
                let a = &case["authorize"];
                let req = wit::AuthorizeRequest {
                    redirect_uri: a["redirect_uri"].as_str().unwrap().into(),
                    state: a["state"].as_str().unwrap().into(),
                    code_challenge: a["code_challenge"].as_str().unwrap().into(),
                    scopes: strs(&a["scopes"]),
                };
                i.authorize_url(&input, &req).await.map(|a| {
                    let url = url::Url::parse(&a.url).unwrap();
                    json!({
                        "origin": url.origin().ascii_serialization(),
                        "path": url.path(),
                        "query": url.query_pairs().into_owned().collect::<BTreeMap<_, _>>(),
                        "fields": a.fields.into_iter().collect::<BTreeMap<_, _>>(),
                    })
                })
            }
            "exchange_code" => {
                let x = &case["exchange"];
                let ex = wit::CodeExchange {
                    code: x["code"].as_str().unwrap().into(),
                    redirect_uri: x["redirect_uri"].as_str().unwrap().into(),
                    code_verifier: x["code_verifier"].as_str().unwrap().into(),
                    requested_scopes: strs(&x["requested_scopes"]),
                };
                i.exchange_code(&input, &ex).await.map(|s| state_json(&s))
            }
            other => panic!("unknown call {other}"),
        }
    };
    let names: Vec<String> = i.secrets().values().keys().cloned().collect();
    let out = match result {
        Ok(v) => json!({"ok": v}),
        Err(e) => json!({"error": error_json(&e)}),
    };
    (out, names)
}

/// Whether `out` (and the secret names after the call) is what `case`
/// expects; the reason when not.
pub(crate) fn judge(case: &Value, out: &Value, names: &[String]) -> Result<(), String> {
    let expect = &case["expect"];
    if let Some(ok) = expect.get("ok") {
        match out.get("ok") {
            Some(v) if (ok.is_null() && v.is_null()) || (!ok.is_null() && subset(ok, v)) => {}
            _ => return Err(format!("expected ok {ok}, got {out}")),
        }
    } else {
        let kind = &expect["error"];
        if out["error"]["kind"] != *kind {
            return Err(format!("expected error {kind}, got {out}"));
        }
        if let Some(p) = expect.get("payload") {
            if !subset(p, &out["error"]["payload"]) {
                return Err(format!("expected payload {p}, got {out}"));
            }
        }
    }
    if let Some(after) = case.get("secrets_after") {
        let want: Vec<String> = after
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        if want != names {
            return Err(format!("expected secrets {want:?}, held {names:?}"));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_host_passes_the_conformance_suite() {
    let suite: Value = serde_json::from_str(include_str!("../conformance/cases.json")).unwrap();
    let fakes = Fakes::start().await.unwrap();
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), fakes.ca_pem()).unwrap();
    let mut failures = Vec::new();
    let cases = suite["cases"].as_array().unwrap();
    let mut runtimes: BTreeMap<String, (Runtime, connhost::runtime::Plugin)> = BTreeMap::new();
    for case in cases {
        let host = case.get("host").cloned().unwrap_or(json!({}));
        let component = case
            .get("component")
            .unwrap_or(&suite["component"])
            .as_str()
            .unwrap();
        let key = format!("{component} {host}");
        if !runtimes.contains_key(&key) {
            let mut net = NetConfig {
                connect_to: fakes
                    .connect_to()
                    .iter()
                    .map(|(host, addr)| format!("{host}:{addr}").parse().unwrap())
                    .collect(),
                ..NetConfig::default()
            };
            net.add_ca_file(ca.path()).unwrap();
            if let Some(n) = host["max_body_bytes"].as_u64() {
                net.max_body_bytes = n as usize;
            }
            if let Some(ms) = host["max_timeout_ms"].as_u64() {
                net.max_timeout = Duration::from_millis(ms);
            }
            let cfg = RuntimeConfig {
                cache_dir: None,
                ..RuntimeConfig::default()
            };
            let rt = Runtime::new(cfg, HttpsClient::new(net).unwrap()).unwrap();
            let bytes = match component {
                "celonis" => connhost::builtin::CELONIS,
                "generic" => connhost::builtin::GENERIC,
                other => panic!("no shipped component `{other}`"),
            };
            let loaded = rt.load_component(bytes).unwrap();
            let plugin = rt.prepare(component, &loaded).unwrap();
            runtimes.insert(key.clone(), (rt, plugin));
        }
        let (rt, plugin) = &runtimes[&key];
        let (out, names) = run_case(rt, plugin, case).await;
        let name = case["name"].as_str().unwrap();
        match judge(case, &out, &names) {
            Ok(()) => println!("ok    {name}"),
            Err(why) => {
                println!("FAIL  {name}: {why}");
                failures.push(name.to_string());
            }
        }
    }
    println!(
        "rust host: {} of {} cases pass",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{failures:?}");
}
