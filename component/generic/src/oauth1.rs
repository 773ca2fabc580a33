//! OAuth 1.0a (RFC 5849): the signature base string and the
//! `Authorization: OAuth …` header, built here over the request as it goes
//! out; the HMAC is the host's (`signing.sign-oauth1`), keyed with the
//! consumer secret and the token secret by name, so neither enters the
//! component. The token *identifier* is not secret (§2.3: it travels in
//! clear on every request) and is kept as a field.

use crate::definition::{AuthMode, OAuth1Spec};
use crate::provider::{need, Provider};
use connhost_sdk::bindings::connhost::connector::http::{Body, FormValue};
use connhost_sdk::http::{classify, Method, Request};
use connhost_sdk::signing::{self, Algorithm};
use connhost_sdk::{
    invalid, secrets, state, Authorization, AuthorizeRequest, CodeExchange, ConnectionInput,
    ConnectionState, ConnectorError, Fields, ProviderFailure,
};
use url::Url;

/// The consumer secret (the client secret of every other mode).
pub const CONSUMER_SECRET: &str = "client_secret";
/// The access token's secret from the three-legged flow.
pub const TOKEN_SECRET: &str = "oauth_token_secret";
/// The access token's identifier from the three-legged flow (a field).
pub const TOKEN_FIELD: &str = "oauth_token";
/// A token the user created at the provider (`oauth1_token`): its
/// identifier (a field) and its secret.
pub const GIVEN_TOKEN_FIELD: &str = "token_id";
pub const GIVEN_TOKEN_SECRET: &str = "token_secret";
/// The temporary credentials between `authorize-url` and `exchange-code`.
pub const REQUEST_TOKEN_FIELD: &str = "oauth1_request_token";
pub const REQUEST_SECRET: &str = "oauth1_request_secret";

/// §3.6: every byte but ALPHA, DIGIT, `-`, `.`, `_`, `~` as `%XX`.
pub fn encode(s: &str) -> String {
    encode_bytes(s.as_bytes())
}

fn encode_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// §3.4.1.3.1: `application/x-www-form-urlencoded` pairs (a query or a
/// form body), decoded to bytes (`+` is a space) and encoded again by
/// §3.6, so a value that is not UTF-8 is signed as it is sent.
pub fn form_pairs(raw: &[u8]) -> Vec<(String, String)> {
    let decode = |part: &[u8]| -> Vec<u8> {
        let spaced: Vec<u8> = part
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_encoding::percent_decode(&spaced).collect()
    };
    raw.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = match p.iter().position(|&b| b == b'=') {
                Some(i) => (&p[..i], &p[i + 1..]),
                None => (p, &[][..]),
            };
            (encode_bytes(&decode(k)), encode_bytes(&decode(v)))
        })
        .collect()
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    }
}

/// §3.4.1: `METHOD&enc(base URI)&enc(normalized parameters)`, where the
/// parameters are the query's, a form body's (`body`, already encoded by
/// [`form_pairs`]) and `oauth` (without `realm` and `oauth_signature`),
/// each encoded, sorted by name then value.
pub fn base_string(
    method: &str,
    url: &Url,
    body: &[(String, String)],
    oauth: &[(String, String)],
) -> String {
    // §3.4.1.2: scheme and host lower case, default port dropped, no
    // query or fragment (the url crate already normalizes the first two).
    let mut base = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(p) = url.port() {
        base.push_str(&format!(":{p}"));
    }
    base.push_str(url.path());
    let mut params = form_pairs(url.query().unwrap_or("").as_bytes());
    params.extend(body.iter().cloned());
    params.extend(oauth.iter().map(|(k, v)| (encode(k), encode(v))));
    params.sort();
    let normalized = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!("{method}&{}&{}", encode(&base), encode(&normalized))
}

