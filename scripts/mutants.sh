#!/usr/bin/env bash
# Mutation testing of the security-critical code (issue 19), one area at a
# time: `bash scripts/mutants.sh policy` (or seal, egress, roles, consent,
# sessions, renewal, rotation, events, store). Needs cargo-mutants
# (`cargo install cargo-mutants --locked`). Not in CI: on 2 cores one area
# takes from minutes (policy, seal) to an hour or more (host-library areas:
# each mutant rebuilds the host and relinks the end-to-end test binary, so
# those runs are `--in-place` and run only the tests of their area; run them
# in a clone you are not editing). Prints caught / viable (viable = built).
set -euo pipefail
cd "$(dirname "$0")/.."
area="${1:-policy}"
host=(-p connhost --in-place --test-package connhost --test-package connhost-cli --baseline skip)
files() { for f in "$@"; do printf -- '--file\n%s\n' "$f"; done; }
case "$area" in
  policy) args=(-p connhost-policy); tests=() ;;
  seal) args=(-p connhost-seal); tests=() ;;
  egress)
    mapfile -t f < <(files host/src/net/mod.rs host/src/net/egress.rs host/src/net/pool.rs)
    args=("${host[@]}" "${f[@]}"); tests=(net:: sandbox:: hostile:: holes:: trust:: nextbug:: proxy::) ;;
  roles)
    mapfile -t f < <(files host/src/platform/roles.rs host/src/platform/team.rs)
    args=("${host[@]}" "${f[@]}"); tests=(platform:: trust:: holes:: nextbug:: serve:: cli:: oauth:: rollback::) ;;
  consent)
    mapfile -t f < <(files host/src/manager/consent.rs host/src/platform/consent.rs)
    args=("${host[@]}" "${f[@]}"); tests=(consent oauth:: oauth1:: mcp:: holes:: nextbug:: trust:: serve:: catalogue::added_v2) ;;
  sessions)
    mapfile -t f < <(files host/src/manager/sessions.rs host/src/store/sessions.rs)
    args=("${host[@]}" "${f[@]}"); tests=(session platform:: rollback:: holes:: nextbug:: serve::) ;;
  renewal)
    mapfile -t f < <(files host/src/manager/renewal.rs host/src/store/lock.rs)
    args=("${host[@]}" "${f[@]}"); tests=(lock renew refresh oauth:: torture:: replicas:: catalogue::) ;;
  rotation)
    mapfile -t f < <(files host/src/store/rotate.rs)
    args=("${host[@]}" "${f[@]}"); tests=(rotat nextbug:: store::) ;;
  events)
    mapfile -t f < <(files host/src/manager/events.rs)
    args=("${host[@]}" "${f[@]}"); tests=(event webhook neighbours::webhook) ;;
  store)
    mapfile -t f < <(files host/src/store/index.rs host/src/store/versions.rs)
    args=("${host[@]}" "${f[@]}"); tests=(store:: rollback:: torture:: migrate:: db:: versions) ;;
  *) echo "mutants.sh: unknown area $area (policy, seal, egress, roles, consent, sessions, renewal, rotation, events, store)" >&2; exit 2 ;;
esac
out="target/mutants-$area"
# A looping mutant is caught by the timeout; builds of the host take ~30 s.
if [ ${#tests[@]} -gt 0 ]; then tests=(-- -- "${tests[@]}"); fi
cargo mutants "${args[@]}" --timeout 240 --output "$out" "${@:2}" "${tests[@]}" || true
dir="$out/mutants.out"
count() { if [ -f "$dir/$1" ]; then wc -l < "$dir/$1"; else echo 0; fi; }
caught=$(count caught.txt)
missed=$(count missed.txt)
timeout=$(count timeout.txt)
echo "mutants ($area): $((caught + timeout)) caught of $((caught + timeout + missed)) viable ($missed missed; see $dir/missed.txt)"
