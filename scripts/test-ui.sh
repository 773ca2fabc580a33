#!/usr/bin/env bash
# The Connections page (`connhost serve`) in headless Chromium: Debian's
# `chromium`, driven by playwright-core (npm; it downloads no browser).
# Installs chromium, and nodejs/npm, from Debian when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
cargo build -q --bin connhost --bin connhost-fakes
cd tests/ui
npm ci --no-audit --no-fund --loglevel=error
# Bounded: a browser that stops answering fails the run instead of hanging CI.
timeout 600 npm test
