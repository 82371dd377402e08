#pragma once
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "core/tensor.hpp"

namespace nnctl {

/// A weight initializer with Keras' names and parameters.
struct InitializerSpec {
    std::string type = "glorot_uniform";
    double value = 0.0;    ///< constant
    double mean = 0.0;     ///< random_normal
    double stddev = 0.05;  ///< random_normal
    double minval = -0.05; ///< random_uniform
    double maxval = 0.05;  ///< random_uniform
};

/// Names accepted by `initialize`.
const std::vector<std::string>& initializer_names();

/// Fill `w` (fan_in × fan_out for a dense kernel, 1 × n for a bias) from `spec`.
void initialize(Matrix& w, const InitializerSpec& spec, int64_t fan_in, int64_t fan_out, Rng& rng);

}  // namespace nnctl
