#!/usr/bin/env bash
# Extract two public-domain time series from Debian's python3-statsmodels package into
# datasets/series/: sunspots.csv (yearly 1700-2008, "YEAR","SUNACTIVITY") and co2.csv (Mauna Loa,
# weekly 1958-2001, date as YYYYMMDD, 59 blank values). Only `apt-get download` is used: nothing is
# installed. Idempotent: does nothing when both files are there.
# Usage: scripts/fetch-series.sh [DEST]   (default: datasets/series beside this script's repo)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:-$ROOT/datasets/series}
if [ -s "$DEST/sunspots.csv" ] && [ -s "$DEST/co2.csv" ]; then
  echo "fetch-series: $DEST already has sunspots.csv and co2.csv"
  exit 0
fi
mkdir -p "$DEST"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
# apt-get download needs the package lists; fetch them once if apt knows no python3-statsmodels.
if ! apt-cache show python3-statsmodels >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
fi
apt-get download -qq python3-statsmodels 2>/dev/null || apt-get download python3-statsmodels
DATA=./usr/lib/python3/dist-packages/statsmodels/datasets
dpkg-deb --fsys-tarfile python3-statsmodels_*.deb | tar -x "$DATA/sunspots/sunspots.csv" "$DATA/co2/co2.csv"
for f in sunspots/sunspots.csv co2/co2.csv; do
  # Written under a temporary name and renamed, so an interrupted run leaves no partial file.
  cp "$DATA/$f" "$DEST/.$(basename "$f").tmp"
  mv "$DEST/.$(basename "$f").tmp" "$DEST/$(basename "$f")"
done
echo "fetch-series: wrote $DEST/sunspots.csv ($(($(wc -l <"$DEST/sunspots.csv") - 1)) rows) and $DEST/co2.csv ($(($(wc -l <"$DEST/co2.csv") - 1)) rows)"
