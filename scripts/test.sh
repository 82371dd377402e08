#!/usr/bin/env bash
# Build and run the whole test suite: the Release build, then the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer (set NNCTL_SKIP_SANITIZE=1 to skip that part), then
# the fuzz targets of every reader for a bounded time (NNCTL_SKIP_FUZZ=1 skips them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
(cd build && ctest --output-on-failure)
if [ "${NNCTL_SKIP_SANITIZE:-0}" != "1" ]; then
  echo "== sanitizer build (ASan + UBSan) =="
  # Built for AVX2 + FMA rather than this CPU when it has them: the sanitizer pass then also runs
  # the 8-wide small_gemm kernel that AVX2-only machines use (the Release build runs this CPU's).
  arch=()
  if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
    arch=(-DNNCTL_NATIVE=OFF "-DCMAKE_CXX_FLAGS=-mavx2 -mfma")
  fi
  # -g1: line tables only, enough for the sanitizers' file:line reports, and a quicker build
  # (8.5 min here, against 10-12 with full -g).
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" \
    -DNNCTL_SANITIZE=ON "${arch[@]}" >/dev/null
  cmake --build build-asan -j"$(nproc)"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure)
fi
if [ "${NNCTL_SKIP_FUZZ:-0}" != "1" ]; then
  # Every reader's libFuzzer target for a bounded time (NNCTL_FUZZ_SECONDS each, two at a time);
  # any crash, hang or sanitizer report fails the run (scripts/fuzz.sh).
  echo "== fuzzing (libFuzzer, ${NNCTL_FUZZ_SECONDS:-12} s per target) =="
  bash scripts/fuzz.sh "${NNCTL_FUZZ_SECONDS:-12}"
fi
