//! The `http` capability. Every outbound request from a plugin passes
//! [`PluginState::send`]: the allowlist check comes first (deny by default,
//! a refusal names the target), then secrets referenced by name are filled
//! in, then the request goes out through [`crate::net::HttpsClient`].

use crate::allowlist::{Allowlist, Origin};
use crate::bindings::http::{
    self, Auth, BasicEncoding, Body, FormValue, Method, Request, Response,
};
use crate::net::{HttpsClient, NetError, OutRequest};
use crate::runtime::PluginState;
use crate::secrets::SecretScope;
use base64::Engine as _;
use std::time::Duration;
use tracing::Instrument;
use url::{form_urlencoded, Url};

/// What the `http` capability needs for one call.
pub struct HttpState {
    pub client: HttpsClient,
    pub allowlist: Allowlist,
    /// Requests made in this call (for the caller's statistics).
    pub requests: u32,
}

impl http::Host for PluginState {
    async fn send(&mut self, req: Request) -> wasmtime::Result<Result<Response, http::Error>> {
        let url = match Url::parse(&req.url) {
            Ok(u) => u,
            Err(e) => return Ok(Err(http::Error::InvalidRequest(format!("bad URL: {e}")))),
        };
        if !self.http.allowlist.allows(&url) {
            let target = Origin::of(&url)
                .map(|o| o.to_string())
                .unwrap_or_else(|| url.origin().ascii_serialization());
            tracing::warn!(connection = %self.connection_id, %target, "denied outbound request");
            return Ok(Err(http::Error::DeniedHost(target)));
        }
        let out = match prepare(req, url, &self.secrets) {
            Ok(o) => o,
            Err(e) => return Ok(Err(e)),
        };
        let span = tracing::info_span!("http.send", connection = %self.connection_id,
            method = %out.method, host = out.url.host_str().unwrap_or(""), path = out.url.path());
        self.http.requests += 1;
        Ok(
            match self.http.client.send(out).instrument(span.clone()).await {
                Ok(r) => {
                    tracing::debug!(parent: &span, status = r.status, bytes = r.body.len(), "response");
                    Ok(Response {
                        status: r.status,
                        headers: r.headers,
                        body: r.body,
                    })
                }
                Err(e) => Err(match e {
                    NetError::InvalidRequest(m) => http::Error::InvalidRequest(m),
                    NetError::Network(m) => http::Error::Network(m),
                    NetError::Timeout(m) => http::Error::Timeout(m),
                    NetError::TooLarge(n) => http::Error::TooLarge(n),
                }),
            },
        )
    }
}

/// Turns a plugin's request into a wire request, filling in secrets.
fn prepare(req: Request, url: Url, secrets: &SecretScope) -> Result<OutRequest, http::Error> {
    let secret = |name: &str| {
        secrets
            .get(name)
            .map(|s| s.expose().to_string())
            .ok_or_else(|| http::Error::InvalidRequest(format!("secret `{name}` is not set")))
    };
    let mut headers = req.headers;
    match req.auth {
        Auth::None => {}
        Auth::Header(h) => headers.push((h.name, format!("{}{}", h.prefix, secret(&h.secret)?))),
        Auth::Basic(b) => {
            let password = secret(&b.password_secret)?;
            headers.push((
                "authorization".into(),
                basic_header(&b.username, &password, b.encoding),
            ));
        }
    }
    let body = match req.body {
        Body::Empty => Vec::new(),
        Body::Bytes(b) => b,
        Body::Form(fields) => {
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (name, value) in fields {
                match value {
                    FormValue::Text(t) => form.append_pair(&name, &t),
                    FormValue::Secret(s) => form.append_pair(&name, &secret(&s)?),
                };
            }
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
            headers.push((
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ));
            form.finish().into_bytes()
        }
    };
    Ok(OutRequest {
        method: match req.method {
            Method::Get => hyper::Method::GET,
            Method::Head => hyper::Method::HEAD,
            Method::Post => hyper::Method::POST,
            Method::Put => hyper::Method::PUT,
            Method::Patch => hyper::Method::PATCH,
            Method::Delete => hyper::Method::DELETE,
        },
        url,
        headers,
        body,
        timeout: req.timeout_ms.map(|ms| Duration::from_millis(ms.into())),
    })
}

/// `Basic base64(id:secret)`; RFC 6749 §2.3.1 form-urlencodes both parts
/// first, which matters for secrets holding `:`, `+`, `/` or `%`.
pub fn basic_header(username: &str, password: &str, encoding: BasicEncoding) -> String {
    let pair = match encoding {
        BasicEncoding::FormUrlencoded => format!(
            "{}:{}",
            form_urlencoded::byte_serialize(username.as_bytes()).collect::<String>(),
            form_urlencoded::byte_serialize(password.as_bytes()).collect::<String>()
        ),
        BasicEncoding::Raw => format!("{username}:{password}"),
    };
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_form_encodes_per_rfc6749() {
        // "a b" → "a+b", ":" → "%3A"
        let h = basic_header("a b", "s:e/c", BasicEncoding::FormUrlencoded);
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(h.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), "a+b:s%3Ae%2Fc");
    }

    #[test]
    fn basic_raw_keeps_bytes() {
        let h = basic_header("id", "s:e", BasicEncoding::Raw);
        assert_eq!(h, "Basic aWQ6czpl");
    }
}
