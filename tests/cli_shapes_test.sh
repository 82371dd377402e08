#!/usr/bin/env bash
# End-to-end tests of layer schemas and per-sample shapes through the real binary: `nnctl layers`,
# the README's generated layer table, shapes inferred from data, and shape errors with locations.
# Usage: tests/cli_shapes_test.sh path/to/nnctl SOURCE_DIR
set -u
NNCTL=$(realpath "$1")
cd "$2"
source tests/cli_common.sh
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

# Batch normalization: Keras' parameter counts, moving statistics saved as non-trainable tensors,
# and the saved model scores at inference exactly what training reported on the test split.
BN='model.layers=[{type: zero_padding2d, padding: [[1, 0], [2, 1]]}, {type: conv2d, filters: 64, kernel_size: 3, strides: 2}, {type: batch_normalization, name: bn}, {type: activation, activation: relu}, {type: spatial_dropout2d, rate: 0.2}, {type: global_max_pooling2d}, {type: layer_normalization}, {type: dense, units: 10, activation: softmax}]'
"$NNCTL" summary "$TMP/img.yaml" --set "$BN" --json -q >"$TMP/bn.json"
check "summary: batch normalization has 4 x channels parameters, half non-trainable" /usr/bin/python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); L=d["layers"]
assert L[0]["output_shape"]==[29,31,1] and L[1]["output_shape"]==[14,15,64], L
assert L[2]["params"]==256 and d["non_trainable_params"]==128, d
assert d["trainable_params"]==d["total_params"]-128' "$TMP/bn.json"
"$NNCTL" validate "$TMP/img.yaml" --set "$BN" >"$TMP/bn.yaml" 2>/dev/null
check "the resolved config writes padding pairs explicitly" grep -q "padding: \[\[1, 0\], \[2, 1\]\]" "$TMP/bn.yaml"
cat >"$TMP/bn_split.yaml" <<YAML
extends: $TMP/img.yaml
data:
  train: {format: idx, images: $FM/train-images-idx3-ubyte.gz, labels: $FM/train-labels-idx1-ubyte.gz, max_samples: 300}
  test_split: 0.2
YAML
"$NNCTL" train "$TMP/bn_split.yaml" --set "$BN" --set "metrics=[accuracy]" --set training.epochs=2 --out "$TMP/bn" -q --json >"$TMP/bn_train.json"; code=$?
check "a batch-normalized CNN trains (exit $code)" test $code -eq 0
check "moving statistics are stored with Keras' names" /usr/bin/python3 -c '
import json,struct,sys; b=open(sys.argv[1],"rb").read(); n=struct.unpack("<Q",b[:8])[0]; h=json.loads(b[8:8+n])
for k in ("gamma","beta","moving_mean","moving_variance"): assert h["bn."+k]["shape"]==[64], h' "$TMP/bn/model.safetensors"
"$NNCTL" evaluate "$TMP/bn" -q --json >"$TMP/bn_eval.json"
check "evaluate (inference statistics) reproduces the test score reported by train" /usr/bin/python3 -c '
import json,sys; t=json.load(open(sys.argv[1]))["test"]; e=json.load(open(sys.argv[2]))
assert abs(t["accuracy"]-e["accuracy"])<1e-9 and abs(t["loss"]-e["loss"])<1e-5, (t, e)' "$TMP/bn_train.json" "$TMP/bn_eval.json"

# An image folder end to end: train, then predict on image paths, a folder, a list on stdin.
SH="$TMP/shapes"
/usr/bin/python3 scripts/make-shapes.py "$SH" --per-class 12 --size 16 >/dev/null
cat >"$TMP/sh.yaml" <<YAML
name: sh
data:
  train: {format: image_folder, path: $SH, image_size: [12, 12]}
  preprocess: {rescale: 0.00392156862745098}