/// What signs one request.
pub struct Signer<'a> {
    pub consumer_key: &'a str,
    /// `HMAC-SHA1` or `HMAC-SHA256`.
    pub method: &'a str,
    /// Token identifier and the name of its secret; `None` for the
    /// request-token call.
    pub token: Option<(&'a str, &'a str)>,
    /// Protocol parameters of one step (`oauth_callback`, `oauth_verifier`).
    pub extra: Vec<(String, String)>,
    /// `realm` in the header (not signed, §3.4.1.3.1), e.g. NetSuite's account.
    pub realm: Option<String>,
    pub timestamp: u64,
    pub nonce: String,
}

impl Signer<'_> {
    fn algorithm(&self) -> Result<Algorithm, ConnectorError> {
        match self.method {
            "HMAC-SHA1" => Ok(Algorithm::HmacSha1),
            "HMAC-SHA256" => Ok(Algorithm::HmacSha256),
            other => Err(invalid(
                "definition.oauth1.signature_method",
                format!("`{other}` is not supported; use HMAC-SHA1 or HMAC-SHA256"),
            )),
        }
    }

    /// Adds `Authorization: OAuth …` over `req` as it will be sent.
    pub fn sign(&self, req: Request) -> Result<Request, ConnectorError> {
        let algorithm = self.algorithm()?;
        let (mut wire, extra) = req.into_parts();
        let url = Url::parse(&wire.url).map_err(|e| invalid("url", e.to_string()))?;
        // §3.5: protocol parameters go in one place, here the header.
        if url.query_pairs().any(|(k, _)| k.starts_with("oauth_")) {
            return Err(invalid(
                "url",
                "carries OAuth 1.0a protocol parameters (oauth_*); the host's signature puts them in the Authorization header",
            ));
        }
        let form_type = wire.headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("content-type")
                && v.to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
        });
        // §3.4.1.3.1: a form body's parameters are signed too.
        let body: Vec<(String, String)> = match &wire.body {
            Body::Empty => Vec::new(),
            Body::Bytes(b) if form_type => form_pairs(b),
            Body::Bytes(_) => Vec::new(),
            Body::Form(pairs) => pairs
                .iter()
                .map(|(k, v)| match v {
                    FormValue::Text(t) => Ok((encode(k), encode(t))),
                    FormValue::Secret(_) => Err(invalid(
                        "body",
                        "an OAuth 1.0a request cannot sign a secret form value",
                    )),
                })
                .collect::<Result<_, _>>()?,
        };
        let mut oauth: Vec<(String, String)> = vec![
            ("oauth_consumer_key".into(), self.consumer_key.into()),
            ("oauth_nonce".into(), self.nonce.clone()),
            ("oauth_signature_method".into(), self.method.into()),
            ("oauth_timestamp".into(), self.timestamp.to_string()),
            ("oauth_version".into(), "1.0".into()),
        ];
        if let Some((token, _)) = self.token {
            oauth.push(("oauth_token".into(), token.into()));
        }
        oauth.extend(self.extra.iter().cloned());
        let base = base_string(method_name(wire.method), &url, &body, &oauth);
        let signature = signing::oauth1(
            algorithm,
            CONSUMER_SECRET,
            self.token.map(|(_, secret)| secret),
            &base,
        )?;
        oauth.push(("oauth_signature".into(), signature));
        let mut parts: Vec<String> = Vec::new();
        if let Some(realm) = &self.realm {
            parts.push(format!("realm=\"{}\"", encode(realm)));
        }
        parts.extend(
            oauth
                .iter()
                .map(|(k, v)| format!("{}=\"{}\"", encode(k), encode(v))),
        );
        wire.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
        wire.headers.push((
            "Authorization".into(),
            format!("OAuth {}", parts.join(", ")),
        ));
        Ok(extra
            .into_iter()
            .fold(Request::from_wire(wire), |r, c| r.credential(c)))
    }
}

impl Provider {
    fn oauth1_spec(&self) -> OAuth1Spec {
        self.def.oauth1.clone().unwrap_or_default()
    }

