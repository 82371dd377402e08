#!/usr/bin/env bash
# Fuzz every reader: build the libFuzzer targets (tests/fuzz) with clang into build-fuzz/, then run
# each for SECONDS (default 60), two at a time, starting from its committed seed corpus and
# regression files (copied into a scratch corpus: the committed folders never grow).
# A crash, sanitizer report, hang (10 s per input) or memory blow-up (2 GB) fails the script and
# leaves the reproducer under build-fuzz/findings/NAME/; add it to tests/fuzz/regressions/NAME/
# once fixed. Needs Debian's clang and libclang-rt-14-dev (scripts/setup.sh installs them).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
if [ $# -gt 0 ]; then
  targets=("$@")
else
  read -r -a targets <<<"$(sed -n 's/^set(NNCTL_FUZZ_TARGETS \(.*\))$/\1/p' CMakeLists.txt)"
fi
command -v clang++ >/dev/null || { echo "fuzz: clang++ not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
# -O1 with line tables: quick to build, fast enough to fuzz, and stack traces with file:line.
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=-O1 -gline-tables-only" -DNNCTL_FUZZ=ON -DNNCTL_TESTS=OFF \
  -DNNCTL_OPENMP=OFF -DNNCTL_NATIVE=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}"

rm -rf build-fuzz/findings build-fuzz/work
mkdir -p build-fuzz/findings build-fuzz/work
run_one() {
  local t=$1 work=build-fuzz/work/$1 found=build-fuzz/findings/$1
  mkdir -p "$work" "$found" "tests/fuzz/regressions/$t"
  if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
     "build-fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=20000 \
       -artifact_prefix="$found/" -print_final_stats=1 "$work" "tests/fuzz/corpus/$t" "tests/fuzz/regressions/$t" \
       >"build-fuzz/work/$t.log" 2>&1; then
    echo "fuzz $t: clean, $(grep -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/work/$t.log" | grep -o '[0-9]*$') inputs in ${secs} s"
  else
    echo "fuzz $t: FINDING (log build-fuzz/work/$t.log):" >&2
    grep -E "ERROR|SUMMARY|Test unit written" "build-fuzz/work/$t.log" | head -5 >&2
    return 1
  fi
}
status=0
for ((i = 0; i < ${#targets[@]}; i += 2)); do  # two at a time: one core each
  pids=()
  for t in "${targets[@]:i:2}"; do run_one "$t" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || status=1; done
done
exit $status
