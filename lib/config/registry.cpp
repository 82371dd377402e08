#include "config/registry.hpp"

#include <functional>
#include <utility>

#include "core/error.hpp"
#include "layers/activation_layer.hpp"
#include "layers/dense.hpp"
#include "layers/dropout.hpp"

namespace nnctl {

namespace {
using Factory = std::function<std::unique_ptr<Layer>(const LayerConfig&)>;

const std::vector<std::pair<std::string, Factory>>& table() {
    static const std::vector<std::pair<std::string, Factory>> t = {
        {"dense",
         [](const LayerConfig& c) -> std::unique_ptr<Layer> {
             Dense::Options o;
             o.units = c.units;
             o.activation = c.activation;
             o.use_bias = c.use_bias;
             o.kernel_initializer = c.kernel_initializer;
             o.bias_initializer = c.bias_initializer;
             o.kernel_regularizer = c.kernel_regularizer;
             o.bias_regularizer = c.bias_regularizer;
             return std::make_unique<Dense>(o);
         }},
        {"activation", [](const LayerConfig& c) -> std::unique_ptr<Layer> {
             return std::make_unique<ActivationLayer>(c.activation);
         }},
        {"dropout", [](const LayerConfig& c) -> std::unique_ptr<Layer> { return std::make_unique<Dropout>(c.rate); }},
    };
    return t;
}
}  // namespace

const std::vector<std::string>& layer_types() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> n;
        for (const auto& [k, f] : table()) n.push_back(k);
        return n;
    }();
    return names;
}

std::unique_ptr<Layer> make_layer(const LayerConfig& cfg) {
    for (const auto& [k, f] : table())
        if (k == cfg.type) {
            auto l = f(cfg);
            l->set_name(cfg.name);
            l->set_trainable(cfg.trainable);
            return l;
        }
    std::string known;
    for (const auto& n : layer_types()) known += (known.empty() ? "" : ", ") + n;
    throw ConfigError("unknown layer type '" + cfg.type + "' (known: " + known + ")");
}

Sequential build_model(const std::vector<LayerConfig>& layers, const Shape& input, uint64_t seed) {
    Sequential m;
    for (const auto& l : layers) m.add(make_layer(l));
    m.build(input, seed);
    return m;
}

}  // namespace nnctl
