#!/usr/bin/env bash
# possync beside its baselines, back to back on 127.0.0.1, and the targets
# of issues #6 and #14 as measured ratios with PASS/FAIL.
#
#   bench/compare.sh [--build DIR] [--seconds S] [--pairs N] [--fanout K]
#                    [--idle N] [--storm K] [--no-pg] [--quick] [--no-install]
#
# Installs what is missing (mosquitto, nats-server, redis-server,
# libhiredis-dev, postgresql-contrib, jq; the build dependencies through
# scripts/setup.sh), builds the broker, the
# harness and the baselines into DIR (default build-bench), then runs:
#   store limit   store-limit-sqlite / store_limit_pg.sh (bench/baselines)
#   possync       possync-load: pairs and fanout flat out, pairs at 2,000
#                 orders/s, idle connections, reconnect storm (SQLite; pairs
#                 also on PostgreSQL)
#   peers         peer-load against Mosquitto (MQTT 3.1.1 QoS 1) and NATS,
#                 both over WebSockets and non-durable: pairs, fanout, idle;
#                 and Redis 7 Streams (durable: appendonly, appendfsync
#                 always): pairs, fanout, pairs at 2,000/s, idle
# Every server it starts (broker, mosquitto, nats-server, redis-server, PostgreSQL) is
# stopped by its PID, also on failure or Ctrl-C; every step has a time bound.
# Results: bench/results/compare-DATE.md and .json. Exit code: 0 when every
# target passed, 1 when one failed or could not be measured, 2 usage.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build="build-bench"
seconds=10 pairs=100 fanout=10 idle=10000 storm=1000 storm_pending=10 window=4
latency_rate=2000 use_pg=1 install=1
while (($#)); do
  case $1 in
    --build) build=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --pairs) pairs=$2; shift ;;
    --fanout) fanout=$2; shift ;;
    --idle) idle=$2; shift ;;
    --storm) storm=$2; shift ;;
    --no-pg) use_pg=0 ;;
    --no-install) install=0 ;;
    --quick) seconds=3 idle=1000 storm=200 ;;  # a smoke run: every step, smaller
    *) echo "compare: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[[ $build = /* ]] || build="$root/$build"

log() { echo "compare: $*" >&2; }

# ---- set-up -----------------------------------------------------------------

