#!/usr/bin/env bash
# The browser tests (the ops dashboard and the POS page): Debian's headless chromium driven by the
# npm package playwright-core (never a downloaded browser), against the
# broker binary of a build tree. Screenshots land in artifacts/browser/.
#   scripts/browser-tests.sh [BUILD_DIR]      (default: build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
broker="$root/$build/broker/possync-broker"
[[ -x "$broker" ]] || { echo "browser-tests: no broker at $broker (build first)" >&2; exit 2; }
[[ -x /usr/bin/chromium ]] || { echo "browser-tests: /usr/bin/chromium missing (scripts/setup.sh --test)" >&2; exit 2; }

"$root/scripts/npm-ci-if-needed.sh" "$root/tests/browser"
cd "$root/tests/browser"
POSSYNC_BROKER_BIN="$broker" POSSYNC_ARTIFACTS="$root/artifacts/browser" node --test --test-concurrency=1 .