model:
  layers:
    - {type: random_flip}
    - {type: random_translation, height_factor: 0.1, width_factor: 0.1}
    - {type: conv2d, filters: 4, kernel_size: 3, activation: relu}
    - {type: global_average_pooling2d}
    - {type: dense, units: 3, activation: softmax}
loss: sparse_categorical_crossentropy
metrics: [accuracy]
training: {epochs: 2, batch_size: 8}
YAML
"$NNCTL" train "$TMP/sh.yaml" --out "$TMP/shrun" -q; code=$?
check "an image_folder source trains (exit $code)" test $code -eq 0
check "the run records the folder's classes and a hash of its images" /usr/bin/python3 -c '
import json,sys; m=json.load(open(sys.argv[1]+"/model.json")); r=json.load(open(sys.argv[1]+"/run.json"))
assert m["data"]["class_names"]==["circle","square","triangle"] and m["input_shape"]==[12,12,3], m["input_shape"]
assert len(r["data_files"][0]["sha256"])==64 and r["data_files"][0]["bytes"]>0, r["data_files"]' "$TMP/shrun"
"$NNCTL" predict "$TMP/shrun" --input "$SH/square/0001.png" --proba >"$TMP/p1.csv"; code=$?
check "predict on one image path (exit $code)" test $code -eq 0
check "its output has the path, the class and one probability per class" /usr/bin/python3 -c '
import csv,sys; r=list(csv.reader(open(sys.argv[1])))
assert r[0]==["path","prediction","circle","square","triangle"] and r[1][0].endswith("square/0001.png"), r
assert r[1][1] in r[0][2:] and abs(sum(map(float,r[1][2:]))-1)<1e-4' "$TMP/p1.csv"
"$NNCTL" predict "$TMP/shrun" --input "$SH" >"$TMP/p2.csv"
check "predict on a folder covers its class sub-folders" test "$(wc -l <"$TMP/p2.csv")" -eq 37
ls "$SH"/circle/*.png | head -5 | "$NNCTL" predict "$TMP/shrun" --input - --input-format images --format jsonl >"$TMP/p3.jsonl"
check "predict on a list of paths from stdin, as JSON lines" /usr/bin/python3 -c '
import json,sys; L=[json.loads(l) for l in open(sys.argv[1])]
assert len(L)==5 and all(set(x)=={"path","prediction"} for x in L), L' "$TMP/p3.jsonl"
printf 'not an image' >"$TMP/bad.png"
"$NNCTL" predict "$TMP/shrun" --input "$TMP/bad.png" 2>"$TMP/e" >/dev/null; code=$?
check "a damaged image to predict exits 3 (got $code)" test $code -eq 3
check "the message names the file" grep -q "bad.png: not a PNG, JPEG or BMP image" "$TMP/e"
"$NNCTL" predict "$TMP/img3" --input "$SH/circle/0000.png" 2>"$TMP/e" >/dev/null; code=$?
check "a colour image to a grey 28x28 model is converted and resized (exit $code)" test $code -eq 0
head -c 300 "$SH/triangle/0002.png" >"$SH/triangle/0099.png"
"$NNCTL" train "$TMP/sh.yaml" --out "$TMP/shbad" -q 2>"$TMP/e"; code=$?
check "a truncated image in the folder exits 3 (got $code)" test $code -eq 3
check "the refusal names the file and the way out" grep -q "triangle/0099.png: damaged or truncated PNG.*on_error: skip" "$TMP/e"
"$NNCTL" train "$TMP/sh.yaml" --set data.train.on_error=skip --out "$TMP/shskip" 2>"$TMP/e" >/dev/null; code=$?
check "on_error: skip trains anyway (exit $code)" test $code -eq 0
check "and warns with a count" grep -q "warning: .*skipped 1 of 37 images" "$TMP/e"

# CSV rows of raw pixels to an IDX-trained model: with or without a header, same predictions as IDX.
/usr/bin/python3 -c '
import gzip,sys
d=gzip.open(sys.argv[1]).read()[16:16+5*784]
rows=[",".join(str(b) for b in d[k*784:(k+1)*784]) for k in range(5)]
open(sys.argv[2],"w").write(",".join("p%d"%i for i in range(784))+"\n"+"\n".join(rows)+"\n")
open(sys.argv[3],"w").write("\n".join(rows)+"\n")' $FM/t10k-images-idx3-ubyte.gz "$TMP/pix_h.csv" "$TMP/pix.csv"
"$NNCTL" predict "$TMP/cnn" --input "$TMP/pix_h.csv" >"$TMP/ph.out"; code=$?
check "pixel rows with a header predict (exit $code)" test $code -eq 0
"$NNCTL" predict "$TMP/cnn" --input - <"$TMP/pix.csv" >"$TMP/pn.out"
"$NNCTL" predict "$TMP/cnn" --input $FM/t10k-images-idx3-ubyte.gz | head -6 >"$TMP/pi.out"
check "pixel rows (header or not, file or stdin) predict what the IDX images do" bash -c "cmp -s '$TMP/ph.out' '$TMP/pi.out' && cmp -s '$TMP/pn.out' '$TMP/pi.out'"
printf '1,2,3\n' | "$NNCTL" predict "$TMP/cnn" --input - 2>"$TMP/e" >/dev/null; code=$?
check "a pixel row of the wrong width exits 3 (got $code)" test $code -eq 3
check "the message gives the line and the width needed" grep -q "<stdin>:1: 3 values, the model takes 784 per row, shape (None, 28, 28, 1)" "$TMP/e"

# validate checks layer shapes when model.input_shape says what they are.
"$NNCTL" validate "$TMP/img.yaml" --set 'model.input_shape=[28, 28, 1]' 2>"$TMP/e" >/dev/null; code=$?
check "validate with input_shape finds a dense on images (exit $code)" test $code -eq 2
check "and names where" grep -q "img.yaml:6:7: model.layers.0 (dense_1): dense expects a flat input" "$TMP/e"
"$NNCTL" validate "$TMP/img.yaml" --set 'model.input_shape=[784]' -q >/dev/null; code=$?
check "validate passes a model that fits its input_shape (exit $code)" test $code -eq 0
"$NNCTL" validate "$TMP/img.yaml" --set 'model.layers.0.type=convolution' 2>"$TMP/e" >/dev/null
check "an unknown layer type suggests types of the same stem" grep -q "did you mean 'conv2d' or 'conv1d'?" "$TMP/e"

# Option errors of the new layers: located, exit 2, all at once.
"$NNCTL" validate "$TMP/img.yaml" --set 'model.layers=[{type: random_translation, height_factor: [0.3, -0.1], width_factor: 0.1}, {type: random_translation, height_factor: 0.1, width_factor: 2}, {type: zero_padding2d, padding: [1, 2, 3]}, {type: spatial_dropout2d}, {type: max_pooling2d, strides: 0}]' 2>"$TMP/e" >/dev/null; code=$?
check "bad options of new layers exit 2 (got $code)" test $code -eq 2
check "a factor range upside down is named" grep -q "model.layers.0.height_factor: the lower bound exceeds the upper bound" "$TMP/e"
check "a factor out of range is named" grep -q "model.layers.1.width_factor: must be in \[-1, 1\], got 2" "$TMP/e"
check "padding with the wrong count is named" grep -q "model.layers.2.padding: expected an integer, one integer per axis or one \[before, after\] pair per axis (2 axes), got 3 values" "$TMP/e"
check "a missing rate is named" grep -q "model.layers.3: missing key 'rate' (the fraction of channels to drop)" "$TMP/e"
check "strides below 1 are named" grep -q "model.layers.4.strides: must be between 1 and 1048576, got 0" "$TMP/e"

# Sequences: a stacked bidirectional GRU + LSTM trains, saves Keras-named weights, and predicts.
cat >"$TMP/seq.yaml" <<YAML
name: seq
data:
  train: {format: synthetic, samples: 120, features: 24, classes: 2}
  validation_split: 0.25
model:
  input_shape: [8, 3]
  layers:
    - {type: masking, mask_value: -1}
    - {type: bidirectional, name: bi, layer: {type: gru, units: 6, return_sequences: true}}
    - {type: time_distributed, layer: {type: dense, units: 4, activation: relu}}
    - {type: lstm, units: 5, recurrent_dropout: 0.1}
    - {type: dense, units: 2, activation: softmax}
loss: sparse_categorical_crossentropy
training: {epochs: 2, batch_size: 16}
YAML
"$NNCTL" train "$TMP/seq.yaml" --out "$TMP/seq" -q 2>"$TMP/e"; code=$?
check "a recurrent model trains (got $code: $(head -c 300 "$TMP/e"))" test $code -eq 0
"$NNCTL" summary "$TMP/seq.yaml" >"$TMP/seq.txt" 2>&1
check "summary shows the sequence shapes" grep -q "(None, 8, 12)" "$TMP/seq.txt"
check "weights carry Keras' names" grep -q "bi.forward_gru.recurrent_kernel" "$TMP/seq/model.safetensors"
/usr/bin/python3 -c 'import random; random.seed(1); print("\n".join(",".join("%.3f" % random.random() for _ in range(24)) for _ in range(5)))' >"$TMP/seq.csv"
"$NNCTL" predict "$TMP/seq" --input "$TMP/seq.csv" >"$TMP/seq.out" 2>"$TMP/e"; code=$?
check "predict runs a recurrent model (got $code: $(head -c 300 "$TMP/e"))" test $code -eq 0
check "one prediction per row" test "$(grep -c . "$TMP/seq.out")" -ge 5
cat >"$TMP/seq_bad.yaml" <<YAML
name: seq
data:
  train: {format: synthetic, samples: 40, features: 24, classes: 2}
model:
  input_shape: [8, 3]
  layers:
    - {type: lstm, units: 5}
    - {type: lstm, units: 5}
    - {type: dense, units: 2, activation: softmax}
loss: sparse_categorical_crossentropy
YAML
"$NNCTL" train "$TMP/seq_bad.yaml" --out "$TMP/seq_bad" -q 2>"$TMP/e"; code=$?
check "a recurrent layer on a flat input exits 2 (got $code)" test $code -eq 2
check "the error names the layer and the fix" grep -q "seq_bad.yaml:8:7: model.layers.1 (lstm_2): lstm expects a sequence (timesteps, features), got (None, 5)" "$TMP/e"

# The LSTM forecaster example on the committed sunspots series beats both baselines on its test years.
"$NNCTL" train configs/sunspots_lstm.yaml --set data.train.path="$PWD/tests/data/sunspots.csv" --out "$TMP/sun" -q 2>"$TMP/e"; code=$?
check "the LSTM forecaster trains (got $code: $(head -c 300 "$TMP/e"))" test $code -eq 0
"$NNCTL" evaluate "$TMP/sun" --json >"$TMP/sun.json" 2>/dev/null
check "the LSTM beats the naive and seasonal-naive baselines" /usr/bin/python3 -c '
import json,sys; f=json.load(open(sys.argv[1]))["forecast"]
m=f["model"]["mae"]; assert m < 0.75*f["naive"]["mae"] and m < 0.75*f["seasonal_naive"]["mae"], f' "$TMP/sun.json"

# Text: the sentiment examples on the committed sample (240 Amazon sentences), predict on raw text.
SENT=tests/data/sentiment_sample.json
"$NNCTL" train configs/sentiment_bow.yaml --set data.train.path="$SENT" --out "$TMP/bow" -q 2>"$TMP/e"; code=$?
check "the bag-of-words example trains on the sample (got $code: $(head -c 300 "$TMP/e"))" test $code -eq 0
check "the run keeps the vocabulary, [UNK] first" test "$(head -n 1 "$TMP/bow/vocabulary.txt")" = "[UNK]"
check "vocabulary.txt has max_tokens entries at most" test "$(wc -l <"$TMP/bow/vocabulary.txt")" -le 5000
printf 'Excellent product, I love it. Works great!\nTerrible, it broke. Waste of money.\n\n' |
  "$NNCTL" predict "$TMP/bow" --input - --proba >"$TMP/p.csv" 2>"$TMP/e"; code=$?
check "predict reads raw sentences from stdin (got $code: $(head -c 300 "$TMP/e"))" test $code -eq 0
check "one prediction a line, the empty line too, with class probabilities" /usr/bin/python3 -c '
import csv,sys; r=list(csv.reader(open(sys.argv[1])))
assert r[0]==["prediction","negative","positive"], r[0]
assert len(r)==4 and r[1][0]=="positive" and r[2][0]=="negative", r
assert all(abs(float(x[1])+float(x[2])-1)<1e-5 for x in r[1:])' "$TMP/p.csv"
printf '{"text": "Great phone", "id": 7}\n' | "$NNCTL" predict "$TMP/bow" --input - --input-format jsonl --format jsonl >"$TMP/p.jsonl"
check "predict reads the text key of JSON lines" grep -q '"prediction":"positive"' "$TMP/p.jsonl"
printf 'fine\nbad \377 byte\n' | "$NNCTL" predict "$TMP/bow" --input - >/dev/null 2>"$TMP/e"; code=$?
check "invalid UTF-8 on stdin exits 3 (got $code)" test $code -eq 3
check "the error names the line and column" grep -q "<stdin>:2:5: invalid UTF-8 (byte 0xFF)" "$TMP/e"
"$NNCTL" evaluate "$TMP/bow" --data "$SENT" --json >"$TMP/ev.json" 2>"$TMP/e"; code=$?
check "evaluate reads a text file the way the training source did (got $code: $(head -c 300 "$TMP/e"))" test $code -eq 0
check "the model learned its training sentences" /usr/bin/python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); a=d["metrics"]["accuracy"] if "metrics" in d else d["accuracy"]; assert a>0.8, d' "$TMP/ev.json"
printf 'text,class\nfine,1\nalso fine,0\nnot \351 utf-8,1\n' >"$TMP/latin1.csv"
"$NNCTL" train configs/sentiment_bow.yaml --set data.train.path="$TMP/latin1.csv" --out "$TMP/l1" -q 2>"$TMP/e"; code=$?
check "a training file with invalid UTF-8 exits 3 (got $code)" test $code -eq 3
check "the error names the file, line and column" grep -q "latin1.csv:4:5: invalid UTF-8 (byte 0xE9)" "$TMP/e"
"$NNCTL" train configs/sentiment_lstm.yaml --set data.train.path="$SENT" --set training.epochs=2 --out "$TMP/lstm" -q 2>"$TMP/e"; code=$?
check "the embedding + bidirectional LSTM example trains (got $code: $(head -c 300 "$TMP/e"))" test $code -eq 0
echo "Battery died within a week" | "$NNCTL" predict "$TMP/lstm" --input - >"$TMP/pl.csv"
check "the LSTM predicts a class for a sentence" grep -Eq '^(negative|positive)$' "$TMP/pl.csv"
"$NNCTL" train configs/sentiment_lstm.yaml --set data.train.path="$SENT" --set model.layers.0.input_dim=100 --out "$TMP/lstm_small" -q 2>"$TMP/e"; code=$?
check "an embedding smaller than the vocabulary exits 2 (got $code)" test $code -eq 2
check "the error names the layer and the fix" grep -q "sentiment_lstm.yaml:25:7: model.layers.0: input_dim 100 is smaller than the text source.s vocabulary of 615 entries" "$TMP/e"

echo "cli_shapes: $pass passed, $fail failed"
test "$fail" -eq 0
