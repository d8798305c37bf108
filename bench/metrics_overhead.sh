#!/usr/bin/env bash
# Overhead of the ops figures on throughput: possync-simple-run against a
# fresh broker (SQLite, --threads 2) in three modes, each run ROUNDS times,
# interleaved so that background load spreads over all of them:
#   plain    nobody reads the figures
#   scrape   GET /metrics once a second (what a Prometheus server does)
#   live     scrape + one /api/live dashboard receiving every event
# Prints one line per run and writes nothing else. Usage:
#   bench/metrics_overhead.sh [BUILD_DIR] [ROUNDS] [SECONDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/${1:-build}"
rounds=${2:-3}
seconds=${3:-10}
token=bench-admin-token-0123456789abcdef
port=18391
work=$(mktemp -d)
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

run() {
  local mode=$1
  rm -f "$work"/bench.db* "$work/broker.out"
  "$build/broker/possync-broker" --listen "127.0.0.1:$port" --store "sqlite:$work/bench.db" --admin-token "$token" \
    --threads 2 --log-level warn >"$work/broker.out" 2>"$work/broker.err" &
  local broker_pid=$!
  pids+=("$broker_pid")
  for _ in $(seq 100); do grep -q '^Metrics ' "$work/broker.out" 2>/dev/null && break; sleep 0.1; done
  grep -q '^Metrics ' "$work/broker.out" || { echo "the broker did not start: $(cat "$work/broker.err")" >&2; exit 1; }
  : >"$work/scrapes"
  if [[ $mode != plain ]]; then
    # The scrape interval, like Prometheus' scrape_interval: 1s.
    (while :; do curl -s -o /dev/null -w '%{time_total} %{size_download}\n' "http://127.0.0.1:$port/metrics" \
       >>"$work/scrapes"; sleep 1; done) &
    pids+=($!)
  fi
  if [[ $mode == live ]]; then
    node "$root/bench/live_listener.mjs" "ws://127.0.0.1:$port/api/live" "$token" >"$work/live.out" &
    pids+=($!)
  fi
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  local out
  out=$("$build/bench/possync-simple-run" --port "$port" --admin-token "$token" --pairs 10 --seconds "$seconds" \
    --window 4)
  # The broker's CPU time (user + system) over the whole run, per order.
  local ticks acked cpu_us
  ticks=$(awk '{print $14 + $15}' "/proc/$broker_pid/stat")
  acked=$(sed -n 's/^orders acknowledged: \([0-9]*\).*/\1/p' <<<"$out")
  cpu_us=$(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$acked" 'BEGIN {printf "%.0f", t / hz * 1e6 / n}')
  local rate p50 p99 scrape_ms bytes events
  rate=$(sed -n 's/.*(\([0-9]*\) orders\/s).*/\1/p' <<<"$out")
  p50=$(sed -n 's/^send->push ms: p50 \([0-9.]*\) p99 \([0-9.]*\).*/\1/p' <<<"$out")
  p99=$(sed -n 's/^send->push ms: p50 \([0-9.]*\) p99 \([0-9.]*\).*/\2/p' <<<"$out")
  scrape_ms=$(awk '{s+=$1; n++} END {if (n) printf "%.2f", 1000*s/n; else print "-"}' "$work/scrapes")
  bytes=$(awk 'END {print ($2 ? $2 : "-")}' "$work/scrapes")
  stop_all
  events=$([[ $mode == live ]] && cat "$work/live.out" || echo "-")
  printf '%-6s orders/s=%-5s cpu_us/order=%-4s push p50=%-6s p99=%-6s scrapes=%-3s scrape_ms=%-6s metrics_bytes=%-5s live_frames=%-7s load=%s %s\n' \
    "$mode" "$rate" "$cpu_us" "$p50" "$p99" "$(wc -l <"$work/scrapes")" "$scrape_ms" "$bytes" "$events" "$load" \
    "$(grep -o 'lost=.*' <<<"$out")"
}

for r in $(seq "$rounds"); do
  for mode in plain scrape live; do run "$mode"; done
done
