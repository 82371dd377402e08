#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace nnctl {

struct NamedTensor {
    std::string name;
    std::vector<int64_t> shape;
    const float* data;  ///< row-major, shape_size(shape) values
};

/// Serialize tensors as safetensors: 8-byte little-endian header length, a JSON header
/// (`__metadata__` first, then tensors sorted by name, each {dtype F32, shape, data_offsets}),
/// padded with spaces to a multiple of 8, then the raw little-endian float32 data in that order.
std::string safetensors_bytes(const std::vector<NamedTensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace nnctl
