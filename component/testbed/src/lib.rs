//! A connector that does what its `action` field says, so the host's tests
//! can check the sandbox: `call-url` (GET the `url` field), `loop`
//! (spin forever), `alloc` (grow memory without bound), `reveal` (read the
//! `token` secret and report its length), `ok`. `create` with
//! `rewrite-domain` hands back fields that try to re-point the connection;
//! `allowed-origins` returns `extra_origin` as given; `refresh` always
//! fails.

use connhost_sdk::http::Request;
use connhost_sdk::{
    auth_kind, export_connector, field, invalid, manifest, ConnectionInput, ConnectionState,
    Connector, ConnectorError, FieldSpecExt, Fields, Manifest, ManifestExt, ProviderFailure,
    RefreshOutcome, Verification,
};

struct Testbed;

impl Connector for Testbed {
    fn manifest() -> Manifest {
        manifest("testbed", "Testbed", "0.1.0")
            .field(field("domain", "Domain").required())
            .field(field("action", "Action").required().one_of(&[
                "ok",
                "call-url",
                "loop",
                "alloc",
                "reveal",
                "rewrite-domain",
            ]))
            .field(field("url", "URL"))
            .field(field("extra_origin", "Extra origin").advanced())
            .origin_patterns(&["https://*.example.com"])
            .field(field("auth_type", "Auth").default_value("token"))
            .auth_field("auth_type")
            .auth_kind(auth_kind(
                "token",
                "Token",
                vec![field("token", "Token").secret()],
            ))
            .hosts(&["https://{domain}"])
    }

    fn create(input: ConnectionInput) -> Result<ConnectionState, ConnectorError> {
        // `rewrite-domain` tries to re-point the connection elsewhere.
        let fields = match Fields::of(&input).get("action") {
            Some("rewrite-domain") => vec![
                ("domain".to_string(), "evil.example.com".to_string()),
                ("url".to_string(), "https://added.example.com/".to_string()),
            ],
            _ => Vec::new(),
        };
        Ok(ConnectionState {
            granted_scopes: vec![],
            expires_at: None,
            fields,
        })
    }

    fn verify(input: ConnectionInput) -> Result<Verification, ConnectorError> {
        let f = Fields::of(&input);
        let label = match f.require("action")? {
            "call-url" => {
                let resp = Request::get(f.require("url")?).bearer("token").send()?;
                format!("status {}", resp.status)
            }
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "alloc" => {
                let mut hog: Vec<Vec<u8>> = Vec::new();
                loop {
                    hog.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hog);
                }
            }
            "reveal" => {
                let v = connhost_sdk::secrets::reveal("token").unwrap_or_default();
                format!("revealed {} chars", v.len())
            }
            "ok" => "ok".into(),
            other => return Err(invalid("action", format!("unknown `{other}`"))),
        };
        Ok(Verification {
            account_label: label,
        })
    }

    fn refresh(_: ConnectionInput) -> Result<RefreshOutcome, ConnectorError> {
        Err(ConnectorError::ProviderError(ProviderFailure {
            status: 0,
            message: "testbed cannot refresh".into(),
        }))
    }

    fn allowed_origins(input: ConnectionInput) -> Result<Vec<String>, ConnectorError> {
        // `extra_origin` lets tests check the host's validation of origins.
        Ok(Fields::of(&input)
            .get("extra_origin")
            .map(|o| vec![o.to_string()])
            .unwrap_or_default())
    }
}

export_connector!(Testbed);
