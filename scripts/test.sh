#!/usr/bin/env bash
# Every test of the project: the Rust library and end-to-end suite, then
# the JavaScript and Python hosts with the shared conformance suite.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test
bash scripts/test-host-packages.sh
