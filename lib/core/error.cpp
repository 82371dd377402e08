#include "core/error.hpp"
#include "core/tensor.hpp"

namespace nnctl {

int64_t shape_size(const Shape& s) {
    int64_t n = 1;
    for (auto d : s) n *= d;
    return n;
}

std::string shape_str(const Shape& s) {
    std::string out = "(None";
    for (auto d : s) out += ", " + std::to_string(d);
    return out + ")";
}

}  // namespace nnctl
