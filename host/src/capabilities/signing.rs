//! The `signing` capability: signatures made with the connection's secrets
//! by name, so a signing mode (OAuth 1.0a, AWS SigV4, HMAC request
//! signatures, JWT assertions) keeps secret values in the host. Keys are
//! parsed per call from the secret and dropped with it; errors never
//! carry key material. Algorithms are ring's.

use crate::bindings::signing::{self, Algorithm, SigningError};
use crate::secret::SecretScope;
use ring::{hmac, rand, signature};
use wasmtime::component::{HasData, Linker};

/// What the capability works on: the connection's secrets.
pub struct SigningView<'a> {
    pub secrets: &'a SecretScope,
    /// Connection id, for log fields.
    pub connection: &'a str,
}

/// Largest message one call signs (a string-to-sign or JWT input is small).
const MAX_MESSAGE_BYTES: usize = 1 << 20;

fn key<'s>(secrets: &'s SecretScope, name: &str) -> Result<&'s str, SigningError> {
    secrets
        .get(name)
        .map(|s| s.expose())
        .ok_or_else(|| SigningError::UnknownSecret(name.to_string()))
}

/// `algorithm` over `message` with key text `key` (HMAC: its bytes; RS256
/// and ES256: a PEM PKCS#8 private key).
pub fn sign(algorithm: Algorithm, key: &str, message: &[u8]) -> Result<Vec<u8>, String> {
    match algorithm {
        Algorithm::HmacSha1 => Ok(hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key.as_bytes()),
            message,
        )
        .as_ref()
        .to_vec()),
        Algorithm::HmacSha256 => Ok(hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes()),
            message,
        )
        .as_ref()
        .to_vec()),
        Algorithm::Rs256 => {
            let der = pkcs8_der(key)?;
            let pair = signature::RsaKeyPair::from_pkcs8(&der)
                .map_err(|e| format!("not an RSA PKCS#8 private key ({e})"))?;
            let mut sig = vec![0u8; pair.public().modulus_len()];
            pair.sign(
                &signature::RSA_PKCS1_SHA256,
                &rand::SystemRandom::new(),
                message,
                &mut sig,
            )
            .map_err(|_| "RSA signing failed".to_string())?;
            Ok(sig)
        }
        Algorithm::Es256 => {
            let der = pkcs8_der(key)?;
            let rng = rand::SystemRandom::new();
            let pair = signature::EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &der,
                &rng,
            )
            .map_err(|e| format!("not a P-256 PKCS#8 private key ({e})"))?;
            pair.sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "ECDSA signing failed".to_string())
        }
    }
}

/// AWS SigV4: the derived signing key over `string_to_sign`, hex.
pub fn sigv4(
    secret: &str,
    date: &str,
    region: &str,
    service: &str,
    string_to_sign: &str,
) -> String {
    let step = |key: &[u8], data: &str| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
    };
    let k_date = step(format!("AWS4{secret}").as_bytes(), date);
    let k_region = step(k_date.as_ref(), region);
    let k_service = step(k_region.as_ref(), service);
    let k_signing = step(k_service.as_ref(), "aws4_request");
    hex(step(k_signing.as_ref(), string_to_sign).as_ref())
}

/// RFC 5849 §3.6: every byte but ALPHA, DIGIT, `-`, `.`, `_`, `~` as
/// `%XX` (upper-case hex).
pub fn oauth1_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// RFC 5849 §3.4.2: HMAC of `base` keyed `enc(consumer)&enc(token)`, base64.
pub fn oauth1(
    algorithm: Algorithm,
    consumer: &str,
    token: Option<&str>,
    base: &str,
) -> Result<String, String> {
    use base64::Engine as _;
    if !matches!(algorithm, Algorithm::HmacSha1 | Algorithm::HmacSha256) {
        return Err("OAuth 1.0a signs with hmac-sha1 or hmac-sha256".into());
    }
    let key = format!(
        "{}&{}",
        oauth1_encode(consumer),
        oauth1_encode(token.unwrap_or(""))
    );
    let sig = sign(algorithm, &key, base.as_bytes())?;
    Ok(base64::engine::general_purpose::STANDARD.encode(sig))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The DER of a `-----BEGIN PRIVATE KEY-----` PEM.
fn pkcs8_der(pem: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != "-----BEGIN PRIVATE KEY-----")
        .skip(1)
        .take_while(|l| *l != "-----END PRIVATE KEY-----")
        .collect();
    if body.is_empty() {
        return Err("expected a PEM `BEGIN PRIVATE KEY` (PKCS#8) block".into());
    }
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| "the PEM block is not base64".into())
}

