"""Extra credentials (contract 0.3.1, `http.send-with` and
`add-credentials`), mirroring `attach_extra` in
host/src/capabilities/http.rs and its tests: first the policy function,
then the host's import handlers with values shaped as wasmtime-py lifts
them (the HTTPS client replaced by a recorder)."""

from __future__ import annotations

import base64
import json
import unittest
from typing import Any

import wasmtime
from wasmtime import component as wc

from connhost import ConnectorError, MemorySecrets, policy
from connhost.host import Connector, _Call, _rec
from connhost.net import NetConfig
from connhost.policy import Credential, RequestError, attach_extra, basic_header

SECRETS = {"api_key": "k-1", "app_key": "a-2", "password": "p:w d", "colon_user": "us:er",
           "token": "t 1&x"}


def secret(name: str) -> str:
    value = SECRETS.get(name)
    if value is None:
        raise RequestError(f"secret `{name}` is not set")
    return value


def decoded(header: str) -> str:
    return base64.b64decode(header.removeprefix("Basic ")).decode()


class AttachExtra(unittest.TestCase):
    URL = "https://a.example.com/t"

    def extra(self, *creds: Credential, url: str = URL, headers: Any = (), body: bytes = b""):  # type: ignore[no-untyped-def]
        return attach_extra(url, list(headers), body, creds, secret)

    def refused(self, message: str, *creds: Credential, body: bytes = b"") -> None:
        with self.assertRaises(RequestError) as e:
            self.extra(*creds, body=body)
        self.assertEqual(str(e.exception), message)

    def test_header(self) -> None:
        _, headers, _ = self.extra(
            Credential("header", name="DD-APPLICATION-KEY", secret="app_key"),
            Credential("header", name="x-token", prefix="Token ", secret="token"),
            headers=[("authorization", "Bearer x")])
        self.assertEqual(headers, [("authorization", "Bearer x"), ("DD-APPLICATION-KEY", "a-2"),
                                   ("x-token", "Token t 1&x")])
        for bad in ["Host", "x y", "x:y", "x\r\ny"]:
            self.refused(f"bad header name `{bad}`", Credential("header", name=bad, secret="api_key"))
        self.refused("secret `nope` is not set", Credential("header", name="x-k", secret="nope"))

    def test_query(self) -> None:
        url, _, _ = self.extra(Credential("query", name="api key", secret="token"),
                               url="https://a.example.com/t?x=1")
        self.assertEqual(url, "https://a.example.com/t?x=1&api+key=t+1%26x")
        url, _, _ = self.extra(Credential("query", name="k", secret="api_key"))
        self.assertEqual(url, "https://a.example.com/t?k=k-1")
        url, _, _ = self.extra(Credential("query", name="k", secret="api_key"),
                               url="https://a.example.com/t?#f")
        self.assertEqual(url, "https://a.example.com/t?k=k-1#f")
        self.refused("secret `missing` is not set", Credential("query", name="k", secret="missing"))

    def test_basic_raw_from_secrets_replacing_authorization(self) -> None:
        _, headers, _ = self.extra(Credential("basic", username_secret="api_key"),
                                   headers=[("Authorization", "Bearer x"), ("accept", "a/b")])
        # The key as the user name, an empty password; the Bearer replaced.
        self.assertEqual(headers, [("accept", "a/b"), ("authorization", basic_header("k-1", "", False))])
        self.assertEqual(decoded(headers[1][1]), "k-1:")
        _, headers, _ = self.extra(Credential("basic", username_secret="app_key",
                                              password_secret="password"))
        # Raw: neither part form-encoded.
        self.assertEqual(decoded(headers[0][1]), "a-2:p:w d")
        # A user name holding `:` cannot be sent (RFC 7617); named, never valued.
        with self.assertRaises(RequestError) as e:
            self.extra(Credential("basic", username_secret="colon_user"))
        self.assertIn("`colon_user`", str(e.exception))
        self.assertIn("RFC 7617", str(e.exception))
        self.assertNotIn("us:er", str(e.exception))
        self.refused("secret `nope` is not set", Credential("basic", username_secret="nope"))
        self.refused("secret `nope_pw` is not set",
                     Credential("basic", username_secret="api_key", password_secret="nope_pw"))

    def test_json_member_at_a_pointer(self) -> None:
        _, _, body = self.extra(Credential("json", pointer="/auth/secret", secret="app_key"),
                                Credential("json", pointer="/a~1b/k~0", secret="api_key"),
                                body=b'{"auth":{"user":"u"},"a/b":{}}')
        self.assertEqual(json.loads(body), {"auth": {"user": "u", "secret": "a-2"}, "a/b": {"k~": "k-1"}})
        # Written as the Rust host writes it: compact, keys in order.
        self.assertEqual(body, b'{"a/b":{"k~":"k-1"},"auth":{"secret":"a-2","user":"u"}}')
        _, _, body = self.extra(Credential("json", pointer="/x", secret="token"), body=b' {"x":1} ')
        self.assertEqual(body, b'{"x":"t 1&x"}')
        _, _, body = self.extra(Credential("json", pointer="/l/1/k", secret="api_key"),
                                body=b'{"l":[{},{}]}')
        self.assertEqual(body, b'{"l":[{},{"k":"k-1"}]}')
        _, _, body = self.extra(Credential("json", pointer="/n", secret="api_key"),
                                body='{"é":"ü"}'.encode())
        self.assertEqual(body, '{"n":"k-1","é":"ü"}'.encode())

    def test_json_refusals(self) -> None:
        # Not a JSON body: empty, text, a form, truncated, NaN, not UTF-8.
        for body in [b"", b"hello", b"a=1&b=2", b'{"x":', b'{"x":NaN}', b'{"x":"\xff"}']:
            with self.subTest(body=body), self.assertRaises(RequestError) as e:
                self.extra(Credential("json", pointer="/x", secret="api_key"), body=body)
            self.assertTrue(str(e.exception).startswith("a json credential needs a JSON body"))
        # The parent must exist and be an object.
        for body, pointer, parent in [(b'{"a":"s"}', "/a/b", "/a"), (b"[1]", "/0", ""),
                                      (b"{}", "/no/k", "/no"), (b'{"l":[{}]}', "/l/01/k", "/l/01")]:
            with self.subTest(pointer=pointer):
                self.refused(f"the JSON body has no object at `{parent}` for `{pointer}`",
                             Credential("json", pointer=pointer, secret="api_key"), body=body)
        self.refused("`x` is not a JSON pointer", Credential("json", pointer="x", secret="api_key"),
                     body=b"{}")
        self.refused("secret `nope` is not set", Credential("json", pointer="/k", secret="nope"),
                     body=b"{}")


