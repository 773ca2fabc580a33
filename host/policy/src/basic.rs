//! `Authorization: Basic` for OAuth clients and HTTP basic auth.

use base64::Engine as _;
use url::form_urlencoded;

/// How the id and secret are encoded before base64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// RFC 6749 §2.3.1: each part `application/x-www-form-urlencoded` first.
    FormUrlencoded,
    /// `id:secret` as is.
    Raw,
}

/// `Basic base64(id:secret)`. Form-encoding matters for secrets holding
/// `:`, `+`, `/` or `%`.
pub fn header(username: &str, password: &str, encoding: Encoding) -> String {
    let pair = match encoding {
        Encoding::FormUrlencoded => format!(
            "{}:{}",
            form_urlencoded::byte_serialize(username.as_bytes()).collect::<String>(),
            form_urlencoded::byte_serialize(password.as_bytes()).collect::<String>()
        ),
        Encoding::Raw => format!("{username}:{password}"),
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
    fn form_encodes_per_rfc6749() {
        // "a b" → "a+b", ":" → "%3A", "/" → "%2F"
        let h = header("a b", "s:e/c", Encoding::FormUrlencoded);
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(h.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), "a+b:s%3Ae%2Fc");
    }

    #[test]
    fn raw_keeps_bytes() {
        assert_eq!(header("id", "s:e", Encoding::Raw), "Basic aWQ6czpl");
    }
}
