//! The `http` capability. Every outbound request passes
//! [`HttpHooks::check`] first (deny by default; a refusal names the
//! target), then [`HttpHooks::attach_secrets`] fills in secrets referenced
//! by name, then the request goes out through [`HttpsClient`].

use crate::bindings::http::{
    self, Auth, BasicEncoding, Body, Credential, FormValue, Method, Request, Response,
};
use crate::net::{ClientIdentity, HttpsClient, NetError, OutRequest};
use crate::secret::SecretScope;
use connhost_policy::{attach, basic, Allowlist, Origin};
use std::time::Duration;
use tracing::Instrument;
use url::Url;
use wasmtime::component::{HasData, Linker};

/// Embedder policy for outbound requests: the one place each passes. The
/// defaults deny everything and attach secrets the standard way.
pub trait HttpHooks: Send + Sync {
    /// Whether `url` may be requested; the error is what the guest sees.
    fn check(&self, url: &Url) -> Result<(), http::Error> {
        Err(http::Error::DeniedHost(target(url)))
    }

    /// Turns a plugin's request into a wire request, filling in secrets
    /// named by `auth` and form values from `secrets`.
    fn attach_secrets(
        &self,
        req: Request,
        url: Url,
        secrets: &SecretScope,
    ) -> Result<OutRequest, http::Error> {
        attach_secrets(req, url, secrets)
    }
}

/// A connection's allowlist is the host's policy: exact origins only.
impl HttpHooks for Allowlist {
    fn check(&self, url: &Url) -> Result<(), http::Error> {
        if self.allows(url) {
            Ok(())
        } else {
            Err(http::Error::DeniedHost(target(url)))
        }
    }
}

/// The origin a refusal names.
fn target(url: &Url) -> String {
    Origin::of(url)
        .map(|o| o.to_string())
        .unwrap_or_else(|| url.origin().ascii_serialization())
}

/// The capability's own state for one call.
pub struct HttpCtx {
    pub client: HttpsClient,
    /// Requests sent in this call (statistics).
    pub requests: u32,
    /// `add-credentials` of this call, for the request
    /// `authenticate-request` returns.
    pub staged: Vec<Credential>,
}

/// What the capability works on: its state, the policy, the secrets.
pub struct HttpView<'a> {
    pub ctx: &'a mut HttpCtx,
    pub hooks: &'a dyn HttpHooks,
    pub secrets: &'a SecretScope,
    /// Connection id, for log fields.
    pub connection: &'a str,
}

impl http::Host for HttpView<'_> {
    async fn send(&mut self, req: Request) -> wasmtime::Result<Result<Response, http::Error>> {
        self.send_with(req, Vec::new()).await
    }

    async fn send_with(
        &mut self,
        req: Request,
        extra: Vec<Credential>,
    ) -> wasmtime::Result<Result<Response, http::Error>> {
        self.send_extra(req, extra).await
    }

    async fn send_mtls(
        &mut self,
        req: Request,
        extra: Vec<Credential>,
        identity: http::ClientCertificate,
    ) -> wasmtime::Result<Result<Response, http::Error>> {
        self.send_extra_on(req, extra, Some(identity)).await
    }

    async fn add_credentials(&mut self, extra: Vec<Credential>) -> wasmtime::Result<()> {
        // Bounded: a plugin cannot grow host memory through this list.
        if self.ctx.staged.len() + extra.len() > MAX_EXTRA_CREDENTIALS {
            return Err(wasmtime::Error::msg(format!(
                "add-credentials: more than {MAX_EXTRA_CREDENTIALS} credentials"
            )));
        }
        self.ctx.staged.extend(extra);
        Ok(())
    }
}

/// Extra credentials one request may carry.
const MAX_EXTRA_CREDENTIALS: usize = 8;

