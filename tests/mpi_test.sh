#!/usr/bin/env bash
# End-to-end tests of data-parallel training under Open MPI's mpirun (issue 15): the weights of one
# process for N = 2 and 4, byte-identical runs with the same N, rank 0 alone writing, a rank that is
# killed or stopped, and a run continued with another N.
# Usage: tests/mpi_test.sh path/to/nnctl SOURCE_DIR
set -u
NNCTL=$(realpath "$1")
cd "$2"
source tests/cli_common.sh
[ -d datasets/shapes ] || /usr/bin/python3 scripts/make-shapes.py datasets/shapes --per-class 40 >/dev/null
MPIRUN=(mpirun --oversubscribe)
if [ "$(id -u)" -eq 0 ]; then MPIRUN+=(--allow-run-as-root); fi  # CI runs as root
CMP=(/usr/bin/python3 tests/support/compare_weights.py)
# A Fashion-MNIST MLP on a slice, one thread a process. tanh rather than the example's relu: with
# relu and Adam, a unit on the edge of the kink can switch on in one run and not in the other (the
# README's "How close to one process" explains it); smooth activations show the arithmetic itself.
MLP=(configs/fashion_mnist_mlp.yaml --set data.train.max_samples=3000 --set data.test.max_samples=500 --threads 1
     --set model.layers.1.activation=tanh --set model.layers.2.activation=tanh)

check "nnctl --version names the MPI library" bash -c '"$0" --version | grep -q "(MPI: Open MPI v"' "$NNCTL"

"$NNCTL" train "${MLP[@]}" --set training.epochs=3 --out "$TMP/m1" --json -q >"$TMP/m1.json"
for n in 2 4; do
  "${MPIRUN[@]}" -np $n "$NNCTL" train "${MLP[@]}" --set training.epochs=3 --out "$TMP/m$n" --json \
    >"$TMP/m$n.json" 2>"$TMP/m$n.err"; code=$?
  check "mpirun -np $n nnctl train exits 0 (got $code)" test $code -eq 0
  check "... its weights are within 1e-5 of one process's after 3 epochs of Adam" \
    "${CMP[@]}" "$TMP/m1/model.safetensors" "$TMP/m$n/model.safetensors" 1e-5
  check "... --json once (rank 0), with one process's validation accuracy at every epoch" /usr/bin/python3 -c '
import json,sys
a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))  # (two documents would not parse)
assert [e["val_accuracy"] for e in a["history"]]==[e["val_accuracy"] for e in b["history"]], (a["history"], b["history"])
assert abs(a["test"]["accuracy"]-b["test"]["accuracy"]) <= 0.002' "$TMP/m1.json" "$TMP/m$n.json"
  check "... the epochs are logged once" test "$(grep -c '^Epoch 1/3' "$TMP/m$n.err")" -eq 1
  check "... the log says how the work is shared" grep -q "data-parallel training: $n processes × 1 thread(s), Open MPI" "$TMP/m$n.err"
  check "... run.json records the processes" grep -q "\"processes\":$n" "$TMP/m$n/run.json"
done
check "only rank 0 made a run directory" test "$(ls -d runs/fashion-mnist-mlp* 2>/dev/null | wc -l)" -eq 0
"${MPIRUN[@]}" -np 2 "$NNCTL" train "${MLP[@]}" --set training.epochs=3 --out "$TMP/m2b" -q
check "two runs with 2 processes write byte-identical weights" cmp "$TMP/m2/model.safetensors" "$TMP/m2b/model.safetensors"

# A CNN with batch normalization (synchronized across the processes) and dropout (one random stream
# per sample, whoever computes it): one epoch of SGD.
CNN=(configs/fashion_mnist_cnn.yaml --set data.train.max_samples=1200 --set data.test.max_samples=200
     --set training.epochs=1 --set optimizer.type=sgd --threads 1 -q)
"$NNCTL" train "${CNN[@]}" --out "$TMP/c1"
for n in 2 4; do
  "${MPIRUN[@]}" -np $n "$NNCTL" train "${CNN[@]}" --out "$TMP/c$n"
  check "CNN with batch normalization and dropout on $n processes: within 1e-5 of one process" \
    "${CMP[@]}" "$TMP/c1/model.safetensors" "$TMP/c$n/model.safetensors" 1e-5
done

# The other model types, one epoch of SGD on 3 processes (uneven shards): a two-input graph, a
# two-output model, an LSTM forecaster, a transformer (attention dropout) and image augmentation.
for spec in penguins_two_inputs: penguins_multi_output: \
    "sunspots_lstm:--set data.train.path=tests/data/sunspots.csv" \
    "sentiment_transformer:--set data.train.path=tests/data/sentiment_sample.json" \
    "shapes_augment:--set training.batch_size=16"; do
  name=${spec%%:*}
  read -r -a extra <<<"${spec#*:}"
  args=(configs/$name.yaml "${extra[@]}" --set training.epochs=1 --set optimizer.type=sgd --threads 1 -q)
  "$NNCTL" train "${args[@]}" --out "$TMP/t1_$name"
  "${MPIRUN[@]}" -np 3 "$NNCTL" train "${args[@]}" --out "$TMP/t3_$name"
  check "$name on 3 processes: within 1e-5 of one process after an epoch" \
    "${CMP[@]}" "$TMP/t1_$name/model.safetensors" "$TMP/t3_$name/model.safetensors" 1e-5
done

