//! AWS Signature Version 4 checked the way AWS checks it, for the fake
//! providers: from what arrived on the wire.

use std::collections::BTreeMap;

/// A request as the fake received it (header names lower-case).
pub struct Received<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a BTreeMap<String, String>,
    pub body: &'a [u8],
}

/// AWS SigV4 checked as AWS does: the canonical request rebuilt from what
/// arrived, the key derived from the secret, the signature compared.
/// Written from AWS's documentation, separately from the connector's
/// signer, so the two cannot change together.
pub fn check(
    seen: &Received,
    access_key_id: &str,
    secret: &str,
    region: &str,
    service: &str,
) -> Result<(), String> {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let mac = |key: &[u8], data: &[u8]| {
        let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
        m.update(data);
        m.finalize().into_bytes().to_vec()
    };
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let auth = seen
        .headers
        .get("authorization")
        .ok_or("no Authorization header")?;
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("not AWS4-HMAC-SHA256")?;
    let mut parts = BTreeMap::new();
    for kv in rest.split(", ") {
        let (k, v) = kv.split_once('=').ok_or("malformed Authorization")?;
        parts.insert(k, v);
    }
    let date = seen.headers.get("x-amz-date").ok_or("no x-amz-date")?;
    let scope = format!("{}/{region}/{service}/aws4_request", &date[..8]);
    if parts.get("Credential") != Some(&format!("{access_key_id}/{scope}").as_str()) {
        return Err(format!("Credential should be {access_key_id}/{scope}"));
    }
    let signed_headers = parts.get("SignedHeaders").ok_or("no SignedHeaders")?;
    for needed in ["host", "x-amz-date"] {
        if !signed_headers.split(';').any(|h| h == needed) {
            return Err(format!("{needed} is not signed"));
        }
    }
    let payload = hex(&Sha256::digest(seen.body));
    if seen.headers.get("x-amz-content-sha256") != Some(&payload) {
        return Err("x-amz-content-sha256 is not the body's hash".into());
    }
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    let mut q: Vec<(String, String)> = url::form_urlencoded::parse(seen.raw_query.as_bytes())
        .map(|(k, v)| (enc(&k), enc(&v)))
        .collect();
    q.sort();
    let canonical_query = q
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut canonical_headers = String::new();
    for h in signed_headers.split(';') {
        let v = if h == "host" {
            seen.host.to_string()
        } else {
            seen.headers.get(h).cloned().unwrap_or_default()
        };
        canonical_headers.push_str(&format!("{h}:{}\n", v.trim()));
    }
    let canonical = format!(
        "{}\n{}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload}",
        seen.method, seen.path
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let k = mac(format!("AWS4{secret}").as_bytes(), &date.as_bytes()[..8]);
    let k = mac(&k, region.as_bytes());
    let k = mac(&k, service.as_bytes());
    let k = mac(&k, b"aws4_request");
    let want = hex(&mac(&k, to_sign.as_bytes()));
    if parts.get("Signature") != Some(&want.as_str()) {
        return Err(format!(
            "Signature should be {want}; canonical request:\n{canonical}"
        ));
    }
    Ok(())
}
