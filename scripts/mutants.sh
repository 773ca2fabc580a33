#!/usr/bin/env bash
# Mutation testing of the security-critical code (issue 19), one area at a
# time: `bash scripts/mutants.sh policy` (or seal, …). Needs cargo-mutants
# (`cargo install cargo-mutants --locked`). Not in CI: on 2 cores one area
# takes minutes to hours. Prints caught / viable (viable = not unviable).
set -euo pipefail
cd "$(dirname "$0")/.."
area="${1:-policy}"
case "$area" in
  policy) args=(-p connhost-policy) ;;
  seal) args=(-p connhost-seal) ;;
  *) echo "mutants.sh: unknown area $area (policy, seal)" >&2; exit 2 ;;
esac
out="target/mutants-$area"
cargo mutants "${args[@]}" --timeout 120 --output "$out" "${@:2}" || true
dir="$out/mutants.out"
caught=$(wc -l < "$dir/caught.txt")
missed=$(wc -l < "$dir/missed.txt")
timeout=$(wc -l < "$dir/timeout.txt")
echo "mutants ($area): $((caught + timeout)) caught of $((caught + timeout + missed)) viable ($missed missed; see $dir/missed.txt)"
