#!/usr/bin/env bash
# End-to-end tests of layer schemas and per-sample shapes through the real binary: `nnctl layers`,
# the README's generated layer table, shapes inferred from data, and shape errors with locations.
# Usage: tests/cli_shapes_test.sh path/to/nnctl SOURCE_DIR
set -u
NNCTL=$(realpath "$1")
cd "$2"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }
FM=/usr/share/datasets/fashion-mnist

# The README's layer table is exactly what the binary's schemas say.
"$NNCTL" layers --markdown >"$TMP/table.md"
awk '/<!-- layers:begin/{skip=1; next} /<!-- layers:end/{skip=0} skip' README.md >"$TMP/readme.md"
if diff -u "$TMP/readme.md" "$TMP/table.md" >"$TMP/diff"; then ok; else
  bad "README layer table is stale (run scripts/update-readme-layers.sh):"; cat "$TMP/diff" >&2; fi
"$NNCTL" layers --json >"$TMP/layers.json"
check "layers --json lists every type with its options" /usr/bin/python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))["layers"]; t={x["type"]:x for x in d}
assert "dense" in t and "flatten" in t
u=[o for o in t["dense"]["options"] if o["key"]=="units"][0]
assert u["required"] and u["range"]=="between 1 and 10000000" and u["doc"]' "$TMP/layers.json"
"$NNCTL" layers dense >"$TMP/dense.txt"
check "layers TYPE shows options with defaults" grep -q "kernel_initializer: initializer, default glorot_uniform" "$TMP/dense.txt"
"$NNCTL" layers dens 2>"$TMP/e"; code=$?
check "layers with an unknown type exits 2 (got $code)" test $code -eq 2
check "the refusal lists the known types" grep -q "unknown layer type 'dens' (known: dense, " "$TMP/e"

# IDX images keep their shape; dense on them asks for a flatten, naming the layer's place.
cat >"$TMP/img.yaml" <<YAML
name: img
data:
  train: {format: idx, images: $FM/train-images-idx3-ubyte.gz, labels: $FM/train-labels-idx1-ubyte.gz, max_samples: 200}
model:
  layers:
    - {type: dense, units: 8, activation: relu}
    - {type: dense, units: 10, activation: softmax}
loss: sparse_categorical_crossentropy
YAML
"$NNCTL" train "$TMP/img.yaml" --out "$TMP/img" -q 2>"$TMP/e"; code=$?
check "dense on images exits 2 (got $code)" test $code -eq 2
check "the message names file, line, layer and the fix" grep -q \
  "img.yaml:6:7: model.layers.0 (dense_1): dense expects a flat input, got (None, 28, 28, 1) (add {type: flatten} before it" "$TMP/e"
"$NNCTL" summary "$TMP/img.yaml" --set 'model.layers=[{type: flatten}, {type: dense, units: 10}]' --json -q >"$TMP/s.json"
check "summary: the input shape comes from the IDX file" /usr/bin/python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); assert d["input_shape"]==[28,28,1], d
assert d["layers"][0]["output_shape"]==[784] and d["layers"][1]["params"]==7850' "$TMP/s.json"
"$NNCTL" summary "$TMP/img.yaml" --set 'model.input_shape=[784]' --set 'model.layers=[{type: dense, units: 10}]' --json -q >"$TMP/s2.json"
check "model.input_shape overrides the data's shape" /usr/bin/python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); assert d["input_shape"]==[784]' "$TMP/s2.json"
"$NNCTL" train "$TMP/img.yaml" --set 'model.input_shape=[28, 27, 1]' --out "$TMP/img2" -q 2>"$TMP/e"; code=$?
check "an input_shape that does not fit the data exits 2 (got $code)" test $code -eq 2
check "the message gives both sizes" grep -q "model.input_shape (None, 28, 27, 1) holds 756 values per sample, but the training data has 784 features" "$TMP/e"
"$NNCTL" train "$TMP/img.yaml" --set 'model.layers=[{type: reshape, target_shape: [28, -1]}, {type: flatten}, {type: dense, units: 10, activation: softmax}]' --set training.epochs=1 --out "$TMP/img3" -q; code=$?
check "reshape with an inferred entry trains (exit $code)" test $code -eq 0
check "the run keeps the input shape" /usr/bin/python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); assert d["input_shape"]==[28,28,1], d' "$TMP/img3/model.json"
check "the run's model predicts from its directory" bash -c "'$NNCTL' evaluate '$TMP/img3' --data idx:$FM/t10k-images-idx3-ubyte.gz,$FM/t10k-labels-idx1-ubyte.gz -q --json >/dev/null"
"$NNCTL" train "$TMP/img.yaml" --set 'model.layers=[{type: reshape, target_shape: [5, -1]}]' --out "$TMP/img4" -q 2>"$TMP/e"; code=$?
check "reshape that cannot fit exits 2 (got $code)" test $code -eq 2
check "the reshape message names the layer" grep -q "model.layers.0 (reshape_1): reshape: cannot fit the input (None, 28, 28, 1) (784 values) into target_shape \[5, -1\]" "$TMP/e"

