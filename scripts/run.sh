#!/usr/bin/env bash
# The README's run command: installs what is missing, builds, and starts the
# broker on the embedded SQLite store (possync.db in the checkout) with the
# demo sessions counter-1, kitchen-1 and bar-1. It prints the URLs, fresh demo
# tokens and the admin token. Extra arguments go to possync-broker, e.g.
#   scripts/run.sh --listen 0.0.0.0:8080
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh" build -DPOSSYNC_TESTS=OFF
echo "CLI: $root/build/clients/cli/possync (see README: try it in two terminals)"
exec "$root/build/broker/possync-broker" --store "sqlite:$root/possync.db" --demo "$@"
