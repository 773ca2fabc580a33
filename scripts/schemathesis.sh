#!/usr/bin/env bash
# The OpenAPI document against the real server, bounded:
#  1. schemathesis (property-based) runs every operation of
#     /v1/openapi.json against `connhost serve --demo-provider` on a
#     temporary home with a team key, and fails on a 5xx, an undocumented
#     status code, content type or header, a body that breaks its schema,
#     or a request the document calls invalid that the server accepts;
#     (positive_data_acceptance is left out: connector fields, scope
#     catalogues and allowed return URLs are the server's state, not the
#     document's);
#  2. openapi-python-client generates a client from the same document,
#     and scripts/openapi_client_check.py asserts its shape (one module per
#     tag, typed models, not `Any`).
# Both tools come from PyPI into .venv-st/ (made when missing); the rest
# runs offline, on loopback. ST_MAX_EXAMPLES (default 25) bounds the run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=$root/.venv-st
if [ ! -x "$venv/bin/st" ] || [ ! -x "$venv/bin/openapi-python-client" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    schemathesis==4.32.5 openapi-python-client==0.29.1
fi

work=$(mktemp -d)
# CONNHOST_BIN: a binary already built (else the debug build of this tree).
if [ -z "${CONNHOST_BIN:-}" ]; then
  cargo build --quiet -p connhost-cli
  CONNHOST_BIN=${CARGO_TARGET_DIR:-$root/target}/debug/connhost
fi
# A copy: a shared target directory may be rebuilt under us.
cp "$CONNHOST_BIN" "$work/connhost"
bin=$work/connhost

server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export CONNHOST_HOME=$work/home
mkdir -p "$CONNHOST_HOME"
"$bin" connector add builtin:celonis >/dev/null
key=$("$bin" apikey create --team st --name schemathesis 2>/dev/null)
operator=$("$bin" apikey create --operator --name schemathesis 2>/dev/null)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
"$bin" serve --listen "127.0.0.1:$port" --demo-provider --renew-every-secs 0 \
  >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -fsS "$url/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS -H "Authorization: Bearer $key" "$url/v1/openapi.json" >"$work/openapi.json"

# Something for the operations to find: connections of the demo provider
# (one to delete), a usage, a dynamic connection, a connect session.
post() {
  curl -fsS -X POST -H "Authorization: Bearer $key" -H 'content-type: application/json' \
    -d "$2" "$url$1"
}
id_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
connection='{"connector": "celonis", "name": "st", "fields": {"domain": "acme.eu-1.celonis.cloud", "auth_type": "app-key"}, "secrets": {"app_key": "demo-app-key-4f1d9c"}}'
conn=$(post /v1/connections "$connection" | id_of id)
victim=$(post /v1/connections "$connection" | id_of id)
post /v1/usages "{\"consumer\": \"flow-1\", \"connection\": \"$conn\", \"scopes\": [], \"state\": \"inactive\"}" >/dev/null
post /v1/dynamic-connections "{\"name\": \"by-dept\", \"connector\": \"celonis\", \"key\": \"dept\", \"choices\": {\"sales\": \"$conn\"}, \"default\": null}" >/dev/null
session=$(post /v1/connect-sessions '{"connector": "celonis"}' | id_of token)
# Path values and keys per operation. Webhooks are not added here: their
# deliveries would go to whatever URL was generated.
# Each operation gets exactly one key: the operator's, the connect
# session's, or else the team's.
team_ops=$(python3 - "$work/openapi.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
others = {"metrics", "addConnector", "getConnectSession", "createSessionConnection",
          "authorizeSessionConnection"}
ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
print(json.dumps(sorted(set(ids) - others)))
PY
)
cat >"$work/schemathesis.toml" <<TOML
[parameters]
"path.id" = "$conn"
"path.name" = "app_key"

[[operations]]
include-operation-id = $team_ops
headers = { Authorization = "Bearer $key" }

[[operations]]
include-operation-id = "deleteConnection"
parameters = { "path.id" = "$victim" }

[[operations]]
include-operation-id = "getConnector"
parameters = { "path.id" = "celonis" }

[[operations]]
include-operation-id = "removeDynamicConnection"
parameters = { "path.id" = "by-dept" }

[[operations]]
include-operation-id = "addWebhook"
enabled = false

[[operations]]
include-operation-id-regex = "^(getConnectSession|createSessionConnection|authorizeSessionConnection)$"
headers = { Authorization = "Bearer $session" }

# A provider refusing generated credentials answers 502 (documented):
# only there is a 5xx no server error.
[[operations]]
include-tag-regex = "^(connections|connect|providers)$"
checks = { not_a_server_error = { expected-statuses = ["2xx", "3xx", "4xx", 502] } }

[[operations]]
include-operation-id-regex = "^(metrics|addConnector)$"
headers = { Authorization = "Bearer $operator" }
TOML

# Phases without `stateful`: each operation on its own, bounded examples.
status=0
# From $work: schemathesis keeps a cache in its working directory.
(cd "$work" && "$venv/bin/st" --config-file "$work/schemathesis.toml" run "$work/openapi.json" --url "$url" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection \
  --phases examples,coverage,fuzzing \
  --max-examples "${ST_MAX_EXAMPLES:-25}" \
  --seed 1 \
  --generation-database none \
  --workers 2 \
  --no-color \
  --report-dir "$work/report") || status=$?
if [ "$status" != 0 ]; then
  echo "schemathesis.sh: schemathesis failed ($status); the server's log:" >&2
  tail -n 50 "$work/serve.log" >&2
  exit "$status"
fi

# The generated client's shape.
(cd "$work" && "$venv/bin/openapi-python-client" generate --path openapi.json \
  --output-path client --overwrite >"$work/generate.log" 2>&1) || {
  cat "$work/generate.log" >&2
  exit 1
}
"$venv/bin/python" scripts/openapi_client_check.py "$work/client"
