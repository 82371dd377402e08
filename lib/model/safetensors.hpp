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

/// A tensor read from a safetensors file, converted to float32.
struct LoadedTensor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> data;
};

/// Parse and validate a whole safetensors file (`what` names it in messages). Accepts F32, F64, F16
/// and BF16 tensors. Throws DataError on: a file shorter than its header, a header length past the
/// end, invalid header JSON, unknown dtypes, dtype × shape ≠ byte size, offsets out of range,
/// overlapping or leaving holes, and non-finite values. Allocates no more than the file's size.
std::vector<LoadedTensor> read_safetensors(const std::string& bytes, const std::string& what,
                                           std::map<std::string, std::string>* metadata = nullptr);

}  // namespace nnctl
