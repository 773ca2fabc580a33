//! Signatures made by the host with a secret by name (contract 0.3.1;
//! `oauth1` 0.3.2): the secret's value never enters the component.

use crate::bindings::connhost::connector::signing as wit;
use crate::ConnectorError;

pub use wit::Algorithm;

fn failed(e: wit::SigningError) -> ConnectorError {
    match e {
        wit::SigningError::UnknownSecret(name) => crate::invalid(&name, "is required"),
        wit::SigningError::BadKey(why) => crate::invalid("private_key", why),
    }
}

/// The signature of `message` with secret `secret`.
pub fn sign(secret: &str, algorithm: Algorithm, message: &[u8]) -> Result<Vec<u8>, ConnectorError> {
    wit::sign(secret, algorithm, message).map_err(failed)
}

/// AWS SigV4's signature (hex) of `string_to_sign` with the key derived
/// from secret `secret`, `date` (YYYYMMDD), `region` and `service`.
pub fn sigv4(
    secret: &str,
    date: &str,
    region: &str,
    service: &str,
    string_to_sign: &str,
) -> Result<String, ConnectorError> {
    wit::sign_sigv4(secret, date, region, service, string_to_sign).map_err(failed)
}

/// OAuth 1.0a's `oauth_signature` (base64) of `base_string` (RFC 5849
/// §3.4.1), keyed with secrets `consumer_secret` and `token_secret`
/// (§3.4.2; `None` before there is a token). `algorithm` is HMAC-SHA1 or
/// HMAC-SHA256.
pub fn oauth1(
    algorithm: Algorithm,
    consumer_secret: &str,
    token_secret: Option<&str>,
    base_string: &str,
) -> Result<String, ConnectorError> {
    wit::sign_oauth1(algorithm, consumer_secret, token_secret, base_string).map_err(|e| match e {
        wit::SigningError::UnknownSecret(name) => crate::invalid(&name, "is required"),
        wit::SigningError::BadKey(why) => crate::invalid("signature_method", why),
    })
}
