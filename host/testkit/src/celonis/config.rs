//! What the fake Celonis is configured with: the behaviour each
//! credential selects, the OAuth clients it knows, and the demo values.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// What the provider does for a request made with a given credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behavior {
    /// Normal answers.
    Ok,
    /// 403 with an RFC 6750 `insufficient_scope` challenge naming these.
    InsufficientScope(Vec<String>),
    /// 429 with `Retry-After`.
    RateLimited(u32),
    /// 500 with a JSON error.
    ServerError,
    /// 200 with a body that is not JSON.
    Malformed,
    /// 200 with a body of this many bytes.
    Huge(usize),
    /// Answers after this long.
    Slow(Duration),
    /// 302 to another host.
    Redirect(String),
    /// Exactly this status and body (hostile-input tests).
    Raw(u16, String),
    /// This status with an OAuth-style JSON error that repeats the request
    /// back, as careless services do: its `Authorization` header, query
    /// and body, in `error_description` and `message` (leak tests).
    Echo(u16),
}

/// A registered OAuth client.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: String,
    pub secret: String,
    /// `client_secret_basic` or `client_secret_post`.
    pub method: &'static str,
    /// Scopes this client may be granted.
    pub scopes: Vec<String>,
}

/// The provider's accounts and knobs.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// Static keys (AppKey or API key) → behaviour. Unknown keys get 401.
    pub keys: HashMap<String, Behavior>,
    pub clients: Vec<Client>,
    /// Data pools that exist.
    pub pools: BTreeSet<String>,
    pub team_name: String,
    pub user_email: String,
    /// Token lifetime (`expires_in`); `None` omits it.
    pub token_lifetime: Option<u64>,
    /// `token_type` as sent (case varies between servers).
    pub token_type: String,
    /// Omit `scope` from token responses.
    pub omit_scope: bool,
    /// Answer every token request with exactly this status and body.
    pub token_response: Option<(u16, String)>,
    /// Wait this long before answering a token request (counted on
    /// arrival), so a test can stop a client mid-renewal.
    pub token_delay: Option<std::time::Duration>,
    /// Wait this long before answering an API (non-token) request: a
    /// real service's own time, for benchmarks.
    pub api_delay: Option<std::time::Duration>,
    /// A body declared larger than this is answered 413 at once, unread,
    /// and the connection closed (as nginx does above its
    /// `client_max_body_size`): the client is still writing.
    pub max_request_body: Option<u64>,
}

/// Credentials and names the demo and tests use.
pub mod demo {
    pub const DOMAIN: &str = "acme.eu-1.celonis.cloud";
    pub const APP_KEY: &str = "demo-app-key-4f1d9c";
    pub const API_KEY: &str = "demo-api-key-7be210";
    pub const CLIENT_ID: &str = "demo-client";
    /// Holds characters that RFC 6749 §2.3.1 form-encoding changes.
    pub const CLIENT_SECRET: &str = "demo:secret/+%&=x";
    pub const POOL_ID: &str = "pool-42";
    pub const TEAM: &str = "Acme Process Mining";
    pub const USER: &str = "ada@acme.example";
}

impl Default for FakeConfig {
    fn default() -> Self {
        let all_scopes: Vec<String> = [
            "studio",
            "integration.data-pools",
            "integration.data-pools:data_push",
            "intelligence.knowledge-models:read",
            "audit.log:read",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        FakeConfig {
            keys: HashMap::from([
                (demo::APP_KEY.to_string(), Behavior::Ok),
                (demo::API_KEY.to_string(), Behavior::Ok),
            ]),
            clients: vec![
                Client {
                    id: demo::CLIENT_ID.into(),
                    secret: demo::CLIENT_SECRET.into(),
                    method: "client_secret_basic",
                    scopes: all_scopes.clone(),
                },
                Client {
                    id: "post-client".into(),
                    secret: demo::CLIENT_SECRET.into(),
                    method: "client_secret_post",
                    scopes: all_scopes,
                },
            ],
            pools: BTreeSet::from([demo::POOL_ID.to_string()]),
            team_name: demo::TEAM.into(),
            user_email: demo::USER.into(),
            token_lifetime: Some(899),
            token_type: "Bearer".into(),
            omit_scope: false,
            token_response: None,
            token_delay: None,
            api_delay: None,
            max_request_body: None,
        }
    }
}
