//! Using a connection: a request the platform makes through it (a flow
//! step calling the service's API). The connector puts the credentials on
//! (`authenticate-request`, inside the sandbox, secrets by name); the host
//! sends it with the connection's policy (allowlist, no redirects, caps,
//! deadline). Access is renewed ahead of expiry (single flight) and once
//! more on a 401, then the request is retried once.

use super::{input_of, Manager};
use crate::bindings::http as wire;
use crate::error::{Error, Result};
use crate::store::ConnectionRecord;
use serde::{Deserialize, Serialize};

/// A request through a connection.
#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApiRequest {
    /// `GET`, `HEAD`, `POST`, `PUT`, `PATCH` or `DELETE`.
    #[schemars(regex(pattern = r"^(GET|HEAD|POST|PUT|PATCH|DELETE)$"))]
    pub method: String,
    /// An absolute `https://` URL, or a path (`/api/cloud`) resolved
    /// against the connection's first origin.
    #[schemars(regex(pattern = r"^(https://|/)"))]
    pub url: String,
    /// Plain headers; credentials are the connector's to add, so
    /// `authorization` and `cookie` are refused.
    #[serde(default)]
    #[schemars(with = "Vec<[String; 2]>")]
    pub headers: Vec<(String, String)>,
    /// The body, base64 in JSON.
    #[serde(default, with = "b64")]
    #[schemars(with = "String")]
    pub body: Vec<u8>,
    /// Deadline in milliseconds (capped by the host's own).
    #[serde(default)]
    pub timeout_ms: Option<u32>,
}

/// The provider's response, whole; never a secret of ours.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct ApiResponse {
    pub status: u16,
    /// `[name, value]` pairs.
    #[schemars(with = "Vec<[String; 2]>")]
    pub headers: Vec<(String, String)>,
    /// The body, base64 in JSON.
    #[serde(with = "b64")]
    #[schemars(with = "String")]
    pub body: Vec<u8>,
    /// Whether access was renewed for this request (ahead of expiry, or
    /// after a 401).
    pub renewed: bool,
    /// The connector that put the credentials on.
    pub connector: String,
}

/// A passed-through request's body ([`Manager::pass`]).
pub enum Upload {
    Empty,
    /// Read whole (small): sent again after a renewal.
    Whole(bytes::Bytes),
    /// Streamed from the caller: sent once.
    Stream(crate::net::OutBody),
}

impl Upload {
    fn into_out(self) -> crate::net::OutBody {
        use http_body_util::BodyExt as _;
        match self {
            Upload::Empty => http_body_util::Empty::new()
                .map_err(|never| match never {})
                .boxed_unsync(),
            Upload::Whole(b) => http_body_util::Full::new(b)
                .map_err(|never| match never {})
                .boxed_unsync(),
            Upload::Stream(s) => s,
        }
    }
}

/// The provider's response to a passed-through request, its body still
/// arriving.
pub struct Passed {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: crate::net::PassBody,
    /// Whether access was renewed for this request.
    pub renewed: bool,
    /// Whether it was sent a second time after a 401 and a renewal.
    pub retried: bool,
    /// The connector that put the credentials on.
    pub connector: String,
}

mod b64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

fn method(text: &str) -> Result<wire::Method> {
    Ok(match text.to_ascii_uppercase().as_str() {
        "GET" => wire::Method::Get,
        "HEAD" => wire::Method::Head,
        "POST" => wire::Method::Post,
        "PUT" => wire::Method::Put,
        "PATCH" => wire::Method::Patch,
        "DELETE" => wire::Method::Delete,
        _ => {
            return Err(Error::invalid(
                "method",
                format!("must be GET, HEAD, POST, PUT, PATCH or DELETE, got `{text}`"),
            ))
        }
    })
}

impl Manager {
    /// Sends `req` through connection `id`; see the module docs.
    pub async fn request(&self, id: &str, req: &ApiRequest) -> Result<ApiResponse> {
        let (mut record, mut renewed) = self.fresh(id).await?;
        let (manifest, mut resp) = self.send_through(&record, req).await?;
        if resp.status == 401 && super::renewal::renewable(&manifest, &record) {
            record = self.renew_after_401(id, &record).await?;
            renewed = true;
            resp = self.send_through(&record, req).await?.1;
        }
        Ok(ApiResponse {
            status: resp.status,
            headers: resp.headers,
            body: resp.body,
            renewed,
            connector: record.connector,
        })
    }

