#include "model/safetensors.hpp"

#include <algorithm>
#include <cstring>

#include "core/json.hpp"

namespace nnctl {

std::string safetensors_bytes(const std::vector<NamedTensor>& tensors,
                              const std::map<std::string, std::string>& metadata) {
    std::vector<const NamedTensor*> order;
    for (const auto& t : tensors) order.push_back(&t);
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->name < b->name; });

    JsonWriter j;
    j.begin_object();
    if (!metadata.empty()) {
        j.key("__metadata__").begin_object();
        for (const auto& [k, v] : metadata) j.key(k).value(v);
        j.end_object();
    }
    uint64_t offset = 0;
    for (const auto* t : order) {
        uint64_t bytes = uint64_t(shape_size(t->shape)) * 4;
        j.key(t->name).begin_object();
        j.key("dtype").value("F32");
        j.key("shape").begin_array();
        for (auto d : t->shape) j.value(static_cast<long long>(d));
        j.end_array();
        j.key("data_offsets").begin_array().value(static_cast<long long>(offset))
            .value(static_cast<long long>(offset + bytes)).end_array();
        j.end_object();
        offset += bytes;
    }
    j.end_object();
    std::string header = j.str();
    while (header.size() % 8 != 0) header += ' ';

    std::string out;
    out.reserve(8 + header.size() + offset);
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out += char((n >> (8 * i)) & 0xFF);
    out += header;
    for (const auto* t : order) {
        const size_t count = size_t(shape_size(t->shape));
        for (size_t i = 0; i < count; ++i) {  // explicit little-endian, whatever the host
            uint32_t u;
            std::memcpy(&u, &t->data[i], 4);
            for (int b = 0; b < 4; ++b) out += char((u >> (8 * b)) & 0xFF);
        }
    }
    return out;
}

}  // namespace nnctl
