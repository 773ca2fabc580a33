#!/usr/bin/env bash
# Installs binaryen's `wasm-opt` (Debian package) unless it is on PATH.
# host/build.rs runs `wasm-opt -Oz` over each shipped component's core
# modules when it finds it; without it the components ship unoptimized.
set -euo pipefail
if command -v wasm-opt >/dev/null 2>&1; then
  echo "wasm-opt already installed: $(wasm-opt --version)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq binaryen
