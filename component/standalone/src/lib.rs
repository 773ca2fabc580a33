//! connhost's `http`, `secrets`, `log` and `signing` implemented on standard WASI, to
//! be composed with a connector (`wac plug`, or `host/build.rs` with
//! `wac-graph`) into a component any WASI 0.2 runtime can run:
//!
//! ```sh
//! CONNHOST_SECRET_APP_KEY=… wasmtime run -S http -S config \
//!   -S config-var=allowed-origins=https://acme.eu-1.celonis.cloud \
//!   --env CONNHOST_SECRET_APP_KEY --invoke 'verify({…})' celonis.standalone.wasm
//! ```
//!
//! * Allowlist: `allowed-origins` (config), comma-separated bare https
//!   origins (`https://host[:port]`), checked with `connhost-policy`. Deny
//!   by default, as in the host.
//! * Secrets: environment `CONNHOST_SECRET_<NAME>` (upper-cased; keeps
//!   values out of argv), else config `secret.<name>`; values `set` during
//!   a call live in memory only.
//! * `connect-to` (config, development only): `HOST:PORT:ADDR:PORT`, where
//!   ADDR must be a loopback address; the request then goes to
//!   `http://ADDR:PORT` (stock runtimes cannot take an extra trust root).

mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit", "wit"],
        world: "connhost:standalone/providers",
        generate_all,
    });
}

mod signing;

use bindings::exports::connhost::connector::http::{
    self as http, Auth, BasicEncoding, Body, Credential, FormValue, Method, Request, Response,
};
use bindings::exports::connhost::connector::log::{self, Level};
use bindings::exports::connhost::connector::secrets;
use bindings::wasi::config::store as config;
use connhost_policy::{attach, basic, Allowlist, Origin};
use std::cell::RefCell;
use std::collections::BTreeMap;
use url::Url;
use wasip2::http::types as wasi;

const MAX_BODY: usize = 4 * 1024 * 1024;

struct Providers;

thread_local! {
    static SET: RefCell<BTreeMap<String, Option<String>>> = const { RefCell::new(BTreeMap::new()) };
}

fn config_get(key: &str) -> Option<String> {
    config::get(key).ok().flatten()
}

fn secret(name: &str) -> Option<String> {
    if let Some(v) = SET.with(|s| s.borrow().get(name).cloned()) {
        return v;
    }
    std::env::var(format!("CONNHOST_SECRET_{}", name.to_ascii_uppercase()))
        .ok()
        .or_else(|| config_get(&format!("secret.{name}")))
}

impl secrets::Guest for Providers {
    fn has(name: String) -> bool {
        secret(&name).is_some()
    }
    fn set(name: String, value: String) {
        SET.with(|s| s.borrow_mut().insert(name, Some(value)));
    }
    fn remove(name: String) {
        SET.with(|s| s.borrow_mut().insert(name, None));
    }
    fn reveal(name: String) -> Option<String> {
        eprintln!("[connhost] secret `{name}` revealed to the connector");
        secret(&name)
    }
}

impl log::Guest for Providers {
    fn log(level: Level, message: String) {
        let level = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        eprintln!("[{level}] {message}");
    }
}

/// The origin a refusal names: `scheme://host:port`, as the host says it.
fn origin(url: &Url) -> String {
    Origin::of(url)
        .map(|o| o.to_string())
        .unwrap_or_else(|| url.origin().ascii_serialization())
}

/// The `allowed-origins` config (comma-separated) as an allowlist, parsed
/// and matched by the host's own code: each entry must be a bare
/// `https://host[:port]`; others are reported and ignored. Empty or unset:
/// everything is denied.
fn allowlist() -> Allowlist {
    let mut list = Allowlist::default();
    let config = config_get("allowed-origins").unwrap_or_default();
    for entry in config.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if let Err(e) = list.add_origins(&[entry.to_string()]) {
            eprintln!("[connhost] allowed-origins: ignoring `{entry}`: {e}");
        }
    }
    list
}

/// `(scheme, authority)` to use: the URL's own, or a loopback override.
fn target(url: &Url) -> Result<(wasi::Scheme, String), http::Error> {
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    let port = url.port_or_known_default().unwrap_or(443);
    if let Some(rules) = config_get("connect-to") {
        for rule in rules.split(',') {
            let parts: Vec<&str> = rule.trim().split(':').collect();
            if let [h, p, addr, ap] = parts[..] {
                if h.eq_ignore_ascii_case(&host) && p.parse() == Ok(port) {
                    let loopback = addr == "localhost"
                        || addr
                            .parse::<std::net::IpAddr>()
                            .is_ok_and(|ip| ip.is_loopback());
                    if !loopback {
                        return Err(http::Error::InvalidRequest(format!(
                            "connect-to `{rule}`: only loopback addresses are allowed"
                        )));
                    }
                    return Ok((wasi::Scheme::Http, format!("{addr}:{ap}")));
                }
            }
        }
    }
    if url.scheme() != "https" {
        return Err(http::Error::InvalidRequest(
            "only https URLs are allowed".into(),
        ));
    }
    Ok((wasi::Scheme::Https, format!("{host}:{port}")))
}

fn map_error(e: wasi::ErrorCode) -> http::Error {
    use wasi::ErrorCode as E;
    match e {
        E::HttpRequestDenied => http::Error::DeniedHost("denied by the WASI runtime".into()),
        E::ConnectionTimeout | E::ConnectionReadTimeout | E::ConnectionWriteTimeout => {
            http::Error::Timeout(format!("{e:?}"))
        }
        other => http::Error::Network(format!("{other:?}")),
    }
}

