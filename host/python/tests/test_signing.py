"""The `signing` import (contract 0.3.1) at the function level, with the
fixed vectors of host/src/capabilities/signing.rs; then through wasm (a
probe component) with the host's linker."""

from __future__ import annotations

import hashlib
import hmac
import unittest
from pathlib import Path

import wasmtime
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from wasmtime import component as wc

from connhost import MemorySecrets, policy
from connhost.host import Connector, _Call
from connhost.net import NetConfig
from connhost.signing import (
    MAX_MESSAGE_BYTES, SigningError, SigningKeyError, sign, sign_with_secret, sigv4,
    sigv4_with_secret, oauth1, oauth1_encode, oauth1_with_secrets,
)

ROOT = Path(__file__).resolve().parents[3]
PROBE = ROOT / "tests" / "conformance" / "signing-probe.wat"
JEFE = b"what do ya want for nothing?"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
STS = ("AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
       "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63")
SIGV4 = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"


def pem(key) -> str:  # type: ignore[no-untyped-def]
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def es256_verify(public, message: bytes, sig: bytes) -> None:  # type: ignore[no-untyped-def]
    """Verifies a 64-byte r||s signature (raises InvalidSignature)."""
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    public.verify(der, message, ec.ECDSA(hashes.SHA256()))


class Vectors(unittest.TestCase):
    def test_hmac_matches_rfc_2202_and_rfc_4231(self) -> None:
        self.assertEqual(sign("hmac-sha1", "Jefe", JEFE).hex(),
                         "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
        self.assertEqual(sign("hmac-sha256", "Jefe", JEFE).hex(),
                         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        # Keyed with the secret's UTF-8 bytes.
        self.assertEqual(sign("hmac-sha256", "ключ", JEFE),
                         hmac.new("ключ".encode(), JEFE, hashlib.sha256).digest())

    def test_oauth1_matches_rfc_5849_with_the_key_from_both_secrets(self) -> None:
        base = ("GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key"
                "%3Ddpf43f3p2l4k3l03%26oauth_nonce%3Dkllo9940pd9333jh%26oauth_signature_method%3DHMAC-SHA1"
                "%26oauth_timestamp%3D1191242096%26oauth_token%3Dnnch734d00sl2jdk%26oauth_version%3D1.0"
                "%26size%3Doriginal")
        self.assertEqual(oauth1("hmac-sha1", "kd94hf93k423kf44", "pfkkdhi9sl3r4s00", base),
                         "tR3+Ty81lMeYAr/Fid0kMTYa/WM=")
        self.assertEqual(oauth1("hmac-sha1", "c", None, base), oauth1("hmac-sha1", "c", "", base))
        self.assertNotEqual(oauth1("hmac-sha1", "a&b", None, base), oauth1("hmac-sha1", "a", "b", base))
        self.assertEqual(oauth1_encode("a b&c=d/é~"), "a%20b%26c%3Dd%2F%C3%A9~")
        secrets = {"cs": "kd94hf93k423kf44", "ts": "pfkkdhi9sl3r4s00"}
        self.assertEqual(oauth1_with_secrets(secrets.get, "hmac-sha1", "cs", "ts", base),
                         "tR3+Ty81lMeYAr/Fid0kMTYa/WM=")
        with self.assertRaises(SigningError) as e:
            oauth1_with_secrets(secrets.get, "hmac-sha1", "cs", "missing", base)
        self.assertEqual((e.exception.tag, e.exception.val), ("unknown-secret", "missing"))
        with self.assertRaises(SigningError) as e:
            oauth1_with_secrets(secrets.get, "rs256", "cs", "ts", base)
        self.assertEqual(e.exception.tag, "bad-key")

    def test_sigv4_matches_aws_published_example(self) -> None:
        self.assertEqual(sigv4(AWS_SECRET, "20150830", "us-east-1", "service", STS), SIGV4)
        get = {"aws": AWS_SECRET}.get
        self.assertEqual(sigv4_with_secret(get, "aws", "20150830", "us-east-1", "service", STS), SIGV4)
        with self.assertRaises(SigningError) as e:
            sigv4_with_secret(get, "other", "20150830", "us-east-1", "service", STS)
        self.assertEqual((e.exception.tag, e.exception.val), ("unknown-secret", "other"))
        with self.assertRaises(SigningError) as e:
            sigv4_with_secret(get, "aws", "d", "r", "s", "x" * (MAX_MESSAGE_BYTES + 1))
        self.assertEqual((e.exception.tag, e.exception.val), ("bad-key", "the string to sign is too large"))


class Keys(unittest.TestCase):
    def test_rs256_verifies_with_the_public_key(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        sig = sign("rs256", pem(key), b"header.payload")
        self.assertEqual(len(sig), 256)
        key.public_key().verify(sig, b"header.payload", padding.PKCS1v15(), hashes.SHA256())
        # PKCS1 v1.5 is deterministic.
        self.assertEqual(sign("rs256", pem(key), b"header.payload"), sig)

    def test_es256_is_64_bytes_r_s_and_verifies(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        sig = sign("es256", pem(key), b"header.payload")
        self.assertEqual(len(sig), 64)
        es256_verify(key.public_key(), b"header.payload", sig)

    def test_a_bad_key_is_refused_without_showing_it(self) -> None:
        ec_pem = pem(ec.generate_private_key(ec.SECP256R1()))
        p384 = pem(ec.generate_private_key(ec.SECP384R1()))
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pkcs1 = rsa_key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption()).decode()
        small = pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))
        garbled = "-----BEGIN PRIVATE KEY-----\nhunter2hunter2hunter2AAA\n-----END PRIVATE KEY-----\n"
        cases = [
            ("rs256", "hunter2-not-a-key", "expected a PEM `BEGIN PRIVATE KEY` (PKCS#8) block"),
            ("es256", "hunter2-not-a-key", "expected a PEM `BEGIN PRIVATE KEY` (PKCS#8) block"),
            ("rs256", pkcs1, "expected a PEM `BEGIN PRIVATE KEY` (PKCS#8) block"),
            ("rs256", "-----BEGIN PRIVATE KEY-----\nhunter2!!\n-----END PRIVATE KEY-----",
             "the PEM block is not base64"),
            ("rs256", garbled, "not an RSA PKCS#8 private key (InvalidEncoding)"),
            ("rs256", ec_pem, "not an RSA PKCS#8 private key (WrongAlgorithm)"),
            ("rs256", small, "not an RSA PKCS#8 private key (TooSmall)"),
            ("es256", pem(rsa_key), "not a P-256 PKCS#8 private key (WrongAlgorithm)"),
            ("es256", p384, "not a P-256 PKCS#8 private key (WrongAlgorithm)"),
        ]
        for alg, key, reason in cases:
            with self.subTest(reason=reason, alg=alg):
                with self.assertRaises(SigningKeyError) as e:
                    sign(alg, key, b"m")
                self.assertEqual(str(e.exception), reason)
                with self.assertRaises(SigningError) as e2:
                    sign_with_secret({"k": key}.get, "k", alg, b"m")
                self.assertEqual((e2.exception.tag, e2.exception.val), ("bad-key", f"secret `k`: {reason}"))
                self.assertNotIn("hunter2", e2.exception.val)
                self.assertNotIn(key.split("\n")[1] if "\n" in key else key, e2.exception.val)

    def test_the_sign_import_names_an_unknown_secret_and_caps_the_message(self) -> None:
        get = {"hmac": "Jefe"}.get
        self.assertEqual(sign_with_secret(get, "hmac", "hmac-sha1", JEFE).hex(),
                         "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
        with self.assertRaises(SigningError) as e:
            sign_with_secret(get, "missing", "hmac-sha256", JEFE)
        self.assertEqual((e.exception.tag, e.exception.val), ("unknown-secret", "missing"))
        with self.assertRaises(SigningError) as e:
            sign_with_secret(get, "hmac", "hmac-sha256", bytes(MAX_MESSAGE_BYTES + 1))
        self.assertEqual(e.exception.tag, "bad-key")


# A 0.3.0 component: imports `secrets@0.3.0`, which the host defines at
# 0.3.1; wasmtime's semver matching must still resolve it.
COMPAT_030 = """
(component
  (import "connhost:connector/secrets@0.3.0" (instance $secrets
    (export "has" (func (param "name" string) (result bool)))))
  (alias export $secrets "has" (func $has))
  (core module $mem
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (global.get $heap))
      (global.set $heap (i32.add (global.get $heap) (i32.add (local.get 3) (i32.const 8))))
      (local.get $p)))
  (core instance $mem (instantiate $mem))
  (alias core export $mem "memory" (core memory $memory))
  (alias core export $mem "realloc" (core func $realloc))
  (core func $has-lowered (canon lower (func $has) (memory $memory)))
  (core module $m
    (import "host" "has" (func $has (param i32 i32) (result i32)))
    (func (export "has") (param i32 i32) (result i32) (call $has (local.get 0) (local.get 1))))
  (core instance $i (instantiate $m (with "host" (instance (export "has" (func $has-lowered))))))
  (func $run (param "name" string) (result bool)
    (canon lift (core func $i "has") (memory $memory) (realloc $realloc)))
  (export "has" (func $run))
)
"""


class ThroughWasm(unittest.TestCase):
    """The host's own linker (`Connector._link`) with probe components."""

    def call(self, wat: str, secrets: dict[str, str], fn: str, *args):  # type: ignore[no-untyped-def]
        engine = wasmtime.Engine()
        probe = wc.Component(engine, wat)
        host = Connector(engine, probe, NetConfig(), 30_000, 64 << 20, None)
        store = wasmtime.Store(engine)
        host._call = _Call(policy.Allowlist(), MemorySecrets(secrets), "conn_probe")
        try:
            instance = host._linker.instantiate(store, probe)
            func = instance.get_func(store, fn)
            assert func is not None, fn
            result = func(store, *args)
            func.post_return(store)
            return result
        finally:
            host._call = None

    def test_signing_import_through_the_canonical_abi(self) -> None:
        wat = PROBE.read_text()
        key = ec.generate_private_key(ec.SECP256R1())
        secrets = {"hmac": "Jefe", "aws": AWS_SECRET, "ec": pem(key)}
        self.assertEqual(self.call(wat, secrets, "sign", "hmac", "hmac-sha1", JEFE).hex(),
                         "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
        self.assertEqual(self.call(wat, secrets, "sign", "hmac", "hmac-sha256", JEFE).hex(),
                         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        sig = self.call(wat, secrets, "sign", "ec", "es256", JEFE)
        self.assertEqual(len(sig), 64)
        es256_verify(key.public_key(), JEFE, sig)
        self.assertEqual(self.call(wat, secrets, "sign-sigv4", "aws", "20150830", "us-east-1",
                                   "service", STS), SIGV4)
        err = self.call(wat, secrets, "sign", "nope", "hmac-sha256", JEFE)
        self.assertIsInstance(err, wc.Variant)
        self.assertEqual((err.tag, err.payload), ("unknown-secret", "nope"))
        err = self.call(wat, secrets, "sign", "hmac", "rs256", JEFE)
        self.assertEqual((err.tag, err.payload),
                         ("bad-key", "secret `hmac`: expected a PEM `BEGIN PRIVATE KEY` (PKCS#8) block"))

    def test_a_0_3_0_component_still_links(self) -> None:
        self.assertIs(self.call(COMPAT_030, {"a": "1"}, "has", "a"), True)
        self.assertIs(self.call(COMPAT_030, {"a": "1"}, "has", "b"), False)


if __name__ == "__main__":
    unittest.main()
