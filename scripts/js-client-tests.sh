#!/usr/bin/env bash
# The JavaScript client's tests (clients/js, Node's test runner) against the
# broker binary of a build tree: reconnects, outbox, cut connections, and
# every message checked against protocol/asyncapi.yaml.
#   scripts/js-client-tests.sh [BUILD_DIR]      (default: build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
broker="$root/$build/broker/possync-broker"
[[ -x "$broker" ]] || { echo "js-client-tests: no broker at $broker (build first)" >&2; exit 2; }

"$root/scripts/npm-ci-if-needed.sh" "$root/clients/js"
cd "$root/clients/js"
# A client that forgot a timer would keep the runner alive: bound it.
POSSYNC_BROKER_BIN="$broker" timeout 300 node --test test/
