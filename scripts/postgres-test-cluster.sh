#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and benchmarks: in a temporary folder, listening on
# 127.0.0.1 only (a free port), with a random password, removed again by `stop`.
#
#   scripts/postgres-test-cluster.sh start [DIR] [--no-fsync]   prints the database URL
#   scripts/postgres-test-cluster.sh url [DIR]                   prints it again
#   scripts/postgres-test-cluster.sh stop [DIR]                  stops the server, removes DIR
#
# DIR defaults to $AGENTQ_PG_DIR, else $TMPDIR/agentq-pg-test. --no-fsync trades crash safety for
# speed (tests); leave it out for benchmark figures. PostgreSQL refuses to run as root, so as root
# the server runs as the unprivileged system user agentq-pg (created if missing; `nobody` if it
# cannot be), which owns DIR.
set -euo pipefail

command=${1:-}
dir=${2:-${AGENTQ_PG_DIR:-${TMPDIR:-/tmp}/agentq-pg-test}}
[ "$dir" = "--no-fsync" ] && dir=${AGENTQ_PG_DIR:-${TMPDIR:-/tmp}/agentq-pg-test}
fsync=on
for arg in "$@"; do [ "$arg" = "--no-fsync" ] && fsync=off; done
marker="$dir/.agentq-pg-test-cluster"  # stop removes only folders this script made

die() { echo "postgres-test-cluster: $*" >&2; exit 1; }

bindir() {
  local initdb
  initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$initdb" ] || initdb=$(command -v initdb || true)
  [ -n "$initdb" ] || die "PostgreSQL is not installed: run scripts/system-deps.sh as root (apt-get install postgresql)"
  dirname "$initdb"
}

server_user() {
  if [ "$(id -u)" -ne 0 ]; then id -un; return; fi
  if ! id agentq-pg >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin agentq-pg \
      >/dev/null 2>&1 || { echo nobody; return; }
  fi
  echo agentq-pg
}

as_server_user() {  # as_server_user USER COMMAND...: run COMMAND as USER, from DIR
  local user=$1; shift
  if [ "$(id -un)" = "$user" ]; then (cd "$dir" && "$@"); return; fi
  if command -v runuser >/dev/null; then (cd "$dir" && runuser -u "$user" -- "$@"); return; fi
  (cd "$dir" && su -s /bin/sh "$user" -c "$(printf '%q ' "$@")")
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  if [ -f "$dir/url" ] && [ -f "$dir/data/postmaster.pid" ]; then cat "$dir/url"; return; fi
  local bin user password port
  bin=$(bindir)
  user=$(server_user)
  mkdir -p "$dir"
  [ -z "$(ls -A "$dir")" ] || die "$dir is not empty; choose an empty or new folder"
  touch "$marker"
  chown "$user" "$dir" && chmod 700 "$dir"
  password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  (umask 077 && printf '%s\n' "$password" >"$dir/pwfile")
  chown "$user" "$dir/pwfile"
  as_server_user "$user" "$bin/initdb" --pgdata="$dir/data" --username=agentq --pwfile="$dir/pwfile" \
    --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || die "initdb failed; see $dir/initdb.log"
  rm -f "$dir/pwfile"
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    if as_server_user "$user" "$bin/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait --silent \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$dir'" \
      -o "-c fsync=$fsync -c full_page_writes=$fsync -c max_connections=300" start; then
      break
    fi
    [ "$attempt" -lt 5 ] || die "the server did not start; see $dir/server.log"
  done
  # The database the URL names; tests create their own databases next to it.
  PGPASSWORD=$password "$bin/psql" -q -h 127.0.0.1 -p "$port" -U agentq -d postgres \
    -c "CREATE DATABASE agentq" >/dev/null
  (umask 077 && printf 'postgresql+psycopg://agentq:%s@127.0.0.1:%s/agentq\n' "$password" "$port" >"$dir/url")
  cat "$dir/url"
}

stop() {
  [ -e "$dir" ] || return 0
  [ -f "$marker" ] || die "$dir was not made by this script; not removing it"
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_server_user "$(stat -c %U "$dir")" "$(bindir)/pg_ctl" --pgdata="$dir/data" --mode=immediate --wait \
      --silent stop || true
  fi
  rm -rf "$dir"
}

case "$command" in
  start) start ;;
  stop) stop ;;
  url) [ -f "$dir/url" ] || die "no cluster in $dir; start one first"; cat "$dir/url" ;;
  *) die "usage: $0 start|stop|url [DIR] [--no-fsync]" ;;
esac
