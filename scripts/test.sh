#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, starts the
# servers the tests need (a throwaway PostgreSQL as an unprivileged user on
# 127.0.0.1), runs every test, then the sanitizer builds' tests and the
# fuzzers, and stops everything it started, also when a test fails.
#
#   scripts/test.sh            everything: plain build, ASan+UBSan, TSan, fuzzing
#   POSSYNC_SANITIZERS=0       skip the ASan+UBSan and TSan passes (local iterations)
#   POSSYNC_FUZZ_SECONDS=N     fuzz each target N seconds (default 60; 0 skips)
#
# Each sanitizer build compiles only what its tests run (POSSYNC_TARGETS), at
# -O0 -g1: with ASan or TSan, -O2 -g costs about 4x the compile time (530 s of
# CPU for broker/ws_session.cpp against 126 s), far more than the slower
# tests give back on two cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
start=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$*" "$(($(date +%s) - start))"; }

step "setup"
scripts/setup.sh --test

step "build"
scripts/build.sh build -DPOSSYNC_TESTS=ON

cleanup() {
  local rc=$?
  [[ -n "${pg_stop:-}" ]] && $pg_stop || true
  exit $rc
}
trap cleanup EXIT INT TERM

jobs=$(nproc)
step "unit and integration tests (SQLite)"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 300 -LE pg

# The same suites against PostgreSQL (tests/CMakeLists.txt registers them a
# second time with the label pg): a throwaway server, stopped by the trap
# above also when a test fails. It stays up for the sanitizer pass.
step "start PostgreSQL"
pg_env=$(scripts/pg-server.sh start)
eval "$pg_env"
pg_stop="scripts/pg-server.sh stop $POSSYNC_TEST_PG_DIR"
echo "PostgreSQL at $POSSYNC_TEST_PG_URL"

step "unit and integration tests (PostgreSQL)"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 600 -L pg

step "JavaScript client tests (clients/js against the broker)"
scripts/js-client-tests.sh build

step "browser tests (the dashboard and the POS page in headless chromium)"
scripts/browser-tests.sh build

step "promtool check metrics"
scripts/check-metrics.sh build

sanitizers=${POSSYNC_SANITIZERS:-1}
sanitizer_build=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O0 -g1")
if [[ "$sanitizers" == 1 ]]; then
  step "ASan + UBSan build"
  # The tests and the binaries they start, on SQLite (the PostgreSQL runs
  # add no broker code paths and would double the time).
  POSSYNC_TARGETS="unit_tests integration_tests possync-broker possync" \
    scripts/build.sh build-asan -DPOSSYNC_SANITIZE=ON "${sanitizer_build[@]}"
  step "ASan + UBSan: unit and integration tests (SQLite)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 600 -LE pg
  # The PostgreSQL store's own threads (writer, readers, cluster listener,
  # reconnects) are not broker code: their unit tests run under ASan too.
  # lsan.supp: libpqxx 6.4 loses a PGresult per statement on a broken connection.
  step "ASan + UBSan: the PostgreSQL store's tests"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    LSAN_OPTIONS="suppressions=$root/tests/support/lsan.supp" \
    ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 600 -L pg -R '^unit\[pg\]'
fi

step "stop PostgreSQL"
$pg_stop
pg_stop=""

if [[ "$sanitizers" == 1 ]]; then
  # ThreadSanitizer on the tests tagged [concurrency] (tests/CMakeLists.txt
  # says which and why): the build-tsan tree registers only those.
  # tsan.supp holds third-party reports only, each with its reason.
  step "TSan build"
  POSSYNC_TARGETS="unit_tests integration_tests" scripts/build.sh build-tsan -DPOSSYNC_TSAN=ON "${sanitizer_build[@]}"
  step "TSan: the [concurrency] tests (SQLite)"
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$root/tests/support/tsan.supp" \
    ctest --test-dir build-tsan --output-on-failure -j "$jobs" --timeout 600 -LE pg
fi

fuzz_seconds=${POSSYNC_FUZZ_SECONDS:-60}
if [[ "$fuzz_seconds" != 0 ]]; then
  step "fuzzing: each libFuzzer target for ${fuzz_seconds}s (clang, ASan + UBSan)"
  scripts/fuzz.sh "$fuzz_seconds"
fi

step "all tests passed"