fn refused(e: attach::AttachError) -> http::Error {
    http::Error::InvalidRequest(e.to_string())
}

/// The request's `auth`, body and `extra` credentials (0.3.1), placed by
/// `connhost_policy::attach`: the same code as the Rust host's.
fn attach_all(req: &Request, url: Url, extra: &[Credential]) -> Result<attach::Draft, http::Error> {
    let mut d = attach::Draft {
        url,
        headers: req.headers.clone(),
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
        attach::place(&mut d, p, &secret).map_err(refused)?;
    }
    match &req.body {
        Body::Empty => {}
        Body::Bytes(b) => d.body = b.clone(),
        Body::Form(fields) => {
            let fields = fields.iter().map(|(name, value)| {
                let value = match value {
                    FormValue::Text(t) => attach::FormValue::Text(t),
                    FormValue::Secret(s) => attach::FormValue::Secret(s),
                };
                (name.as_str(), value)
            });
            attach::form(&mut d, fields, &secret).map_err(refused)?;
        }
    }
    for c in extra {
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
        attach::place(&mut d, p, &secret).map_err(refused)?;
    }
    Ok(d)
}

impl http::Guest for Providers {
    fn send(req: Request) -> Result<Response, http::Error> {
        Self::send_with(req, Vec::new())
    }

    /// Recorded nowhere: under a stock runtime nothing sends the request
    /// `authenticate-request` returns (the Rust host does).
    fn add_credentials(_extra: Vec<Credential>) {}

    /// `wasi:http` (0.2) has no way to present a client certificate.
    fn send_mtls(
        _req: Request,
        _extra: Vec<Credential>,
        _identity: http::ClientCertificate,
    ) -> Result<Response, http::Error> {
        Err(http::Error::InvalidRequest(
            "mutual TLS is not available in the standalone adapter (wasi:http 0.2 cannot present a client certificate); run this connector in a connhost host".into(),
        ))
    }

    fn send_with(req: Request, extra: Vec<Credential>) -> Result<Response, http::Error> {
        let url = Url::parse(&req.url)
            .map_err(|e| http::Error::InvalidRequest(format!("bad URL: {e}")))?;
        if !allowlist().allows(&url) {
            return Err(http::Error::DeniedHost(origin(&url)));
        }
        let (scheme, authority) = target(&url)?;
        let attach::Draft { url, headers, body } = attach_all(&req, url, &extra)?;
        let fields: Vec<(String, Vec<u8>)> = headers
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.into_bytes()))
            .collect();
        let fields = wasi::Fields::from_list(&fields)
            .map_err(|e| http::Error::InvalidRequest(format!("headers: {e:?}")))?;
        let out = wasi::OutgoingRequest::new(fields);
        let method = match req.method {
            Method::Get => wasi::Method::Get,
            Method::Head => wasi::Method::Head,
            Method::Post => wasi::Method::Post,
            Method::Put => wasi::Method::Put,
            Method::Patch => wasi::Method::Patch,
            Method::Delete => wasi::Method::Delete,
        };
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let invalid = |what: &str| http::Error::InvalidRequest(what.to_string());
        out.set_method(&method).map_err(|_| invalid("method"))?;
        out.set_scheme(Some(&scheme))
            .map_err(|_| invalid("scheme"))?;
        out.set_authority(Some(&authority))
            .map_err(|_| invalid("authority"))?;
        out.set_path_with_query(Some(&path))
            .map_err(|_| invalid("path"))?;
        let options = wasi::RequestOptions::new();
        let ns = u64::from(req.timeout_ms.unwrap_or(30_000)) * 1_000_000;
        let _ = options.set_connect_timeout(Some(ns));
        let _ = options.set_first_byte_timeout(Some(ns));
        let _ = options.set_between_bytes_timeout(Some(ns));

        let out_body = out.body().map_err(|_| invalid("body"))?;
        let pending =
            wasip2::http::outgoing_handler::handle(out, Some(options)).map_err(map_error)?;
        {
            let stream = out_body.write().map_err(|_| invalid("body stream"))?;
            for chunk in body.chunks(4096) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|e| http::Error::Network(format!("writing body: {e:?}")))?;
            }
        }
        wasi::OutgoingBody::finish(out_body, None).map_err(map_error)?;

        let resp = loop {
            match pending.get() {
                Some(Ok(Ok(r))) => break r,
                Some(Ok(Err(e))) => return Err(map_error(e)),
                Some(Err(())) => return Err(http::Error::Network("response already taken".into())),
                None => pending.subscribe().block(),
            }
        };
        let status = resp.status();
        let headers = resp
            .headers()
            .entries()
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect();
        let incoming = resp.consume().map_err(|_| invalid("response body"))?;
        let mut body = Vec::new();
        {
            let stream = incoming.stream().map_err(|_| invalid("response stream"))?;
            loop {
                match stream.blocking_read(64 * 1024) {
                    Ok(chunk) => {
                        if body.len() + chunk.len() > MAX_BODY {
                            return Err(http::Error::TooLarge(MAX_BODY as u64));
                        }
                        body.extend_from_slice(&chunk);
                    }
                    Err(wasip2::io::streams::StreamError::Closed) => break,
                    Err(e) => return Err(http::Error::Network(format!("reading body: {e:?}"))),
                }
            }
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

bindings::export!(Providers with_types_in bindings);
