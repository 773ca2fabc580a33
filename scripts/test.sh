#!/usr/bin/env bash
# Every test of the project: the Rust library and end-to-end suite, the
# JavaScript and Python hosts with the shared conformance suite, then the
# Connections page in headless Chromium; the OpenAPI document against the
# real server (schemathesis) and a client generated from it.
set -euo pipefail
cd "$(dirname "$0")/.."
# The database tests need PostgreSQL on loopback: start one if we can
# (scripts/postgres.sh); without it they say so and are skipped.
if [ -z "${CONNHOST_TEST_DATABASE_URL:-}" ]; then
  if url=$(bash scripts/postgres.sh); then
    export CONNHOST_TEST_DATABASE_URL="$url"
  else
    echo "test.sh: no PostgreSQL; the database tests will be skipped" >&2
  fi
fi
cargo test
# The provider definition format and every shipped definition (native).
cargo test -p connector-generic
# The standalone adapter's signing against the published vectors (native).
cargo test -p connector-standalone
# Timing-sensitive: the noisy-neighbour proof runs alone.
cargo test -p connhost-cli --test all -- --ignored --exact \
  neighbours::a_noisy_team_leaves_a_quiet_team_its_latency --nocapture
bash scripts/schemathesis.sh
bash scripts/test-host-packages.sh
bash scripts/test-ui.sh