if ((install)); then
  "$root/scripts/setup.sh"
  missing=()
  for p in mosquitto nats-server redis-server libhiredis-dev postgresql-contrib jq; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    sudo_cmd=()
    [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q \
      --no-install-recommends "${missing[@]}" ||
      { "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q &&
        DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q \
          --no-install-recommends "${missing[@]}"; }
  fi
fi
command -v jq >/dev/null || { log "jq is needed"; exit 2; }

have_load=0
[[ -f $root/bench/load/main.cpp ]] && have_load=1
targets="possync-broker store-limit-sqlite peer-load"
((have_load)) && targets+=" possync-load" || targets+=" possync-simple-run"
log "building $targets into $build"
POSSYNC_TARGETS="$targets" timeout 3600 "$root/scripts/build.sh" "$(realpath --relative-to="$root" "$build")" >&2

broker_bin=$build/broker/possync-broker
load_bin=$build/bench/possync-load
simple_bin=$build/bench/possync-simple-run
sqlite_limit_bin=$build/bench/baselines/store-limit-sqlite
peer_bin=$build/bench/baselines/peer-load

work=$(mktemp -d /tmp/possync-compare.XXXXXX)
chmod 755 "$work"
runs=$work/runs   # one JSON per measurement, named after it
mkdir -p "$runs"

# ---- processes, stopped by PID ------------------------------------------------

server_pid="" pg_dir=""
stop_server() {
  [[ -n $server_pid ]] || return 0
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
reported=0
cleanup() {
  stop_server
  [[ -n $pg_dir ]] && "$root/scripts/pg-server.sh" stop "$pg_dir" >/dev/null 2>&1 || true
  # Measurements are minutes of work: without a report, keep them.
  if ((!reported)) && compgen -G "$runs/*.json" >/dev/null; then
    local kept
    kept=$(mktemp -d /tmp/possync-compare-runs.XXXXXX)
    cp "$runs"/*.json "$kept"/ && log "no report written; the runs are in $kept"
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_in_use() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
# A port below the kernel's ephemeral range: the thousands of client sockets
# of an idle run linger there in TIME_WAIT and would make a listener's bind fail.
free_port() {
  local low port
  low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
  for _ in $(seq 200); do
    port=$((10000 + RANDOM % (low - 10000)))
    port_in_use "$port" || { echo "$port"; return 0; }
  done
  return 1
}
# Waits until PORT listens or the server died; false after 10 s.
wait_listening() {
  for _ in $(seq 100); do
    port_in_use "$1" && return 0
    kill -0 "$server_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Prints the port a starting server writes in FILE (the sed expression
# picks it out); false when the server died or 30 s passed.
port_from_log() {  # FILE SED_EXPRESSION
  local port
  for _ in $(seq 300); do
    port=$(sed -n "$2" "$1" 2>/dev/null)
    [[ -n $port ]] && { echo "$port"; return 0; }
    kill -0 "$server_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# One server at a time runs; each measurement gets a fresh one.
admin_token="" broker_port=""
start_broker() {  # STORE_URL [broker args…]
  local store=$1 out=$work/broker.out
  shift
  admin_token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  "$broker_bin" --listen 127.0.0.1:0 --store "$store" --admin-token "$admin_token" --log-level warn "$@" \
    >"$out" 2>"$work/broker.err" &
  server_pid=$!
  broker_port=$(port_from_log "$out" 's|^WebSocket ws://127\.0\.0\.1:\([0-9]*\)/ws$|\1|p') && return 0
  log "the broker did not start: $(tail -3 "$work/broker.err")"
  return 1
}

peer_port=""
start_mosquitto() {
  local conf=$work/mosquitto.conf plain
  peer_port=$(free_port) plain=$(free_port)
  [[ $plain != "$peer_port" ]] || plain=$(free_port)
  # Mosquitto 2.0.11 (Debian 12) refuses to start with only a websockets
  # listener ("Unable to start any listening sockets"): a plain MQTT
  # listener on loopback goes beside it, unused.
  cat >"$conf" <<EOF
per_listener_settings false
allow_anonymous true
persistence false
log_dest stderr
log_type error
log_type warning
max_queued_messages 100000
listener $plain 127.0.0.1
listener $peer_port 127.0.0.1
socket_domain ipv4
protocol websockets
EOF
  mosquitto -c "$conf" >"$work/mosquitto.log" 2>&1 &
  server_pid=$!
  wait_listening "$peer_port" || { log "mosquitto did not start: $(tail -3 "$work/mosquitto.log")"; return 1; }
}

start_nats() {
  local conf=$work/nats.conf
  # Port -1: nats-server picks free ports and logs them.
  cat >"$conf" <<EOF
listen: "127.0.0.1:-1"
websocket {
  listen: "127.0.0.1:-1"
  no_tls: true
}
EOF
  nats-server -c "$conf" >"$work/nats.log" 2>&1 &
  server_pid=$!
  peer_port=$(port_from_log "$work/nats.log" 's|.*Listening for websocket clients on ws://127\.0\.0\.1:\([0-9]*\)$|\1|p') &&
    return 0
  log "nats-server did not start: $(tail -3 "$work/nats.log")"
  return 1
}

# Redis 7, durable: every write is in the append-only file and fsynced
# before Redis replies (appendfsync always), no RDB snapshots; a fresh
# directory per run (the previous run's log removed). Otherwise Redis's
# defaults (an automatic AOF rewrite may fork: peer-load counts the child's
# CPU). maxclients above the idle run's connections.
redis_dir=""
start_redis() {
  [[ -n $redis_dir ]] && rm -rf "$redis_dir"
  redis_dir=$(mktemp -d "$work/redis.XXXXXX")
  peer_port=$(free_port)
  redis-server --bind 127.0.0.1 --port "$peer_port" --dir "$redis_dir" --appendonly yes --appendfsync always \
    --save "" --daemonize no --protected-mode no --maxclients $((idle + 100)) >"$work/redis.log" 2>&1 &
  server_pid=$!
  wait_listening "$peer_port" || { log "redis-server did not start: $(tail -3 "$work/redis.log")"; return 1; }
}

# Runs a measurement with a time bound; its failure is recorded, not fatal.
failed_steps=()
bounded() {  # NAME SECONDS command…
  local name=$1 limit=$2
  shift 2
  log "run $name"
  if ! timeout --kill-after=10 "$limit" "$@" >"$work/$name.out" 2>"$work/$name.err"; then
    failed_steps+=("$name")
    log "$name failed: $(tail -3 "$work/$name.err" | tr '\n' ' ')"
  fi
  cat "$work/$name.out" >&2
}

# ---- the runs -------------------------------------------------------------------

started_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
traffic_bound=$((${seconds%.*} + 120))

# Store limits (SQLite here, PostgreSQL below). raw: only an order's rows (the denominator of "durable
# throughput"), over the senders and receivers of the pairs run, so that the
# rows land where the broker's do (each sender's and receiver's own places in
# the indexes); raw-1: the same rows from one sender to one receiver (every
# index written at one place: informational); broker: the broker's own
# statements; batch 1: one order per commit, whose median is the "store's
# median commit latency".
bounded store-sqlite-raw $traffic_bound "$sqlite_limit_bin" --db "$work/limit-raw.db" --mode raw --ack \
  --senders "$pairs" --seconds "$seconds" --json "$runs/store-sqlite-raw.json"
bounded store-sqlite-raw-1 $traffic_bound "$sqlite_limit_bin" --db "$work/limit-raw-1.db" --mode raw --ack \
  --seconds "$seconds" --json "$runs/store-sqlite-raw-1.json"
bounded store-sqlite-broker $traffic_bound "$sqlite_limit_bin" --db "$work/limit-broker.db" --mode broker --ack \
  --senders "$pairs" --seconds "$seconds" --json "$runs/store-sqlite-broker.json"
bounded store-sqlite-single $traffic_bound "$sqlite_limit_bin" --db "$work/limit-single.db" --mode raw --batch 1 \
  --seconds "$seconds" --json "$runs/store-sqlite-single.json"

pg_url=""
if ((use_pg)); then
  if pg_env=$("$root/scripts/pg-server.sh" start 2>"$work/pg.err"); then
    pg_url=$(sed -n 's/^export POSSYNC_TEST_PG_URL=//p' <<<"$pg_env")
    pg_dir=$(sed -n 's/^export POSSYNC_TEST_PG_DIR=//p' <<<"$pg_env")
    bounded store-pg-raw $traffic_bound "$root/bench/baselines/store_limit_pg.sh" --url "$pg_url" --mode raw --ack \
      --senders "$pairs" --seconds "$seconds" --json "$runs/store-pg-raw.json"
    bounded store-pg-raw-1 $traffic_bound "$root/bench/baselines/store_limit_pg.sh" --url "$pg_url" --mode raw --ack \
      --seconds "$seconds" --json "$runs/store-pg-raw-1.json"
    bounded store-pg-broker $traffic_bound "$root/bench/baselines/store_limit_pg.sh" --url "$pg_url" --mode broker \
      --ack --senders "$pairs" --seconds "$seconds" --json "$runs/store-pg-broker.json"
    bounded store-pg-single $traffic_bound "$root/bench/baselines/store_limit_pg.sh" --url "$pg_url" --mode raw \
      --batch 1 --seconds "$seconds" --json "$runs/store-pg-single.json"
  else
    log "no PostgreSQL: $(tail -1 "$work/pg.err")"
  fi
fi

# possync. A fresh broker and store per run; the per-session rate limit is
# lifted (a flat-out fanout sender would meet it) and the runs say so.
broker_args=(--rate-limit 10000000)
# CPU ticks of the PostgreSQL server so far: the postmaster, its children
# alive now, and those it reaped (cutime/cstime).
pg_server_ticks() {
  local pm total=0 pid
  pm=$(head -n1 "$pg_dir/data/postmaster.pid" 2>/dev/null) || { echo 0; return; }
  total=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat" 2>/dev/null || echo 0)
  for pid in $(pgrep -P "$pm"); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

possync_run() {  # NAME STORE possync-load args…
  local name=$1 store=$2
  shift 2
  [[ $store == sqlite ]] && store="sqlite:$work/$name.db"
  if [[ $store == postgresql ]]; then
    # A schema of its own (dropped with the server at the end).
    psql -q "$pg_url" -c "CREATE SCHEMA $name" >/dev/null 2>&1 || true
    store="$pg_url?options=-csearch_path%3D$name"
  fi
  start_broker "$store" "${broker_args[@]}" || { failed_steps+=("$name"); return 0; }
  local pg_ticks0=""
  [[ $store == postgres* ]] && pg_ticks0=$(pg_server_ticks)
  if ((have_load)); then
    bounded "$name" $traffic_bound "$load_bin" --port "$broker_port" --admin-token "$admin_token" \
      --broker-pid "$server_pid" --quiet --json "$runs/$name.json" "$@"
  else
    simple_run "$name" "$@"
  fi
  if [[ -n $pg_ticks0 && -s $runs/$name.json ]]; then
    # PostgreSQL's own CPU beside the broker's (issue #14), per order.
    local pg_ticks=$(($(pg_server_ticks) - pg_ticks0)) tmp=$runs/$name.json.tmp
    jq --argjson ticks "$pg_ticks" --argjson hz "$(getconf CLK_TCK)" '
      .postgres = {cpu_s: ($ticks / $hz),
                   cpu_us_per_order: (if (.orders.acknowledged // 0) > 0 then $ticks / $hz * 1e6 / .orders.acknowledged
                                      else null end)}' "$runs/$name.json" >"$tmp" && mv "$tmp" "$runs/$name.json"
  fi
  kill -0 "$server_pid" 2>/dev/null || { failed_steps+=("$name:broker-died"); log "broker died: $(tail -3 "$work/broker.err")"; }
  stop_server
}

# Until possync-load exists: possync-simple-run for pairs, its text output
# turned into possync-load's field names, the broker's CPU read here.
simple_run() {  # NAME possync-load args (only --senders and --duration are understood)
  local name=$1 senders=$pairs duration=$seconds ticks0 ticks1
  shift
  while (($#)); do
    case $1 in --senders) senders=$2; shift ;; --duration) duration=$2; shift ;; --rate|--receivers|--topology|--mode)
      log "$name: possync-simple-run cannot do $1 $2 (possync-load missing)"; failed_steps+=("$name"); return 0 ;; esac
    shift
  done
  ticks0=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
  bounded "$name" $traffic_bound "$simple_bin" --port "$broker_port" --admin-token "$admin_token" \
    --pairs "$senders" --seconds "${duration%.*}" --window "$window"
  ticks1=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
  local out=$work/$name.out
  local acked per_s p50 p99 lost dup
  read -r acked per_s < <(sed -n 's/^orders acknowledged: \([0-9]*\) (\([0-9.]*\) orders\/s.*/\1 \2/p' "$out")
  read -r p50 p99 < <(sed -n 's/^send->push ms: p50 \([0-9.]*\) p99 \([0-9.]*\).*/\1 \2/p' "$out")
  read -r lost dup < <(sed -n 's/^lost=\([0-9]*\) duplicated=\([0-9]*\).*/\1 \2/p' "$out")
  jq -n --argjson acked "${acked:-0}" --argjson per_s "${per_s:-0}" --argjson p50 "${p50:-0}" --argjson p99 "${p99:-0}" \
    --argjson lost "${lost:-0}" --argjson dup "${dup:-0}" --argjson ticks $((ticks1 - ticks0)) \
    --argjson hz "$(getconf CLK_TCK)" --argjson seconds "$duration" '
    {tool: "possync-simple-run", mode: "load", config: {topology: "pairs"},
     orders: {acknowledged: $acked, per_s: $per_s}, pushes: {received: $acked, per_s: $per_s},
     latency_ms: {send_to_push: {p50: $p50, p99: $p99}},
     verify: {ok: ($lost == 0), lost: $lost, duplicates_removed: $dup},
     broker: {cpu_s: ($ticks / $hz), cpu_percent: ($ticks / $hz * 100 / $seconds),
              cpu_us_per_push: (if $acked > 0 then $ticks / $hz * 1e6 / $acked else null end)}}' >"$runs/$name.json"
}

possync_run possync-pairs sqlite --topology pairs --senders "$pairs" --window "$window" --duration "$seconds"
possync_run possync-fanout sqlite --topology fanout --senders 1 --receivers "$fanout" --window "$window" \
  --duration "$seconds"
possync_run possync-rate sqlite --topology pairs --senders "$pairs" --window "$window" --rate "$latency_rate" \
  --duration "$seconds"
possync_run possync-idle sqlite --mode idle --connections "$idle" --hold 5
possync_run possync-storm sqlite --mode storm --receivers "$storm" --pending "$storm_pending"
if [[ -n $pg_url ]]; then
  possync_run possync_pg_pairs postgresql --topology pairs --senders "$pairs" --window "$window" --duration "$seconds"
  possync_run possync_pg_rate postgresql --topology pairs --senders "$pairs" --window "$window" \
    --rate "$latency_rate" --duration "$seconds"
fi

# Peers: the same scenarios, the same window and payload size.
peer_run() {  # NAME START_FUNCTION peer-load args…
  local name=$1 start=$2
  shift 2
  "$start" || { failed_steps+=("$name"); stop_server; return 0; }
  bounded "$name" $traffic_bound "$peer_bin" --port "$peer_port" --broker-pid "$server_pid" \
    --json "$runs/$name.json" "$@"
  stop_server
}
for peer in mosquitto nats; do
  kind=$([[ $peer == mosquitto ]] && echo mqtt || echo nats)
  peer_run "$peer-pairs" "start_$peer" --peer "$kind" --scenario pairs --publishers "$pairs" --window "$window" \
    --seconds "$seconds"
  peer_run "$peer-fanout" "start_$peer" --peer "$kind" --scenario fanout --subscribers "$fanout" \
    --window "$window" --seconds "$seconds"
  peer_run "$peer-idle" "start_$peer" --peer "$kind" --scenario idle --connections "$idle" --hold 5
done
# The durable peer: Redis Streams (bench/baselines/redis_peer.cpp). Fan-out is
# one stream with a consumer group per receiver, each acking its own deliveries.
peer_run redis-pairs start_redis --peer redis --scenario pairs --publishers "$pairs" --window "$window" \
  --seconds "$seconds"
peer_run redis-fanout start_redis --peer redis --scenario fanout --subscribers "$fanout" --window "$window" \
  --seconds "$seconds"
peer_run redis-rate start_redis --peer redis --scenario pairs --publishers "$pairs" --window "$window" \
  --rate "$latency_rate" --seconds "$seconds"
peer_run redis-idle start_redis --peer redis --scenario idle --connections "$idle" --hold 5

load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- targets ----------------------------------------------------------------------

# Every run's JSON in one object, keyed by run name (absent when it failed).
all=$work/all.json
jq -n 'reduce inputs as $r ({}; . + {(input_filename | split("/") | last | rtrimstr(".json")): $r})' \
  "$runs"/*.json >"$all" 2>/dev/null || echo '{}' >"$all"

# Each target: what was measured against what, the ratio, and the verdict.
# A target whose runs are missing is FAIL ("not measured"), never a pass.
targets_json=$(jq --argjson rate "$latency_rate" '
  def v(p): getpath(p) // null;
  def ok(run): (.[run].verify.ok // false);
  def target(name; measured; limit; unit; pass; note):
    {target: name, measured: measured, limit: limit, unit: unit,
     ratio: (if measured != null and limit != null and limit != 0 then measured / limit else null end),
     verdict: (if measured == null or limit == null then "FAIL (not measured)" elif pass then "PASS" else "FAIL" end),
     note: note};
  def throughput(run; store; what):
    target("durable throughput, \(what), 100 pairs flat out: possync orders/s >= 50% of the store limit";
      v([run, "orders", "per_s"]); (v([store, "orders_per_s"]) // null | if . then . * 0.5 else null end);
      "orders/s"; (v([run, "orders", "per_s"]) >= (v([store, "orders_per_s"]) * 0.5)) and ok(run);
      "limit = 50% of \(store) (raw rows, batch of max_batch, acks included\(if v([store, "senders"]) then ", \(v([store, "senders"])) senders as in the pairs run" else ", one sender" end))");
  def latency(run; single):
    target("latency at \($rate) orders/s over 100 pairs, \(single | ltrimstr("store-") | rtrimstr("-single")): p99 send->push <= 2 x median commit + 1 ms";
      v([run, "latency_ms", "send_to_push", "p99"]);
      (v([single, "transaction_ms_p50"]) // null | if . then 2 * . + 1 else null end);
      "ms"; (v([run, "latency_ms", "send_to_push", "p99"]) <= (2 * v([single, "transaction_ms_p50"]) + 1)) and ok(run);
      "median commit = one-order transaction p50 of \(single); achieved rate \(v([run, "orders", "per_s"]) // 0 | round) orders/s");
  def efficiency(run; peer):
    target("efficiency, \(run | ltrimstr("possync-")): possync broker CPU per pushed order <= Mosquitto (non-durable) CPU per QoS 1 message";
      v([run, "broker", "cpu_us_per_push"]); v([peer, "broker", "cpu_us_per_delivery"]);
      "us"; (v([run, "broker", "cpu_us_per_push"]) <= v([peer, "broker", "cpu_us_per_delivery"])) and ok(run);
      "possync stores every order (SQLite, synchronous=FULL); Mosquitto persistence off");
  # Issue #14: against the durable peer. A Redis run that lost anything is no
  # baseline: its figure counts as not measured.
  def redis(run; p): if ok(run) then v([run] + p) else null end;
  def durable(name; measured; limit_of_redis; factor; unit; higher; run; note):
    (redis(limit_of_redis[0]; limit_of_redis[1]) | if . != null then . * factor else null end) as $limit
    | target(name; measured; $limit; unit;
        (if higher then measured >= $limit else measured <= $limit end) and ok(run); note);
  def redis_note(run): "Redis 7 durable (appendfsync always), \(v([run, "published_per_s"]) // 0 | round) msgs/s, \(v([run, "delivered_per_s"]) // 0 | round) deliveries/s";
  [ throughput("possync-pairs"; "store-sqlite-raw"; "SQLite"),
    (if has("store-pg-raw") then throughput("possync_pg_pairs"; "store-pg-raw"; "PostgreSQL") else empty end),
    latency("possync-rate"; "store-sqlite-single"),
    (if has("store-pg-single") then latency("possync_pg_rate"; "store-pg-single") else empty end),
    efficiency("possync-pairs"; "mosquitto-pairs"),
    efficiency("possync-fanout"; "mosquitto-fanout"),
    durable("durable peer, 100 pairs flat out: possync orders/s >= 0.5 x Redis msgs/s";
      v(["possync-pairs", "orders", "per_s"]); ["redis-pairs", ["published_per_s"]]; 0.5; "orders/s"; true;
      "possync-pairs"; redis_note("redis-pairs")),
    durable("durable peer, 100 pairs flat out: possync broker CPU per order <= 4 x Redis CPU per message";
      v(["possync-pairs", "broker", "cpu_us_per_order"]); ["redis-pairs", ["broker", "cpu_us_per_delivery"]]; 4; "us";
      false; "possync-pairs"; redis_note("redis-pairs")),
    durable("durable peer, fanout 1 -> \(v(["possync-fanout", "config", "receivers"]) // "K"): possync pushes/s >= 0.5 x Redis deliveries/s";
      v(["possync-fanout", "pushes", "per_s"]); ["redis-fanout", ["delivered_per_s"]]; 0.5; "pushes/s"; true;
      "possync-fanout"; redis_note("redis-fanout") + "; one stream, a consumer group per receiver"),
    durable("durable peer, fanout: possync broker CPU per push <= 4 x Redis CPU per delivery";
      v(["possync-fanout", "broker", "cpu_us_per_push"]); ["redis-fanout", ["broker", "cpu_us_per_delivery"]]; 4; "us";
      false; "possync-fanout"; redis_note("redis-fanout")),
    durable("durable peer, \($rate)/s over 100 pairs: possync p99 send->push <= Redis p99 publish->receive";
      v(["possync-rate", "latency_ms", "send_to_push", "p99"]);
      ["redis-rate", ["latency_ms", "publish_to_receive", "p99"]]; 1; "ms"; false; "possync-rate";
      "possync achieved \(v(["possync-rate", "orders", "per_s"]) // 0 | round) orders/s; " + redis_note("redis-rate")),
    durable("durable peer, \($rate)/s over 100 pairs: possync broker CPU per order <= 1.5 x Redis CPU per message";
      v(["possync-rate", "broker", "cpu_us_per_order"]); ["redis-rate", ["broker", "cpu_us_per_delivery"]]; 1.5; "us";
      false; "possync-rate"; redis_note("redis-rate")),
    (if has("possync_pg_pairs") or has("possync_pg_rate") then
      target("PostgreSQL, one node, 100 pairs flat out: orders/s >= 0.5 x SQLite orders/s of the same run";
        v(["possync_pg_pairs", "orders", "per_s"]); (v(["possync-pairs", "orders", "per_s"]) // null | if . then . * 0.5 else null end);
        "orders/s"; (v(["possync_pg_pairs", "orders", "per_s"]) >= 0.5 * v(["possync-pairs", "orders", "per_s"])) and ok("possync_pg_pairs");
        "broker \(v(["possync_pg_pairs", "broker", "cpu_us_per_order"]) // 0 | round) us/order, PostgreSQL server \(v(["possync_pg_pairs", "postgres", "cpu_us_per_order"]) // 0 | round) us/order"),
      target("PostgreSQL, one node, \($rate) orders/s over 100 pairs: p99 send->push <= 20 ms";
        v(["possync_pg_rate", "latency_ms", "send_to_push", "p99"]); 20; "ms";
        (v(["possync_pg_rate", "latency_ms", "send_to_push", "p99"]) <= 20) and ok("possync_pg_rate")
          and (v(["possync_pg_rate", "orders", "per_s"]) >= 0.98 * $rate);
        "achieved \(v(["possync_pg_rate", "orders", "per_s"]) // 0 | round) orders/s; broker \(v(["possync_pg_rate", "broker", "cpu_us_per_order"]) // 0 | round) us/order, PostgreSQL server \(v(["possync_pg_rate", "postgres", "cpu_us_per_order"]) // 0 | round) us/order")
    else empty end),
    target("connections: broker RSS per idle connection <= 8 KiB";
      v(["possync-idle", "idle", "broker_bytes_per_connection"]); 8192; "bytes";
      v(["possync-idle", "idle", "broker_bytes_per_connection"]) <= 8192;
      "\(v(["possync-idle", "idle", "connections"]) // 0) connections held"),
    target("storm: every pending order replayed <= 5 s, none lost";
      v(["possync-storm", "storm", "replay_s"]); 5; "s";
      (v(["possync-storm", "storm", "replay_s"]) <= 5) and ok("possync-storm");
      "\(v(["possync-storm", "storm", "replayed"]) // 0) of \(v(["possync-storm", "storm", "pending_total"]) // 0) replayed; lost \(v(["possync-storm", "verify", "lost"]) // "?")")
  ]' "$all")

# Informational ratios (no verdict).
info_json=$(jq '
  def v(p): getpath(p) // null;
  def ratio(name; a; b; note): {ratio_of: name, a: a, b: b, ratio: (if a != null and b != null and b != 0 then a / b else null end), note: note};
  [ ratio("possync pairs orders/s / SQLite store limit (raw rows)"; v(["possync-pairs","orders","per_s"]); v(["store-sqlite-raw","orders_per_s"]); ""),
    ratio("possync pairs orders/s / SQLite store limit (raw rows, one sender to one receiver)"; v(["possync-pairs","orders","per_s"]); v(["store-sqlite-raw-1","orders_per_s"]); ""),
    ratio("possync pairs orders/s / SQLite store limit (the broker'"'"'s statements)"; v(["possync-pairs","orders","per_s"]); v(["store-sqlite-broker","orders_per_s"]); ""),
    ratio("possync PostgreSQL pairs orders/s / PostgreSQL store limit (raw rows)"; v(["possync_pg_pairs","orders","per_s"]); v(["store-pg-raw","orders_per_s"]); ""),
    ratio("possync PostgreSQL pairs orders/s / PostgreSQL store limit (raw rows, one sender to one receiver)"; v(["possync_pg_pairs","orders","per_s"]); v(["store-pg-raw-1","orders_per_s"]); ""),
    ratio("possync PostgreSQL pairs orders/s / PostgreSQL store limit (the broker'"'"'s statements)"; v(["possync_pg_pairs","orders","per_s"]); v(["store-pg-broker","orders_per_s"]); ""),
    ratio("possync pairs orders/s / Mosquitto (non-durable) pairs msgs/s"; v(["possync-pairs","orders","per_s"]); v(["mosquitto-pairs","published_per_s"]); ""),
    ratio("possync pairs orders/s / NATS (non-durable) pairs msgs/s"; v(["possync-pairs","orders","per_s"]); v(["nats-pairs","published_per_s"]); ""),
    ratio("possync fanout pushes/s / Mosquitto (non-durable) fanout deliveries/s"; v(["possync-fanout","pushes","per_s"]); v(["mosquitto-fanout","delivered_per_s"]); ""),
    ratio("possync fanout pushes/s / NATS (non-durable) fanout deliveries/s"; v(["possync-fanout","pushes","per_s"]); v(["nats-fanout","delivered_per_s"]); ""),
    ratio("possync pairs broker µs/push / NATS (non-durable) µs/delivery"; v(["possync-pairs","broker","cpu_us_per_push"]); v(["nats-pairs","broker","cpu_us_per_delivery"]); ""),
    ratio("possync fanout broker µs/push / NATS (non-durable) µs/delivery"; v(["possync-fanout","broker","cpu_us_per_push"]); v(["nats-fanout","broker","cpu_us_per_delivery"]); ""),
    ratio("possync idle bytes/connection / Mosquitto (non-durable)"; v(["possync-idle","idle","broker_bytes_per_connection"]); v(["mosquitto-idle","idle","broker_bytes_per_connection"]); ""),
    ratio("possync idle bytes/connection / NATS (non-durable)"; v(["possync-idle","idle","broker_bytes_per_connection"]); v(["nats-idle","idle","broker_bytes_per_connection"]); ""),
    ratio("possync pairs orders/s / Redis durable (appendfsync always) pairs msgs/s"; v(["possync-pairs","orders","per_s"]); v(["redis-pairs","published_per_s"]); ""),
    ratio("possync pairs broker µs/order / Redis durable (appendfsync always) µs/message"; v(["possync-pairs","broker","cpu_us_per_order"]); v(["redis-pairs","broker","cpu_us_per_delivery"]); ""),
    ratio("possync fanout pushes/s / Redis durable (appendfsync always) fanout deliveries/s"; v(["possync-fanout","pushes","per_s"]); v(["redis-fanout","delivered_per_s"]); ""),
    ratio("possync fanout broker µs/push / Redis durable (appendfsync always) µs/delivery"; v(["possync-fanout","broker","cpu_us_per_push"]); v(["redis-fanout","broker","cpu_us_per_delivery"]); ""),
    ratio("possync 2,000/s p99 send->push ms / Redis durable (appendfsync always) 2,000/s p99 publish->receive ms"; v(["possync-rate","latency_ms","send_to_push","p99"]); v(["redis-rate","latency_ms","publish_to_receive","p99"]); ""),
    ratio("possync 2,000/s broker µs/order / Redis durable (appendfsync always) 2,000/s µs/message"; v(["possync-rate","broker","cpu_us_per_order"]); v(["redis-rate","broker","cpu_us_per_delivery"]); ""),
    ratio("possync idle bytes/connection / Redis durable (appendfsync always)"; v(["possync-idle","idle","broker_bytes_per_connection"]); v(["redis-idle","idle","broker_bytes_per_connection"]); "")
  ]' "$all")

# ---- report -------------------------------------------------------------------------

stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
results=$root/bench/results
mkdir -p "$results"
md=$results/compare-$stamp.md
json=$results/compare-$stamp.json
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain -- broker storage protocol clients bench 2>/dev/null | grep -c . || true)
model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
failed_list=$(printf '%s\n' "${failed_steps[@]+"${failed_steps[@]}"}" | jq -R . | jq -s 'map(select(. != ""))')

jq -n --arg started "$started_at" --arg commit "$commit" --argjson dirty "${dirty:-0}" --arg model "$model" \
  --argjson nproc "$(nproc)" --arg load_start "$load_start" --arg load_end "$load_end" \
  --argjson seconds "$seconds" --argjson pairs "$pairs" --argjson fanout "$fanout" --argjson window "$window" \
  --argjson targets "$targets_json" --argjson info "$info_json" --argjson failed "$failed_list" \
  --arg mosquitto "$(mosquitto -h 2>/dev/null | head -1)" --arg nats "$(nats-server --version 2>/dev/null)" \
  --arg redis "$(redis-server --version 2>/dev/null)" \
  --arg broker_args "${broker_args[*]}" --argjson have_load "$have_load" --slurpfile runs "$all" '
  {tool: "bench/compare.sh", started_at: $started, git_commit: $commit, dirty_files: $dirty,
   machine: {nproc: $nproc, cpu_model: $model, loadavg_start: $load_start, loadavg_end: $load_end},
   config: {seconds: $seconds, pairs: $pairs, fanout: $fanout, window: $window, broker_args: $broker_args,
            harness: (if $have_load == 1 then "possync-load" else "possync-simple-run" end),
            mosquitto: $mosquitto, nats: $nats, redis: $redis},
   targets: $targets, info: $info, failed_steps: $failed, runs: $runs[0]}' >"$json"

{
  echo "# possync beside its baselines ($started_at)"
  echo
  echo "Machine: $(nproc) × $model; load average $load_start → $load_end (1, 5, 15 min)."
  echo "Commit $commit$( ((dirty > 0)) && echo " (+$dirty uncommitted files)"); $seconds s per traffic run, window $window,"
  echo "$pairs pairs, fanout 1 → $fanout, broker \`${broker_args[*]}\`. Everything on 127.0.0.1, one run at a time."
  echo
  echo "## Targets (issues #6 and #14)"
  echo
  echo "| target | measured | limit | measured / limit | verdict | note |"
  echo "|---|---|---|---|---|---|"
  jq -r '.[] | "| \(.target) | \(.measured // "-" | if type == "number" then (. * 100 | round / 100) else . end) \(.unit) | \(.limit // "-" | if type == "number" then (. * 100 | round / 100) else . end) \(.unit) | \(.ratio // "-" | if type == "number" then (. * 1000 | round / 1000) else . end) | **\(.verdict)** | \(.note) |"' <<<"$targets_json"
  echo
  echo "Throughput passes at measured / limit >= 1, the others at <= 1; a run that lost anything fails"
  echo "whatever its figure, and a target whose runs are missing is not measured, which fails."
  echo
  echo "## Informational ratios"
  echo
  echo "| ratio | a | b | a / b |"
  echo "|---|---|---|---|"
  jq -r '.[] | "| \(.ratio_of) | \(.a // "-" | if type == "number" then (. * 10 | round / 10) else . end) | \(.b // "-" | if type == "number" then (. * 10 | round / 10) else . end) | \(.ratio // "-" | if type == "number" then (. * 1000 | round / 1000) else . end) |"' <<<"$info_json"
  echo
  echo "## Runs"
  echo
  echo "| run | throughput | p50 / p99 ms | broker µs per message (% of a core) | harness µs per message (% of a core) | verified |"
  echo "|---|---|---|---|---|---|"
  jq -r '
    def r(x): if x == null then "-" else (x * 10 | round / 10) end;
    to_entries[] | .key as $k | .value as $v
    | if $v.store then
        "| \($k) | \(r($v.orders_per_s)) orders/s, \(r($v.rows_per_s)) rows/s | commit \(r($v.transaction_ms_p50)) / \(r($v.transaction_ms_p99)) | - | - | - |"
      elif $v.tool == "peer-load" and $v.scenario == "idle" then
        "| \($k) | \($v.idle.connections) idle connections: \(r($v.idle.broker_bytes_per_connection)) B each | - | - | - | - |"
      elif $v.tool == "peer-load" then
        "| \($k) | \(r($v.published_per_s)) msgs/s, \(r($v.delivered_per_s)) deliveries/s | \(r($v.latency_ms.publish_to_receive.p50)) / \(r($v.latency_ms.publish_to_receive.p99)) | \(r($v.broker.cpu_us_per_delivery)) (\(r($v.broker.cpu_percent))%) | \(r($v.harness.cpu_us_per_delivery)) (\(r($v.harness.cpu_percent))%) | \($v.verify.ok) |"
      elif $v.mode == "idle" then
        "| \($k) | \($v.idle.connections) idle connections: \(r($v.idle.broker_bytes_per_connection)) B each | - | - | - | - |"
      elif $v.mode == "storm" then
        "| \($k) | \($v.storm.replayed) of \($v.storm.pending_total) replayed in \(r($v.storm.replay_s)) s | - | - | - | \($v.verify.ok) |"
      else
        "| \($k) | \(r($v.orders.per_s)) orders/s, \(r($v.pushes.per_s)) pushes/s | \(r($v.latency_ms.send_to_push.p50)) / \(r($v.latency_ms.send_to_push.p99)) | \(r($v.broker.cpu_us_per_push)) (\(r($v.broker.cpu_percent))%) | \(r($v.harness.cpu_us_per_push)) (\(r($v.harness.cpu_percent))%) | \($v.verify.ok) |"
      end' "$all"
  echo
  if ((${#failed_steps[@]})); then
    echo "Steps that failed or timed out: ${failed_steps[*]}."
    echo
  fi
  echo "Store limit: \`store-limit-sqlite\` / \`store_limit_pg.sh\` (bench/baselines), one writer, batches of the"
  echo "broker's max_batch requests (half sends, half acks); raw = only the rows, broker = the broker's statements."
  echo "raw and broker spread the orders over the pairs run's senders and receivers (shops of 5 pairs), so the rows"
  echo "land in the indexes where the broker's do; raw-1 writes them all from one sender to one receiver."
  echo "Peers: \`peer-load\`. Non-durable, over WebSockets: Mosquitto QoS 1, persistence off (ack = PUBACK), NATS core"
  echo "(ack = PONG to a PING sent with each PUB). Durable (appendfsync always): Redis 7 Streams through hiredis, AOF"
  echo "fsynced before every reply, no RDB (ack = XADD reply; receivers XREADGROUP BLOCK + XACK; fanout = one stream,"
  echo "a consumer group per receiver). CPU from /proc/PID/stat over the measured window (Redis: with its reaped"
  echo "AOF-rewrite children); per message = per delivery received."
} >"$md"

reported=1
cat "$md"
log "wrote $md and $json"
verdicts=$(jq -r '[.[] | .verdict] | map(select(. != "PASS")) | length' <<<"$targets_json")
((verdicts == 0 && ${#failed_steps[@]} == 0))