def credential(tag: str, **fields: Any) -> wc.Variant:
    """An `http.credential` as wasmtime-py lifts it."""
    return wc.Variant(tag, _rec(**fields))


class Recorder:
    """Stands in for the HTTPS client: records what would be sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, list[tuple[str, str]], bytes]] = []

    def send(self, method, url, headers, body, timeout_ms, identity=None):  # type: ignore[no-untyped-def]
        self.sent.append((method, url, headers, body))
        return 200, [], b"{}"


class Imports(unittest.TestCase):
    """`send-with` and `add-credentials` as the linker calls them."""

    def setUp(self) -> None:
        engine = wasmtime.Engine()
        probe = wc.Component(engine, "(component)")
        self.host = Connector(engine, probe, NetConfig(), 30_000, 64 << 20, None)
        self.recorder = Recorder()
        self.host._client = self.recorder  # type: ignore[assignment]
        self.host._call = _Call(policy.Allowlist.from_templates(["https://a.example.com"], {}),
                                MemorySecrets(SECRETS), "conn_x")

    def request(self, body: Any = None, auth: Any = None) -> wc.Record:
        return _rec(method="post", url="https://a.example.com/t", headers=[("accept", "a/b")],
                    auth=auth or wc.Variant("none"), body=body, timeout_ms=None)

    def test_send_with_applies_each_kind_after_auth(self) -> None:
        auth = wc.Variant("header", _rec(name="authorization", prefix="Bearer ", secret="token"))
        r = self.host._send(self.request(body=b'{"c":{}}', auth=auth), [
            credential("header", name="x-app", prefix="", secret="app_key"),
            credential("query", name="k", secret="api_key"),
            credential("basic", username_secret="api_key", password_secret=None),
            credential("json", pointer="/c/key", secret="app_key"),
        ])
        self.assertEqual(_get_status(r), 200)
        method, url, headers, body = self.recorder.sent[-1]
        self.assertEqual((method, url), ("POST", "https://a.example.com/t?k=k-1"))
        self.assertEqual(headers, [("accept", "a/b"), ("x-app", "a-2"),
                                   ("authorization", basic_header("k-1", "", False))])
        self.assertEqual(body, b'{"c":{"key":"a-2"}}')

    def test_send_with_refusals_are_invalid_request(self) -> None:
        cases = [
            ([credential("header", name="x", prefix="", secret="nope")], "secret `nope` is not set"),
            ([credential("basic", username_secret="colon_user", password_secret=None)], "RFC 7617"),
            ([credential("json", pointer="/k", secret="api_key")], "a json credential needs a JSON body"),
            ([credential("query", name="k", secret="api_key")] * 9, "more than 8 extra credentials"),
        ]
        for extra, why in cases:
            with self.subTest(why=why):
                r = self.host._send(self.request(body=b"a=1"), extra)
                self.assertIsInstance(r, wc.Variant)
                self.assertEqual(r.tag, "invalid-request")
                self.assertIn(why, r.payload)
        self.assertEqual(self.recorder.sent, [], "a refused request is never sent")

    def test_add_credentials_stages_for_the_request_and_is_bounded(self) -> None:
        self.host._add_credentials([credential("query", name="k", secret="api_key")])
        self.host._add_credentials([credential("basic", username_secret="app_key",
                                               password_secret="password")])
        staged = self.host._call.staged  # type: ignore[union-attr]
        self.assertEqual(staged, [Credential("query", name="k", secret="api_key"),
                                  Credential("basic", username_secret="app_key",
                                             password_secret="password")])
        self.host._send_checked(self.request(), staged)
        _, url, headers, _ = self.recorder.sent[-1]
        self.assertEqual(url, "https://a.example.com/t?k=k-1")
        self.assertEqual(decoded(dict(headers)["authorization"]), "a-2:p:w d")
        with self.assertRaises(ConnectorError) as e:
            self.host._add_credentials([credential("query", name="k", secret="api_key")] * 7)
        self.assertEqual(e.exception.kind, "plugin")
        self.assertEqual(len(staged), 2)


def _get_status(r: Any) -> int:
    return r.status


if __name__ == "__main__":
    unittest.main()
