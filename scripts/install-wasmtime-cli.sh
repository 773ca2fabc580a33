#!/usr/bin/env bash
# Installs the stock wasmtime CLI (the version the host embeds) unless it
# is already on PATH. Used by .ci/run; tests/standalone.rs needs it.
set -euo pipefail
want="48.0.8"
export PATH="$HOME/.cargo/bin:$PATH"
if command -v wasmtime >/dev/null 2>&1 && wasmtime --version | grep -q "$want"; then
  echo "wasmtime $want already installed"
  exit 0
fi
cargo install wasmtime-cli --version "$want" --locked
