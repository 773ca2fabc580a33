//! connhost's `signing` with the adapter's secrets (environment or
//! config, as `secrets`): HMAC-SHA1 and HMAC-SHA256, the AWS SigV4 key
//! chain and OAuth 1.0a's two-secret key, with RustCrypto. RS256 and ES256
//! are refused with `bad-key`: an RSA or P-256 signer is more code than
//! this adapter should carry; run such connectors in a connhost host.

use crate::bindings::exports::connhost::connector::signing::{self, Algorithm, SigningError};
use crate::{secret, Providers};
use base64::Engine as _;
use hmac::{Hmac, Mac};

fn hmac_sha1(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<sha1::Sha1>::new_from_slice(key).expect("HMAC takes any key");
    m.update(message);
    m.finalize().into_bytes().to_vec()
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key");
    m.update(message);
    m.finalize().into_bytes().to_vec()
}

fn key(name: &str) -> Result<String, SigningError> {
    secret(name).ok_or_else(|| SigningError::UnknownSecret(name.to_string()))
}

fn hmac(algorithm: Algorithm, key: &[u8], message: &[u8]) -> Result<Vec<u8>, SigningError> {
    match algorithm {
        Algorithm::HmacSha1 => Ok(hmac_sha1(key, message)),
        Algorithm::HmacSha256 => Ok(hmac_sha256(key, message)),
        Algorithm::Rs256 | Algorithm::Es256 => Err(SigningError::BadKey(
            "RS256 and ES256 are not in the standalone adapter; run this connector in a connhost host".into(),
        )),
    }
}

/// RFC 5849 §3.6.
fn oauth1_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl signing::Guest for Providers {
    fn sign(
        secret: String,
        algorithm: Algorithm,
        message: Vec<u8>,
    ) -> Result<Vec<u8>, SigningError> {
        if message.len() > 1 << 20 {
            return Err(SigningError::BadKey(
                "the message is larger than 1048576 bytes".into(),
            ));
        }
        hmac(algorithm, key(&secret)?.as_bytes(), &message)
    }

    fn sign_sigv4(
        secret: String,
        date: String,
        region: String,
        service: String,
        string_to_sign: String,
    ) -> Result<String, SigningError> {
        let k_date = hmac_sha256(format!("AWS4{}", key(&secret)?).as_bytes(), date.as_bytes());
        let k_region = hmac_sha256(&k_date, region.as_bytes());
        let k_service = hmac_sha256(&k_region, service.as_bytes());
        let k_signing = hmac_sha256(&k_service, b"aws4_request");
        Ok(hmac_sha256(&k_signing, string_to_sign.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }

    fn sign_oauth1(
        algorithm: Algorithm,
        consumer_secret: String,
        token_secret: Option<String>,
        base_string: String,
    ) -> Result<String, SigningError> {
        if base_string.len() > 1 << 20 {
            return Err(SigningError::BadKey("the base string is too large".into()));
        }
        let consumer = key(&consumer_secret)?;
        let token = match token_secret {
            Some(name) => key(&name)?,
            None => String::new(),
        };
        let k = format!("{}&{}", oauth1_encode(&consumer), oauth1_encode(&token));
        let sig = match algorithm {
            Algorithm::HmacSha1 | Algorithm::HmacSha256 => {
                hmac(algorithm, k.as_bytes(), base_string.as_bytes())?
            }
            _ => {
                return Err(SigningError::BadKey(
                    "OAuth 1.0a signs with hmac-sha1 or hmac-sha256".into(),
                ))
            }
        };
        Ok(base64::engine::general_purpose::STANDARD.encode(sig))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of host/src/capabilities/signing.rs: RFC 2202 / 4231,
    /// AWS's published SigV4 example's key chain, RFC 5849 §1.2.
    #[test]
    fn matches_the_published_vectors() {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(&hmac_sha1(b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let base = "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3Dkllo9940pd9333jh%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1191242096%26oauth_token%3Dnnch734d00sl2jdk%26oauth_version%3D1.0%26size%3Doriginal";
        let sig = hmac_sha1(b"kd94hf93k423kf44&pfkkdhi9sl3r4s00", base.as_bytes());
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(sig),
            "tR3+Ty81lMeYAr/Fid0kMTYa/WM="
        );
    }
}
