#include "config/registry.hpp"

#include <algorithm>
#include <map>

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

Sequential build_model(const std::vector<LayerConfig>& layers, const Shape& input, uint64_t seed,
                       const std::vector<ModelInputConfig>& inputs, const std::vector<OutputConfig>& outputs) {
    Sequential m;
    std::vector<std::string> input_names;
    std::vector<Shape> shapes;
    int64_t total = 0;
    for (const auto& mi : inputs) input_names.push_back(mi.name), shapes.push_back(mi.shape), total += shape_size(mi.shape);
    if (inputs.empty()) input_names.push_back("input"), shapes.push_back(input);
    else if (total != shape_size(input)) {
        std::string parts;
        for (const auto& mi : inputs) parts += (parts.empty() ? "" : " + ") + mi.name + " " + shape_str(mi.shape);
        throw ConfigError("model.inputs hold " + std::to_string(total) + " values per sample (" + parts +
                          "), but the data has " + std::to_string(shape_size(input)) + " per sample, shape " +
                          shape_str(input) + ": the inputs take the data's features in order and must add up to them");
    }
    std::map<std::string, int> index;
    for (size_t i = 0; i < layers.size(); ++i) index[layers[i].name] = int(i);
    for (const auto& l : layers) {
        std::vector<int> in;
        for (const auto& s : l.inputs) {
            if (auto f = index.find(s); f != index.end()) in.push_back(f->second);
            else if (auto k = std::find(input_names.begin(), input_names.end(), s); k != input_names.end())
                in.push_back(-1 - int(k - input_names.begin()));
            else throw ConfigError(l.where + " (" + l.name + "): no layer or model input named '" + s + "'");
        }
        m.add(make_layer(l), std::move(in));
    }
    m.set_input_names(input_names);
    if (!outputs.empty()) {
        std::vector<int> outs;
        for (const auto& o : outputs) {
            auto f = index.find(o.layer);
            if (f == index.end()) throw ConfigError("model.outputs: no layer named '" + o.layer + "'");
            outs.push_back(f->second);
        }
        m.set_outputs(outs);
    }
    try {
        m.build(shapes, seed);
        return m;
    } catch (const LayerBuildError& e) {
        // Name the layer, and where the config defines it, in shape problems found while building.
        const LayerConfig& l = layers.at(e.layer);
        throw ConfigError((l.where.empty() ? "" : l.where + " (" + l.name + "): ") + e.what());
    } catch (const ConfigError&) {
        throw;
    } catch (const Error& e) {
        throw ConfigError(std::string("model: ") + e.what());
    }
}

}  // namespace nnctl
