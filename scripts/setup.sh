#!/usr/bin/env bash
# Install everything nnctl needs to build and test on Debian 12, from Debian's packages only.
# Idempotent: installs only what is missing. Runs as root, or through sudo when not root.
set -euo pipefail
# python3: the end-to-end tests check JSON and safetensors output with it.
# dataset-fashion-mnist: the main example's data (/usr/share/datasets/fashion-mnist).
# zlib1g-dev: gzip data; libsqlite3-dev: the search results store; libpng-dev, libjpeg62-turbo-dev: images.
# nlohmann-json3-dev: JSON reading and writing; libssl-dev: OpenSSL's SHA-256 for data file hashes.
# chromium: the tests render nnctl report's pages in a real browser (headless).
# clang, libclang-rt-14-dev: libFuzzer, for the fuzz targets of every data reader (scripts/fuzz.sh).
# libpq-dev: searches shared through PostgreSQL; postgresql: the server the tests start in a temporary directory.
# libopenmpi-dev, openmpi-bin: data-parallel training across processes (mpirun -np N nnctl train).
PKGS=(build-essential cmake pkg-config libcli11-dev libyaml-cpp-dev libeigen3-dev libspdlog-dev doctest-dev
      zlib1g-dev libsqlite3-dev libpng-dev libjpeg62-turbo-dev nlohmann-json3-dev libssl-dev
      libonnx-dev libprotobuf-dev python3 python3-numpy
      python3-onnx python3-opencv chromium clang libclang-rt-14-dev dataset-fashion-mnist libpq-dev postgresql
      libopenmpi-dev openmpi-bin)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PKGS[@]} packages already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
