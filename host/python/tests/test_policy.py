"""The Python host's policy matches the Rust host's rules."""

import base64
import unittest

from connhost import policy


class Policy(unittest.TestCase):
    def test_templates_expand_to_exact_origins_and_refuse_smuggled_values(self) -> None:
        a = policy.Allowlist.from_templates(["https://{domain}"], {"domain": "acme.eu-1.celonis.cloud"})
        self.assertTrue(a.allows("https://acme.eu-1.celonis.cloud/api"))
        self.assertFalse(a.allows("https://acme.eu-1.celonis.cloud:8443/api"))
        self.assertFalse(a.allows("http://acme.eu-1.celonis.cloud/api"))
        self.assertFalse(a.allows("https://evil.com/api"))
        for bad in ["evil.com/x", "evil.com:80", "user@evil.com", ""]:
            self.assertEqual(policy.Allowlist.from_templates(["https://{domain}"], {"domain": bad}).origins, [], bad)

    def test_basic_is_rfc6749_form_encoded_unless_raw(self) -> None:
        header = policy.basic_header("demo-client", "demo:secret/+%&=x")
        raw = base64.b64decode(header.removeprefix("Basic ")).decode()
        self.assertEqual(raw, "demo-client:demo%3Asecret%2F%2B%25%26%3Dx")
        raw = base64.b64decode(policy.basic_header("a b", "c:d", False).removeprefix("Basic ")).decode()
        self.assertEqual(raw, "a b:c:d")
        self.assertEqual(policy.form_encode("a b~*"), "a+b%7E*")

    def test_only_public_addresses(self) -> None:
        for a in ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "192.168.1.1"]:
            self.assertFalse(policy.is_public(a), a)
        self.assertTrue(policy.is_public("93.184.216.34"))


if __name__ == "__main__":
    unittest.main()
