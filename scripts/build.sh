#!/usr/bin/env bash
# Configures and builds one build tree. Usage: scripts/build.sh [DIR] [cmake args…]
# POSSYNC_TARGETS="a b" builds only those targets (default: all).
# ccache (when present) is keyed on paths relative to the checkout, so a fresh
# clone reuses what an earlier build compiled.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build}
shift || true
export CCACHE_BASEDIR="$root"
cmake -S "$root" -B "$root/$dir" -G Ninja "$@" >/dev/null
# shellcheck disable=SC2086
ninja -C "$root/$dir" -j "$(nproc)" ${POSSYNC_TARGETS:-}
