//! The smallest useful connector: a service at `https://{domain}` that
//! takes an API key as a bearer token and says who it belongs to at
//! `GET /api/me`. Everything else (refresh, scopes, consent, revocation,
//! extra origins) is the SDK's default.
//!
//! Build: `cargo build --profile guest --target wasm32-wasip2 -p connector-example-apikey`,
//! then `connhost connector add target/wasm32-wasip2/guest/connector_example_apikey.wasm`.

use connhost_sdk::http::{classify, Request, ResponseExt};
use connhost_sdk::{
    auth_kind, export_connector, field, invalid, manifest, secrets, state, ConnectionInput,
    ConnectionState, Connector, ConnectorError, FieldSpecExt, Fields, Manifest, ManifestExt,
    Verification,
};

struct ApiKey;

/// What `GET /api/me` answers (other members are ignored).
#[derive(serde::Deserialize)]
struct Me {
    name: String,
}

/// The connection's domain: a bare host name, so it cannot smuggle a path
/// or port into the URL (the host checks the origin again).
fn domain(input: &ConnectionInput) -> Result<String, ConnectorError> {
    let raw = Fields::of(input).require("domain")?;
    let host = raw.strip_prefix("https://").unwrap_or(raw);
    let host = host.trim_end_matches('/');
    let host_name = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-';
    if host.is_empty() || !host.chars().all(host_name) {
        return Err(invalid(
            "domain",
            format!("expected a host name, got `{raw}`"),
        ));
    }
    Ok(host.to_ascii_lowercase())
}

impl Connector for ApiKey {
    fn manifest() -> Manifest {
        manifest(
            "example-apikey",
            "Example (API key)",
            env!("CARGO_PKG_VERSION"),
        )
        .field(
            field("domain", "Domain")
                .required()
                .help("e.g. api.example.com"),
        )
        .field(field("auth_type", "Auth").default_value("api-key"))
        .auth_field("auth_type")
        .auth_kind(auth_kind(
            "api-key",
            "API key",
            vec![field("api_key", "API key").required().secret()],
        ))
        .hosts(&["https://{domain}"])
    }

    fn create(input: ConnectionInput) -> Result<ConnectionState, ConnectorError> {
        domain(&input)?;
        if !secrets::has("api_key") {
            return Err(invalid("api_key", "is required"));
        }
        Ok(state())
    }

    fn verify(input: ConnectionInput) -> Result<Verification, ConnectorError> {
        let url = format!("https://{}/api/me", domain(&input)?);
        // The host attaches the key: its value never enters the component.
        let resp = Request::get(url).bearer("api_key").send()?;
        if resp.status != 200 {
            // 401 → unauthorized, 403 → account-validation, 429 →
            // rate-limited, anything else → provider-error.
            return Err(classify(&resp));
        }
        let me: Me = resp.json()?;
        Ok(Verification {
            account_label: me.name,
        })
    }
}

export_connector!(ApiKey);
