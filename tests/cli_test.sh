#!/usr/bin/env bash
# End-to-end tests through the real nnctl binary: every example config, the CLI contract (JSON on
# stdout, exit codes, run directory), and golden error messages for bad configs.
# Usage: tests/cli_test.sh path/to/nnctl SOURCE_DIR
set -u
NNCTL=$(realpath "$1")
cd "$2"
BUILD_KIND=${3:-plain}  # "sanitized" under ASan, where address-space limits cannot be used
source tests/cli_common.sh

# Every example config trains (few epochs) and writes a complete run directory. The generated
# image folder comes from its script; the CNN configs train on a slice of Fashion-MNIST here.
[ -d datasets/shapes ] || /usr/bin/python3 scripts/make-shapes.py datasets/shapes --per-class 40 >/dev/null
# The fine-tuning example starts from a pretraining run: a quick one here.
"$NNCTL" train configs/fashion_mnist_pretrain.yaml --set training.epochs=1 --set data.train.max_samples=2000 \
  --set data.test.max_samples=500 --out "$TMP/pretrain" -q || bad "the pretraining example failed"
for cfg in configs/*.yaml configs/seed/*.yaml; do
  out="$TMP/run_$(basename "$cfg" .yaml)"
  small=()
  epochs=(--set training.epochs=2)
  again=(--set training.epochs=1)
  case "$cfg" in
    *finetune*)
      small=(--set data.test.max_samples=1000 --set model.init_from.path="$TMP/pretrain")
      epochs=(--set 'training.stages=[{epochs: 1}, {epochs: 1, unfreeze: [conv2, bn2], learning_rate: 1.0e-4}]')
      again=(--set 'training.stages=[{epochs: 1}]') ;;
    *scratch500*) small=(--set data.test.max_samples=1000) ;;
    *pretrain*) small=(--set data.train.max_samples=3000 --set data.test.max_samples=1000) ;;
    # The sentiment sentences come from scripts/fetch-sentiment.sh; a sample is committed for the suite.
    *sentiment*) small=(--set data.train.path=tests/data/sentiment_sample.json) ;;
    *cnn*|*resnet*|*hyperband*|*fashion_mnist_mlp*) small=(--set data.train.max_samples=3000 --set data.test.max_samples=1000) ;;
    # The series scripts/fetch-series.sh extracts is committed under tests/data for the suite.
    *sunspots*) small=(--set data.train.path=tests/data/sunspots.csv) ;;
  esac
  if "$NNCTL" train "$cfg" "${epochs[@]}" "${small[@]}" --out "$out" -q --json >"$out.json" 2>"$out.err"; then
    ok
    for f in config.yaml model.safetensors model.json history.csv metrics.json; do
      check "$cfg: $f written" test -s "$out/$f"
    done
    check "$cfg: history has 2 epochs" test "$(wc -l <"$out/history.csv")" -eq 3
    check "$cfg: --json is one JSON document with out/epochs_run/history/final" \
      /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["epochs_run"]==2 and len(d["history"])==2 and "loss" in d["final"] and d["out"]' "$out.json"
    # (Under the sanitizers only iris trains again, for the two-run report below: the round trip
    # of every resolved config is the plain build's check, and it halves this loop's time there.)
    if [ "$BUILD_KIND" = plain ] || [ "$cfg" = configs/iris.yaml ]; then
      check "$cfg: resolved config trains again" "$NNCTL" train "$out/config.yaml" --out "$out.again" -q "${again[@]}" "${small[@]}"
    fi
  else
    bad "$cfg failed: $(cat "$out.err")"
  fi
done

# Fine-tuning: the layers that stayed frozen through both stages hold the pretrained weights, the
# unfrozen ones moved; the history covers both stages.
check "frozen layers keep the pretrained weights, unfrozen ones are fine-tuned" /usr/bin/python3 -c '
import json,struct,sys
def load(p):
    b=open(p,"rb").read(); n=struct.unpack("<Q",b[:8])[0]; h=json.loads(b[8:8+n]); d=b[8+n:]
    return {k:d[v["data_offsets"][0]:v["data_offsets"][1]] for k,v in h.items() if k!="__metadata__"}
pre=load(sys.argv[1]+"/model.safetensors"); ft=load(sys.argv[2]+"/model.safetensors")
assert ft["conv1.kernel"]==pre["conv1.kernel"] and ft["bn1.moving_mean"]==pre["bn1.moving_mean"]
assert ft["conv2.kernel"]!=pre["conv2.kernel"] and ft["dense1.kernel"]!=pre["dense1.kernel"]
assert ft["head.kernel"]!=pre["head.kernel"]' "$TMP/pretrain" "$TMP/run_fashion_mnist_finetune"
check "the fine-tuning config says how its stages went" grep -q '"epochs_run":2' "$TMP/run_fashion_mnist_finetune.json"
"$NNCTL" train configs/fashion_mnist_finetune.yaml --set model.init_from.path="$TMP/nope" --out "$TMP/ft_missing" -q 2>"$TMP/ft.err"; code=$?
check "init_from a missing run exits 3 (got $code)" test $code -eq 3
check "the error names the file it looked for" grep -q "model.init_from: $TMP/nope: not found" "$TMP/ft.err"

# Graphs: the two-input example predicts from raw CSV rows (its features split between the inputs),
# and its summary says what each layer reads.
head -4 datasets/penguins.csv | "$NNCTL" predict "$TMP/run_penguins_two_inputs" --input - >"$TMP/two.out" 2>"$TMP/two.err"
check "a two-input model predicts from CSV rows" test "$(grep -c Adelie "$TMP/two.out")" -eq 3
"$NNCTL" summary configs/penguins_two_inputs.yaml --json -q >"$TMP/two.json" 2>/dev/null
check "summary --json lists each layer's inputs" /usr/bin/python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); l={x["name"]: x for x in d["layers"]}
assert l["joined"]["inputs"]==["deep_dropout","wide"] and l["deep"]["inputs"]==["measurements"], l' "$TMP/two.json"
"$NNCTL" summary configs/penguins_two_inputs.yaml >"$TMP/two.txt" 2>&1
check "summary shows the graph's Connected to column" grep -q "joined (concatenate) .*deep_dropout, wide" "$TMP/two.txt"

# Several outputs: each output's loss and metrics in the history, a column group each in predict,
# a report each in evaluate, and the outputs in summary.
pm="$TMP/run_penguins_multi_output"
check "the multi-output history logs each output" grep -q "^epoch,loss,species_loss,sex_loss,depth_loss,species_accuracy,sex_accuracy,depth_mae,val_loss" "$pm/history.csv"
head -3 datasets/penguins.csv | "$NNCTL" predict "$pm" --input - --proba >"$TMP/pm.out" 2>"$TMP/pm.err"
check "multi-output predict names each output's columns" grep -q "^species,species:Adelie,species:Chinstrap,species:Gentoo,sex,sex:female,sex:male,depth$" "$TMP/pm.out"
check "... one row per input row, a class and a value" test "$(grep -cE '^(Adelie|Gentoo|Chinstrap),.*,(male|female),.*,[0-9.]+$' "$TMP/pm.out")" -eq 2
head -2 datasets/penguins.csv | "$NNCTL" predict "$pm" --input - --format jsonl >"$TMP/pm.jsonl" 2>/dev/null
check "multi-output predict JSON lines name each output" /usr/bin/python3 -c '
import json,sys; d=json.loads(open(sys.argv[1]).readline()); assert set(d)=={"species","sex","depth"} and isinstance(d["depth"], float), d' "$TMP/pm.jsonl"
"$NNCTL" evaluate "$pm" --json -q >"$TMP/pm_eval.json" 2>/dev/null
check "multi-output evaluate reports each output" /usr/bin/python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); o=d["outputs"]
assert "confusion_matrix" in o["species"] and "confusion_matrix" in o["sex"] and "r2" in o["depth"]["regression"], d
assert abs(d["loss"] - (d["species_loss"] + d["sex_loss"] + 0.5 * d["depth_loss"])) < 1e-5, d' "$TMP/pm_eval.json"
"$NNCTL" summary configs/penguins_multi_output.yaml >"$TMP/pm_sum.txt" 2>&1
check "summary lists the outputs and their losses" grep -q "Outputs: species (sparse_categorical_crossentropy), sex (binary_crossentropy), depth (mean_squared_error × 0.5)" "$TMP/pm_sum.txt"
/usr/bin/python3 -c '
import csv, numpy as np, sys
r = list(csv.DictReader(open("datasets/penguins.csv")))
isl = sorted({x["island"] for x in r})
rows = [[1.0 if x["island"] == i else 0.0 for i in isl] + [float(x[k]) for k in ("bill_length_mm", "flipper_length_mm", "body_mass_g")]
        for x in r if "NA" not in (x["bill_length_mm"], x["sex"])][:40]
np.save(sys.argv[1] + "/pm_rows.npy", np.array(rows, np.float32))' "$TMP"

# ONNX export: each exported example passes the onnx checker, and OpenCV's DNN module gives
# predict's probabilities on the same rows (max abs difference ≤ 1e-4).
/usr/bin/python3 -c '
import csv, gzip, numpy as np, sys
r = list(csv.reader(open("datasets/iris.csv")))
np.save(sys.argv[1] + "/iris_rows.npy", np.array([[float(v) for v, k in zip(row, r[0]) if k != "species"] for row in r[1:]], dtype=np.float32))
with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
    x = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28, 1)[:32]
np.save(sys.argv[1] + "/fm_rows.npy", x.astype(np.float32))' "$TMP"
# Text models take token ids (trailing zeros are padding, as TextVectorization pads); the two
# export_*.yaml graphs take 24 synthetic features as 6 steps of 4.
/usr/bin/python3 -c '
import numpy as np, sys
g = np.random.default_rng(1)
ids = np.zeros((16, 32), np.float32)
for i in range(16):
    n = g.integers(1, 33); ids[i, :n] = g.integers(1, 2000, n)
np.save(sys.argv[1] + "/ids_rows.npy", ids)
np.save(sys.argv[1] + "/seq_rows.npy", g.normal(size=(12, 24)).astype(np.float32))' "$TMP"
for c in export_layers export_lstm; do
  "$NNCTL" train "tests/data/$c.yaml" --out "$TMP/run_$c" -q || bad "tests/data/$c.yaml failed to train"
done
# Every model runs in the numpy interpreter of the ONNX spec (tests/support/onnx_numpy.py); OpenCV
# 4.6's DNN module must run it too, except where noted: it refuses Gather with computed indices (an
# embedding lookup), GRU and RNN nodes, and broadcasting divisions (layer normalization).
for spec in iris:iris_rows fashion_mnist_cnn:fm_rows fashion_mnist_resnet:fm_rows seed/keras_cnn:fm_rows \
    penguins_multi_output:pm_rows export_lstm:seq_rows export_layers:seq_rows:Div sentiment_lstm:ids_rows:Gather \
    sentiment_transformer:ids_rows:Gather sentiment_cnn:ids_rows:Gather; do
  IFS=: read -r cfg rowset refused <<<"$spec"
  run="$TMP/run_$(basename "$cfg")"; rows="$TMP/$rowset.npy"
  "$NNCTL" export "$run" --output "$TMP/exp.onnx" -q; code=$?
  check "export $cfg exits 0 (got $code)" test $code -eq 0
  "$NNCTL" predict "$run" --input "$rows" --proba -o "$TMP/exp.csv" -q
  if /usr/bin/python3 tests/support/onnx_parity.py "$TMP/exp.onnx" "$rows" "$TMP/exp.csv" ${refused:+--opencv-unsupported} \
      >"$TMP/parity.out" 2>&1; then ok; else bad "ONNX export of $cfg differs from predict: $(cat "$TMP/parity.out")"; fi
  check "$cfg: the numpy interpreter ran the export" grep -q "numpy vs nnctl predict" "$TMP/parity.out"
  if [ -n "$refused" ]; then
    check "$cfg: OpenCV's refusal is the known one ($refused)" grep -q "OpenCV DNN cannot run this graph (expected): .*\[$refused\]" "$TMP/parity.out"
  else
    check "$cfg: OpenCV ran the export" grep -q "OpenCV DNN vs nnctl predict" "$TMP/parity.out"
  fi
done
check "export writes RUN_DIR/model.onnx by default" "$NNCTL" export "$TMP/run_iris" -q
check "... which is there" test -s "$TMP/run_iris/model.onnx"
sed 's/- {type: lstm, units: 6, return_sequences: true, name: lstm}/- {type: masking, name: pad_mask}/' \
  tests/data/export_lstm.yaml >"$TMP/export_masking.yaml"
"$NNCTL" train "$TMP/export_masking.yaml" --out "$TMP/run_export_masking" -q || bad "the masking config failed to train"
"$NNCTL" export "$TMP/run_export_masking" -q 2>"$TMP/exp.err"; code=$?
check "export of a layer without an ONNX form exits 2 (got $code)" test $code -eq 2
check "... naming the layer and its type" grep -q "(pad_mask): export: layer type 'masking' has no ONNX form" "$TMP/exp.err"
check "... and writing no file" test ! -e "$TMP/run_export_masking/model.onnx"

# --events: JSON lines as training goes (appended), batch lines with --events-every, trial state
# changes in a search, and lines that are there while the run is still going.
ev="$TMP/events.jsonl"
"$NNCTL" train configs/iris.yaml --set training.epochs=2 --events "$ev" --events-every 3 --out "$TMP/ev_run" -q
"$NNCTL" train configs/iris.yaml --set training.epochs=1 --events "$ev" --out "$TMP/ev_run2" -q
check "--events writes start, batch, epoch, test and end lines, appending" /usr/bin/python3 -c '
import json,sys; L=[json.loads(l) for l in open(sys.argv[1])]; k=[l["event"] for l in L]
assert k.count("start")==2 and k.count("end")==2 and k.count("epoch")==3 and k.count("test")==2, k
assert k[0]=="start" and L[0]["run"].endswith("ev_run") and "batch" in k[:8], k
e=[l for l in L if l["event"]=="epoch"][0]; assert e["epoch"]==1 and "val_accuracy" in e and "learning_rate" in e and "time" in e, e
assert all(l["status"]=="completed" for l in L if l["event"]=="end")' "$ev"
"$NNCTL" train configs/iris.yaml --events - --json -q >/dev/null 2>"$TMP/ev.err"; code=$?
check "--events - with --json is a usage error (got $code)" test $code -eq 2
"$NNCTL" train configs/iris.yaml --events "$TMP/no/such/dir/ev.jsonl" --out "$TMP/ev_bad" -q 2>"$TMP/ev.err"; code=$?
check "an --events file that cannot be opened exits 5 (got $code)" test $code -eq 5
check "... naming it" grep -q "no/such/dir/ev.jsonl: cannot open" "$TMP/ev.err"
live="$TMP/live.jsonl"
"$NNCTL" train configs/fashion_mnist_mlp.yaml --set training.epochs=500 --threads 1 --events "$live" --out "$TMP/ev_live" -q &
lpid=$!
for _ in $(seq 1 600); do grep -q '"event":"epoch"' "$live" 2>/dev/null && break; sleep 0.1; done
check "an epoch line is in the events file while training still runs" kill -0 "$lpid"
for _ in $(seq 1 100); do [ -s "$TMP/ev_live/history.csv" ] && break; sleep 0.1; done
"$NNCTL" report "$TMP/ev_live" --out "$TMP/live_report.html" -q
check "... and a report can be drawn mid-run from its history so far" grep -q "epochs\? so far (status: running" "$TMP/live_report.html"
kill -INT "$lpid"; wait "$lpid"
check "... and the run's end line says it was interrupted" grep -q '"event":"end".*"status":"interrupted"' "$live"
"$NNCTL" grid-search configs/seed/grid_search.yaml --set training.epochs=1 --max-trials 100 --jobs 2 --events "$TMP/sev.jsonl" --out "$TMP/ev_sweep" -q 2>/dev/null
check "search --events: every trial runs, then completes, once each" /usr/bin/python3 -c '
import json,sys; L=[json.loads(l) for l in open(sys.argv[1])]; t=[l for l in L if l["event"]=="trial"]
n=len({l["trial"] for l in t}); assert n>1 and len(t)==2*n, len(t)
for i in {l["trial"] for l in t}:
    s=[l["state"] for l in t if l["trial"]==i]; assert s==["running","complete"], (i,s)
assert L[0]["event"]=="start" and L[-1]["event"]=="end" and "best" in L[-1] and "score" in t[-1], L[-1]' "$TMP/sev.jsonl"

# nnctl report: self-contained pages for a classifier, a model with several outputs (a
# classifier's and a regressor's plots) and two runs compared, each rendered by headless Chromium
# (charts drawn, nothing fetched from the network).
"$NNCTL" report "$TMP/run_iris" -q; code=$?
check "report of one run exits 0 and writes RUN_DIR/report.html (got $code)" test $code -eq 0 -a -s "$TMP/run_iris/report.html"
check "the iris report renders in Chromium with its curves and confusion matrix" /usr/bin/python3 tests/support/check_report.py \
  "$TMP/run_iris/report.html" --browser --expect "confusion matrix" --expect virginica --expect "Learning curves" --expect "Resolved config"
"$NNCTL" report "$TMP/run_penguins_multi_output" --out "$TMP/pm_report.html" -q
check "the multi-output report has each output's results and renders" /usr/bin/python3 tests/support/check_report.py \
  "$TMP/pm_report.html" --browser --expect "output species: confusion matrix" --expect "output sex: confusion matrix" \
  --expect "predicted against actual" --expect "depth_mae"
"$NNCTL" report "$TMP/run_iris" "$TMP/run_iris.again" --out "$TMP/two_report.html" --json -q >"$TMP/two_report.json"
check "report of two runs compares them and renders" /usr/bin/python3 tests/support/check_report.py "$TMP/two_report.html" \
  --browser --expect "Runs compared" --expect "Config differences" --expect "training.epochs"
check "report --json names the page" grep -q "\"output\":\"$TMP/two_report.html\"" "$TMP/two_report.json"
"$NNCTL" report "$TMP/run_sunspots_lstm" --out "$TMP/sun_report.html" -q
check "a forecaster's report draws its test stretch against the baselines" /usr/bin/python3 tests/support/check_report.py \
  "$TMP/sun_report.html" --browser --expect "test stretch, one step ahead" --expect seasonal_naive
"$NNCTL" report "$TMP/ev_sweep" --out "$TMP/sweep_report.html" -q
check "a sweep's report has its leaderboard, parameters, every trial and the best model, and renders" \
  /usr/bin/python3 tests/support/check_report.py "$TMP/sweep_report.html" --browser --expect Leaderboard \
  --expect "The objective against each parameter" --expect "every trial (darker: better)" --expect "best-model" \
  --expect "trials over time, by worker"
check "... its timeline has a lane for each of the 2 workers and a bar for each trial" /usr/bin/python3 -c '
import re,sys; t=open(sys.argv[1]).read(); g=t[t.index("trials over time, by worker"):]; g=g[:g.index("</svg>")]
assert len(set(re.findall(r">worker (\d+)</text>", g)))==2, g[:300]
assert len(re.findall(r"<rect [^>]*><title>trial \d+ \(complete", g))==27' "$TMP/sweep_report.html"
# 100 classes: the most-confused pairs instead of a 100 × 100 matrix; 10,000 epochs: curves cut to
# 1,000 points, ticks with thousands separators.
printf '%s\n' 'data:' '  train: {format: synthetic, samples: 3000, features: 20, classes: 100, seed: 3}' '  test_split: 0.3' \
  'model:' '  layers: [{type: dense, units: 100, activation: softmax}]' 'loss: sparse_categorical_crossentropy' \
  'training: {epochs: 1}' >"$TMP/many.yaml"
"$NNCTL" train "$TMP/many.yaml" --out "$TMP/run_many" -q && "$NNCTL" report "$TMP/run_many" -q
check "a 100-class report lists the most-confused pairs, and one epoch still draws" /usr/bin/python3 tests/support/check_report.py \
  "$TMP/run_many/report.html" --browser --expect "the 20 most-confused pairs"
cp -r "$TMP/run_many" "$TMP/run_long"
/usr/bin/python3 -c '
import sys
with open(sys.argv[1] + "/history.csv", "w") as f:
    f.write("epoch,loss,accuracy,learning_rate,seconds\n")
    for e in range(1, 10001): f.write(f"{e},{1 / e ** 0.3},{1 - 1 / e ** 0.2},0.001,0.01\n")' "$TMP/run_long"
"$NNCTL" report "$TMP/run_long" -q
check "10,000 epochs: at most 1,000 points a curve, readable ticks" /usr/bin/python3 -c '
import re, sys; t = open(sys.argv[1]).read()
assert max(len(p.split()) for p in re.findall(r"points=.([^\x27]*).", t)) <= 1000 and ">10,000<" in t' "$TMP/run_long/report.html"
"$NNCTL" report "$TMP/no_such_run" -q 2>"$TMP/rep.err"; code=$?
check "report of a missing run exits 3 naming it (got $code)" bash -c "test $code -eq 3 && grep -q no_such_run '$TMP/rep.err'"

# Resume: kill -9 at random moments through a run (a random delay after each attempt has finished
# one more epoch, so that every attempt makes progress on any machine, sanitizers included), and
# continue each time with the same command; the final weights are the uninterrupted run's byte for
# byte. Then --resume, a grown training.epochs, a changed config refused with its differences, and
# a damaged newest checkpoint.
"$NNCTL" train tests/data/resume.yaml --out "$TMP/rs_ref" -q --threads 1
epochs_in() { [ -f "$1/history.csv" ] && echo $(( $(wc -l <"$1/history.csv") - 1 )) || echo 0; }
for i in $(seq 1 40); do
  before=$(epochs_in "$TMP/rs_kill")
  "$NNCTL" train tests/data/resume.yaml --out "$TMP/rs_kill" --threads 1 >/dev/null 2>>"$TMP/rs_kill.log" &
  kp=$!
  while kill -0 "$kp" 2>/dev/null && [ "$(epochs_in "$TMP/rs_kill")" -le "$before" ]; do sleep 0.02; done
  sleep "0.$(printf '%03d' $((RANDOM % 150)))"
  kill -9 "$kp" 2>/dev/null; wait "$kp" 2>/dev/null
  grep -q '"status":"completed"' "$TMP/rs_kill/run.json" 2>/dev/null && break
done
resumed=$(grep -c "^resuming" "$TMP/rs_kill.log")
check "kill -9 then resume, several times (resumed $resumed times)" test "$resumed" -ge 2
check "... the run completes" grep -q '"status":"completed"' "$TMP/rs_kill/run.json"
check "... with the uninterrupted run's weights, byte for byte" cmp "$TMP/rs_ref/model.safetensors" "$TMP/rs_kill/model.safetensors"
check "... and its history (but the seconds)" bash -c "diff <(cut -d, -f1-6 '$TMP/rs_ref/history.csv') <(cut -d, -f1-6 '$TMP/rs_kill/history.csv')"
cp -r "$TMP/rs_ref" "$TMP/rs_more"
"$NNCTL" train --resume "$TMP/rs_more" --set training.epochs=14 -q; code=$?
check "--resume with training.epochs grown continues (exit $code)" test $code -eq 0 -a "$(wc -l <"$TMP/rs_more/history.csv")" -eq 15
"$NNCTL" train --resume "$TMP/rs_more" --set model.layers.1.units=32 -q 2>"$TMP/rs.err"; code=$?
check "a changed config is refused (exit $code)" test $code -eq 2
check "... with its differences" grep -q "model.layers.1.units: 64 → 32" "$TMP/rs.err"
cp -r "$TMP/rs_ref" "$TMP/rs_bad"
sed -i 's/"status":"completed"/"status":"running"/' "$TMP/rs_bad/run.json"
head -c 3000 "$TMP/rs_bad/checkpoint.safetensors" >"$TMP/rs_bad/cut" && mv "$TMP/rs_bad/cut" "$TMP/rs_bad/checkpoint.safetensors"
"$NNCTL" train tests/data/resume.yaml --out "$TMP/rs_bad" --threads 1 2>"$TMP/rs.err"; code=$?
check "a truncated newest checkpoint falls back to the previous one (exit $code)" test $code -eq 0
check "... saying so" grep -q "the newest checkpoint is damaged" "$TMP/rs.err"
"$NNCTL" train --resume "$TMP/run_iris_nope" -q 2>"$TMP/rs.err"; code=$?
check "--resume of a directory that is not a run exits 3 (got $code)" test $code -eq 3

# Golden errors: exit 2 and the exact message with file, line, column and key path.
for y in tests/data/bad_*.yaml; do
  exp="${y%.yaml}.expected"
  timeout 10 "$NNCTL" train "$y" --out "$TMP/bad" >"$TMP/bad.out" 2>"$TMP/bad.err"
  code=$?
  check "$y exits 2 (got $code)" test "$code" -eq 2
  if diff -u "$exp" "$TMP/bad.err" >"$TMP/diff"; then ok; else bad "$y message:"; cat "$TMP/diff" >&2; fi
  check "$y: nothing on stdout" test ! -s "$TMP/bad.out"
done

# --set errors name the flag; a missing config file is a usage error.
"$NNCTL" train configs/iris.yaml --set training.epochs=abc --out "$TMP/x" 2>"$TMP/e"; code=$?
check "--set type error exits 2" test $code -eq 2
check "--set error names the flag" grep -q "^error: --set training.epochs=abc: training.epochs: expected an integer" "$TMP/e"
"$NNCTL" train nonexistent.yaml 2>"$TMP/e"; code=$?
check "missing config exits 2 (got $code)" test $code -eq 2
"$NNCTL" bogus-subcommand 2>/dev/null; code=$?
check "unknown subcommand exits 2 (got $code)" test $code -eq 2

# Divergence: exit 4, a message naming epoch and batch, and no model saved.
"$NNCTL" train configs/regression.yaml --set 'optimizer={type: sgd, learning_rate: 1.0e+6}' --out "$TMP/div" -q 2>"$TMP/e"; code=$?
check "diverged run exits 4 (got $code)" test $code -eq 4
check "divergence message names epoch and batch" grep -q "at epoch 1, batch" "$TMP/e"
check "no model saved for a diverged run" test ! -e "$TMP/div/model.safetensors"

# SIGINT: finish the batch, save the last completed epoch's model marked interrupted, exit 130.
"$NNCTL" train configs/iris.yaml --set training.epochs=1000000 --out "$TMP/int" -q &
pid=$!
for _ in $(seq 100); do [ -e "$TMP/int/config.yaml" ] && break; sleep 0.05; done
sleep 0.2
kill -INT $pid
wait $pid; code=$?
check "interrupted run exits 130 (got $code)" test $code -eq 130
check "interrupted run marked in metrics.json" grep -q '"interrupted":true' "$TMP/int/metrics.json"
check "interrupted run saved a model" test -s "$TMP/int/model.safetensors"

# A second signal leaves at once (exit 130) without corrupting anything already written.
"$NNCTL" train configs/iris.yaml --set training.epochs=1000000 --out "$TMP/int2" -q &
pid=$!
for _ in $(seq 100); do [ -e "$TMP/int2/config.yaml" ] && break; sleep 0.05; done
sleep 0.2
kill -INT $pid; kill -INT $pid
wait $pid; code=$?
check "second signal exits 130 (got $code)" test $code -eq 130
check "files intact after a second signal" "$NNCTL" validate "$TMP/int2/config.yaml" -q
check "no temporary files after a second signal" bash -c "! ls '$TMP/int2' | grep -q tmp"

# Exit 1: a runtime failure (here: out of memory under an address-space limit).
if [ "$BUILD_KIND" = plain ]; then
  (ulimit -v 400000; "$NNCTL" train configs/fashion_mnist_mlp.yaml --set data.train.max_samples=60000 \
     --set 'model.layers.1.units=1000000' --out "$TMP/oom" -q 2>"$TMP/e"); code=$?
  check "out of memory exits 1 (got $code)" test $code -eq 1
  check "out of memory says so" grep -q "out of memory" "$TMP/e"
fi

# Same seed, same bytes; --seed changes them.
"$NNCTL" train configs/seed/keras_sgd.yaml --out "$TMP/s1" -q --set training.epochs=3
"$NNCTL" train configs/seed/keras_sgd.yaml --out "$TMP/s2" -q --set training.epochs=3
"$NNCTL" train configs/seed/keras_sgd.yaml --out "$TMP/s3" -q --set training.epochs=3 --seed 7
check "same seed: identical weights" cmp -s "$TMP/s1/model.safetensors" "$TMP/s2/model.safetensors"
check "--seed changes the weights" bash -c "! cmp -s '$TMP/s1/model.safetensors' '$TMP/s3/model.safetensors'"
check "--seed recorded in the resolved config" grep -q "^seed: 7$" "$TMP/s3/config.yaml"

# The safetensors file is readable by an independent reader (Python struct + json).
check "safetensors readable by an independent reader" /usr/bin/python3 - "$TMP/s1/model.safetensors" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
meta = h.pop("__metadata__")
assert meta["format"] == "nnctl"
assert h["dense_1.kernel"]["shape"] == [20, 64] and h["dense_2.bias"]["shape"] == [10]
end = max(v["data_offsets"][1] for v in h.values())
assert 8 + n + end == len(b)
PY

# Default run directory: runs/NAME, then runs/NAME-2.
(cd "$TMP" && mkdir -p cfgs && cp "$OLDPWD/configs/xor.yaml" cfgs/ && cp -r "$OLDPWD/datasets" . \
  && "$NNCTL" train cfgs/xor.yaml -q --set training.epochs=1 && "$NNCTL" train cfgs/xor.yaml -q --set training.epochs=1)
check "default run dirs runs/xor and runs/xor-2" test -s "$TMP/runs/xor/model.safetensors" -a -s "$TMP/runs/xor-2/model.safetensors"

# evaluate: the run's own test split, per-class report and confusion matrix, --json, --data.
"$NNCTL" train configs/iris.yaml --out "$TMP/iris" -q
"$NNCTL" evaluate "$TMP/iris" >"$TMP/ev.out" 2>"$TMP/ev.err"; code=$?
check "evaluate exits 0 (got $code)" test $code -eq 0
check "evaluate prints per-class precision/recall" grep -q "versicolor .*[0-9]" "$TMP/ev.err"
check "evaluate prints the confusion matrix" grep -q "confusion matrix" "$TMP/ev.err"
"$NNCTL" evaluate "$TMP/iris" --json -q >"$TMP/ev.json"
check "evaluate --json: accuracy, report, confusion matrix" /usr/bin/python3 - "$TMP/ev.json" "$TMP/iris/metrics.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); m = json.load(open(sys.argv[2]))
assert d["samples"] == 30 and abs(d["accuracy"] - m["test"]["accuracy"]) < 1e-6, (d, m)
assert set(d["classification_report"]) >= {"setosa", "versicolor", "virginica", "macro_avg", "weighted_avg"}
cm = d["confusion_matrix"]["matrix"]; assert sum(map(sum, cm)) == 30 and d["confusion_matrix"]["labels"][0] == "setosa"
PY
"$NNCTL" evaluate "$TMP/iris" --data datasets/iris.csv --json -q >"$TMP/ev2.json"; code=$?
check "evaluate --data CSV (exit $code)" /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["samples"]==150 and d["accuracy"]>0.9' "$TMP/ev2.json"
"$NNCTL" train configs/regression.yaml --out "$TMP/reg" -q --set training.epochs=3 --set data.test_split=0.2
"$NNCTL" evaluate "$TMP/reg" --json -q >"$TMP/ev3.json"
check "evaluate regression reports mse/mae/rmse/r2" /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["regression"]; assert set(d)=={"mse","mae","rmse","r2"} and abs(d["rmse"]**2-d["mse"])<1e-6*d["mse"]+1e-12' "$TMP/ev3.json"
"$NNCTL" evaluate "$TMP/nothing-here" 2>"$TMP/e"; code=$?
check "evaluate of a missing run exits 3 (got $code)" test $code -eq 3
"$NNCTL" evaluate "$TMP/s1" 2>"$TMP/e"; code=$?
check "evaluate without test data exits 2 with a hint (got $code)" bash -c "test $code -eq 2 && grep -q 'give --data' '$TMP/e'"

# predict: stdin to stdout with class names, --proba headers, JSON lines, bad rows, atomic --output.
head -4 datasets/iris.csv | "$NNCTL" predict "$TMP/iris" --input - >"$TMP/p.out" 2>"$TMP/p.err"; code=$?
check "predict stdin exits 0 (got $code)" test $code -eq 0
check "predict writes class names" test "$(cat "$TMP/p.out" | tr '\n' ' ')" = "prediction setosa setosa setosa "
cut -d, -f1-4 datasets/iris.csv | "$NNCTL" predict "$TMP/iris" -i - --proba >"$TMP/p2.out"
check "predict --proba: class-name header, 150 rows" bash -c "head -1 '$TMP/p2.out' | grep -qx 'prediction,setosa,versicolor,virginica' && test \$(wc -l <'$TMP/p2.out') -eq 151"
echo '{"sepal_length": 6.3, "sepal_width": 3.3, "petal_length": 6.0, "petal_width": 2.5}' | "$NNCTL" predict "$TMP/iris" -i - --format jsonl --proba >"$TMP/p3.out"
check "predict JSON lines in and out" /usr/bin/python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read()); assert d["prediction"]=="virginica" and abs(sum(d["probabilities"].values())-1)<1e-5' "$TMP/p3.out"
printf 'sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.3,abc,6.0,2.5\n' | "$NNCTL" predict "$TMP/iris" -i - >/dev/null 2>"$TMP/e"; code=$?
check "predict bad value exits 3 (got $code)" test $code -eq 3
check "predict error names line and column" grep -q "<stdin>:3:5: column 'sepal_width': not a finite number: 'abc'" "$TMP/e"
printf 'sepal_length,sepal_width\n5.1,3.5\n' | "$NNCTL" predict "$TMP/iris" -i - -o "$TMP/never.csv" 2>"$TMP/e"; code=$?
check "predict missing columns exits 3 (got $code)" test $code -eq 3
check "a failed predict leaves no output file" test ! -e "$TMP/never.csv"
"$NNCTL" predict "$TMP/iris" -i datasets/iris.csv -o "$TMP/out.csv" -q --json >"$TMP/pj.json"
check "predict --output writes the file" test "$(wc -l <"$TMP/out.csv")" -eq 151
check "predict --json summary" /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["rows"]==150' "$TMP/pj.json"
"$NNCTL" predict "$TMP/reg" -i - --format jsonl < /dev/null >"$TMP/p4.out" 2>"$TMP/e"; code=$?
check "predict on empty input of a non-CSV model (exit $code)" test $code -eq 0 -o $code -eq 3

# A damaged model file is a data error (exit 3) naming the file; the run is not touched.
cp -r "$TMP/iris" "$TMP/iris-bad"
head -c 100 "$TMP/iris/model.safetensors" >"$TMP/iris-bad/model.safetensors"
"$NNCTL" evaluate "$TMP/iris-bad" 2>"$TMP/e"; code=$?
check "truncated weights exit 3 (got $code)" test $code -eq 3
check "truncated weights named" grep -q "model.safetensors" "$TMP/e"

# validate: resolved config on stdout (exit 0) or every error (exit 2); --json both ways.
"$NNCTL" validate configs/iris.yaml --set model.layers.dense_1.units=32 >"$TMP/v.yaml" 2>/dev/null; code=$?
check "validate exits 0 (got $code)" test $code -eq 0
check "validate prints the resolved config with the override" grep -q "units: 32" "$TMP/v.yaml"
check "the resolved config validates again" "$NNCTL" validate "$TMP/v.yaml" -q
"$NNCTL" validate configs/iris.yaml --json -q >"$TMP/v.json"
check "validate --json" /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["valid"] and d["config"]["optimizer"]["learning_rate"]==0.01 and d["config"]["training"]["shuffle"] is True' "$TMP/v.json"
"$NNCTL" validate tests/data/bad_nan.yaml --json >"$TMP/v2.json" 2>/dev/null; code=$?
check "validate of a bad config exits 2 (got $code)" test $code -eq 2
check "errors are one JSON document on stdout with --json" /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["error"]["exit_code"]==2 and "bad_nan.yaml:8:39" in d["error"]["message"]' "$TMP/v2.json"

# summary of a config and of a run directory.
"$NNCTL" summary configs/iris.yaml 2>"$TMP/s.err"; code=$?
check "summary exits 0 (got $code)" test $code -eq 0
check "summary lists layers, shapes and params" grep -q "dense_1 (dense) .*(None, 16) .* 80" "$TMP/s.err"
check "summary totals" grep -q "Total params: 403" "$TMP/s.err"
"$NNCTL" summary "$TMP/iris" --json -q >"$TMP/s.json"
check "summary --json of a run dir" /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["total_params"]==403 and len(d["layers"])==3 and d["memory_bytes"]["total"]>0' "$TMP/s.json"

# run.json records how to reproduce the run: version, command, seed, status, data hashes.
check "run.json: status completed, seed, data SHA-256 (checked against sha256sum)" /usr/bin/python3 - "$TMP/iris/run.json" "$(sha256sum datasets/iris.csv | cut -d' ' -f1)" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["status"] == "completed" and d["seed"] == 7 and d["command"][1] == "train", d
assert d["data_files"][0]["sha256"] == sys.argv[2] and d["data_files"][0]["bytes"] == 3858, d
PY

# I/O errors: a file-size limit makes writing the model fail: exit 5 naming the path, the files
# written before intact, no temporary files left, run.json says failed.
(ulimit -f 20; trap '' XFSZ; "$NNCTL" train configs/fashion_mnist_mlp.yaml --set training.epochs=1 --set training.checkpoint.every=0 \
   --set data.train.max_samples=2000 --out "$TMP/full" -q 2>"$TMP/e"); code=$?
check "write failure exits 5 (got $code)" test $code -eq 5
check "write failure names the file" grep -q "cannot write '$TMP/full/model.safetensors': File too large" "$TMP/e"
check "earlier files intact" "$NNCTL" validate "$TMP/full/config.yaml" -q
check "no temporary files left" bash -c "! ls '$TMP/full' | grep -q tmp"
check "run.json records the failure" grep -q '"status":"failed"' "$TMP/full/run.json"
(ulimit -f 20; trap '' XFSZ; "$NNCTL" train configs/fashion_mnist_mlp.yaml --set training.epochs=1 \
   --set data.train.max_samples=2000 --out "$TMP/full_ck" -q 2>"$TMP/e"); code=$?
check "a checkpoint that cannot be written exits 5 naming it (got $code)" bash -c \
  "test $code -eq 5 && grep -q \"cannot write '$TMP/full_ck/checkpoint.safetensors': File too large\" '$TMP/e'"
check "... leaving no temporary file" bash -c "! ls '$TMP/full_ck' | grep -q tmp"
"$NNCTL" train configs/xor.yaml --out /dev/null/x -q 2>"$TMP/e"; code=$?
check "an impossible --out exits 5 (got $code)" test $code -eq 5

# extends through the binary; --set by layer name.
mkdir -p "$TMP/ext" && cp configs/xor.yaml "$TMP/ext/base.yaml" && cp datasets/xor.csv "$TMP/"
sed -i "s|../datasets/xor.csv|$TMP/xor.csv|" "$TMP/ext/base.yaml"
printf 'extends: base.yaml\nname: xor-wide\ntraining: {epochs: 5}\n' >"$TMP/ext/child.yaml"
"$NNCTL" validate "$TMP/ext/child.yaml" --set model.layers.dense_1.units=12 >"$TMP/ext/r.yaml" 2>/dev/null
check "extends merges the base, --set by layer name" bash -c "grep -q 'name: xor-wide' '$TMP/ext/r.yaml' && grep -q 'units: 12' '$TMP/ext/r.yaml' && grep -q 'epochs: 5' '$TMP/ext/r.yaml' && grep -q 'learning_rate: 0.05' '$TMP/ext/r.yaml'"

# The worked batch example: a learning-rate x seed sweep collected into one CSV; a bad value is a row
# with its exit code, and the batch goes on.
NNCTL="$NNCTL" bash scripts/sweep-lr.sh configs/xor.yaml "$TMP/sweep" "0.05 abc" "1 2" 2>/dev/null
check "sweep CSV: header + 4 rows" test "$(wc -l <"$TMP/sweep/results.csv")" -eq 5
check "sweep CSV: the good runs trained" grep -q "^0.05,2,0,300," "$TMP/sweep/results.csv"
check "sweep CSV: the bad value recorded with exit 2" grep -q "^abc,1,2," "$TMP/sweep/results.csv"

# ---------------------------------------------------------------- hostile data files
# Every reader refuses what a damaged or hostile file holds with exit 3, a message naming the file,
# line and column that quotes at most 60 characters of it, and memory bounded by data.limits.
H="$TMP/hostile"; mkdir -p "$H"
/usr/bin/python3 - "$H" <<'PY'
import gzip, numpy as np, os, sys
d = sys.argv[1]
rows = ["a,b,c,label"] + [f"{i % 7},{i % 5},{i % 3},{i % 2}" for i in range(60)]
def csv(name, lines):
    open(os.path.join(d, name), "w").write("\n".join(lines) + "\n")
big = list(rows); big[5] = "1," + "x" * 20_000_000 + ",2,1"; csv("big_field.csv", big)
nul = list(rows); nul[7] = "1,2\x003,0,1"; csv("nul.csv", nul)
short = list(rows); short[9] = "1,2,0"; csv("short_row.csv", short)
# gzip files of concatenated members (as gzip reads them): one compressed MiB repeated, written at once.
def gz(name, head, mib, repeat, tail):
    with open(os.path.join(d, name), "wb") as f:
        f.write(gzip.compress(head)); f.write(gzip.compress(mib, 9) * repeat); f.write(gzip.compress(tail))
gz("one_line.csv.gz", b"a,b,c,label\n1,", b"1" * (1 << 20), 2048, b",1,0\n")  # 2 MB that expand to one 2 GiB line
gz("many_lines.csv.gz", b"a,b,c,label\n", b"1,1,1,1\n" * (1 << 17), 2048, b"")  # valid rows, 2 GiB of them
x = np.random.default_rng(1).random((40, 3)).astype(np.float32); x[5, 1] = np.nan
np.save(os.path.join(d, "x_nan.npy"), x); np.save(os.path.join(d, "y.npy"), (np.arange(40) % 2).astype(np.int64))
PY
hostile_cfg() {  # hostile_cfg NAME SOURCE: a small classifier reading SOURCE
  printf '%s\n' "data:" "  train: $2" "  test_split: 0.2" "model:" "  layers: [{type: dense, units: 2, activation: softmax}]" \
    "loss: sparse_categorical_crossentropy" "training: {epochs: 1}" >"$H/$1.yaml"
}
hostile_cfg big "{format: csv, path: $H/big_field.csv, target: label}"
"$NNCTL" train "$H/big.yaml" --out "$H/o1" -q 2>"$H/e"; code=$?
check "a 20 MB field is refused (exit $code) at its line and column, past data.limits.field_bytes" bash -c \
  "test $code -eq 3 && grep -q '$H/big_field.csv:6:3: a field longer than 16,777,216 bytes (data.limits.field_bytes' '$H/e'"
"$NNCTL" train "$H/big.yaml" --out "$H/o2" -q --set data.limits.field_bytes=100000000 2>"$H/e"; code=$?
check "with the limit raised, the 20 MB non-number is refused (exit $code), the message quoting 60 characters and the size" bash -c \
  "test $code -eq 3 && test \$(wc -c <'$H/e') -lt 400 && grep -q \"$H/big_field.csv:6:3: column 'b': not a finite number: 'x\{60\}…' (20,000,000 bytes)\" '$H/e'"
hostile_cfg nul "{format: csv, path: $H/nul.csv, target: label}"
"$NNCTL" train "$H/nul.yaml" --out "$H/o3" -q 2>"$H/e"; code=$?
check "a NUL byte in a CSV field is refused (exit $code) naming its line and column" bash -c \
  "test $code -eq 3 && grep -q '$H/nul.csv:8:4: a NUL byte: a CSV file holds none' '$H/e'"
hostile_cfg short "{format: csv, path: $H/short_row.csv, target: label}"
"$NNCTL" train "$H/short.yaml" --out "$H/o4" -q 2>"$H/e"; code=$?
check "a row with too few fields is refused (exit $code) at its line" bash -c "test $code -eq 3 && grep -q 'short_row.csv:10: expected 4 fields, found 3' '$H/e'"
"$NNCTL" train "$H/short.yaml" --out "$H/o5" -q --set data.limits.columns=3 2>"$H/e"; code=$?
check "more fields than data.limits.columns is refused (exit $code)" bash -c "test $code -eq 3 && grep -q 'short_row.csv:1: more than 3 fields (data.limits.columns)' '$H/e'"
hostile_cfg line "{format: csv, path: $H/one_line.csv.gz, target: label}"
/usr/bin/time -f "%e s %M KB" -o "$H/t" "$NNCTL" train "$H/line.yaml" --out "$H/o6" -q 2>"$H/e"; code=$?
check "a 2 MB gzip that expands to one 2 GiB line is refused (exit $code): it expands more than data.limits.gzip_ratio" bash -c \
  "test $code -eq 3 && grep -q 'one_line.csv.gz: gzip data expanding more than 500 times' '$H/e'"
/usr/bin/time -f "%U %S s %M KB" -o "$H/t" "$NNCTL" train "$H/line.yaml" --out "$H/o6" -q --set data.limits.field_bytes=4000000000 \
  --set data.limits.gzip_ratio=2000 2>"$H/e"; code=$?
check "... and with that limit raised, past data.limits.line_bytes (exit $code)" bash -c \
  "test $code -eq 3 && grep -q 'one_line.csv.gz:2: a record longer than 67,108,864 bytes (data.limits.line_bytes' '$H/e'"
if [ "$BUILD_KIND" = plain ]; then
  # CPU seconds (user + system), not wall time: on a loaded machine the wall time of this job has
  # exceeded a second while its own work had not changed. It reads 64 MiB of the 2 GiB line: 0.85 CPU
  # seconds on this project's machine when quiet, 1.03 once under load; reading the whole line would
  # take several seconds and gigabytes, which is what this guards against.
  check "... within 2 CPU seconds and 400 MB (got $(cat "$H/t"))" /usr/bin/python3 -c '
import sys; u, sy, _, kb, _ = open(sys.argv[1]).read().splitlines()[-1].split(); assert float(u) + float(sy) < 2.0 and int(kb) < 400_000, (u, sy, kb)' "$H/t"
fi
hostile_cfg lines "{format: csv, path: $H/many_lines.csv.gz, target: label}"
"$NNCTL" train "$H/lines.yaml" --out "$H/o7" -q 2>"$H/e"; code=$?
check "gzip data that expands past data.limits.gzip_ratio is refused while it expands (exit $code)" bash -c \
  "test $code -eq 3 && grep -q 'many_lines.csv.gz: gzip data expanding more than 500 times (16 MiB from' '$H/e'"
/usr/bin/python3 -c "
import struct, sys
h = \"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 4), }\".ljust(117) + '\\n'
sys.stdout.buffer.write(b'\\x93NUMPY\\x01\\x00' + struct.pack('<H', len(h)) + h.encode() + bytes(100))" >"$H/claim.npy"
"$NNCTL" train configs/iris.yaml --out "$H/iris" -q --set training.epochs=1
/usr/bin/time -f "%e s %M KB" -o "$H/t" "$NNCTL" predict "$H/iris" --input "$H/claim.npy" >/dev/null 2>"$H/e"; code=$?
check "a .npy whose header promises 16 GB it does not hold is refused (exit $code) before the memory is taken" bash -c \
  "test $code -eq 3 && grep -q 'claim.npy: file ends early: the header promises 16000000000 bytes of data, 100 are there' '$H/e' && \
   test \$(tail -1 '$H/t' | cut -d' ' -f3) -lt 200000"
hostile_cfg nan "{format: npy, features: $H/x_nan.npy, targets: $H/y.npy}"
"$NNCTL" train "$H/nan.yaml" --out "$H/o8" -q 2>"$H/e"; code=$?
check "a NaN in a .npy is a data error (exit $code) naming the file and element, not a diverged run" bash -c \
  "test $code -eq 3 && grep -q '$H/x_nan.npy: feature element 16 (row 6, column 2) is NaN' '$H/e'"
"$NNCTL" train configs/iris.yaml --out "$H/iris_lim" -q --set training.epochs=1 --set data.limits.line_bytes=200
check "data.limits are kept in the run's config" grep -q "limits: {line_bytes: 200," "$H/iris_lim/config.yaml"
{ head -3 datasets/iris.csv; printf '5.1,3.5,1.4,%0300d,setosa\n' 2; } | "$NNCTL" predict "$H/iris_lim" --input - >/dev/null 2>"$H/e"; code=$?
check "predict from stdin: a row past the run's line limit is refused (exit $code) naming its line" bash -c \
  "test $code -eq 3 && grep -q '<stdin>:4: a record longer than 200 bytes (data.limits.line_bytes' '$H/e'"
/usr/bin/python3 -c "
import cv2, numpy as np, os, sys
for c in ('a', 'b'):
    os.makedirs(sys.argv[1] + '/' + c, exist_ok=True)
    for i in range(2): cv2.imwrite(sys.argv[1] + f'/{c}/{i}.png', np.full((20, 30, 3), 40 * i, np.uint8))" "$H/imgs"
hostile_cfg img "{format: image_folder, path: $H/imgs, image_size: [8, 8]}"
"$NNCTL" train "$H/img.yaml" --out "$H/o9" -q --set data.limits.image_pixels=500 2>"$H/e"; code=$?
check "an image larger than data.limits.image_pixels is refused (exit $code) from its header" bash -c \
  "test $code -eq 3 && grep -q 'imgs/[ab]/[01].png: the image is 30x20 pixels, more than the limit of 500 (data.limits.image_pixels)' '$H/e'"
/usr/bin/python3 -c "
import sys; big = 'x' * 1000000
open(sys.argv[1], 'w').write('data:\\n  train: {format: csv, path: iris.csv, target: species}\\nmodel:\\n  layers:\\n'
    '    - type: dense\\n      units: ' + big + '\\n      activation: ' + big + '\\nloss: ' + big + '\\n')" "$H/bigval.yaml"
"$NNCTL" validate "$H/bigval.yaml" -q 2>"$H/e"; code=$?
check "a config's 1 MB values are quoted cut in its errors (exit $code)" bash -c "test $code -eq 2 && test \$(wc -c <'$H/e') -lt 1000 && \
  grep -q \"bigval.yaml:6:14: model.layers.0.units: expected an integer, got 'x\{60\}…' (1,000,000 bytes)\" '$H/e'"
"$NNCTL" validate configs/iris.yaml --set data.limits.gzip_ratio=0.5 -q 2>"$H/e"; code=$?
check "a limit out of range is a config error (exit $code)" bash -c "test $code -eq 2 && grep -q 'data.limits.gzip_ratio: must be 1 or more' '$H/e'"
rm -rf "$H"

# ---------------------------------------------------------------- search
SS=tests/data/search_small.yaml
"$NNCTL" grid-search $SS --out "$TMP/ref" -q --json --threads 1 >"$TMP/ref.json"; code=$?
check "grid-search exits 0 (got $code)" test $code -eq 0
check "grid-search: 20 trials, leaderboard, trials.jsonl, best.yaml, refitted best model" /usr/bin/python3 - "$TMP/ref" "$TMP/ref.json" <<'PY'
import json, os, sys
d, summary = sys.argv[1], json.load(open(sys.argv[2]))
assert len(summary["trials"]) == 20 and all(t["state"] == "complete" for t in summary["trials"])
assert summary["best"]["trial"] == summary["trials"][0]["trial"]
means = [t["mean"] for t in summary["trials"]]
assert means == sorted(means), "ranked best (lowest val_loss) first"
assert all(len(t["scores"]) == 3 for t in summary["trials"]), "3 folds each"
assert len(open(os.path.join(d, "leaderboard.csv")).read().splitlines()) == 21
assert len(open(os.path.join(d, "trials.jsonl")).read().splitlines()) == 20
assert summary["refit"]["out"].endswith("best-model") and "accuracy" in summary["refit"]["test"]
PY
check "best.yaml trains as it is" "$NNCTL" train "$TMP/ref/best.yaml" --out "$TMP/ref-best" -q --set training.epochs=1
check "the refitted model evaluates" "$NNCTL" evaluate "$TMP/ref/best-model" -q

# Crash safety: kill -9 the whole search (coordinator and workers) at seeded random moments, resume
# each time; at the end every trial is complete exactly once, with the uninterrupted results.
RANDOM=7
for round in 1 2 3 4; do
  setsid "$NNCTL" grid-search $SS --out "$TMP/crash" -q --threads 1 --jobs 2 --set search.refit=false &
  pid=$!
  sleep "0.$(( (RANDOM % 40) + 5 ))"
  kill -9 -- -$pid 2>/dev/null; wait $pid 2>/dev/null
done
"$NNCTL" grid-search $SS --out "$TMP/crash" -q --threads 1 --json --set search.refit=false >"$TMP/crash.json"; code=$?
check "resumed search completes (exit $code)" test $code -eq 0
check "after kills: one completed record per trial, results identical to the uninterrupted run" /usr/bin/python3 - "$TMP/crash.json" "$TMP/ref.json" "$TMP/crash/search.db" <<'PY'
import json, sqlite3, sys
a = {t["trial"]: t for t in json.load(open(sys.argv[1]))["trials"]}
b = {t["trial"]: t for t in json.load(open(sys.argv[2]))["trials"]}
assert sorted(a) == list(range(20)) and all(t["state"] == "complete" for t in a.values())
assert all(a[i]["scores"] == b[i]["scores"] for i in range(20)), "same scores as without crashes"
rows = sqlite3.connect(sys.argv[3]).execute("select idx, state from trials").fetchall()
assert len(rows) == 20 and {s for _, s in rows} == {"complete"}
PY
# A trial continues from its checkpoint, not from the start: after kill -9 of the whole search, and
# when only its worker is killed (run again search.retries times, then failed). Long trials (two
# learning rates, thousands of epochs, 3 folds) that checkpoint every 100 epochs.
EP=3000; test "$BUILD_KIND" = sanitized && EP=1000
LONG=(--threads 1 --set 'search.space={optimizer.learning_rate: [0.01, 0.03]}' --set training.epochs=$EP
      --set search.refit=false --set training.checkpoint.every=100 --set search.checkpoint_seconds=0)
"$NNCTL" grid-search $SS --out "$TMP/long-ref" -q --json "${LONG[@]}" --set training.checkpoint.every=0 >"$TMP/long-ref.json"
wait_for() { for _ in $(seq 1200); do test -e "$1" && return 0; sleep 0.05; done; return 1; }
setsid "$NNCTL" grid-search $SS --out "$TMP/long" -q "${LONG[@]}" &
pid=$!
wait_for "$TMP/long/checkpoints/trial-0/unit-1/checkpoint.safetensors"
check "a trial keeps its finished folds' scores beside the running fold's checkpoint" \
  grep -q '"scores":\["0x' "$TMP/long/checkpoints/trial-0/progress.json"
kill -9 -- -$pid 2>/dev/null; wait $pid 2>/dev/null
"$NNCTL" grid-search $SS --out "$TMP/long" --json "${LONG[@]}" >"$TMP/long.json" 2>"$TMP/e"; code=$?
check "the killed search resumes (exit $code)" test $code -eq 0
check "... its interrupted trial continuing fold 2 from its checkpoint" \
  grep -q "trial 0: fold 2/3 continues from its checkpoint after epoch [1-9]" "$TMP/e"
same_scores='import json, sys
a = [(t["trial"], t["scores"]) for t in json.load(open(sys.argv[1]))["trials"]]
b = [(t["trial"], t["scores"]) for t in json.load(open(sys.argv[2]))["trials"]]
assert a == b and len(a) == 2, (a, b)'
check "... to the scores of the uninterrupted search" /usr/bin/python3 -c "$same_scores" "$TMP/long.json" "$TMP/long-ref.json"
check "... and its checkpoints are gone once it completed" test ! -e "$TMP/long/checkpoints"
"$NNCTL" grid-search $SS --out "$TMP/longw" --json --events "$TMP/longw.events" "${LONG[@]}" >"$TMP/longw.json" 2>"$TMP/ew" &
pid=$!
wait_for "$TMP/longw/checkpoints/trial-0/unit-0/checkpoint.safetensors"
kill -9 "$(/usr/bin/python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if "\"running\"" in l][0]["worker"])' "$TMP/longw.events")"
wait $pid; code=$?
check "a search whose worker was killed completes (exit $code)" test $code -eq 0
check "... running the trial again from its checkpoint" bash -c \
  "grep -q 'trial 0: the worker was killed by signal 9; it runs again, from its last checkpoint' '$TMP/ew' && grep -q 'trial 0: fold 1/3 continues from its checkpoint after epoch' '$TMP/ew'"
check "... to the uninterrupted scores" /usr/bin/python3 -c "$same_scores" "$TMP/longw.json" "$TMP/long-ref.json"
check "... the events and trials.jsonl telling of the death" /usr/bin/python3 - "$TMP/longw.events" "$TMP/longw/trials.jsonl" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if '"trial"' in l]
states = [(e["trial"], e["state"]) for e in ev if e["trial"] == 0]
assert states == [(0, "running"), (0, "pending"), (0, "running"), (0, "complete")], states
assert ev[1]["reason"] == "the worker was killed by signal 9" and ev[2]["attempt"] == 2, ev
t = {r["trial"]: r for r in map(json.loads, open(sys.argv[2]))}
assert t[0]["worker_deaths"] == 1 and "worker_deaths" not in t[1] and t[0]["worker"] > 0 and t[0]["started"].endswith("Z"), t
PY
"$NNCTL" grid-search $SS --out "$TMP/longf" --json --events "$TMP/longf.events" "${LONG[@]}" --set search.retries=0 >"$TMP/longf.json" 2>/dev/null &
pid=$!
wait_for "$TMP/longf/checkpoints/trial-0/unit-0/checkpoint.safetensors"
kill -9 "$(/usr/bin/python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if "\"running\"" in l][0]["worker"])' "$TMP/longf.events")"
wait $pid
check "with search.retries: 0 a trial whose worker died is failed, and the search goes on" /usr/bin/python3 -c '
import json,sys; t={x["trial"]: x for x in json.load(open(sys.argv[1]))["trials"]}
assert t[0]["state"]=="failed" and t[0]["error"]=="the worker was killed by signal 9" and t[1]["state"]=="complete", t' "$TMP/longf.json"
check "... leaving no checkpoints behind" test ! -e "$TMP/longf/checkpoints"
"$NNCTL" grid-search $SS --out "$TMP/crash" -q --set training.epochs=61 2>"$TMP/e"; code=$?
check "resuming with a changed config is refused (exit $code)" test $code -eq 2
check "the refusal shows the change" grep -q "+   epochs: 61" "$TMP/e"

# Shards: two halves run separately and merged equal the unsharded search.
"$NNCTL" grid-search $SS --out "$TMP/sh0" --shard 0/2 -q --threads 1
"$NNCTL" grid-search $SS --out "$TMP/sh1" --shard 1/2 -q --threads 1
"$NNCTL" search merge "$TMP/sh0" "$TMP/sh1" --out "$TMP/merged" --json -q >"$TMP/merged.json"; code=$?
check "search merge exits 0 (got $code)" test $code -eq 0
check "merged shards equal the unsharded search" /usr/bin/python3 - "$TMP/merged.json" "$TMP/ref.json" <<'PY'
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert [(t["trial"], t["scores"]) for t in a["trials"]] == [(t["trial"], t["scores"]) for t in b["trials"]]
assert a["best"]["params"] == b["best"]["params"]
PY

# A failing trial (diverges at run time) is recorded and the search goes on; --fail-fast stops and
# leaves the search resumable.
FAILCFG="$TMP/failing.yaml"
sed 's/optimizer.learning_rate: \[0.003, 0.01, 0.03, 0.1, 0.3\]/optimizer: [{type: sgd, learning_rate: 0.01}, {type: sgd, learning_rate: 1.0e+12}, {type: adam, learning_rate: 0.01}]/' $SS >"$FAILCFG"
sed -i "s|^name: search-small|name: search-failing|" "$FAILCFG"
"$NNCTL" grid-search "$FAILCFG" --out "$TMP/fail" -q --json --threads 1 >"$TMP/fail.json" 2>"$TMP/e"; code=$?
check "a failing trial does not stop the search (exit $code)" test $code -eq 0
check "failed trials recorded with their reason" /usr/bin/python3 -c '
import json,sys; t=json.load(open(sys.argv[1]))["trials"]
failed=[x for x in t if x["state"]=="failed"]; done=[x for x in t if x["state"]=="complete"]
assert len(failed)==4 and len(done)==8 and all("diverged" in x["error"] for x in failed), t' "$TMP/fail.json"
"$NNCTL" grid-search "$FAILCFG" --out "$TMP/ff" -q --fail-fast --threads 1 --jobs 1 2>"$TMP/e"; code=$?
check "--fail-fast stops with exit 1 (got $code)" test $code -eq 1
check "--fail-fast leaves trials to resume" grep -q "run the same command to resume" "$TMP/e"
"$NNCTL" grid-search "$FAILCFG" --out "$TMP/ff" -q --threads 1 --json >"$TMP/ff.json"; code=$?
check "resuming after --fail-fast runs the rest (exit $code)" /usr/bin/python3 -c '
import json,sys; t=json.load(open(sys.argv[1]))["trials"]; assert len(t)==12 and all(x["state"] in ("complete","failed") for x in t)' "$TMP/ff.json"

# More jobs than threads: a warning (each trial needs a thread, so they would share cores).
"$NNCTL" grid-search $SS --out "$TMP/jobs3" --jobs 3 --threads 2 --set search.refit=false 2>"$TMP/e" >/dev/null; code=$?
check "--jobs above --threads warns and still runs (exit $code)" bash -c \
  "test $code -eq 0 && grep -q 'warning: --jobs 3 runs more trials at once than the 2 thread' '$TMP/e'"

# Spaces that can produce an invalid config, or are too large, are refused before anything runs.
"$NNCTL" grid-search $SS --out "$TMP/bad-space" --set 'search.space={model.layers.0.units: [8, 0]}' -q 2>"$TMP/e"; code=$?
check "an invalid value in the space exits 2 (got $code)" test $code -eq 2
check "the refusal names the trial and path" grep -q "search.space: trial 1 (model.layers.0.units=0) is not a valid config" "$TMP/e"
check "nothing ran" test ! -e "$TMP/bad-space/search.db"
printf 'space:\n  model.layers.0.units: [8, 0]\n' >"$TMP/bad-space.yaml"
"$NNCTL" grid-search $SS --space "$TMP/bad-space.yaml" --out "$TMP/bad-space2" -q 2>"$TMP/e"; code=$?
check "the refusal points at the space entry, file and line (exit $code)" bash -c \
  "test $code -eq 2 && grep -q '$TMP/bad-space.yaml:2:[0-9]*: search.space: model.layers.0.units = 0: model.layers.0.units: must be' '$TMP/e'"
"$NNCTL" random-search $SS --out "$TMP/bad-rand" -q --set 'search.space={model.layers.0.units: [8], optimizer.learning_rate: {distribution: uniform, min: 0.0, max: 0.1}}' 2>"$TMP/e"; code=$?
check "a distribution whose bound is invalid exits 2 (got $code)" bash -c "test $code -eq 2 && grep -q 'optimizer.learning_rate=0' '$TMP/e'"
"$NNCTL" grid-search $SS --out "$TMP/big" -q --set 'search.max_trials=10' 2>"$TMP/e"; code=$?
check "a grid over the cap needs --max-trials (exit $code)" bash -c "test $code -eq 2 && grep -q -- '--max-trials 20' '$TMP/e'"

# The brief's grid-search example runs as shipped (27 configurations x 3 folds), and search CONFIG
# takes the strategy from the config.
"$NNCTL" grid-search configs/seed/grid_search.yaml --out "$TMP/brief" -q --json --jobs 2 >"$TMP/brief.json"; code=$?
check "the brief's grid search runs (exit $code)" /usr/bin/python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); assert len(d["trials"])==27 and all(len(t["scores"])==3 for t in d["trials"]) and d["refit"]["out"]' "$TMP/brief.json"
"$NNCTL" search configs/seed/grid_search.yaml --out "$TMP/brief" -q; code=$?
check "search CONFIG resumes the finished grid search (exit $code)" test $code -eq 0

# Random search: the same trials on every run (seeded by search seed and trial index).
"$NNCTL" random-search configs/iris_random_search.yaml --out "$TMP/rs1" -q --json --set search.trials=4 --set search.repeats=1 --set search.refit=false --set training.epochs=5 >"$TMP/rs1.json"
"$NNCTL" random-search configs/iris_random_search.yaml --out "$TMP/rs2" -q --json --set search.trials=4 --set search.repeats=1 --set search.refit=false --set training.epochs=5 --jobs 2 >"$TMP/rs2.json"
check "random search proposes and scores the same trials every time" /usr/bin/python3 -c '
import json,sys; a=json.load(open(sys.argv[1]))["trials"]; b=json.load(open(sys.argv[2]))["trials"]
key=lambda t: t["trial"]
assert [(t["params"],t["scores"]) for t in sorted(a,key=key)]==[(t["params"],t["scores"]) for t in sorted(b,key=key)]
assert len(a)==4' "$TMP/rs1.json" "$TMP/rs2.json"

# Budgeted and adaptive search (halving, hyperband, asha, tpe, the median pruner). Hyperband's
# brackets for 2..18 epochs (eta 3): 9 trials at 2 epochs -> 3 at 6 -> 1 at 18; 5 at 6 -> 1 at 18; 3 at 18.
ADA=(--threads 1 --set search.refit=false --set 'search.space={optimizer.learning_rate: {distribution: log_uniform, min: 0.001, max: 0.3}, model.layers.0.units: {distribution: int_uniform, min: 4, max: 32, step: 4}}')
"$NNCTL" search $SS --out "$TMP/hb1" --json "${ADA[@]}" --set search.strategy=hyperband --set search.min_epochs=2 --set search.max_epochs=18 --jobs 1 --events "$TMP/hb1.events" >"$TMP/hb1.json" 2>"$TMP/e"; code=$?
check "hyperband runs (exit $code)" test $code -eq 0
check "hyperband: 17 trials in 3 brackets; 5 reach 18 epochs, the rest are pruned at their rung with the reason" /usr/bin/python3 - "$TMP/hb1.json" "$TMP/hb1/trials.jsonl" "$TMP/hb1.events" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
t = {x["trial"]: x for x in d["trials"]}
assert sorted(t) == list(range(17)) and d["strategy"] == "hyperband", d
done = [i for i in t if t[i]["state"] == "complete"]
assert len(done) == 5 and all(t[i]["epochs"] == 18 for i in done), done
assert sum(i < 9 for i in done) == 1 and sum(9 <= i < 14 for i in done) == 1 and all(i in done for i in (14, 15, 16))
pruned = [x for x in t.values() if x["state"] == "pruned"]
assert len(pruned) == 12 and all(x["reason"].startswith("pruned: not among the best") for x in pruned)
assert sorted(x["epochs"] for x in pruned) == [2] * 6 + [6] * 2 + [6] * 4, sorted(x["epochs"] for x in pruned)
assert d["epochs"] == 3 * sum(x["epochs"] for x in t.values()), d["epochs"]  # 3 folds
rows = [json.loads(l) for l in open(sys.argv[2])]
assert rows[0]["state"] == "complete" and len(rows[0]["rungs"]) >= 1
states = [json.loads(l) for l in open(sys.argv[3])]
assert any(e.get("state") == "paused" and e.get("rung") == 0 and e.get("budget") == 2 for e in states)
assert any(e.get("state") == "pending" and e.get("rung") == 1 and e.get("budget") == 6 for e in states)
PY
"$NNCTL" search $SS --out "$TMP/hb2" --json "${ADA[@]}" --set search.strategy=hyperband --set search.min_epochs=2 --set search.max_epochs=18 --jobs 2 >"$TMP/hb2.json" 2>/dev/null
same_trials='
import json, sys
a, b = ({t["trial"]: (t["state"], t["params"], t["scores"], t.get("epochs")) for t in json.load(open(f))["trials"]} for f in sys.argv[1:3])
assert a == b, [(i, a[i], b.get(i)) for i in a if a[i] != b.get(i)][:3]'
check "hyperband with 2 workers decides exactly as with 1 (synchronous rungs)" /usr/bin/python3 -c "$same_trials" "$TMP/hb1.json" "$TMP/hb2.json"
# The best trial, trained straight to 18 epochs by a one-trial grid search, scores the same: its rungs
# continued from their checkpoints.
best_sets=$(/usr/bin/python3 -c 'import json,sys; b=json.load(open(sys.argv[1]))["best"]["params"]; print("{optimizer.learning_rate: [%r], model.layers.0.units: [%d]}" % (b["optimizer.learning_rate"], b["model.layers.0.units"]))' "$TMP/hb1.json")
"$NNCTL" grid-search $SS --out "$TMP/hbref" --json --threads 1 --set search.refit=false --set training.epochs=18 --set "search.space=$best_sets" -q >"$TMP/hbref.json"
check "a promoted trial's scores equal one uninterrupted 18-epoch fit" /usr/bin/python3 -c '
import json,sys; a=json.load(open(sys.argv[1]))["best"]; b=json.load(open(sys.argv[2]))["trials"][0]
assert a["mean"] == b["mean"], (a, b)' "$TMP/hb1.json" "$TMP/hbref.json"
# kill -9 of the whole hyperband search at random moments, then resume: the same decisions and scores
# (a larger one, 2..54 epochs: 49 trials in 4 brackets, so that the kills land while it runs).
HB54=("${ADA[@]}" --set search.strategy=hyperband --set search.min_epochs=2 --set search.max_epochs=54 --jobs 2 --set search.checkpoint_seconds=0)
"$NNCTL" search $SS --out "$TMP/hb54" --json "${HB54[@]}" >"$TMP/hb54.json" 2>/dev/null
RANDOM=11
for round in 1 2 3; do
  setsid "$NNCTL" search $SS --out "$TMP/hbk" -q "${HB54[@]}" &
  pid=$!
  # (under the sanitizers the search starts several times slower: the kills wait longer)
  if [ "$BUILD_KIND" = sanitized ]; then sleep "$(( RANDOM % 2 )).$(( RANDOM % 10 ))5"; else sleep "$(printf '0.%02d' $(( (RANDOM % 30) + 5 )))"; fi
  kill -9 -- -$pid 2>/dev/null; wait $pid 2>/dev/null
done
# (plain builds only: how far a sanitized search gets before a kill varies too much to assert)
[ "$BUILD_KIND" = plain ] && check "the kills left hyperband unfinished" /usr/bin/python3 -c '
import os,sqlite3,sys
if os.path.exists(sys.argv[1]):  # (a kill before the store was created leaves none)
    s=[r[0] for r in sqlite3.connect(sys.argv[1]).execute("select state from trials")]
    assert any(x not in ("complete","pruned") for x in s), s' "$TMP/hbk/search.db"
"$NNCTL" search $SS --out "$TMP/hbk" --json "${HB54[@]}" >"$TMP/hbk.json" 2>/dev/null; code=$?
check "hyperband killed and resumed completes (exit $code)" test $code -eq 0
check "... with the decisions and scores of the uninterrupted search" /usr/bin/python3 -c "$same_trials" "$TMP/hb54.json" "$TMP/hbk.json"
check "... and leaves no checkpoints behind" test ! -e "$TMP/hbk/checkpoints"
# ASHA and successive halving (one worker: deterministic).
"$NNCTL" search $SS --out "$TMP/asha" --json "${ADA[@]}" --set search.strategy=asha --set search.trials=12 --set search.max_epochs=9 >"$TMP/asha.json" 2>/dev/null; code=$?
check "asha: 12 trials, the best at 9 epochs, the others pruned at 1 or 3 (exit $code)" /usr/bin/python3 -c '
import json,sys; t=json.load(open(sys.argv[1]))["trials"]
assert len(t)==12 and t[0]["state"]=="complete" and t[0]["epochs"]==9, t[0]
assert all(x["state"] in ("complete","pruned") for x in t) and {x["epochs"] for x in t if x["state"]=="pruned"} <= {1,3}' "$TMP/asha.json"
"$NNCTL" search $SS --out "$TMP/halving" --json "${ADA[@]}" --set search.strategy=halving --set search.trials=10 --set search.max_epochs=9 >"$TMP/halving.json" 2>/dev/null; code=$?
check "halving: 10 at 1 epoch, 3 at 3, 1 at 9 (exit $code)" /usr/bin/python3 -c '
import json,sys; t=json.load(open(sys.argv[1]))["trials"]; e=sorted(x["epochs"] for x in t)
assert e==[1]*7+[3]*2+[9], e' "$TMP/halving.json"
# TPE: its random start is the random search's trials; then it proposes from the results, the same
# proposals on every run with one worker.
"$NNCTL" search $SS --out "$TMP/tpe1" --json "${ADA[@]}" --set search.strategy=tpe --set search.trials=8 --set search.n_startup_trials=4 --set training.epochs=5 >"$TMP/tpe1.json" 2>/dev/null; code=$?
"$NNCTL" search $SS --out "$TMP/tpe2" --json "${ADA[@]}" --set search.strategy=tpe --set search.trials=8 --set search.n_startup_trials=4 --set training.epochs=5 >"$TMP/tpe2.json" 2>/dev/null
"$NNCTL" random-search $SS --out "$TMP/tperand" --json "${ADA[@]}" --set search.trials=4 --set training.epochs=5 >"$TMP/tperand.json" 2>/dev/null
check "tpe runs (exit $code), deterministically, starting from the random search's trials" /usr/bin/python3 -c "$same_trials"'
r = {t["trial"]: t["params"] for t in json.load(open(sys.argv[3]))["trials"]}
assert len(a) == 8 and all(a[i][1] == r[i] for i in range(4))
assert all(a[i][1] != r.get(i) for i in range(4, 8))' "$TMP/tpe1.json" "$TMP/tpe2.json" "$TMP/tperand.json"
# The median pruner on a random search: pruned trials name the epoch and the median.
"$NNCTL" random-search $SS --out "$TMP/med" --json "${ADA[@]}" --set search.trials=10 --set training.epochs=12 --set 'search.pruner={type: median, startup_trials: 2, warmup_epochs: 1}' --events "$TMP/med.events" >"$TMP/med.json" 2>"$TMP/e"; code=$?
check "median pruner: some trials stopped early with the reason, the others complete (exit $code)" /usr/bin/python3 -c '
import json,sys; t=json.load(open(sys.argv[1]))["trials"]
p=[x for x in t if x["state"]=="pruned"]; c=[x for x in t if x["state"]=="complete"]
assert p and len(c)>=2 and len(p)+len(c)==10, [x["state"] for x in t]
assert all(1 < x["epochs"] <= 12 and " is worse than the median " in x["reason"] for x in p), p[0]
assert t[0]["state"]=="complete"
ev=[json.loads(l) for l in open(sys.argv[2])]
assert sum(e.get("state")=="pruned" for e in ev)==len(p)' "$TMP/med.json" "$TMP/med.events"
check "the summary counts the pruned trials" grep -q "trial(s) stopped early by the pruner" "$TMP/e"
"$NNCTL" search $SS --out "$TMP/x" -q "${ADA[@]}" --set search.strategy=tpe --shard 0/2 2>"$TMP/e"; code=$?
check "--shard with tpe exits 2 saying why (exit $code)" bash -c "test $code -eq 2 && grep -q 'decides from the results of all trials' '$TMP/e'"

# Help and version describe the commands and exit codes.
check "--version" bash -c "'$NNCTL' --version | grep -q '^nnctl [0-9]'"
check "--help lists exit codes" bash -c "'$NNCTL' --help | grep -q 'Exit codes'"
check "train --help lists --set" bash -c "'$NNCTL' train --help | grep -q -- '--set'"
for sub in train evaluate predict validate summary layers grid-search random-search search "search merge" "search status" "search export"; do
  # Every subcommand's help ends with the exit codes, and its prose spells the program's name right.
  check "$sub --help lists exit codes" bash -c "'$NNCTL' $sub --help | grep -q 'Exit codes'"
  check "$sub --help has no mangled 'nctl'" bash -c "! '$NNCTL' $sub --help | grep -q '\(^\|[^n]\)nctl'"
done
# Human output goes to stderr, JSON alone to stdout.
"$NNCTL" train configs/xor.yaml --set training.epochs=3 --out "$TMP/j" --json >"$TMP/j.out" 2>"$TMP/j.err"
check "epoch lines on stderr" grep -q "^Epoch 3/3" "$TMP/j.err"
check "stdout is exactly one JSON document" /usr/bin/python3 -c 'import json,sys; json.loads(open(sys.argv[1]).read())' "$TMP/j.out"

# Time series: a conv1d forecaster on the committed sunspots series; evaluate shows the baselines,
# predict forecasts the year after the input's last; bad series are data errors naming the line.
SUN=(--set data.train.path=tests/data/sunspots.csv)
"$NNCTL" train configs/sunspots_forecast.yaml "${SUN[@]}" --set training.epochs=20 --out "$TMP/sun" -q --json >"$TMP/sun.json"; code=$?
check "timeseries forecaster trains (exit $code)" test $code -eq 0
check "metrics.json has the test forecast next to both baselines, in original units" /usr/bin/python3 -c '
import json,sys; f=json.load(open(sys.argv[1]))["test_forecast"]
assert f["targets"]==["SUNACTIVITY"] and f["horizon"]==1 and f["season"]==11 and f["windows"]==30, f
assert abs(f["naive"]["mae"]-24.4)<1e-4 and abs(f["seasonal_naive"]["mae"]-26.63)<1e-4, f  # 1979-2008, by hand
assert all(k in f["model"] for k in ("mae","rmse","mape","smape"))' "$TMP/sun/metrics.json"
"$NNCTL" evaluate "$TMP/sun" 2>"$TMP/sun.eval"; code=$?
check "evaluate a forecaster (exit $code)" test $code -eq 0
check "evaluate's table lists the model and both baselines" bash -c \
  "grep -q '^model ' '$TMP/sun.eval' && grep -q '^naive  *24.4000' '$TMP/sun.eval' && grep -q '^seasonal naive (11)  *26.6300' '$TMP/sun.eval'"
"$NNCTL" evaluate "$TMP/sun" --json >"$TMP/sun.evaljson" 2>/dev/null
check "evaluate --json: forecast with model, naive and seasonal_naive" /usr/bin/python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))["forecast"]; assert d["windows"]==30 and d["naive"]["rmse"]>0 and "seasonal_naive" in d' "$TMP/sun.evaljson"
{ head -1 tests/data/sunspots.csv; sed -n '2,101p' tests/data/sunspots.csv; } >"$TMP/sun_1700s.csv"
"$NNCTL" predict "$TMP/sun" --input "$TMP/sun_1700s.csv" >"$TMP/sun.pred"; code=$?
check "predict forecasts the year after the input's last, with its date (exit $code)" bash -c \
  "test \"\$(head -1 '$TMP/sun.pred')\" = 'step,YEAR,SUNACTIVITY' && grep -q '^1,1800,' '$TMP/sun.pred' && test \$(wc -l <'$TMP/sun.pred') -eq 2"
"$NNCTL" predict "$TMP/sun" --input "$TMP/sun_1700s.csv" --format jsonl >"$TMP/sun.jsonl"
check "predict --format jsonl" /usr/bin/python3 -c '
import json,sys; r=json.loads(open(sys.argv[1]).readline()); assert r["step"]==1 and r["YEAR"]=="1800" and isinstance(r["SUNACTIVITY"],float)' "$TMP/sun.jsonl"
head -11 tests/data/sunspots.csv >"$TMP/sun_short.csv"
"$NNCTL" predict "$TMP/sun" --input "$TMP/sun_short.csv" 2>"$TMP/e" >/dev/null; code=$?
check "too short a series exits 3 saying how many rows are needed (exit $code)" bash -c "test $code -eq 3 && grep -q 'needs the last 22' '$TMP/e'"
printf '"YEAR","SUNACTIVITY"\n1700,5\n1701,11\n1703,16\n1702,23\n' >"$TMP/sun_order.csv"
"$NNCTL" train configs/sunspots_forecast.yaml --set data.train.path="$TMP/sun_order.csv" --out "$TMP/x" -q 2>"$TMP/e"; code=$?
check "a non-increasing date exits 3 naming the line and both values (exit $code)" bash -c \
  "test $code -eq 3 && grep -q \"sun_order.csv:5: date '1702' is not after '1703' (line 4)\" '$TMP/e'"
"$NNCTL" train configs/sunspots_forecast.yaml "${SUN[@]}" --set data.train.horizon=3 --out "$TMP/x" -q 2>"$TMP/e"; code=$?
check "a last layer that does not fit the horizon exits 2 naming it (exit $code)" bash -c \
  "test $code -eq 2 && grep -q 'sunspots_forecast.yaml:[0-9]*:[0-9]*: model.layers.3: the last layer outputs 1 values.*= 3 values' '$TMP/e'"
"$NNCTL" validate configs/sunspots_forecast.yaml --set data.preprocess=standardize -q 2>"$TMP/e"; code=$?
check "data.preprocess on a timeseries is a config error (exit $code)" bash -c "test $code -eq 2 && grep -q 'data.preprocess: a timeseries source scales' '$TMP/e'"

echo "cli: $pass passed, $fail failed"
test "$fail" -eq 0