impl HttpView<'_> {
    /// Sends `req` with `extra` credentials after its `auth`.
    pub async fn send_extra(
        &mut self,
        req: Request,
        extra: Vec<Credential>,
    ) -> wasmtime::Result<Result<Response, http::Error>> {
        self.send_extra_on(req, extra, None).await
    }

    /// `req`'s URL, if the policy lets it go out with `extra`.
    fn allowed(&self, req: &Request, extra: &[Credential]) -> Result<Url, http::Error> {
        if extra.len() > MAX_EXTRA_CREDENTIALS {
            return Err(http::Error::InvalidRequest(format!(
                "more than {MAX_EXTRA_CREDENTIALS} extra credentials"
            )));
        }
        let url = Url::parse(&req.url)
            .map_err(|e| http::Error::InvalidRequest(format!("bad URL: {e}")))?;
        if let Err(denied) = self.hooks.check(&url) {
            tracing::warn!(connection = %self.connection, target = %target(&url), "denied outbound request");
            return Err(denied);
        }
        Ok(url)
    }

    /// `req` as it would go out (policy checked, secrets and `extra`
    /// attached), for a caller that sends it itself: the pass-through
    /// proxy streams its own body.
    pub fn outbound(
        &self,
        req: Request,
        extra: Vec<Credential>,
    ) -> Result<OutRequest, http::Error> {
        let url = self.allowed(&req, &extra)?;
        let out = self.hooks.attach_secrets(req, url, self.secrets)?;
        attach_extra(out, extra, self.secrets)
    }

    /// The client certificate and key the secrets `identity` names hold,
    /// parsed; an error names the secrets, never their text.
    fn identity(&self, identity: &http::ClientCertificate) -> Result<ClientIdentity, http::Error> {
        let pem = |name: &str| {
            self.secrets
                .get(name)
                .map(|s| zeroize::Zeroizing::new(s.expose().to_string()))
                .ok_or_else(|| http::Error::InvalidRequest(format!("secret `{name}` is not set")))
        };
        let chain = pem(&identity.certificate_secret)?;
        let key = pem(&identity.key_secret)?;
        ClientIdentity::from_pem(&chain, &key).map_err(|why| {
            http::Error::InvalidRequest(format!(
                "secrets `{}` and `{}`: {why}",
                identity.certificate_secret, identity.key_secret
            ))
        })
    }

    /// [`HttpView::send_extra`], presenting the client certificate
    /// `identity` names in the TLS handshake when given (mutual TLS).
    async fn send_extra_on(
        &mut self,
        req: Request,
        extra: Vec<Credential>,
        identity: Option<http::ClientCertificate>,
    ) -> wasmtime::Result<Result<Response, http::Error>> {
        let url = match self.allowed(&req, &extra) {
            Ok(u) => u,
            Err(e) => return Ok(Err(e)),
        };
        // After the allowlist, as the JS and Python hosts check.
        let identity = match identity.map(|i| self.identity(&i)).transpose() {
            Ok(i) => i,
            Err(e) => return Ok(Err(e)),
        };
        let out = match self
            .hooks
            .attach_secrets(req, url, self.secrets)
            .and_then(|out| attach_extra(out, extra, self.secrets))
        {
            Ok(o) => o,
            Err(e) => return Ok(Err(e)),
        };
        let span = tracing::info_span!("http.send", connection = %self.connection,
            method = %out.method, host = out.url.host_str().unwrap_or(""), path = out.url.path());
        self.ctx.requests += 1;
        let sent = match identity {
            Some(id) => {
                self.ctx
                    .client
                    .send_with_identity(out, id)
                    .instrument(span.clone())
                    .await
            }
            None => self.ctx.client.send(out).instrument(span.clone()).await,
        };
        Ok(match sent {
            Ok(r) => {
                tracing::debug!(parent: &span, status = r.status, bytes = r.body.len(), "response");
                Ok(Response {
                    status: r.status,
                    headers: r.headers,
                    body: r.body,
                })
            }
            Err(e) => Err(from_net(e)),
        })
    }
}

/// Why a request got no response, as the guest sees it.
pub fn from_net(e: NetError) -> http::Error {
    match e {
        NetError::InvalidRequest(m) => http::Error::InvalidRequest(m),
        NetError::Network(m) => http::Error::Network(m),
        NetError::Timeout(m) => http::Error::Timeout(m),
        NetError::TooLarge(n) => http::Error::TooLarge(n),
    }
}

struct HasHttp;
impl HasData for HasHttp {
    type Data<'a> = HttpView<'a>;
}

/// Adds `connhost:connector/http` to `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> HttpView<'_>,
) -> wasmtime::Result<()> {
    http::add_to_linker::<T, HasHttp>(linker, view)
}

