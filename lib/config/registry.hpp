#pragma once
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "layers/layer.hpp"
#include "layers/registry.hpp"
#include "model/sequential.hpp"

namespace nnctl {

/// A layer from its config entry (its type's factory in layers/registry.hpp).
std::unique_ptr<Layer> make_layer(const LayerConfig& cfg);

/// The model a config describes, built for `input` (weights initialised from `seed`). A layer that
/// cannot take its input's shape is a ConfigError naming the layer and its place in the config.
/// With named model inputs (model.inputs), `input` is the data's sample shape and must hold their
/// values side by side; each layer's `inputs` names are resolved to the graph's edges. `outputs`
/// (model.outputs): the output layers, in order; empty: the last layer.
Sequential build_model(const std::vector<LayerConfig>& layers, const Shape& input, uint64_t seed,
                       const std::vector<ModelInputConfig>& inputs = {}, const std::vector<OutputConfig>& outputs = {});

}  // namespace nnctl
