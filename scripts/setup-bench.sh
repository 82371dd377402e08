#!/usr/bin/env bash
# What the benchmarks need beyond scripts/setup.sh: Debian's PyTorch, NumPy and scikit-learn, and OpenBLAS.
# Without libopenblas0-pthread, Debian's torch falls back to the reference BLAS (libblas3) and runs
# ~15x slower on products (3.6 vs 56 GFLOP/s measured), which would make every ratio meaningless.
set -euo pipefail
bash "$(dirname "$0")/setup.sh"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-torch python3-numpy python3-sklearn \
  libopenblas0-pthread
