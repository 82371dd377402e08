#pragma once
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "layers/layer.hpp"
#include "model/sequential.hpp"

namespace nnctl {

/// The one table of layer types: name → factory from a LayerConfig.
const std::vector<std::string>& layer_types();
std::unique_ptr<Layer> make_layer(const LayerConfig& cfg);

/// The model a config describes, built for `input` (weights initialised from `seed`).
Sequential build_model(const std::vector<LayerConfig>& layers, const Shape& input, uint64_t seed);

}  // namespace nnctl
