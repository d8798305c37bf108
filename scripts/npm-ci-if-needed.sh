#!/usr/bin/env bash
# Installs a JavaScript test folder's devDependencies with `npm ci`, only when
# node_modules is missing or was installed from another package-lock.json, so
# a re-run costs nothing. Usage: scripts/npm-ci-if-needed.sh DIR
set -euo pipefail
cd "$1"
if ! cmp -s package-lock.json node_modules/.possync-installed-lock 2>/dev/null; then
  npm ci --no-audit --no-fund
  cp package-lock.json node_modules/.possync-installed-lock
fi
