#pragma once
#include <functional>
#include <string>

#include "core/tensor.hpp"
#include "layers/layer.hpp"
#include "losses/loss.hpp"
#include "regularizers/regularizer.hpp"

namespace nnctl::test {

/// Worst relative error between an analytic and a central-difference gradient:
/// |a − n| / max(1e-2, |a| + |n|) over every element checked.
struct GradReport {
    double worst = 0.0;
    std::string where;  ///< which tensor and element was worst
};

/// Checks dL/dx and dL/dθ of `layer` for L = Σ y ⊙ R (R fixed random), batch × input shape.
/// Stochastic layers see the same random stream in every forward pass.
GradReport check_layer(Layer& layer, int batch, const Shape& input, uint64_t seed, bool training = false,
                       double input_scale = 1.0);
/// The same with more control: `mask` (batch × steps) is given to the layer as its input's mask; `x`
/// replaces the random input (then the input gradient is checked only when `check_input`).
struct GradCase {
    const Matrix* mask = nullptr;
    const Matrix* x = nullptr;
    bool check_input = true;
    bool training = false;
};
GradReport check_layer(Layer& layer, int batch, const Shape& input, uint64_t seed, const GradCase& c);
/// The same for a layer of several inputs (a merge): dL/d(each input) and dL/dθ. `xs` (optional)
/// replaces the random inputs, e.g. to keep a maximum's inputs apart.
GradReport check_layer_multi(Layer& layer, int batch, const std::vector<Shape>& inputs, uint64_t seed,
                             const std::vector<Matrix>* xs = nullptr,
                             const std::vector<const Matrix*>* masks = nullptr);
/// Checks dL/dp of a loss at predictions p against targets t.
GradReport check_loss(const Loss& loss, const Matrix& p, const Matrix& t);
/// Checks the gradient of a regularizer's penalty at w.
GradReport check_regularizer(const RegularizerSpec& r, const Matrix& w);

/// Random matrix with entries uniform in [−scale, scale), bounded away from 0 by `gap`.
Matrix random_matrix(Eigen::Index rows, Eigen::Index cols, uint64_t seed, double scale = 1.0, double gap = 0.0);

}  // namespace nnctl::test
