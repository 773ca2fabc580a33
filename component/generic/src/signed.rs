//! The signing modes: AWS Signature Version 4 on every request, and JWTs
//! (RFC 7523) as the grant (`jwt_bearer`) or as client authentication
//! (`private_key_jwt`). The component builds what is signed; the host
//! signs it with the secret by name (`signing`), so the key never enters
//! the component.

use base64::Engine as _;
use connhost_sdk::http::Request;
use connhost_sdk::signing::{self, Algorithm};
use connhost_sdk::{invalid, ConnectorError};
use sha2::{Digest, Sha256};
use url::Url;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `YYYYMMDDTHHMMSSZ` for Unix seconds `t` (proleptic Gregorian, UTC).
pub fn amz_date(t: u64) -> String {
    let days = (t / 86_400) as i64;
    let secs = t % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// RFC 3986 unreserved characters stay; everything else is `%XX`
/// (upper-case), as SigV4's canonical query wants.
fn aws_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What SigV4 needs from a request, and what it adds.
pub struct SigV4<'a> {
    pub access_key_id: &'a str,
    pub secret: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    /// Secret holding a session token (`x-amz-security-token`), if set.
    pub session_token: Option<&'a str>,
    pub now: u64,
}

impl SigV4<'_> {
    /// Signs `req`: `x-amz-date`, `x-amz-content-sha256` and the
    /// `Authorization` header (host, those two and `content-type` when
    /// present are signed).
    pub fn sign(&self, req: Request) -> Result<Request, ConnectorError> {
        let (mut wire, extra) = req.into_parts();
        let url = Url::parse(&wire.url).map_err(|e| invalid("url", e.to_string()))?;
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let body: &[u8] = match &wire.body {
            connhost_sdk::bindings::connhost::connector::http::Body::Bytes(b) => b,
            connhost_sdk::bindings::connhost::connector::http::Body::Empty => &[],
            connhost_sdk::bindings::connhost::connector::http::Body::Form(_) => {
                return Err(invalid(
                    "body",
                    "a SigV4 request needs its body as bytes, not a host-filled form",
                ))
            }
        };
        let payload = hex(&Sha256::digest(body));
        let date = amz_date(self.now);
        wire.headers.retain(|(k, _)| {
            !matches!(
                k.to_ascii_lowercase().as_str(),
                "x-amz-date" | "x-amz-content-sha256" | "authorization" | "host"
            )
        });
        wire.headers.push(("x-amz-date".into(), date.clone()));
        wire.headers
            .push(("x-amz-content-sha256".into(), payload.clone()));
        let mut signed: Vec<(String, String)> = vec![
            ("host".into(), host),
            ("x-amz-content-sha256".into(), payload.clone()),
            ("x-amz-date".into(), date.clone()),
        ];
        if let Some((_, ct)) = wire
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            signed.push(("content-type".into(), ct.trim().to_string()));
        }
        signed.sort();
        let mut query: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (aws_encode(&k), aws_encode(&v)))
            .collect();
        query.sort();
        let canonical_query = query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        use connhost_sdk::http::Method as M;
        let method = match wire.method {
            M::Get => "GET",
            M::Head => "HEAD",
            M::Post => "POST",
            M::Put => "PUT",
            M::Patch => "PATCH",
            M::Delete => "DELETE",
        };
        let path = if url.path().is_empty() {
            "/"
        } else {
            url.path()
        };
        let canonical_headers: String = signed.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let signed_names = signed
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let canonical = format!(
            "{method}\n{path}\n{canonical_query}\n{canonical_headers}\n{signed_names}\n{payload}"
        );
        let day = &date[..8];
        let scope = format!("{day}/{}/{}/aws4_request", self.region, self.service);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let signature = signing::sigv4(self.secret, day, self.region, self.service, &to_sign)?;
        wire.headers.push((
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_names}, Signature={signature}",
                self.access_key_id
            ),
        ));
        let mut req = Request::from_wire(wire);
        for c in extra {
            req = req.credential(c);
        }
        if let Some(token) = self.session_token {
            req = req.extra_secret_header("x-amz-security-token", "", token);
        }
        Ok(req)
    }
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWT signed by the host with secret `key` (`RS256` or `ES256`).
pub fn jwt(alg: &str, claims: &serde_json::Value, key: &str) -> Result<String, ConnectorError> {
    let algorithm = match alg {
        "RS256" => Algorithm::Rs256,
        "ES256" => Algorithm::Es256,
        other => {
            return Err(invalid(
                "definition.jwt.alg",
                format!("`{other}`: expected RS256 or ES256"),
            ))
        }
    };
    let header = serde_json::json!({"alg": alg, "typ": "JWT"});
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let sig = signing::sign(key, algorithm, input.as_bytes())?;
    Ok(format!("{input}.{}", b64url(&sig)))
}

/// A value no earlier JWT of this component used (`jti`): the host's
/// random source seeds std's hasher keys.
pub fn nonce() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(connhost_sdk::now_unix());
    let a = h.finish();
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(a);
    format!("{a:016x}{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_are_utc_civil_times() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(amz_date(951_782_400), "20000229T000000Z");
        assert_eq!(amz_date(4_102_444_799), "20991231T235959Z");
    }

    #[test]
    fn aws_encoding_keeps_only_unreserved() {
        assert_eq!(aws_encode("a b/c~d=é"), "a%20b%2Fc~d%3D%C3%A9");
    }
}
