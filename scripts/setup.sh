#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test possync,
# and nothing it already has (a re-run costs a second). Usage:
#   scripts/setup.sh          build dependencies
#   scripts/setup.sh --test   plus what the tests need (PostgreSQL, Chromium, Node,
#                             clang and its libFuzzer/sanitizer runtimes for scripts/fuzz.sh)
set -euo pipefail

# libhiredis-dev: bench/baselines' peer-load (the Redis peer) only, never the
# broker; the default build includes bench/, so every build needs it.
packages=(g++ cmake ninja-build ccache pkg-config libboost1.81-dev rapidjson-dev libsqlite3-dev libssl-dev
  libpqxx-dev prometheus-cpp-dev libhiredis-dev)
if [[ "${1:-}" == "--test" ]]; then
  # libclang-rt-14-dev holds libFuzzer (libclang_rt.fuzzer) and the sanitizer runtimes.
  packages+=(catch2 postgresql-15 chromium clang libclang-rt-14-dev)
  # Node.js may come from elsewhere than Debian (NodeSource's nodejs bundles
  # npm and conflicts with Debian's npm): only ask apt when a command is missing.
  if ! command -v node >/dev/null; then
    packages+=(nodejs npm)
  elif ! command -v npm >/dev/null; then
    packages+=(npm)
  fi
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
fi
