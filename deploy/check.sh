#!/usr/bin/env bash
# Offline checks of the deployment files, for a machine without Docker:
#   deploy/check.sh [BROKER_BINARY]     (default build/broker/possync-broker)
# 1. deploy/haproxy.cfg parses (haproxy -c; the broker names need not resolve);
# 2. docker-compose.yml parses and interpolates (docker-compose 1.29 config);
# 3. each `apt-get install` list of the Dockerfile resolves on Debian 12 from
#    an empty system (apt-get -s against an empty dpkg status);
# 4. every shared library the built broker and CLI load comes from a package
#    the runtime stage installs (or from what those pull in);
# 5. deploy/healthcheck.sh passes shellcheck.
# Needs: apt-get install --no-install-recommends haproxy docker-compose shellcheck
# (docker-compose without recommends does not pull the Docker daemon).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
broker=${1:-build/broker/possync-broker}
cli=$(dirname "$(dirname "$broker")")/clients/cli/possync
failed=0
fail() {
  echo "FAIL: $*"
  failed=1
}

echo "== haproxy -c"
haproxy -c -f deploy/haproxy.cfg || fail "deploy/haproxy.cfg"

echo "== docker-compose config"
if POSTGRES_PASSWORD=check POSSYNC_ADMIN_TOKEN=check-check-check-check \
  docker-compose -f docker-compose.yml config -q; then
  echo "docker-compose.yml is valid"
else
  fail "docker-compose.yml"
fi

# The package names of each `apt-get install` in the Dockerfile, one stage a line.
stage_lists=$(awk '
  /apt-get install/ { grab = 1; next }
  grab { line = $0; sub(/&&.*/, "", line); gsub(/\\/, "", line); list = list " " line }
  grab && /&&/ { print list; list = ""; grab = 0 }
' Dockerfile)
empty=$(mktemp)
trap 'rm -f "$empty"' EXIT
runtime_closure=""
while read -r packages; do
  [[ -z "$packages" ]] && continue
  echo "== apt-get -s install (empty system): $packages"
  # shellcheck disable=SC2086
  if out=$(apt-get -s -o Dir::State::status="$empty" install --no-install-recommends $packages 2>&1); then
    echo "resolves: $(grep -c '^Inst' <<<"$out") packages"
    runtime_closure=$(awk '/^Inst/ { print $2 }' <<<"$out")  # the last list is the runtime stage's
  else
    fail "does not resolve: $packages"
    echo "$out" | tail -5
  fi
done <<<"$stage_lists"

echo "== runtime libraries of $broker and $cli"
if [[ -x "$broker" ]]; then
  for bin in "$broker" "$cli"; do
    [[ -x "$bin" ]] || continue
    while read -r lib; do
      pkg=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1 || true)
      [[ -n "$pkg" ]] || pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1 || true)
      if [[ -n "$pkg" ]] && grep -qx "$pkg" <<<"$runtime_closure"; then
        echo "ok $(basename "$lib") ($pkg)"
      else
        fail "$(basename "$bin") loads $lib (package '${pkg:-?}'), not in the runtime stage"
      fi
    done < <(ldd "$bin" | awk '/=>/ { print $3 }')
  done
else
  echo "skipped: no $broker (build it first)"
fi

echo "== shellcheck deploy/healthcheck.sh"
if shellcheck deploy/healthcheck.sh; then echo "clean"; else fail "deploy/healthcheck.sh"; fi

((failed)) && exit 1
echo "all deployment checks passed"
