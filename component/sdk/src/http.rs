//! Outbound HTTP through the host, with a builder and error mapping.

use crate::bindings::connhost::connector::http as wit;
use crate::{ConnectorError, ProviderFailure};
use serde::de::DeserializeOwned;

pub use wit::{
    BasicEncoding, ClientCertificate, Credential, JsonSecret, Method, Response, SecretBasic,
};

/// A request being built. Secrets are attached by name; the host fills in
/// their values when it sends.
pub struct Request(
    wit::Request,
    Vec<wit::Credential>,
    Option<wit::ClientCertificate>,
);

impl Request {
    /// A request with `method` to the absolute `https://` `url`.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Request(
            wit::Request {
                method,
                url: url.into(),
                headers: vec![("accept".into(), "application/json".into())],
                auth: wit::Auth::None,
                body: wit::Body::Empty,
                timeout_ms: None,
            },
            Vec::new(),
            None,
        )
    }

    /// A `GET` request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A `POST` request.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    /// Replaces the URL.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.0.url = url.into();
        self
    }

    /// Adds a plain header (never a secret: use [`Request::secret_header`]).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.0.headers.push((name.into(), value.into()));
        self
    }

    /// `name: <prefix><value of secret>`, filled in by the host.
    pub fn secret_header(mut self, name: &str, prefix: &str, secret: &str) -> Self {
        self.0.auth = wit::Auth::Header(wit::SecretHeader {
            name: name.into(),
            prefix: prefix.into(),
            secret: secret.into(),
        });
        self
    }

    /// `Authorization: Bearer <value of secret>`.
    pub fn bearer(self, secret: &str) -> Self {
        self.secret_header("authorization", "Bearer ", secret)
    }

    /// `Authorization: Basic …` from a user id and a secret by name.
    pub fn basic(mut self, username: &str, password_secret: &str, encoding: BasicEncoding) -> Self {
        self.0.auth = wit::Auth::Basic(wit::BasicAuth {
            username: username.into(),
            password_secret: password_secret.into(),
            encoding,
        });
        self
    }

    /// Adds a literal form field (the body becomes a urlencoded form).
    pub fn form(mut self, name: &str, value: &str) -> Self {
        self.push_form(name, wit::FormValue::Text(value.into()));
        self
    }

    /// Adds a form field whose value is a secret, filled in by the host.
    pub fn form_secret(mut self, name: &str, secret: &str) -> Self {
        self.push_form(name, wit::FormValue::Secret(secret.into()));
        self
    }

    fn push_form(&mut self, name: &str, value: wit::FormValue) {
        if !matches!(self.0.body, wit::Body::Form(_)) {
            self.0.body = wit::Body::Form(Vec::new());
        }
        if let wit::Body::Form(fields) = &mut self.0.body {
            fields.push((name.into(), value));
        }
    }

    /// A JSON body.
    pub fn json(mut self, value: &serde_json::Value) -> Self {
        self.0.body = wit::Body::Bytes(value.to_string().into_bytes());
        self.header("content-type", "application/json")
    }

    /// Deadline for this request.
    pub fn timeout_ms(mut self, ms: u32) -> Self {
        self.0.timeout_ms = Some(ms);
        self
    }

    /// `?<name>=<secret>` on the URL, the secret's value added by the host.
    pub fn secret_query(mut self, name: &str, secret: &str) -> Self {
        self.0.auth = wit::Auth::Query(wit::SecretQuery {
            name: name.into(),
            secret: secret.into(),
        });
        self
    }

    /// The request as the contract carries it (`authenticate-request`).
    pub fn from_wire(request: wit::Request) -> Self {
        Request(request, Vec::new(), None)
    }

    /// The contract's request; extra credentials are dropped (see
    /// [`Request::into_parts`]).
    pub fn into_wire(self) -> wit::Request {
        self.0
    }

    /// The contract's request and its extra credentials.
    pub fn into_parts(self) -> (wit::Request, Vec<wit::Credential>) {
        (self.0, self.1)
    }

    /// A credential beyond the one `auth` holds (contract 0.3.1): another
    /// secret header or query value, Basic from secrets, a secret inside
    /// the JSON body. The host fills it in.
    pub fn credential(mut self, c: wit::Credential) -> Self {
        self.1.push(c);
        self
    }

    /// `name: <prefix><secret>` besides `auth`.
    pub fn extra_secret_header(self, name: &str, prefix: &str, secret: &str) -> Self {
        self.credential(wit::Credential::Header(wit::SecretHeader {
            name: name.into(),
            prefix: prefix.into(),
            secret: secret.into(),
        }))
    }

    /// The JSON body's string at `pointer` set to a secret's value.
    pub fn json_secret(self, pointer: &str, secret: &str) -> Self {
        self.credential(wit::Credential::Json(wit::JsonSecret {
            pointer: pointer.into(),
            secret: secret.into(),
        }))
    }

    /// Basic with a secret as the user name and another (or none) as the
    /// password: an API key as the user name.
    pub fn basic_secrets(self, username_secret: &str, password_secret: Option<&str>) -> Self {
        self.credential(wit::Credential::Basic(wit::SecretBasic {
            username_secret: username_secret.into(),
            password_secret: password_secret.map(str::to_string),
        }))
    }

    /// Presents a TLS client certificate from secrets when sent (mutual
    /// TLS, contract 0.3.2: RFC 8705 `tls_client_auth`).
    pub fn client_certificate(mut self, certificate_secret: &str, key_secret: &str) -> Self {
        self.2 = Some(wit::ClientCertificate {
            certificate_secret: certificate_secret.into(),
            key_secret: key_secret.into(),
        });
        self
    }

    /// Sends the request. Any response, whatever its status, is `Ok`.
    pub fn send(self) -> Result<Response, ConnectorError> {
        if let Some(identity) = &self.2 {
            return wit::send_mtls(&self.0, &self.1, identity).map_err(transport_error);
        }
        if self.1.is_empty() {
            wit::send(&self.0).map_err(transport_error)
        } else {
            wit::send_with(&self.0, &self.1).map_err(transport_error)
        }
    }

    /// Sends the request; a non-2xx response becomes the standard error
    /// ([`classify`]).
    pub fn send_ok(self) -> Result<Response, ConnectorError> {
        let resp = self.send()?;
        if (200..300).contains(&resp.status) {
            Ok(resp)
        } else {
            Err(classify(&resp))
        }
    }
}

