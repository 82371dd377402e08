#pragma once
#include <cstring>
#include <string>

namespace nnctl {

/// s == lit. std::string's operator== with a literal calls strlen and memcmp out of line; this
/// compiles to a length check and one or two integer compares, for the per-batch dispatch on
/// activation, loss and metric names.
template <size_t N>
inline bool is(const std::string& s, const char (&lit)[N]) {
    return s.size() == N - 1 && std::memcmp(s.data(), lit, N - 1) == 0;
}

}  // namespace nnctl
