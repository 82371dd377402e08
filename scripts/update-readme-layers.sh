#!/usr/bin/env bash
# Regenerate the README's layer table from the layers' own schemas (`nnctl layers --markdown`).
# The test suite fails when the README and the binary disagree.
set -euo pipefail
cd "$(dirname "$0")/.."
NNCTL="${1:-build/nnctl}"
table="$("$NNCTL" layers --markdown)"
awk -v table="$table" '
  /<!-- layers:begin/ { print; print table; skip = 1; next }
  /<!-- layers:end/ { skip = 0 }
  !skip { print }
' README.md > README.md.tmp
mv README.md.tmp README.md
