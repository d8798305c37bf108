#!/usr/bin/env bash
# Runs `promtool check metrics` (Debian's prometheus package) on the text a
# freshly started broker serves at /metrics, after some traffic, in addition
# to the strict parser of tests/integration/ops_test.cpp. promtool is taken
# from the package without installing it (no Prometheus service is set up):
# apt-get download + dpkg-deb -x into BUILD_DIR/tools.
#   scripts/check-metrics.sh [BUILD_DIR]      (default: build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/${1:-build}"
promtool=$(command -v promtool || true)
if [[ -z "$promtool" ]]; then
  promtool="$build/tools/usr/bin/promtool"
  if [[ ! -x "$promtool" ]]; then
    mkdir -p "$build/tools/deb"
    # The package lists may be missing on a machine where setup.sh had nothing to install.
    (cd "$build/tools/deb" && { apt-get download -q prometheus >/dev/null 2>&1 ||
      { apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null && apt-get download -q prometheus >/dev/null; }; })
    dpkg-deb -x "$build/tools"/deb/prometheus_*.deb "$build/tools"
  fi
fi

work=$(mktemp -d)
broker_pid=""
cleanup() {
  [[ -n "$broker_pid" ]] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

token=check-metrics-admin-token-0123456789
"$build/broker/possync-broker" --listen 127.0.0.1:0 --store "sqlite:$work/possync.db" --admin-token "$token" \
  --demo --threads 2 --log-level warn >"$work/out" 2>"$work/err" &
broker_pid=$!
for _ in $(seq 100); do grep -q '^Metrics ' "$work/out" 2>/dev/null && break; sleep 0.1; done
metrics_url=$(sed -n 's/^Metrics //p' "$work/out")
[[ -n "$metrics_url" ]] || { echo "check-metrics: the broker did not start: $(cat "$work/err")" >&2; exit 1; }
base=${metrics_url%/metrics}

# Some traffic, so histograms and labelled counters carry values.
cli="$build/clients/cli/possync"
read -r _ _ counter _ counter_token < <(grep '^demo session counter-1 ' "$work/out")
port=${base##*:}
POSSYNC_URL="ws://127.0.0.1:$port/ws" POSSYNC_SESSION=counter-1 POSSYNC_TOKEN="$counter_token" \
  "$cli" send --to kitchen-1 --ref check-metrics-1 "$root/clients/cli/examples/order.json" >/dev/null

curl -fsS "$metrics_url" >"$work/metrics"
"$promtool" check metrics <"$work/metrics"
echo "check-metrics: promtool found no problem in $(grep -vc '^#' "$work/metrics") samples"
