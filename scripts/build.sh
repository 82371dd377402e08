#!/usr/bin/env bash
# Configure and build nnctl (Release, -O3, native CPU flags) into ./build.
# Extra arguments go to CMake, e.g. scripts/build.sh -DNNCTL_NATIVE=OFF
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j"$(nproc)"
