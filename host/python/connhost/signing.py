"""The `signing` import (contract 0.3.2), as the Rust host's
`host/src/capabilities/signing.rs`: signatures made with a connection's
secret by name, so its value never enters the component. Keys are parsed
per call and dropped; errors never carry key material. HMAC and SigV4
with `hmac`/`hashlib`; RS256 and ES256 with `cryptography`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Callable, Optional

#: Largest message one call signs (a string-to-sign or JWT input is small).
MAX_MESSAGE_BYTES = 1 << 20

ALGORITHMS = ("hmac-sha1", "hmac-sha256", "rs256", "es256")


class SigningKeyError(Exception):
    """Why a key was refused; the message never holds the key."""


class SigningError(Exception):
    """The contract's `signing-error`: `tag` is `unknown-secret` (`val`
    the name) or `bad-key` (`val` the reason)."""

    def __init__(self, tag: str, val: str) -> None:
        super().__init__(f"{tag}: {val}")
        self.tag = tag
        self.val = val


def _pkcs8_der(pem: str) -> bytes:
    """The DER of a `-----BEGIN PRIVATE KEY-----` (PKCS#8) PEM block, read
    as the Rust host does (trimmed lines between the markers, strict base64)."""
    lines = [line.strip() for line in pem.split("\n")]
    body = ""
    if "-----BEGIN PRIVATE KEY-----" in lines:
        for line in lines[lines.index("-----BEGIN PRIVATE KEY-----") + 1:]:
            if line == "-----END PRIVATE KEY-----":
                break
            body += line
    if not body:
        raise SigningKeyError("expected a PEM `BEGIN PRIVATE KEY` (PKCS#8) block")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise SigningKeyError("the PEM block is not base64") from None


def _private_key(der: bytes, what: str):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    try:
        return load_der_private_key(der, password=None)
    except Exception:
        # A fixed reason: the library's text is not shown.
        raise SigningKeyError(f"not {what} PKCS#8 private key (InvalidEncoding)") from None


def sign(algorithm: str, key: str, message: bytes) -> bytes:
    """`algorithm` (`hmac-sha1`, `hmac-sha256`, `rs256`, `es256`) over
    `message` with key text `key`: HMAC keyed with its UTF-8 bytes; RS256
    (RSASSA-PKCS1-v1_5, SHA-256) and ES256 (ECDSA P-256, SHA-256, the
    64-byte `r || s` form) with a PEM PKCS#8 private key. Raises
    SigningKeyError."""
    message = bytes(message)
    if algorithm == "hmac-sha1":
        return hmac.new(key.encode("utf-8"), message, hashlib.sha1).digest()
    if algorithm == "hmac-sha256":
        return hmac.new(key.encode("utf-8"), message, hashlib.sha256).digest()
    if algorithm == "rs256":
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        k = _private_key(_pkcs8_der(key), "an RSA")
        if not isinstance(k, rsa.RSAPrivateKey):
            raise SigningKeyError("not an RSA PKCS#8 private key (WrongAlgorithm)")
        # As ring: 2048 to 4096-bit moduli.
        if k.key_size < 2048:
            raise SigningKeyError("not an RSA PKCS#8 private key (TooSmall)")
        if k.key_size > 4096:
            raise SigningKeyError("not an RSA PKCS#8 private key (TooLarge)")
        try:
            return k.sign(message, padding.PKCS1v15(), hashes.SHA256())
        except Exception:
            raise SigningKeyError("RSA signing failed") from None
    if algorithm == "es256":
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        k = _private_key(_pkcs8_der(key), "a P-256")
        if not isinstance(k, ec.EllipticCurvePrivateKey) or k.curve.name != "secp256r1":
            raise SigningKeyError("not a P-256 PKCS#8 private key (WrongAlgorithm)")
        try:
            r, s = decode_dss_signature(k.sign(message, ec.ECDSA(hashes.SHA256())))
        except Exception:
            raise SigningKeyError("ECDSA signing failed") from None
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    raise ValueError(f"unknown signing algorithm `{algorithm}`")


def sigv4(secret: str, date: str, region: str, service: str, string_to_sign: str) -> str:
    """AWS Signature Version 4: the key chain (`AWS4<secret>` -> date ->
    region -> service -> `aws4_request`, each HMAC-SHA256), then
    HMAC-SHA256 of `string_to_sign` with it; lower-case hex."""

    def step(key: bytes, data: str) -> bytes:
        return hmac.new(key, data.encode("utf-8"), hashlib.sha256).digest()

    k_date = step(f"AWS4{secret}".encode("utf-8"), date)
    k_region = step(k_date, region)
    k_service = step(k_region, service)
    k_signing = step(k_service, "aws4_request")
    return step(k_signing, string_to_sign).hex()


def sign_with_secret(get_secret: Callable[[str], Optional[str]], name: str, algorithm: str,
                     message: bytes) -> bytes:
    """The `sign` import: the signature, or SigningError
    (`unknown-secret(name)`, `bad-key(reason)`)."""
    if len(message) > MAX_MESSAGE_BYTES:
        raise SigningError("bad-key", f"the message is larger than {MAX_MESSAGE_BYTES} bytes")
    key = get_secret(name)
    if key is None:
        raise SigningError("unknown-secret", name)
    try:
        return sign(algorithm, key, message)
    except SigningKeyError as e:
        raise SigningError("bad-key", f"secret `{name}`: {e}") from None


def sigv4_with_secret(get_secret: Callable[[str], Optional[str]], name: str, date: str,
                      region: str, service: str, string_to_sign: str) -> str:
    """The `sign-sigv4` import: lower-case hex, or SigningError."""
    if len(string_to_sign.encode("utf-8")) > MAX_MESSAGE_BYTES:
        raise SigningError("bad-key", "the string to sign is too large")
    key = get_secret(name)
    if key is None:
        raise SigningError("unknown-secret", name)
    return sigv4(key, date, region, service, string_to_sign)


def oauth1_encode(s: str) -> str:
    """RFC 5849 §3.6: every byte but ALPHA, DIGIT, `-`, `.`, `_`, `~` as `%XX`."""
    out = []
    for b in s.encode("utf-8"):
        c = chr(b)
        out.append(c if (c.isascii() and c.isalnum()) or c in "-._~" else f"%{b:02X}")
    return "".join(out)


def oauth1(algorithm: str, consumer: str, token: Optional[str], base: str) -> str:
    """RFC 5849 §3.4.2: HMAC of `base` keyed `enc(consumer)&enc(token)`;
    base64. SigningKeyError for an algorithm other than HMAC."""
    if algorithm not in ("hmac-sha1", "hmac-sha256"):
        raise SigningKeyError("OAuth 1.0a signs with hmac-sha1 or hmac-sha256")
    key = f"{oauth1_encode(consumer)}&{oauth1_encode(token or '')}"
    return base64.b64encode(sign(algorithm, key, base.encode("utf-8"))).decode("ascii")


def oauth1_with_secrets(get_secret: Callable[[str], Optional[str]], algorithm: str,
                        consumer_name: str, token_name: Optional[str], base: str) -> str:
    """The `sign-oauth1` import (0.3.2): base64, or SigningError."""
    if len(base.encode("utf-8")) > MAX_MESSAGE_BYTES:
        raise SigningError("bad-key", "the base string is too large")
    consumer = get_secret(consumer_name)
    if consumer is None:
        raise SigningError("unknown-secret", consumer_name)
    token = None
    if token_name is not None:
        token = get_secret(token_name)
        if token is None:
            raise SigningError("unknown-secret", token_name)
    try:
        return oauth1(algorithm, consumer, token, base)
    except SigningKeyError as e:
        raise SigningError("bad-key", str(e)) from None