    fn signer<'a>(
        &self,
        input: &'a ConnectionInput,
        token: Option<(&'a str, &'a str)>,
        extra: Vec<(String, String)>,
    ) -> Result<Signer<'a>, ConnectorError> {
        need(CONSUMER_SECRET)?;
        let spec = self.oauth1_spec();
        Ok(Signer {
            consumer_key: Fields::of(input).require("client_id")?,
            method: if spec.signature_method == "HMAC-SHA256" {
                "HMAC-SHA256"
            } else {
                "HMAC-SHA1"
            },
            token,
            extra,
            realm: spec.realm.map(|r| crate::template::fill(&r, &self.values)),
            timestamp: connhost_sdk::now_unix(),
            nonce: crate::signed::nonce(),
        })
    }

    /// Signs a request with the connection's token (§3.1).
    pub(crate) fn oauth1_sign(
        &self,
        input: &ConnectionInput,
        req: Request,
    ) -> Result<Request, ConnectorError> {
        let (field, secret) = if self.def.auth_mode == AuthMode::Oauth1Token {
            (GIVEN_TOKEN_FIELD, GIVEN_TOKEN_SECRET)
        } else {
            (TOKEN_FIELD, TOKEN_SECRET)
        };
        let token = Fields::of(input).get(field).ok_or_else(|| {
            if self.def.auth_mode == AuthMode::Oauth1Token {
                invalid(field, "is required")
            } else {
                ConnectorError::ReauthorizationRequired(
                    "the connection holds no OAuth 1.0a token; authorize it again".into(),
                )
            }
        })?;
        need(secret)?;
        self.signer(input, Some((token, secret)), Vec::new())?
            .sign(req)
    }

    /// §2.1 then §2.2: temporary credentials (the callback carries the
    /// host's `state`, so the redirect is matched to this authorization),
    /// then the provider's authorization URL for them. The temporary secret
    /// is stored as a secret; the pending connection keeps it.
    pub(crate) fn oauth1_authorize(
        &self,
        input: &ConnectionInput,
        req: &AuthorizeRequest,
    ) -> Result<Authorization, ConnectorError> {
        let spec = self.oauth1_spec();
        let endpoint = spec
            .request_token_url
            .as_deref()
            .map(|u| self.url(u))
            .ok_or_else(|| invalid("definition.oauth1.request_token_url", "is required"))?;
        let mut callback =
            Url::parse(&req.redirect_uri).map_err(|e| invalid("redirect_uri", e.to_string()))?;
        callback.query_pairs_mut().append_pair("state", &req.state);
        let signer = self.signer(
            input,
            None,
            vec![("oauth_callback".into(), callback.to_string())],
        )?;
        let resp = signer.sign(Request::post(&endpoint))?.send()?;
        if resp.status != 200 {
            return Err(classify(&resp));
        }
        let answer = form_answer(&resp.body);
        let get = |k: &str| answer.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        // §2.1: 1.0a servers confirm the callback; without it the verifier
        // step (the fix for session fixation) is not in force.
        if get("oauth_callback_confirmed").as_deref() != Some("true") {
            return Err(ConnectorError::ProviderError(ProviderFailure {
                status: resp.status,
                message: "the temporary-credential answer lacks oauth_callback_confirmed=true (OAuth 1.0a)".into(),
            }));
        }
        let (Some(token), Some(secret)) = (get("oauth_token"), get("oauth_token_secret")) else {
            return Err(ConnectorError::ProviderError(ProviderFailure {
                status: resp.status,
                message: "the temporary-credential answer lacks oauth_token or oauth_token_secret"
                    .into(),
            }));
        };
        secrets::set(REQUEST_SECRET, &secret);
        let base = self
            .def
            .authorize_url
            .as_deref()
            .ok_or_else(|| invalid("definition.authorize_url", "is required"))?;
        let mut url = Url::parse(&self.url(base))
            .map_err(|e| invalid("definition.authorize_url", e.to_string()))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("oauth_token", &token);
            let scopes = if req.scopes.is_empty() {
                self.requested_scopes(input)
            } else {
                req.scopes.clone()
            };
            if let (Some(param), false) = (&spec.scope_param, scopes.is_empty()) {
                q.append_pair(param, &scopes.join(&self.def.scope_separator));
            }
            for (k, v) in self.authorize_params() {
                q.append_pair(&k, &v);
            }
        }
        let mut fields = self.state_fields();
        fields.push((REQUEST_TOKEN_FIELD.into(), token));
        Ok(Authorization {
            url: url.to_string(),
            fields,
        })
    }

    /// §2.3: the verifier (the host's `code`) and the temporary
    /// credentials for the token; its identifier becomes a field, its
    /// secret a secret, and the temporary secret is dropped.
    pub(crate) fn oauth1_exchange(
        &self,
        input: &ConnectionInput,
        ex: &CodeExchange,
    ) -> Result<ConnectionState, ConnectorError> {
        let request_token = Fields::of(input).get(REQUEST_TOKEN_FIELD).ok_or_else(|| {
            invalid(
                REQUEST_TOKEN_FIELD,
                "is missing: start the authorization again",
            )
        })?;
        need(REQUEST_SECRET)?;
        let endpoint = self
            .def
            .token_url
            .as_deref()
            .map(|u| self.url(u))
            .ok_or_else(|| invalid("definition.token_url", "is required"))?;
        let signer = self.signer(
            input,
            Some((request_token, REQUEST_SECRET)),
            vec![("oauth_verifier".into(), ex.code.clone())],
        )?;
        let resp = signer.sign(Request::post(&endpoint))?.send()?;
        secrets::remove(REQUEST_SECRET);
        if resp.status != 200 {
            return Err(classify(&resp));
        }
        let answer = form_answer(&resp.body);
        let get = |k: &str| answer.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let (Some(token), Some(secret)) = (get("oauth_token"), get("oauth_token_secret")) else {
            return Err(ConnectorError::ProviderError(ProviderFailure {
                status: resp.status,
                message: "the token answer lacks oauth_token or oauth_token_secret".into(),
            }));
        };
        secrets::set(TOKEN_SECRET, &secret);
        let mut fields = self.state_fields();
        fields.push((TOKEN_FIELD.into(), token));
        Ok(ConnectionState {
            fields,
            granted_scopes: ex.requested_scopes.clone(),
            ..state()
        })
    }
}

