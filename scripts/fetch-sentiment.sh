#!/usr/bin/env bash
# Fetch the UCI "Sentiment Labelled Sentences" (Kotzias et al. 2015, CC BY 4.0): 1000 Amazon
# product-review sentences and 1000 IMDB movie-review sentences, 500 positive and 500 negative each,
# as JSON arrays of {"text": ..., "class": 0|1} (the npm package `sentiment`, MIT, ships them as
# test fixtures). Writes datasets/sentiment/amazon.json and imdb.json. Each file ends with a record
# {"text": "", "class": null}: the example configs drop it with `missing: drop`; amazon has 10
# repeated sentences, dropped with `deduplicate: true` before splitting. Needs npm (Debian's `npm`).
# Idempotent. Usage: scripts/fetch-sentiment.sh [DEST]   (default: datasets/sentiment)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:-$ROOT/datasets/sentiment}
if [ -s "$DEST/amazon.json" ] && [ -s "$DEST/imdb.json" ]; then
  echo "fetch-sentiment: $DEST already has amazon.json and imdb.json"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "fetch-sentiment: npm is needed (apt-get install npm)" >&2
  exit 1
fi
mkdir -p "$DEST"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
npm pack --silent sentiment@5.0.2 >/dev/null
tar -xzf sentiment-5.0.2.tgz package/test/fixtures/amazon.json package/test/fixtures/imdb.json
for f in amazon imdb; do
  # Written under a temporary name and renamed, so an interrupted run leaves no partial file.
  cp "package/test/fixtures/$f.json" "$DEST/.$f.json.tmp"
  mv "$DEST/.$f.json.tmp" "$DEST/$f.json"
done
echo "fetch-sentiment: wrote $DEST/amazon.json and $DEST/imdb.json"
