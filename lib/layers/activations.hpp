#pragma once
#include <string>
#include <vector>

#include "core/strings.hpp"
#include "core/tensor.hpp"

namespace nnctl {

/// An elementwise (or, for softmax, row-wise) activation function with Keras' names.
struct ActivationFn {
    std::string name = "linear";
    double alpha = 0.3;  ///< leaky_relu slope (Keras default 0.3); elu alpha is 1.0 unless given

    bool is_linear() const { return is(name, "linear"); }
    /// z: (batch × n) → y: (batch × n). `y` may alias nothing; it is resized.
    void forward(const ConstView& z, Matrix& y) const;
    /// dz = dL/dz from the pre-activation z, the output y and dy = dL/dy, all (batch × n).
    void backward(const ConstView& z, const ConstView& y, const ConstView& dy, Matrix& dz) const;
};

/// Names accepted by ActivationFn, in the order shown in errors.
const std::vector<std::string>& activation_names();
/// The default parameter for an activation (elu: 1.0, leaky_relu: 0.3, others unused).
double activation_default_alpha(const std::string& name);

}  // namespace nnctl