/// The secret lookup attachment uses: a value by name, from the call's scope.
fn lookup(secrets: &SecretScope) -> impl Fn(&str) -> Option<String> + '_ {
    |name| secrets.get(name).map(|s| s.expose().to_string())
}

fn refused(e: attach::AttachError) -> http::Error {
    http::Error::InvalidRequest(e.to_string())
}

/// `extra` credentials on a request whose `auth` is attached: more
/// headers and query parameters, Basic from secrets, secrets inside a
/// JSON body (`connhost_policy::attach`, shared with the standalone
/// adapter).
pub fn attach_extra(
    mut out: OutRequest,
    extra: Vec<Credential>,
    secrets: &SecretScope,
) -> Result<OutRequest, http::Error> {
    let lookup = lookup(secrets);
    let mut d = attach::Draft {
        url: out.url,
        headers: out.headers,
        body: out.body,
    };
    for c in &extra {
        let p = match c {
            Credential::Header(h) => attach::Placement::Header {
                name: &h.name,
                prefix: &h.prefix,
                secret: &h.secret,
            },
            Credential::Query(q) => attach::Placement::Query {
                name: &q.name,
                secret: &q.secret,
            },
            Credential::Basic(b) => attach::Placement::BasicSecretUser {
                username_secret: &b.username_secret,
                password_secret: b.password_secret.as_deref(),
            },
            Credential::Json(j) => attach::Placement::Json {
                pointer: &j.pointer,
                secret: &j.secret,
            },
        };
        attach::place(&mut d, p, &lookup).map_err(refused)?;
    }
    (out.url, out.headers, out.body) = (d.url, d.headers, d.body);
    Ok(out)
}

