#!/usr/bin/env bash
# Runs possync-load against a broker of its own and records the result.
#
#   bench/run-load.sh [--build DIR] [--store URL | --pg] [--nodes 1|2] [--name NAME] [--broker-arg ARG]... \
#                     [--no-record] -- [possync-load options]
#   bench/run-load.sh --rebuild-table    rewrites bench/results/load-runs.md from the recorded JSONs
#
# Starts DIR/broker/possync-broker (DIR defaults to build) on 127.0.0.1 and a
# port the kernel picks, with a fresh admin token and --store URL (default: a
# new SQLite file in a temporary directory on disk; --pg: a throwaway
# PostgreSQL from scripts/pg-server.sh, stopped at the end), runs
# DIR/bench/possync-load with --port, --admin-token and --broker-pid filled
# in, stops the broker by its PID (also when anything fails), and writes
#   bench/results/load/DATE-NAME.json   the harness's --json report plus a
#                                       "run" object (commit, store, machine,
#                                       command lines, load average)
#   bench/results/load-runs.md          one markdown table row per run
# --nodes 2 (PostgreSQL only) starts a second node on the same database and
# points the harness's receive-only sessions at it (--receiver-port): every
# order crosses the cluster (sender on node 1, its receivers on node 2); the
# broker CPU reported is both nodes' summed (--broker-pid twice).
# Exit code: the harness's (0 verified, 1 lost/unexpected, 2 usage, 3 set-up).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# The markdown table of recorded runs: a header, and one row per JSON.
table_header() {
  cat <<'EOF'
# possync-load runs

One row per `bench/run-load.sh` run (rebuild with `bench/run-load.sh --rebuild-table`); the JSON beside
each (`load/DATE-NAME.json`) has every figure. Latency in ms (send→sent p50 / p99; send→push p50 / p99 /
p99.9); CPU in µs per push received, with the share of one core in brackets; store = the broker's writes
per commit and the bytes it wrote to disk per order; RSS of the broker at the end (peak). Load = 1-minute
load average at start → end (2 cores shared with other work: above ~2 every figure is a lower bound).
Commit `+` = the broker was built from that commit plus uncommitted changes of the working tree.

| date (UTC) | machine | commit | store | mode | config | orders/s | pushes/s | send→sent | send→push | broker µs/push (%core) | harness µs/push (%core) | writes/commit, disk KiB/order | broker RSS MiB | mode result | lost/unexp. | load |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
EOF
}
table_row() {  # JSON
  jq -r '
    def f(n): (n // 0) * 100 | round / 100;
    def i(n): (n // 0) | round;
    def mib(k): ((k // 0) / 1024 * 10 | round / 10);
    (.mode == "idle") as $idle
    | (if $idle then "\(i(.idle.broker_bytes_per_connection)) B/conn (\(.idle.connections) conns)"
       elif .mode == "storm" then "replayed \(.storm.replayed)/\(.storm.pending_total) in \(f(.storm.replay_s)) s (all hellos answered \(f(.storm.all_welcomed_s)) s)"
       elif .mode == "soak" then "drift p99 \(f(.soak.drift.push_p99_ms)) ms, RSS \(f(.soak.drift.broker_rss_kib_per_hour / 1024)) MiB/h"
       else "" end) as $result
    | "| \(.run.date) | \(.run.nproc)× \(.run.cpu_model) | \(.run.git_commit)\(if .run.dirty_files > 0 then "+" else "" end) | \(.run.store)\(if (.run.nodes // 1) > 1 then " ×\(.run.nodes) nodes" else "" end) | \(.mode) | `\(.run.harness_args | sub(" ?--quiet"; ""))`\(if .run.broker_args != "" then " broker `\(.run.broker_args)`" else "" end)"
      + (if $idle then " | - | - | - | -" else
          " | \(i(.orders.per_s)) | \(i(.pushes.per_s))"
          + " | \(f(.latency_ms.send_to_sent.p50)) / \(f(.latency_ms.send_to_sent.p99))"
          + " | \(f(.latency_ms.send_to_push.p50)) / \(f(.latency_ms.send_to_push.p99)) / \(f(.latency_ms.send_to_push.p999))" end)
      + " | \(if .broker == null then "-" elif $idle then "- (\(i(.broker.cpu_percent))%)" else "\(f(.broker.cpu_us_per_push)) (\(i(.broker.cpu_percent))%)" end)"
      + " | \(if .harness == null then "-" elif $idle then "- (\(i(.harness.cpu_percent))%)" else "\(f(.harness.cpu_us_per_push)) (\(i(.harness.cpu_percent))%)" end)"
      + " | \(if .broker_store == null or $idle then "-" else "\(f(.broker_store.writes_per_commit)), \(f((.broker.disk_bytes_per_order // 0) / 1024))" end)"
      + " | \(if .broker then "\(mib(.broker.rss_kib_end)) (\(mib(.broker.rss_kib_peak)))" else "-" end)"
      + " | \($result) | \(if .verify then "\(.verify.lost)/\(.verify.unexpected)\(if .verify.ok then "" else " **FAIL**" end)" else "-" end)"
      + " | \(.machine.loadavg_start[0]) → \(.machine.loadavg_end[0]) |"' "$1"
}

build=build
store=""
pg=0
nodes=1
name=""
record=1
broker_args=()
while (($#)); do
  case $1 in
    --build) build=$2; shift 2 ;;
    --store) store=$2; shift 2 ;;
    --pg) pg=1; shift ;;
    --nodes) nodes=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --broker-arg) broker_args+=("$2"); shift 2 ;;
    --no-record) record=0; shift ;;
    --rebuild-table)
      table_header >"$root/bench/results/load-runs.md"
      for f in "$root"/bench/results/load/*.json; do [[ -e $f ]] && table_row "$f" >>"$root/bench/results/load-runs.md"; done
      exit 0 ;;
    --) shift; break ;;
    *) echo "run-load: unknown option $1 (harness options go after --)" >&2; exit 2 ;;
  esac
done
load_args=("$@")
[[ $nodes == 1 || $nodes == 2 ]] || { echo "run-load: --nodes is 1 or 2" >&2; exit 2; }
[[ -z $store ]] || ((!pg)) || { echo "run-load: --store or --pg, not both" >&2; exit 2; }
if ((nodes > 1)) && ((!pg)) && [[ $store != postgres* ]]; then
  echo "run-load: --nodes 2 needs PostgreSQL (--pg or --store postgresql://…): nodes share the database" >&2
  exit 2
fi
[[ $build = /* ]] || build="$root/$build"
broker_bin="$build/broker/possync-broker"
load_bin="$build/bench/possync-load"
for b in "$broker_bin" "$load_bin"; do
  [[ -x $b ]] || { echo "run-load: $b is missing; build it: POSSYNC_TARGETS=\"possync-load possync-broker\" scripts/build.sh $(basename "$build")" >&2; exit 3; }
done
command -v jq >/dev/null || { echo "run-load: jq is needed (apt-get install jq)" >&2; exit 3; }

work=$(mktemp -d "${TMPDIR:-/tmp}/possync-load.XXXXXX")
broker_pids=() ports=() pg_dir=""
# SIGTERM drains (bounded by the broker's --drain-timeout-ms); give it
# twice that before the hard stop.
stop_pid() {
  if kill -0 "$1" 2>/dev/null; then
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
  fi
  wait "$1" 2>/dev/null || true
}
stop_brokers() {
  local pid
  for pid in "${broker_pids[@]}"; do stop_pid "$pid"; done
  broker_pids=()
}
# shellcheck disable=SC2317  # (called by the trap)
cleanup() {
  stop_brokers
  [[ -z $pg_dir ]] || "$root/scripts/pg-server.sh" stop "$pg_dir" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts node N (1, 2) on a port the kernel picks; appends its PID and port.
start_broker() {
  local n=$1 out="$work/broker$1.out" err="$work/broker$1.err" pid port="" id=()
  ((nodes == 1)) || id=(--node-id "node-$n")
  "$broker_bin" --listen 127.0.0.1:0 --store "$store" --admin-token "$token" --log-level warn "${id[@]}" \
    "${broker_args[@]}" >"$out" 2>"$err" &
  pid=$!
  broker_pids+=("$pid")
  for _ in $(seq 300); do
    port=$(sed -n 's|^WebSocket ws://127\.0\.0\.1:\([0-9]*\)/ws$|\1|p' "$out" 2>/dev/null)
    [[ -n $port ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z $port ]]; then
    echo "run-load: broker node $n did not start:" >&2
    cat "$err" >&2
    exit 3
  fi
  ports+=("$port")
  echo "run-load: broker node $n pid $pid on 127.0.0.1:$port, store $store" >&2
}

if ((pg)); then
  pg_env=$("$root/scripts/pg-server.sh" start) || { echo "run-load: PostgreSQL did not start" >&2; exit 3; }
  eval "$pg_env"
  pg_dir=$POSSYNC_TEST_PG_DIR
  store=$POSSYNC_TEST_PG_URL
fi
[[ -n $store ]] || store="sqlite:$work/bench.db"
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
for n in $(seq "$nodes"); do start_broker "$n"; done
cluster_args=()
((nodes == 1)) || cluster_args=(--receiver-port "${ports[1]}" --broker-pid "${broker_pids[1]}")

rc=0
"$load_bin" --port "${ports[0]}" --admin-token "$token" --broker-pid "${broker_pids[0]}" "${cluster_args[@]}" \
  --json "$work/result.json" "${load_args[@]}" || rc=$?
dead=()
for i in "${!broker_pids[@]}"; do kill -0 "${broker_pids[i]}" 2>/dev/null || dead+=("$((i + 1))"); done
stop_brokers
for n in $(seq "$nodes"); do
  if [[ " ${dead[*]} " == *" $n "* ]]; then
    echo "run-load: broker node $n died during the run:" >&2
    tail -20 "$work/broker$n.err" >&2
  elif [[ -s "$work/broker$n.err" ]]; then
    echo "run-load: broker node $n warnings (last 5 lines):" >&2
    tail -5 "$work/broker$n.err" >&2
  fi
done

if ((record)) && [[ -s "$work/result.json" ]]; then
  results="$root/bench/results"
  mkdir -p "$results/load"
  mode=$(jq -r .mode "$work/result.json")
  topology=$(jq -r .config.topology "$work/result.json")
  [[ -n $name ]] || name=$([[ $mode == load || $mode == soak ]] && echo "$mode-$topology" || echo "$mode")
  stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
  out="$results/load/$stamp-$name.json"
  store_kind=${store%%:*}
  [[ $store == sqlite:* ]] || store_kind="postgresql"
  # The commit of the tree the binaries were built from (a --build of
  # another worktree), and its uncommitted changes at the time of the run.
  src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt" 2>/dev/null)
  [[ -d $src ]] || src=$root
  commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)
  dirty=$(git -C "$src" status --porcelain -- broker storage protocol clients bench 2>/dev/null | grep -c . || true)
  model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
  jq --arg commit "$commit" --argjson dirty "${dirty:-0}" --arg store "$store_kind" --arg model "$model" \
     --argjson nproc "$(nproc)" --arg broker "${broker_args[*]}" --arg harness "${load_args[*]}" \
     --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson rc "$rc" --argjson nodes "$nodes" --arg src "$src" \
     '. + {run: {date: $date, git_commit: $commit, dirty_files: $dirty, source_dir: $src, store: $store,
                 nodes: $nodes, nproc: $nproc, cpu_model: $model, broker_args: $broker, harness_args: $harness,
                 exit_code: $rc}}' \
     "$work/result.json" >"$out"
  table="$results/load-runs.md"
  [[ -s $table ]] || table_header >"$table"
  table_row "$out" >>"$table"
  echo "run-load: recorded $out and a row in $table" >&2
fi
exit "$rc"