fn transport_error(e: wit::Error) -> ConnectorError {
    match e {
        wit::Error::DeniedHost(h) => ConnectorError::DeniedHost(h),
        wit::Error::Timeout(m) => ConnectorError::Timeout(m),
        wit::Error::Network(m) => ConnectorError::Network(m),
        wit::Error::InvalidRequest(m) => ConnectorError::ProviderError(ProviderFailure {
            status: 0,
            message: format!("request refused by host: {m}"),
        }),
        wit::Error::TooLarge(n) => ConnectorError::ProviderError(ProviderFailure {
            status: 0,
            message: format!("response body larger than the host's {n}-byte limit"),
        }),
    }
}

/// Helpers on a response.
pub trait ResponseExt {
    /// The first header of that (lower-case) name.
    fn header(&self, name: &str) -> Option<&str>;
    /// The body parsed as JSON into `T`; a parse failure is a
    /// `provider-error` naming the status.
    fn json<T: DeserializeOwned>(&self) -> Result<T, ConnectorError>;
}

impl ResponseExt for Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json<T: DeserializeOwned>(&self) -> Result<T, ConnectorError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ConnectorError::ProviderError(ProviderFailure {
                status: self.status,
                message: format!("malformed JSON in response: {e}"),
            })
        })
    }
}

/// Maps a non-2xx response to the standard error:
/// 401 → `unauthorized`; 403 → `account-validation` (the scopes named by an
/// RFC 6750 `insufficient_scope` challenge, if any); 429 →
/// `rate-limited` with `Retry-After`; anything else → `provider-error`.
pub fn classify(resp: &Response) -> ConnectorError {
    let message = error_message(resp);
    match resp.status {
        401 => ConnectorError::Unauthorized(message),
        403 => {
            let scopes = resp
                .header("www-authenticate")
                .and_then(challenge_scope)
                .unwrap_or_default();
            if scopes.is_empty() {
                ConnectorError::AccountValidation(vec![format!("permission denied: {message}")])
            } else {
                ConnectorError::AccountValidation(scopes)
            }
        }
        429 => ConnectorError::RateLimited(retry_after(resp)),
        status => ConnectorError::ProviderError(ProviderFailure { status, message }),
    }
}

/// `Retry-After` in seconds, when given as a number.
pub fn retry_after(resp: &Response) -> Option<u32> {
    resp.header("retry-after")?.trim().parse().ok()
}

/// The `scope="…"` of a `WWW-Authenticate: Bearer error="insufficient_scope"`.
fn challenge_scope(header: &str) -> Option<Vec<String>> {
    if !header.contains("insufficient_scope") {
        return None;
    }
    let start = header.find("scope=\"")? + "scope=\"".len();
    let end = header[start..].find('"')? + start;
    Some(
        header[start..end]
            .split_whitespace()
            .map(str::to_string)
            .collect(),
    )
}

/// The usual error fields of JSON error bodies (typed, not `Value`: the
/// component stays smaller).
#[derive(Default, serde::Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// A short, human message from an error body: OAuth's `error` /
/// `error_description`, or a common `message` field, else the status.
pub fn error_message(resp: &Response) -> String {
    let body: ErrorBody = serde_json::from_slice(&resp.body).unwrap_or_default();
    let text = match (body.error, body.error_description) {
        (Some(e), Some(d)) => format!("{e}: {d}"),
        (Some(e), None) => e,
        (None, Some(d)) => d,
        (None, None) => body
            .message
            .unwrap_or_else(|| format!("HTTP {}", resp.status)),
    };
    // Provider text is untrusted and shown to users: keep it short.
    text.chars().take(300).collect()
}
