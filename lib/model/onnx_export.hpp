#pragma once
#include <string>

#include "train/experiment.hpp"

namespace nnctl {

/// A trained run as an ONNX model (opset 13), built with ONNX's own protobuf classes and checked by
/// ONNX's checker before it is returned, serialized. The graph takes the rows `nnctl predict` takes
/// after decoding (batch × features, float; a CSV's one-hot columns already expanded), applies the
/// run's preprocessing (rescale / standardize / minmax) as ops, and returns what predict returns
/// (probabilities for a classifier, values for a regressor). Sequences run channels last as in nnctl;
/// convolutions and poolings are wrapped in transposes to ONNX's channels-first layout. Recurrent
/// layers become ONNX's LSTM/GRU/RNN nodes (gates reordered), attention MatMul/Softmax graphs, and
/// embedding's mask_zero a mask tensor (sequence_lens for recurrent nodes: exact for padding at the
/// end). A layer type without an ONNX form here (masking, time_distributed) is a ConfigError naming it.
std::string export_onnx(SavedRun& run);

}  // namespace nnctl