/// A token endpoint's `application/x-www-form-urlencoded` answer (§2.1,
/// §2.3): `oauth_token`, `oauth_token_secret` and whatever else it sent.
pub fn form_answer(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5849 §3.4.1.1's example: query, form body and protocol
    /// parameters, repeated names, `+` and percent-encoded values, realm
    /// left out.
    #[test]
    fn base_string_matches_rfc_5849_section_3_4_1_1() {
        let url = Url::parse("http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b").unwrap();
        let body = form_pairs(b"c2&a3=2+q");
        let oauth: Vec<(String, String)> = [
            ("oauth_consumer_key", "9djdj82h48djs9d2"),
            ("oauth_token", "kkk9d7dh3k39sjv7"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131201"),
            ("oauth_nonce", "7d8f3e4a"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            base_string("POST", &url, &body, &oauth),
            "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
        );
    }

    /// A value that is not UTF-8 is signed as sent, not as U+FFFD.
    #[test]
    fn bytes_that_are_not_utf8_are_signed_as_sent() {
        assert_eq!(
            form_pairs(b"a=%E9&b=x+y"),
            [
                ("a".to_string(), "%E9".to_string()),
                ("b".into(), "x%20y".into())
            ]
        );
    }

    #[test]
    fn a_non_default_port_stays_and_the_host_is_lower_case() {
        let url = Url::parse("HTTPS://Example.COM:8443/a%20b?x=1").unwrap();
        let b = base_string("GET", &url, &[], &[]);
        assert!(
            b.starts_with("GET&https%3A%2F%2Fexample.com%3A8443%2Fa%2520b&x%3D1"),
            "{b}"
        );
        let url = Url::parse("https://example.com:443/p").unwrap();
        assert!(
            base_string("GET", &url, &[], &[]).starts_with("GET&https%3A%2F%2Fexample.com%2Fp&")
        );
    }
}
