"""`python bench.py`: the Python host's figures for the shipped Celonis
component: first load (compile), cached load, instantiate + manifest, and
verify against the fake provider (`connhost-fakes`), p50."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from connhost import Connection, Connector, MemorySecrets

ROOT = Path(__file__).resolve().parents[2]
COMPONENT = ROOT / "target" / "components" / "celonis.wasm"
FAKES = ROOT / "target" / "debug" / "connhost-fakes"


def ms(f, n: int) -> float:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        samples.append((time.perf_counter() - t) * 1e3)
    return statistics.median(samples)


def main() -> None:
    cache = tempfile.mkdtemp()
    first = ms(lambda: Connector.load(COMPONENT, cache_dir=cache), 1)
    cached = ms(lambda: Connector.load(COMPONENT, cache_dir=cache), 5)
    fakes = subprocess.Popen([str(FAKES)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        info = json.loads(fakes.stdout.readline())
        c = Connector.load(COMPONENT, cache_dir=cache, ca_pem=info["ca_pem"],
                           connect_to={f"{h}:443": info["addr"] for h in info["hosts"]})
        # A fresh instance per call, as every call gets.
        inst = ms(lambda: c._run(None, None, "manifest"), 200)
        conn = Connection(id="bench", fields={"domain": "acme.eu-1.celonis.cloud", "auth_type": "app-key"})
        secrets = MemorySecrets({"app_key": "demo-app-key-4f1d9c"})
        c.verify(conn, secrets)
        verify = ms(lambda: c.verify(conn, secrets), 200)
    finally:
        fakes.stdin.close()
        fakes.wait(timeout=10)
    print(f"connhost Python host benchmark (python {sys.version.split()[0]})")
    print(f"first load (compile)        {first:8.2f} ms")
    print(f"cached load                 {cached:8.2f} ms")
    print(f"instantiate + manifest p50  {inst:8.3f} ms")
    print(f"verify p50                  {verify:8.3f} ms")
    print("JSON " + json.dumps({"python": sys.version.split()[0], "first_load_ms": first,
                                "cached_load_ms": cached, "instantiate_manifest_ms": inst,
                                "verify_ms": verify}))


if __name__ == "__main__":
    main()
