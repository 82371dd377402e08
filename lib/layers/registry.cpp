#include "layers/registry.hpp"

#include "layers/activation_layer.hpp"
#include "layers/attention.hpp"
#include "layers/augment.hpp"
#include "layers/conv.hpp"
#include "layers/normalization.hpp"
#include "layers/pool.hpp"
#include "layers/spatial.hpp"
#include "layers/dense.hpp"
#include "layers/dropout.hpp"
#include "layers/merge.hpp"
#include "layers/recurrent.hpp"
#include "layers/reshape.hpp"
#include "layers/sequence.hpp"
#include "core/error.hpp"

namespace nnctl {

const std::vector<LayerSchema>& layer_schemas() {
    static const std::vector<LayerSchema> t = {
        Dense::schema(),
        ActivationLayer::schema(),
        Dropout::schema(),
        Reshape::flatten_schema(),
        Reshape::schema(),
        Conv::schema2d(),
        Conv::schema1d(),
        Pool::schema(true, 2),
        Pool::schema(false, 2),
        Pool::schema(true, 1),
        Pool::schema(false, 1),
        GlobalPool::schema(false, 2),
        GlobalPool::schema(true, 2),
        GlobalPool::schema(false, 1),
        GlobalPool::schema(true, 1),
        BatchNorm::schema(),
        LayerNorm::schema(),
        SpatialDropout::schema(2),
        SpatialDropout::schema(1),
        ZeroPadding::schema(2),
        ZeroPadding::schema(1),
        Augment::schema(Augment::Kind::Flip),
        Augment::schema(Augment::Kind::Translation),
        Augment::schema(Augment::Kind::Rotation),
        Augment::schema(Augment::Kind::Zoom),
        Augment::schema(Augment::Kind::Contrast),
        Embedding::schema(),
        Masking::schema(),
        Recurrent::schema(Recurrent::Cell::Simple),
        Recurrent::schema(Recurrent::Cell::Lstm),
        Recurrent::schema(Recurrent::Cell::Gru),
        Bidirectional::schema(),
        TimeDistributed::schema(),
        MultiHeadAttention::schema(),
        PositionEmbedding::schema(),
        SinePositionEncoding::schema(),
        TransformerEncoder::schema(),
        Merge::schema(Merge::Op::Add),
        Merge::schema(Merge::Op::Subtract),
        Merge::schema(Merge::Op::Multiply),
        Merge::schema(Merge::Op::Average),
        Merge::schema(Merge::Op::Maximum),
        Merge::schema(Merge::Op::Minimum),
        Merge::schema(Merge::Op::Concatenate),
        Merge::schema(Merge::Op::Dot),
    };
    return t;
}

const LayerSchema* find_layer_schema(const std::string& type) {
    for (const auto& s : layer_schemas())
        if (s.type == type) return &s;
    return nullptr;
}

std::unique_ptr<Layer> make_nested_layer(const NestedLayer& n) {
    const LayerSchema* s = find_layer_schema(n.type);
    if (!s || !n.options) throw ConfigError("unknown wrapped layer type '" + n.type + "'");
    return s->make(*n.options);
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
