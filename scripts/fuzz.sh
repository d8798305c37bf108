#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (build-fuzz/, clang with ASan
# and UBSan) and runs each for a bounded time. Usage:
#
#   scripts/fuzz.sh [SECONDS]      default 60 seconds per target
#   FUZZ_TARGETS="request http"    only these (default: request json http)
#   FUZZ_PARALLEL=N                targets run at once (default: all of them)
#
# Each target starts from its seed corpus, tests/fuzz/corpus/<target>/ (read
# only), and keeps what it discovers in build-fuzz/corpus/<target>/ for the
# next local run. It prints the executions per target (libFuzzer's final
# stat::number_of_executed_units) and fails when a target crashes, leaks,
# hangs longer than 5 s on one input, or exceeds its memory limit. The input
# that did it is saved under build-fuzz/artifacts/<target>/: fix the bug,
# copy the input into tests/fuzz/corpus/<target>/ and add a unit test named
# after what broke (tests/unit/fuzz_regression_test.cpp).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-60}
targets=(${FUZZ_TARGETS:-request json http})
build=build-fuzz

export CCACHE_BASEDIR="$root"
# -O1 -g1: half the compile time of -O2 -g for a little fewer executions.
CC=clang CXX=clang++ cmake -S "$root" -B "$root/$build" -G Ninja -DPOSSYNC_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" >/dev/null
ninja -C "$build" -j "$(nproc)" $(printf 'fuzz_%s ' "${targets[@]}")

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$root/tests/fuzz/ubsan.supp"

# One target: its log, and a line "target executions exec/s seconds result"
# in $build/logs/<target>.result.
run_target() {
  local t=$1 work="$build/corpus/$1" artifacts="$build/artifacts/$1/" log="$build/logs/$1.log"
  mkdir -p "$work" "$artifacts"
  local dict=()
  [[ -f tests/fuzz/$t.dict ]] && dict=(-dict="tests/fuzz/$t.dict")
  local status=ok started
  started=$(date +%s)
  "$build/tests/fuzz/fuzz_$t" "$work" "tests/fuzz/corpus/$t" "${dict[@]}" \
    -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts" >"$log" 2>&1 || status=FAILED
  local execs rate
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  printf '%-10s %12s %10s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$(($(date +%s) - started))" "$status" \
    >"$build/logs/$t.result"
}

# Every target at once by default, so that the run lasts SECONDS whatever the
# number of cores (with 3 targets on 2 cores each gets 2/3 of a core).
mkdir -p "$build/logs"
parallel=${FUZZ_PARALLEL:-${#targets[@]}}
running=0
for t in "${targets[@]}"; do
  if ((running >= parallel)); then
    wait -n
    running=$((running - 1))
  fi
  run_target "$t" &
  running=$((running + 1))
done
wait

failed=()
printf '\n%-10s %12s %10s %8s  %s\n' target executions exec/s seconds result
for t in "${targets[@]}"; do
  cat "$build/logs/$t.result"
  grep -q 'ok$' "$build/logs/$t.result" || failed+=("$t")
done

if ((${#failed[@]})); then
  for t in "${failed[@]}"; do
    printf '\n== fuzz_%s failed (log: %s/logs/%s.log); the last lines:\n' "$t" "$build" "$t"
    tail -n 60 "$build/logs/$t.log"
    echo "inputs kept: $(ls "$build/artifacts/$t/" 2>/dev/null | tr '\n' ' ')"
  done
  exit 1
fi
