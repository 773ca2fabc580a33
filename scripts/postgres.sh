#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 with trust
# auth for `postgres` and a database `test` (what the store tests use):
# the machine's own if it has one, else Debian's package and a cluster of
# our own under /tmp. Prints the URL the tests read.
set -euo pipefail
URL="postgres://postgres@127.0.0.1:5432/test"
usable() { psql "$URL" -Atqc 'select 1' >/dev/null 2>&1; }
if usable; then echo "$URL"; exit 0; fi

SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2
fi
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
# Debian's own cluster (started by the package, password auth) would hold
# the port: stop it, ours takes its place.
if command -v pg_lsclusters >/dev/null; then
  pg_lsclusters -h 2>/dev/null | while read -r ver name port status _; do
    if [ "$port" = 5432 ] && [ "$status" = online ]; then $SUDO pg_ctlcluster "$ver" "$name" stop >&2 || true; fi
  done
fi
DIR=/tmp/connhost-pg
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  $SUDO rm -rf "$DIR"; $SUDO mkdir -p "$DIR"; $SUDO chown postgres "$DIR"
  as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
  as_pg "$BIN/initdb" -D "$DIR/data" --auth=trust -U postgres >/dev/null
  as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w \
    -o "-h 127.0.0.1 -p 5432 -k $DIR -c max_connections=300 -c fsync=on" start >&2
fi
psql "postgres://postgres@127.0.0.1:5432/postgres" -Atqc "select 1 from pg_database where datname='test'" | grep -q 1 \
  || psql "postgres://postgres@127.0.0.1:5432/postgres" -qc "create database test" >&2
usable || { echo "PostgreSQL on 127.0.0.1:5432 does not accept postgres without a password" >&2; exit 1; }
echo "$URL"
