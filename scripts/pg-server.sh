#!/usr/bin/env bash
# A throwaway PostgreSQL 15 for the tests: data in a fresh temporary
# directory, run as the unprivileged `postgres` user (PostgreSQL refuses
# root), trust authentication, 127.0.0.1 only, a free port, the unix socket
# inside the directory, fsync on (the tests check durability).
#
#   scripts/pg-server.sh start [--under DIR]
#       starts a server and prints the environment the tests need, as
#       `export NAME=VALUE` lines (eval them):
#         POSSYNC_TEST_PG_URL   postgresql://postgres@127.0.0.1:PORT/possync_test
#         POSSYNC_TEST_PG_DIR   the server's directory (give it to stop/pause/resume)
#         POSSYNC_TEST_PG_CTL   this script (the outage test starts its own
#                               server with it, under POSSYNC_TEST_PG_DIR)
#       --under DIR puts the new server's directory inside DIR, so that
#       stopping DIR's server also stops it.
#   scripts/pg-server.sh stop DIR     pg_ctl stop -m fast for DIR's server and
#                                     every server under DIR, then removes DIR
#   scripts/pg-server.sh pause DIR    stops the server, keeps its data (outage test)
#   scripts/pg-server.sh resume DIR   starts it again on the same port
set -euo pipefail

self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
pg_bin=""
for candidate in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
  if [[ -x "$candidate/pg_ctl" ]]; then
    pg_bin=$candidate
    break
  fi
done

die() {
  echo "pg-server: $*" >&2
  exit 1
}

as_postgres() { runuser -u postgres -- "$@"; }

port_in_use() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 30000))
    if ! port_in_use "$port"; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

# pg_ctl start for DIR with the options recorded at creation.
server_start() {
  local dir=$1 port
  port=$(cat "$dir/port")
  as_postgres "$pg_bin/pg_ctl" start -w -t 60 -D "$dir/data" -l "$dir/server.log" \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/sock -c fsync=on -c synchronous_commit=on -c max_connections=300" \
    >/dev/null
}

server_stop() {
  local data=$1
  [[ -f "$data/postmaster.pid" ]] || return 0
  as_postgres "$pg_bin/pg_ctl" stop -w -t 60 -m fast -D "$data" >/dev/null 2>&1 || {
    # Last resort: the postmaster by its PID (never by name).
    local pid
    pid=$(head -n1 "$data/postmaster.pid" 2>/dev/null || true)
    [[ -n "$pid" ]] && kill -9 "$pid" 2>/dev/null || true
  }
}

cmd_start() {
  local under=""
  if [[ "${1:-}" == "--under" ]]; then
    under=${2:?--under needs a directory}
  fi
  [[ -n "$pg_bin" ]] || die "PostgreSQL server binaries not found (apt-get install postgresql-15)"
  id postgres >/dev/null 2>&1 || die "no 'postgres' user to run the server as"

  local dir
  if [[ -n "$under" ]]; then
    dir=$(mktemp -d "$under/pg.XXXXXX")
  else
    # /tmp, not $TMPDIR: the postgres user must be able to traverse every
    # directory above the data (a TMPDIR under /root would not do).
    dir=$(mktemp -d /tmp/possync-pg.XXXXXX)
  fi
  # The postgres user must reach its data and socket directories inside.
  chmod 755 "$dir"
  mkdir -p "$dir/data" "$dir/sock"
  chown postgres: "$dir/data" "$dir/sock"
  chmod 700 "$dir/data"
  touch "$dir/server.log"
  chown postgres: "$dir/server.log"

  if ! as_postgres "$pg_bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    rm -rf "$dir"
    die "initdb failed"
  fi

  local started=0
  for _ in 1 2 3 4 5; do
    free_port >"$dir/port" || die "no free port"
    if server_start "$dir" 2>>"$dir/start.log"; then
      started=1
      break
    fi
  done
  if ((started == 0)); then
    tail -n 20 "$dir/server.log" >&2 || true
    server_stop "$dir/data"
    rm -rf "$dir"
    die "the server did not start"
  fi

  local port
  port=$(cat "$dir/port")
  if ! as_postgres "$pg_bin/createdb" -h "$dir/sock" -p "$port" -U postgres possync_test 2>>"$dir/start.log"; then
    cat "$dir/start.log" >&2
    cmd_stop "$dir"
    die "createdb failed"
  fi
  cat <<EOF
export POSSYNC_TEST_PG_URL=postgresql://postgres@127.0.0.1:$port/possync_test
export POSSYNC_TEST_PG_DIR=$dir
export POSSYNC_TEST_PG_CTL=$self
EOF
}

check_dir() {
  local dir=${1:-}
  [[ -n "$dir" && -d "$dir/data" && -f "$dir/port" ]] || die "not a pg-server.sh directory: '$dir'"
}

cmd_stop() {
  local dir=${1:-}
  [[ -n "$dir" && -d "$dir" ]] || return 0
  # Servers started --under this one first (the outage test's own), then it.
  local pidfile
  while IFS= read -r pidfile; do
    server_stop "$(dirname "$pidfile")"
  done < <(find "$dir" -mindepth 2 -name postmaster.pid 2>/dev/null)
  [[ -d "$dir/data" ]] && server_stop "$dir/data"
  rm -rf "$dir"
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) cmd_stop "${2:-}" ;;
  pause) check_dir "${2:-}"; server_stop "$2/data" ;;
  resume) check_dir "${2:-}"; server_start "$2" ;;
  *) die "usage: $0 start [--under DIR] | stop DIR | pause DIR | resume DIR" ;;
esac