# Each rank a search worker: two ranks share one sweep directory (the search does not use MPI) and
# end with every trial complete once, with the scores of a one-worker search.
SEARCH=(configs/iris_random_search.yaml --jobs 1 --threads 1 -q --set search.refit=false)
"$NNCTL" search "${SEARCH[@]}" --out "$TMP/s1"
"${MPIRUN[@]}" -np 2 "$NNCTL" search "${SEARCH[@]}" --out "$TMP/s2"; code=$?
check "mpirun -np 2 nnctl search: two workers (exit $code) share the search, the scores of one" /usr/bin/python3 -c '
import json,sys
def load(p): return [json.loads(l) for l in open(p)]
a={t["trial"]:(t["state"],t.get("scores")) for t in load(sys.argv[1])}
b={t["trial"]:(t["state"],t.get("scores")) for t in load(sys.argv[2])}
assert a==b and all(s=="complete" for s,_ in b.values()), (a,b)
assert len({t.get("worker") for t in load(sys.argv[2])})==2' "$TMP/s1/trials.jsonl" "$TMP/s2/trials.jsonl"

# Faults. A run of 8 epochs on 6,000 images, checkpointed every epoch.
LONG=("${MLP[@]}" --set data.train.max_samples=6000 --set training.epochs=8 --set training.checkpoint.every=1 -q)
"$NNCTL" train "${LONG[@]}" --out "$TMP/ref"
# rank_pid DIR R: the process of rank R of the job training into DIR.
rank_pid() {
  local p
  for p in $(pgrep -f "nnctl train .*--out $1( |$)"); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then echo "$p"; return; fi
  done
}
# wait_epochs DIR K: until DIR/history.csv holds K epochs (at most 60 s).
wait_epochs() {
  local i
  for i in $(seq 6000); do
    [ -f "$1/history.csv" ] && [ "$(($(wc -l <"$1/history.csv") - 1))" -ge "$2" ] && return 0
    sleep 0.01
  done
  return 1
}

# A rank killed outright (SIGKILL, as the out-of-memory killer does): mpirun ends every process.
"${MPIRUN[@]}" -np 2 "$NNCTL" train "${LONG[@]}" --out "$TMP/kill" 2>"$TMP/kill.err" &
job=$!
wait_epochs "$TMP/kill" 2
victim=$(rank_pid "$TMP/kill" 1)
check "rank 1 of the job found" test -n "$victim"
start=$(date +%s.%N)
kill -9 "$victim"
wait $job; code=$?
took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
check "a killed rank ends the job (mpirun exits $code, not 0)" test "$code" -ne 0
check "... within 20 s, no process left waiting (took ${took} s)" awk -v t="$took" 'BEGIN { exit !(t < 20) }'
check "... no nnctl process of the job remains" bash -c '! pgrep -f "nnctl train .*--out $0( |$)" >/dev/null' "$TMP/kill"
check "... mpirun names the rank that died" grep -q "process rank 1 .* exited on signal 9" "$TMP/kill.err"
check "... the run left a checkpoint" test -f "$TMP/kill/checkpoint.safetensors"
"${MPIRUN[@]}" -np 4 "$NNCTL" train --resume "$TMP/kill" --threads 1 -q; code=$?
check "the killed run continues with --resume on 4 processes (exit $code)" test $code -eq 0
check "... and ends within 1e-5 of the uninterrupted single-process run" \
  "${CMP[@]}" "$TMP/ref/model.safetensors" "$TMP/kill/model.safetensors" 1e-5
check "... its history has every epoch once" test "$(($(wc -l <"$TMP/kill/history.csv") - 1))" -eq 8

# A rank asked to stop (SIGTERM, as Slurm does at the time limit): every rank stops at the same
# batch, rank 0 saves the last full epoch's model, and the job exits 130; one process continues it.
"${MPIRUN[@]}" -np 2 "$NNCTL" train "${LONG[@]}" --out "$TMP/term" 2>"$TMP/term.err" &
job=$!
wait_epochs "$TMP/term" 2
kill -TERM "$(rank_pid "$TMP/term" 1)"
wait $job; code=$?
check "SIGTERM to one rank stops the whole job with exit 130 (got $code)" test $code -eq 130
check "... run.json says interrupted" grep -q '"status":"interrupted"' "$TMP/term/run.json"
"$NNCTL" train --resume "$TMP/term" --threads 1 -q; code=$?
check "... one process continues it (exit $code) to within 1e-5 of the uninterrupted run" \
  "${CMP[@]}" "$TMP/ref/model.safetensors" "$TMP/term/model.safetensors" 1e-5

# Errors: a bad config is reported once, with nnctl's exit code.
"${MPIRUN[@]}" -np 2 "$NNCTL" train configs/iris.yaml --set model.layers.0.units=0 --out "$TMP/bad" 2>"$TMP/bad.err"; code=$?
check "a config error under mpirun exits 2 (got $code)" test $code -eq 2
check "... printed once" test "$(grep -c 'error: --set model.layers.0.units=0' "$TMP/bad.err")" -eq 1
"${MPIRUN[@]}" -np 2 "$NNCTL" train configs/iris.yaml --set data.train.path="$TMP/none.csv" --out "$TMP/bad2" 2>"$TMP/bad2.err"; code=$?
check "a missing data file under mpirun exits 3 (got $code)" test $code -eq 3
check "... printed once" test "$(grep -c "error: $TMP/none.csv" "$TMP/bad2.err")" -eq 1

echo "mpi: $pass passed, $fail failed"
test "$fail" -eq 0