impl signing::Host for SigningView<'_> {
    async fn sign(
        &mut self,
        secret: String,
        algorithm: Algorithm,
        message: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, SigningError>> {
        if message.len() > MAX_MESSAGE_BYTES {
            return Ok(Err(SigningError::BadKey(format!(
                "the message is larger than {MAX_MESSAGE_BYTES} bytes"
            ))));
        }
        let key = match key(self.secrets, &secret) {
            Ok(k) => k,
            Err(e) => return Ok(Err(e)),
        };
        tracing::debug!(connection = %self.connection, secret = %secret, ?algorithm, "sign");
        Ok(sign(algorithm, key, &message)
            .map_err(|why| SigningError::BadKey(format!("secret `{secret}`: {why}"))))
    }

    async fn sign_sigv4(
        &mut self,
        secret: String,
        date: String,
        region: String,
        service: String,
        string_to_sign: String,
    ) -> wasmtime::Result<Result<String, SigningError>> {
        if string_to_sign.len() > MAX_MESSAGE_BYTES {
            return Ok(Err(SigningError::BadKey(
                "the string to sign is too large".into(),
            )));
        }
        let key = match key(self.secrets, &secret) {
            Ok(k) => k,
            Err(e) => return Ok(Err(e)),
        };
        tracing::debug!(connection = %self.connection, secret = %secret, "sign-sigv4");
        Ok(Ok(sigv4(key, &date, &region, &service, &string_to_sign)))
    }

    async fn sign_oauth1(
        &mut self,
        algorithm: Algorithm,
        consumer_secret: String,
        token_secret: Option<String>,
        base_string: String,
    ) -> wasmtime::Result<Result<String, SigningError>> {
        if base_string.len() > MAX_MESSAGE_BYTES {
            return Ok(Err(SigningError::BadKey(
                "the base string is too large".into(),
            )));
        }
        let consumer = match key(self.secrets, &consumer_secret) {
            Ok(k) => k,
            Err(e) => return Ok(Err(e)),
        };
        let token = match token_secret.as_deref().map(|t| key(self.secrets, t)) {
            Some(Err(e)) => return Ok(Err(e)),
            Some(Ok(k)) => Some(k),
            None => None,
        };
        tracing::debug!(connection = %self.connection, secret = %consumer_secret, token = ?token_secret, "sign-oauth1");
        Ok(oauth1(algorithm, consumer, token, &base_string).map_err(SigningError::BadKey))
    }
}

struct HasSigning;
impl HasData for HasSigning {
    type Data<'a> = SigningView<'a>;
}

/// Adds `connhost:connector/signing` to `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> SigningView<'_>,
) -> wasmtime::Result<()> {
    signing::add_to_linker::<T, HasSigning>(linker, view)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's published example ("Examples of how to derive a signing key
    /// for Signature Version 4"): secret, date, region, service, and the
    /// `get-vanilla` string to sign of the SigV4 test suite.
    #[test]
    fn sigv4_matches_aws_s_published_example() {
        let string_to_sign = "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63";
        assert_eq!(
            sigv4(
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                "20150830",
                "us-east-1",
                "service",
                string_to_sign
            ),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    /// RFC 2202 §3 test case 2 (HMAC-SHA1) and RFC 4231 §4.3 (HMAC-SHA256).
    #[test]
    fn hmac_matches_the_rfc_vectors() {
        let h = |a, k, m: &str| hex(&sign(a, k, m.as_bytes()).unwrap());
        assert_eq!(
            h(Algorithm::HmacSha1, "Jefe", "what do ya want for nothing?"),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            h(
                Algorithm::HmacSha256,
                "Jefe",
                "what do ya want for nothing?"
            ),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// RFC 5849 §1.2's example request, signed with HMAC-SHA1 under the
    /// key `consumer_secret&token_secret` (what OAuth 1.0a needs).
    #[test]
    fn hmac_sha1_matches_rfc_5849() {
        use base64::Engine as _;
        let base = "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3Dkllo9940pd9333jh%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1191242096%26oauth_token%3Dnnch734d00sl2jdk%26oauth_version%3D1.0%26size%3Doriginal";
        let sig = sign(
            Algorithm::HmacSha1,
            "kd94hf93k423kf44&pfkkdhi9sl3r4s00",
            base.as_bytes(),
        )
        .unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(sig),
            "tR3+Ty81lMeYAr/Fid0kMTYa/WM="
        );
    }

    /// The same RFC 5849 §1.2 request through `sign-oauth1`: the key is
    /// built from the two secrets, each percent-encoded (§3.4.2); and
    /// §3.6's encoding of reserved and multi-byte characters.
    #[test]
    fn oauth1_builds_the_key_from_both_secrets() {
        let base = "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3Dkllo9940pd9333jh%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1191242096%26oauth_token%3Dnnch734d00sl2jdk%26oauth_version%3D1.0%26size%3Doriginal";
        assert_eq!(
            oauth1(
                Algorithm::HmacSha1,
                "kd94hf93k423kf44",
                Some("pfkkdhi9sl3r4s00"),
                base
            )
            .unwrap(),
            "tR3+Ty81lMeYAr/Fid0kMTYa/WM="
        );
        // No token secret: the key ends with `&` (a request-token call).
        assert_eq!(
            oauth1(Algorithm::HmacSha1, "kd94hf93k423kf44", None, base).unwrap(),
            oauth1(Algorithm::HmacSha1, "kd94hf93k423kf44", Some(""), base).unwrap()
        );
        // A secret with `&` in it is encoded, so it cannot shift the split.
        assert_ne!(
            oauth1(Algorithm::HmacSha1, "a&b", None, base).unwrap(),
            oauth1(Algorithm::HmacSha1, "a", Some("b"), base).unwrap()
        );
        assert_eq!(oauth1_encode("a b&c=d/é~"), "a%20b%26c%3Dd%2F%C3%A9~");
        assert!(oauth1(Algorithm::Rs256, "k", None, base).is_err());
    }

    #[test]
    fn a_key_that_is_not_pem_is_refused_without_showing_it() {
        let e = sign(Algorithm::Rs256, "hunter2-not-a-key", b"m").unwrap_err();
        assert!(e.contains("PKCS#8") && !e.contains("hunter2"), "{e}");
    }
}