    /// Passes `head` with `body` through connection `id`, streaming both
    /// ways: the connector puts the credentials on (it sees the method,
    /// URL and headers, never the body), the host sends with the
    /// connection's policy but no body cap, and answers once the
    /// provider's response head arrives. A 401 renews access and retries
    /// once when the body can be sent again ([`Upload::Whole`] or
    /// [`Upload::Empty`]); after a streamed body the 401 is answered, with
    /// access renewed for the caller's own retry.
    pub async fn pass(&self, id: &str, head: &ApiRequest, body: Upload) -> Result<Passed> {
        let (mut record, mut renewed) = self.fresh(id).await?;
        let replay = match &body {
            Upload::Empty => Some(bytes::Bytes::new()),
            Upload::Whole(b) => Some(b.clone()),
            Upload::Stream(_) => None,
        };
        let (manifest, mut resp) = self.pass_once(&record, head, body.into_out()).await?;
        let mut retried = false;
        if resp.status == 401 && super::renewal::renewable(&manifest, &record) {
            record = self.renew_after_401(id, &record).await?;
            renewed = true;
            if let Some(again) = replay {
                drop(resp);
                resp = self
                    .pass_once(&record, head, Upload::Whole(again).into_out())
                    .await?
                    .1;
                retried = true;
            }
        }
        Ok(Passed {
            status: resp.status,
            headers: resp.headers,
            body: resp.body,
            renewed,
            retried,
            connector: record.connector,
        })
    }

    async fn pass_once(
        &self,
        record: &ConnectionRecord,
        head: &ApiRequest,
        body: crate::net::OutBody,
    ) -> Result<(
        std::sync::Arc<crate::manifest::Manifest>,
        crate::net::Streamed,
    )> {
        let (manifest, mut instance, authed) = self.authenticated(record, head).await?;
        let out = instance.outbound(authed);
        self.finish(record, instance)?;
        let (out, client) = out?;
        if !out.body.is_empty() {
            return Err(Error::invalid(
                "body",
                format!(
                    "connector `{}` puts credentials in the request body, which the pass-through proxy streams from the caller; use the JSON request route",
                    record.connector
                ),
            ));
        }
        let sent = client
            .stream(out, body)
            .await
            .map_err(crate::runtime::net_failure)?;
        Ok((manifest, sent))
    }

    async fn send_through(
        &self,
        record: &ConnectionRecord,
        req: &ApiRequest,
    ) -> Result<(std::sync::Arc<crate::manifest::Manifest>, wire::Response)> {
        let (manifest, mut instance, authed) = self.authenticated(record, req).await?;
        let sent = instance.send(authed).await;
        // Reveals are audited whatever the outcome; secret changes made
        // while authenticating a request are not kept.
        self.finish(record, instance)?;
        Ok((manifest, sent?))
    }

    /// Renews access after a 401, unless another request already did
    /// (the token generation moved on): one renewal per revoked token.
    async fn renew_after_401(
        &self,
        id: &str,
        record: &ConnectionRecord,
    ) -> Result<ConnectionRecord> {
        let seen = record.token_generation;
        Ok(self
            .renew_locked(id, |r| r.token_generation == seen)
            .await?
            .0)
    }

    /// An instance of `record`'s connector and `req` with the
    /// connection's credentials on (`authenticate-request`).
    async fn authenticated(
        &self,
        record: &ConnectionRecord,
        req: &ApiRequest,
    ) -> Result<(
        std::sync::Arc<crate::manifest::Manifest>,
        crate::runtime::ConnectorInstance,
        wire::Request,
    )> {
        let scope = self.store.open_secrets(record)?;
        let (manifest, mut instance) = self.instance(record, scope).await?;
        let request = self.wire_request(&manifest, record, req)?;
        let authed = instance
            .authenticate_request(&input_of(record), &request)
            .await?;
        Ok((manifest, instance, authed))
    }

    fn wire_request(
        &self,
        manifest: &crate::manifest::Manifest,
        record: &ConnectionRecord,
        req: &ApiRequest,
    ) -> Result<wire::Request> {
        let url = resolve_url(&self.allowlist(manifest, record)?, &req.url)?;
        for (name, _) in &req.headers {
            let lower = name.to_ascii_lowercase();
            if lower == "authorization" || lower == "cookie" || lower == "proxy-authorization" {
                return Err(Error::invalid(
                    "headers",
                    format!("`{name}` is the connection's to set; leave credentials to it"),
                ));
            }
        }
        Ok(wire::Request {
            method: method(&req.method)?,
            url,
            headers: req.headers.clone(),
            auth: wire::Auth::None,
            body: if req.body.is_empty() {
                wire::Body::Empty
            } else {
                wire::Body::Bytes(req.body.clone())
            },
            timeout_ms: req.timeout_ms,
        })
    }
}

/// A request's URL as sent: an absolute `https://` URL as it is, a path
/// (`/api/cloud`) against the connection's first allowed origin (what the
/// JavaScript and Python hosts do too; the conformance suite checks it).
pub fn resolve_url(allowlist: &connhost_policy::Allowlist, url: &str) -> Result<String> {
    if url.starts_with("https://") {
        return Ok(url.to_string());
    }
    if !url.starts_with('/') {
        return Err(Error::invalid(
            "url",
            "must be an absolute https:// URL or a path starting with `/`",
        ));
    }
    let base = allowlist.origins().first().ok_or_else(|| {
        Error::invalid(
            "url",
            "this connection has no origin to resolve a path against; give an absolute https:// URL",
        )
    })?;
    let port = if base.port == 443 {
        String::new()
    } else {
        format!(":{}", base.port)
    };
    Ok(format!("https://{}{port}{url}", base.host))
}
