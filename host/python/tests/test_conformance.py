"""The conformance suite (tests/conformance/cases.json) run by the Python
host against the same fake provider as the Rust and JavaScript hosts
(`connhost-fakes`). Results are normalized and judged exactly as
tests/all/conformance.rs does."""

from __future__ import annotations

import json
import os
import subprocess
import unittest
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from connhost import Connection, Connector, ConnectorError, MemorySecrets

ROOT = Path(__file__).resolve().parents[3]
CASES = ROOT / "tests" / "conformance" / "cases.json"
FAKES = Path(os.environ.get("CONNHOST_FAKES", ROOT / "target" / "debug" / "connhost-fakes"))
COMPONENTS = Path(os.environ.get("CONNHOST_COMPONENTS", ROOT / "target" / "components"))


def subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict) and isinstance(actual, dict):
        return all(k in actual and (v is None or subset(v, actual[k]))
                   for k, v in expected.items())
    return expected == actual


def state(s: Any) -> dict[str, Any]:
    return {"granted_scopes": s.granted_scopes, "expires_at": s.expires_at, "fields": s.fields}


def run_case(c: Connector, case: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    conn = Connection(id="conn_conformance", fields=dict(case.get("fields", {})),
                      definition_origins=list(case.get("definition_origins", [])))
    secrets = MemorySecrets(case.get("secrets", {}))
    call = case["call"]
    try:
        if call == "manifest":
            value: Any = c.manifest()
        elif call == "verify":
            value = {"account_label": c.verify(conn, secrets).account_label}
        elif call == "create":
            value = state(c.create(conn, secrets))
        elif call == "refresh":
            o = c.refresh(conn, secrets)
            value = ({"refreshed": state(o.refreshed)} if o.refreshed
                     else {"not_needed": o.not_needed})
        elif call == "validate_scopes":
            value = c.validate_scopes(case["required"], case["granted"])
        elif call == "revoke":
            value = c.revoke(conn, secrets)
        elif call == "allowed_origins":
            value = c.allowed_origins(conn, secrets)
        elif call == "authorize_url":
            a = case["authorize"]
            got = c.authorize_url(conn, secrets, redirect_uri=a["redirect_uri"], state=a["state"],
                                  code_challenge=a["code_challenge"], scopes=a["scopes"])
            url = urlsplit(got.url)
            value = {"origin": f"{url.scheme}://{url.netloc}", "path": url.path,
                     "query": dict(parse_qsl(url.query)), "fields": got.fields}
        elif call == "exchange_code":
            x = case["exchange"]
            value = state(c.exchange_code(conn, secrets, code=x["code"],
                                          redirect_uri=x["redirect_uri"],
                                          code_verifier=x["code_verifier"],
                                          requested_scopes=x["requested_scopes"]))
        elif call == "request":
            r = case["request"]
            value = {"status": c.request(conn, secrets, r["method"], r["url"]).status}
        else:
            raise AssertionError(f"unknown call {call}")
        out: dict[str, Any] = {"ok": value}
    except ConnectorError as e:
        out = {"error": {"kind": e.kind, "payload": e.payload}}
    return out, secrets.names()


def judge(case: dict[str, Any], out: dict[str, Any], names: list[str]) -> str | None:
    expect = case["expect"]
    if "ok" in expect:
        ok = expect["ok"]
        if "ok" not in out or not ((ok is None and out["ok"] is None)
                                   or (ok is not None and subset(ok, out["ok"]))):
            return f"expected ok {json.dumps(ok)}, got {json.dumps(out)}"
    else:
        if out.get("error", {}).get("kind") != expect["error"]:
            return f"expected error {expect['error']}, got {json.dumps(out)}"
        if "payload" in expect and not subset(expect["payload"], out["error"]["payload"]):
            return f"expected payload {json.dumps(expect['payload'])}, got {json.dumps(out)}"
    if "secrets_after" in case and case["secrets_after"] != names:
        return f"expected secrets {case['secrets_after']}, held {names}"
    return None


class Conformance(unittest.TestCase):
    def test_the_python_host_passes_the_conformance_suite(self) -> None:
        suite = json.loads(CASES.read_text())
        fakes = subprocess.Popen([str(FAKES)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            assert fakes.stdout is not None
            info = json.loads(fakes.stdout.readline())
            connect_to = info["connect_to"]
            loaded: dict[str, Connector] = {}
            failures = []
            for case in suite["cases"]:
                host = case.get("host", {})
                component = case.get("component", suite["component"])
                key = component + json.dumps(host, sort_keys=True)
                if key not in loaded:
                    kw: dict[str, Any] = {}
                    if "max_body_bytes" in host:
                        kw["max_body_bytes"] = host["max_body_bytes"]
                    if "max_timeout_ms" in host:
                        kw["max_timeout_ms"] = host["max_timeout_ms"]
                    loaded[key] = Connector.load(COMPONENTS / f"{component}.wasm",
                                                 ca_pem=info["ca_pem"],
                                                 connect_to=connect_to, **kw)
                out, names = run_case(loaded[key], case)
                why = judge(case, out, names)
                if why is None:
                    print(f"ok    {case['name']}")
                else:
                    print(f"FAIL  {case['name']}: {why}")
                    failures.append(case["name"])
            n = len(suite["cases"])
            print(f"python host: {n - len(failures)} of {n} cases pass")
            self.assertEqual(failures, [])
        finally:
            assert fakes.stdin is not None
            fakes.stdin.close()
            fakes.wait(timeout=10)
            if fakes.stdout is not None:
                fakes.stdout.close()


if __name__ == "__main__":
    unittest.main()