/// The standard secret attachment: header with prefix, Basic per RFC 6749
/// §2.3.1 (or raw), and secret form fields.
pub fn attach_secrets(
    req: Request,
    url: Url,
    secrets: &SecretScope,
) -> Result<OutRequest, http::Error> {
    let lookup = lookup(secrets);
    let mut d = attach::Draft {
        url,
        headers: req.headers,
        body: Vec::new(),
    };
    let placement = match &req.auth {
        Auth::None => None,
        Auth::Header(h) => Some(attach::Placement::Header {
            name: &h.name,
            prefix: &h.prefix,
            secret: &h.secret,
        }),
        Auth::Query(q) => Some(attach::Placement::Query {
            name: &q.name,
            secret: &q.secret,
        }),
        Auth::Basic(b) => Some(attach::Placement::Basic {
            username: &b.username,
            password_secret: &b.password_secret,
            encoding: match b.encoding {
                BasicEncoding::FormUrlencoded => basic::Encoding::FormUrlencoded,
                BasicEncoding::Raw => basic::Encoding::Raw,
            },
        }),
    };
    if let Some(p) = placement {
        attach::place(&mut d, p, &lookup).map_err(refused)?;
    }
    match req.body {
        Body::Empty => {}
        Body::Bytes(b) => d.body = b,
        Body::Form(fields) => {
            let fields = fields.iter().map(|(name, value)| {
                let value = match value {
                    FormValue::Text(t) => attach::FormValue::Text(t),
                    FormValue::Secret(s) => attach::FormValue::Secret(s),
                };
                (name.as_str(), value)
            });
            attach::form(&mut d, fields, &lookup).map_err(refused)?;
        }
    }
    let (url, headers, body) = (d.url, d.headers, d.body);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::http::{BasicAuth, Host as _, SecretHeader};
    use crate::net::NetConfig;
    use crate::secret::Secret;
    use std::collections::BTreeMap;

    fn request(url: &str, auth: Auth) -> Request {
        Request {
            method: Method::Get,
            url: url.into(),
            headers: vec![],
            auth,
            body: Body::Empty,
            timeout_ms: None,
        }
    }

    fn scope() -> SecretScope {
        SecretScope::new(BTreeMap::from([(
            "client_secret".into(),
            Secret::new("s:e/c"),
        )]))
    }

    /// Hooks with only the defaults: everything is denied, without wasm.
    struct Defaults;
    impl HttpHooks for Defaults {}

    #[tokio::test]
    async fn default_hooks_deny_and_name_the_target() {
        let mut ctx = HttpCtx {
            client: HttpsClient::new(NetConfig::default()).unwrap(),
            requests: 0,
            staged: Vec::new(),
        };
        let secrets = scope();
        let mut view = HttpView {
            ctx: &mut ctx,
            hooks: &Defaults,
            secrets: &secrets,
            connection: "conn_x",
        };
        let r = view
            .send(request("https://evil.example.com/x", Auth::None))
            .await
            .unwrap();
        assert_eq!(
            r.unwrap_err(),
            http::Error::DeniedHost("https://evil.example.com:443".into())
        );
        assert_eq!(ctx.requests, 0, "a denied request is never sent");
    }

    #[test]
    fn allowlist_hooks_allow_only_its_origins() {
        let fields = BTreeMap::from([("domain".to_string(), "acme.example.com".to_string())]);
        let list = Allowlist::from_templates(&["https://{domain}".into()], &fields).unwrap();
        assert!(list
            .check(&Url::parse("https://acme.example.com/api").unwrap())
            .is_ok());
        assert!(list
            .check(&Url::parse("https://acme.example.com:8443/").unwrap())
            .is_err());
    }

    #[test]
    fn basic_auth_is_form_encoded_and_unknown_secret_is_named() {
        let req = request(
            "https://a.example.com/token",
            Auth::Basic(BasicAuth {
                username: "a b".into(),
                password_secret: "client_secret".into(),
                encoding: BasicEncoding::FormUrlencoded,
            }),
        );
        let url = Url::parse(&req.url).unwrap();
        let out = attach_secrets(req, url.clone(), &scope()).unwrap();
        let (_, value) = out
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap();
        assert_eq!(
            value,
            &basic::header("a b", "s:e/c", basic::Encoding::FormUrlencoded)
        );
        let missing = request(
            "https://a.example.com/",
            Auth::Header(SecretHeader {
                name: "authorization".into(),
                prefix: "Bearer ".into(),
                secret: "access_token".into(),
            }),
        );
        let err = attach_secrets(missing, url, &scope()).unwrap_err();
        assert_eq!(
            err,
            http::Error::InvalidRequest("secret `access_token` is not set".into())
        );
    }

    #[test]
    fn extra_credentials_fill_headers_basic_and_json_bodies() {
        use crate::bindings::http::{JsonSecret, SecretBasic};
        let scope = SecretScope::new(BTreeMap::from([
            ("api_key".into(), Secret::new("k-1")),
            ("app_key".into(), Secret::new("a-2")),
        ]));
        let out = OutRequest {
            method: hyper::Method::POST,
            url: Url::parse("https://a.example.com/t").unwrap(),
            headers: vec![("authorization".into(), "Bearer x".into())],
            body: br#"{"auth":{"user":"u"}}"#.to_vec(),
            timeout: None,
        };
        let out = attach_extra(
            out,
            vec![
                Credential::Header(SecretHeader {
                    name: "DD-APPLICATION-KEY".into(),
                    prefix: String::new(),
                    secret: "app_key".into(),
                }),
                Credential::Basic(SecretBasic {
                    username_secret: "api_key".into(),
                    password_secret: None,
                }),
                Credential::Json(JsonSecret {
                    pointer: "/auth/secret".into(),
                    secret: "app_key".into(),
                }),
            ],
            &scope,
        )
        .unwrap();
        let h = |n: &str| {
            out.headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(h("dd-application-key"), vec!["a-2".to_string()]);
        // The key as the user name, an empty password; the Bearer replaced.
        assert_eq!(
            h("authorization"),
            vec![basic::header("k-1", "", basic::Encoding::Raw)]
        );
        let body: serde_json::Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"auth": {"user": "u", "secret": "a-2"}})
        );
        let no_body = OutRequest {
            method: hyper::Method::POST,
            url: Url::parse("https://a.example.com/t").unwrap(),
            headers: vec![],
            body: vec![],
            timeout: None,
        };
        let e = attach_extra(
            no_body,
            vec![Credential::Json(JsonSecret {
                pointer: "/x".into(),
                secret: "missing".into(),
            })],
            &scope,
        )
        .unwrap_err();
        assert!(matches!(e, http::Error::InvalidRequest(m) if m.contains("JSON body")));
    }
}
