#pragma once
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace nnctl {

/// Keras' L1/L2 penalty on one weight tensor: l1·Σ|w| + l2·Σw² (no ½ on l2, as in Keras).
struct RegularizerSpec {
    double l1 = 0.0;
    double l2 = 0.0;
    bool active() const { return l1 != 0.0 || l2 != 0.0; }
    /// The penalty for w.
    double penalty(const ConstView& w) const;
    /// g += dpenalty/dw (sign(0) = 0, as in Keras/TensorFlow).
    void add_gradient(const ConstView& w, Matrix& g) const;
};

/// Registered regularizer types (`l1`, `l2`, `l1_l2`) for config and gradient-check coverage.
const std::vector<std::string>& regularizer_names();

}  // namespace nnctl
