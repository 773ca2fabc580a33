#!/usr/bin/env bash
# The JavaScript (host/js) and Python (host/python) hosts: their unit
# tests and the conformance suite (tests/conformance/cases.json) against
# the fake provider, as the Rust host runs it in tests/all/conformance.rs.
# Installs Node/npm and Python's venv from Debian when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
    if command -v apt-get >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq "$@" >/dev/null
    else
        echo "missing $* and no apt-get to install it" >&2
        exit 1
    fi
}
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
command -v python3 >/dev/null || apt_install python3
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv

# The fake provider the runners start, and the component they load.
cargo build -q -p connhost-testkit --bin connhost-fakes
test -f target/components/celonis.wasm || cargo build -q -p connhost

echo "== host/js (node $(node --version))"
(cd host/js && npm ci --no-audit --no-fund --loglevel=error && npm test)

echo "== host/python ($(python3 --version))"
[ -x host/python/.venv/bin/python ] || python3 -m venv host/python/.venv
host/python/.venv/bin/pip install -q --disable-pip-version-check -e host/python
host/python/.venv/bin/python -m unittest discover -s host/python/tests
