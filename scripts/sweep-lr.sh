#!/usr/bin/env bash
# A shell-scripted batch of experiments: train CONFIG once per learning rate and seed, each run in
# its own directory, and collect every run's --json summary into one CSV. A run that fails (bad
# value, diverged: exit 4) is recorded with its exit code and the batch goes on.
#
#   scripts/sweep-lr.sh CONFIG OUT_DIR [LEARNING_RATES] [SEEDS]
#   scripts/sweep-lr.sh configs/iris.yaml runs/iris-sweep "0.001 0.01 0.1" "1 2 3"
#
# Environment: NNCTL (default: build/nnctl), EXTRA (more nnctl arguments, e.g. "--threads 1").
set -euo pipefail
CONFIG=${1:?usage: sweep-lr.sh CONFIG OUT_DIR [LEARNING_RATES] [SEEDS]}
OUT=${2:?usage: sweep-lr.sh CONFIG OUT_DIR [LEARNING_RATES] [SEEDS]}
RATES=${3:-"0.001 0.003 0.01 0.03"}
SEEDS=${4:-"1 2 3"}
NNCTL=${NNCTL:-build/nnctl}
mkdir -p "$OUT"
CSV="$OUT/results.csv"
echo "learning_rate,seed,exit_code,epochs_run,loss,accuracy,val_loss,val_accuracy,test_loss,test_accuracy,run_dir" >"$CSV"
for lr in $RATES; do
  for seed in $SEEDS; do
    run="$OUT/lr$lr-seed$seed"
    # --json: one JSON document on stdout (or {"error": ...}); human output stays on stderr.
    code=0
    # shellcheck disable=SC2086
    "$NNCTL" train "$CONFIG" --set "optimizer.learning_rate=$lr" --seed "$seed" --out "$run" --json -q \
      ${EXTRA:-} >"$run.json" || code=$?
    /usr/bin/python3 - "$run.json" "$lr" "$seed" "$code" "$run" >>"$CSV" <<'PY'
import json, sys
path, lr, seed, code, run = sys.argv[1:]
try:
    d = json.load(open(path))
except ValueError:
    d = {}
final, test = d.get("final", {}), d.get("test", {})
cells = [lr, seed, code, d.get("epochs_run", ""), final.get("loss", ""), final.get("accuracy", ""),
         final.get("val_loss", ""), final.get("val_accuracy", ""), test.get("loss", ""), test.get("accuracy", ""), run]
print(",".join(str(c) for c in cells))
PY
    echo "lr=$lr seed=$seed exit=$code" >&2
  done
done
echo "results: $CSV" >&2
