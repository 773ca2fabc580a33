#!/usr/bin/env bash
# Runs each cargo-fuzz target in host/fuzz for a bounded time (FUZZ_SECONDS,
# default 30 s each), seeded from host/fuzz/corpus/<target>/. Fails on any
# crash; the crashing input is kept in host/fuzz/artifacts/<target>/.
# New corpus entries go to a temporary copy, never into the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-30}"
# A fixed seed: CI replays the same inputs a developer ran (a new finding
# then shows up on a developer's machine first); FUZZ_SEED=0 for a random
# one when hunting.
seed="${FUZZ_SEED:-1}"
targets=(origin address definition token_response signed)
# Inputs per target (about 20 s each here); with the fixed seed a run is
# the same inputs everywhere, cut short only on a slower machine.
declare -A runs=([origin]=100000 [address]=1000000 [definition]=200000 [token_response]=300000 [signed]=300000)

# cargo-fuzz wants nightly (sanitizer flags); rust-toolchain.toml pins
# stable. A machine that cannot fetch nightly fuzzes with the pinned
# toolchain in bootstrap mode, which accepts the same flags.
if rustup run nightly rustc --version >/dev/null 2>&1 ||
    rustup toolchain install nightly --profile minimal >/dev/null 2>&1; then
    fuzz=(cargo +nightly fuzz)
else
    echo "fuzz: no nightly toolchain; using the pinned one with RUSTC_BOOTSTRAP=1"
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
"${fuzz[@]}" build --fuzz-dir host/fuzz

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
for target in "${targets[@]}"; do
    mkdir -p "$work/corpus"
    cp -r "host/fuzz/corpus/$target" "$work/corpus/$target"
    log="$work/$target.log"
    echo "fuzz: $target for ${seconds}s"
    if "${fuzz[@]}" run --fuzz-dir host/fuzz "$target" "$work/corpus/$target" \
        -- -max_total_time="$seconds" -seed="$seed" -runs="${FUZZ_RUNS:-${runs[$target]}}" >"$log" 2>&1; then
        # libFuzzer's last lines: "#N DONE cov: …" and "Done N runs in S second(s)".
        grep -E '^#[0-9]+[[:space:]]+DONE|^Done [0-9]+ runs' "$log" | sed "s/^/fuzz: $target: /"
    else
        tail -n 60 "$log"
        echo "fuzz: $target FAILED (input kept under host/fuzz/artifacts/$target/)"
        failed+=("$target")
    fi
done

if ((${#failed[@]})); then
    echo "fuzz: crashes in: ${failed[*]}"
    exit 1
fi
