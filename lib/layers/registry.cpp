#include "layers/registry.hpp"

#include "layers/activation_layer.hpp"
#include "layers/dense.hpp"
#include "layers/dropout.hpp"
#include "layers/reshape.hpp"

namespace nnctl {

const std::vector<LayerSchema>& layer_schemas() {
    static const std::vector<LayerSchema> t = {
        Dense::schema(),
        ActivationLayer::schema(),
        Dropout::schema(),
        Reshape::flatten_schema(),
        Reshape::schema(),
    };
    return t;
}

const LayerSchema* find_layer_schema(const std::string& type) {
    for (const auto& s : layer_schemas())
        if (s.type == type) return &s;
    return nullptr;
}

const std::vector<std::string>& layer_types() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> n;
        for (const auto& s : layer_schemas()) n.push_back(s.type);
        return n;
    }();
    return names;
}

}  // namespace nnctl