# A small CNN end to end: Keras' shapes and parameter counts, Keras-layout kernels in the
# safetensors file, and the saved run evaluates and predicts.
CNN='model.layers=[{type: conv2d, filters: 32, kernel_size: 3, activation: relu, name: conv}, {type: max_pooling2d}, {type: conv2d, filters: 4, kernel_size: [3, 2], strides: 2, padding: same}, {type: global_average_pooling2d}, {type: dense, units: 10, activation: softmax}]'
"$NNCTL" summary "$TMP/img.yaml" --set "$CNN" --json -q >"$TMP/cnn.json"
check "summary: conv and pooling shapes and parameters as Keras prints them" /usr/bin/python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); L=d["layers"]
assert [l["output_shape"] for l in L]==[[26,26,32],[13,13,32],[7,7,4],[4],[10]], L
assert [l["params"] for l in L]==[320,0,32*6*4+4,0,50], L' "$TMP/cnn.json"
"$NNCTL" train "$TMP/img.yaml" --set "$CNN" --set training.epochs=2 --out "$TMP/cnn" -q; code=$?
check "a CNN trains on IDX images (exit $code)" test $code -eq 0
check "conv kernels are stored as (kh, kw, in, out)" /usr/bin/python3 -c '
import json,struct,sys; b=open(sys.argv[1],"rb").read(); n=struct.unpack("<Q",b[:8])[0]; h=json.loads(b[8:8+n])
assert h["conv.kernel"]["shape"]==[3,3,1,32] and h["conv.bias"]["shape"]==[32], h
assert h["conv2d_1.kernel"]["shape"]==[3,2,32,4]' "$TMP/cnn/model.safetensors"
check "the CNN run evaluates" bash -c "'$NNCTL' evaluate '$TMP/cnn' --data idx:$FM/t10k-images-idx3-ubyte.gz,$FM/t10k-labels-idx1-ubyte.gz -q --json >/dev/null"
"$NNCTL" train "$TMP/img.yaml" --set 'model.layers=[{type: conv2d, filters: 2, kernel_size: 30}]' --out "$TMP/cnn2" -q 2>"$TMP/e"; code=$?
check "a kernel larger than the image exits 2 (got $code)" test $code -eq 2
check "the message names the layer and the fix" grep -q "model.layers.0 (conv2d_1): conv2d: the window spans 30 along the height axis but the input has only 28 (use padding: same" "$TMP/e"
"$NNCTL" validate "$TMP/img.yaml" --set 'model.layers=[{type: conv2d, filters: 2, kernel_size: [3, 3, 3], strides: 2, dilation_rate: 2, padding: full}]' 2>"$TMP/e"; code=$?
check "bad conv options exit 2 (got $code)" test $code -eq 2
check "a wrong-length kernel_size is named" grep -q "model.layers.0.kernel_size: expected 2 values, got 3" "$TMP/e"
check "an unknown padding gets the choices" grep -q "model.layers.0.padding: unknown value 'full' (known: valid, same)" "$TMP/e"

echo "cli_shapes: $pass passed, $fail failed"
test "$fail" -eq 0
