#pragma once
#include <memory>
#include <string>
#include <vector>

#include "layers/layer.hpp"
#include "layers/options.hpp"

namespace nnctl {

/// The one table of layer types, in the order errors and docs list them. Adding a layer type is
/// one file pair under lib/layers/ (the class and its schema) and one row here.
const std::vector<LayerSchema>& layer_schemas();
/// The schema of `type`, or null.
const LayerSchema* find_layer_schema(const std::string& type);
/// Every registered type name.
const std::vector<std::string>& layer_types();
/// A wrapped layer (bidirectional's, time_distributed's), made by its type's schema.
std::unique_ptr<Layer> make_nested_layer(const NestedLayer& n);

}  // namespace nnctl
