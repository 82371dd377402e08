#include "config/registry.hpp"

#include "core/error.hpp"
#include "layers/registry.hpp"

namespace nnctl {

std::unique_ptr<Layer> make_layer(const LayerConfig& cfg) {
    const LayerSchema* s = find_layer_schema(cfg.type);
    if (!s) {
        std::string known;
        for (const auto& n : layer_types()) known += (known.empty() ? "" : ", ") + n;
        throw ConfigError("unknown layer type '" + cfg.type + "' (known: " + known + ")");
    }
    auto l = s->make(cfg.options);
    l->set_name(cfg.name);
    l->set_trainable(cfg.trainable);
    return l;
}

Sequential build_model(const std::vector<LayerConfig>& layers, const Shape& input, uint64_t seed) {
    Sequential m;
    for (const auto& l : layers) m.add(make_layer(l));
    try {
        m.build(input, seed);
    } catch (const LayerBuildError& e) {
        // Name the layer, and where the config defines it, in shape problems found while building.
        const LayerConfig& l = layers.at(e.layer);
        throw ConfigError((l.where.empty() ? "" : l.where + " (" + l.name + "): ") + e.what());
    }
    return m;
}

}  // namespace nnctl
