//! The catalogue fake's OAuth 1.0a (RFC 5849): temporary credentials,
//! token credentials and signed resource calls, each signature recomputed
//! from the wire with the test consumer and token secrets.

use super::*;

/// An OAuth 1.0a request's signature, recomputed from the wire with the
/// consumer secret and `token_secret` (RFC 5849 §3.4); its parameters.
pub(super) fn check_oauth1(
    def: &Value,
    seen: &Seen,
    token_secret: &str,
) -> Result<BTreeMap<String, String>, String> {
    use crate::oauth1::{base_string, header_params, signature};
    let auth = seen
        .headers
        .get("authorization")
        .map(String::as_str)
        .unwrap_or("");
    let oauth = header_params(auth).ok_or("no `Authorization: OAuth …` header")?;
    let p: BTreeMap<String, String> = oauth.iter().cloned().collect();
    let method = def["oauth1"]["signature_method"]
        .as_str()
        .unwrap_or("HMAC-SHA1");
    if p.get("oauth_signature_method").map(String::as_str) != Some(method) {
        return Err(format!("oauth_signature_method should be {method}"));
    }
    if p.get("oauth_consumer_key").map(String::as_str) != Some(CLIENT_ID) {
        return Err("oauth_consumer_key is not the client id".into());
    }
    let query: Vec<(String, String)> = url::form_urlencoded::parse(seen.raw_query.as_bytes())
        .into_owned()
        .collect();
    let form = seen
        .headers
        .get("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let body: Vec<(String, String)> = if form {
        url::form_urlencoded::parse(&seen.raw)
            .into_owned()
            .collect()
    } else {
        Vec::new()
    };
    let base = base_string(
        &seen.method,
        &format!("https://{}{}", seen.host, seen.path),
        &query,
        &body,
        &oauth,
    );
    let secret = if p.contains_key("oauth_token") {
        token_secret
    } else {
        ""
    };
    if p.get("oauth_signature") != Some(&signature(method, CLIENT_SECRET, secret, &base)) {
        return Err(format!("signature mismatch over {base}"));
    }
    Ok(p)
}

/// OAuth 1.0a's temporary-credential (§2.1) and token (§2.3) endpoints.
pub(super) fn oauth1_step(
    def: &Value,
    seen: &Seen,
    l: &mut Ledger,
    problems: &mut Vec<String>,
) -> Response<Full<Bytes>> {
    use crate::oauth1::encode;
    let form = |status: u16, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(body)))
            .expect("response")
    };
    if seen.method != "POST" {
        problems.push("OAuth 1.0a endpoints take POST".into());
    }
    if is(def, "request_token_url", seen) {
        match check_oauth1(def, seen, "") {
            Ok(p) if p.contains_key("oauth_callback") && !p.contains_key("oauth_token") => {
                l.oauth1_callback = p.get("oauth_callback").cloned();
                return form(
                    200,
                    format!(
                        "oauth_token={OAUTH1_TEMP_TOKEN}&oauth_token_secret={}&oauth_callback_confirmed=true",
                        encode(OAUTH1_TEMP_SECRET)
                    ),
                );
            }
            Ok(_) => {
                problems.push("temporary credentials: oauth_callback and no token expected".into())
            }
            Err(e) => problems.push(format!("temporary credentials: {e}")),
        }
        return form(401, "oauth_problem=signature_invalid".into());
    }
    match check_oauth1(def, seen, OAUTH1_TEMP_SECRET) {
        Ok(p)
            if p.get("oauth_token").map(String::as_str) == Some(OAUTH1_TEMP_TOKEN)
                && p.get("oauth_verifier").map(String::as_str) == Some(CODE) =>
        {
            l.issued += 1;
            form(
                200,
                format!(
                    "oauth_token={OAUTH1_TOKEN}&oauth_token_secret={}",
                    encode(OAUTH1_TOKEN_SECRET)
                ),
            )
        }
        Ok(_) => {
            problems.push("token credentials: the temporary token and verifier expected".into());
            form(401, "oauth_problem=token_rejected".into())
        }
        Err(e) => {
            problems.push(format!("token credentials: {e}"));
            form(401, "oauth_problem=signature_invalid".into())
        }
    }
}
