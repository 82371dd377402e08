#include "layers/activations.hpp"

#include <cmath>

#include "core/error.hpp"

namespace nnctl {

namespace {
constexpr float kSeluAlpha = 1.6732632423543772f;
constexpr float kSeluScale = 1.0507009873554805f;
inline float sigmoidf(float x) {
    return x >= 0 ? 1.0f / (1.0f + std::exp(-x)) : std::exp(x) / (1.0f + std::exp(x));
}
inline float softplusf(float x) { return x > 20.0f ? x : (x < -20.0f ? std::exp(x) : std::log1p(std::exp(x))); }
}  // namespace

const std::vector<std::string>& activation_names() {
    static const std::vector<std::string> names = {"linear", "relu",    "leaky_relu", "elu",
                                                   "selu",   "gelu",    "sigmoid",    "tanh",
                                                   "softmax", "softplus", "swish"};
    return names;
}

double activation_default_alpha(const std::string& name) { return is(name, "elu") ? 1.0 : 0.3; }

void ActivationFn::forward(const ConstView& z, Matrix& y) const {
    y.resize(z.rows(), z.cols());
    const float a = float(alpha);
    if (is(name, "linear")) {
        y = z;
    } else if (is(name, "relu")) {
        y = z.cwiseMax(0.0f);
    } else if (is(name, "leaky_relu")) {
        y = z.unaryExpr([a](float v) { return v > 0 ? v : a * v; });
    } else if (is(name, "elu")) {
        y = z.unaryExpr([a](float v) { return v > 0 ? v : a * std::expm1(v); });
    } else if (is(name, "selu")) {
        y = z.unaryExpr([](float v) { return v > 0 ? kSeluScale * v : kSeluScale * kSeluAlpha * std::expm1(v); });
    } else if (is(name, "gelu")) {  // exact: x * Phi(x) (Keras' default approximate=False)
        y = z.unaryExpr([](float v) { return 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f)); });
    } else if (is(name, "sigmoid")) {
        y = z.unaryExpr([](float v) { return sigmoidf(v); });
    } else if (is(name, "tanh")) {
        y = z.array().tanh().matrix();
    } else if (is(name, "softplus")) {
        y = z.unaryExpr([](float v) { return softplusf(v); });
    } else if (is(name, "swish")) {
        y = z.unaryExpr([](float v) { return v * sigmoidf(v); });
    } else if (is(name, "softmax")) {
        // Shift each row by its max, then one vectorized exp over the whole contiguous output.
        for (Eigen::Index r = 0; r < z.rows(); ++r) y.row(r) = z.row(r).array() - z.row(r).maxCoeff();
        y.array() = y.array().exp();
        for (Eigen::Index r = 0; r < z.rows(); ++r) y.row(r) *= 1.0f / y.row(r).sum();
    } else {
        throw ConfigError("unknown activation '" + name + "'");
    }
}

void ActivationFn::backward(const ConstView& z, const ConstView& y, const ConstView& dy, Matrix& dz) const {
    dz.resize(z.rows(), z.cols());
    const float a = float(alpha);
    if (is(name, "linear")) {
        dz = dy;
    } else if (is(name, "relu")) {
        dz = (z.array() > 0.0f).select(dy, 0.0f);
    } else if (is(name, "leaky_relu")) {
        dz = (z.array() > 0.0f).select(dy, a * dy);
    } else if (is(name, "elu")) {  // d/dz a*(e^z-1) = y + a
        dz = (z.array() > 0.0f).select(dy.array(), dy.array() * (y.array() + a)).matrix();
    } else if (is(name, "selu")) {  // below 0: scale*alpha*e^z = y + scale*alpha
        dz = (z.array() > 0.0f)
                 .select(dy.array() * kSeluScale, dy.array() * (y.array() + kSeluScale * kSeluAlpha))
                 .matrix();
    } else if (is(name, "gelu")) {  // Phi(z) + z * phi(z)
        dz = z.binaryExpr(dy, [](float v, float g) {
            float cdf = 0.5f * (1.0f + std::erf(v * 0.70710678118654752f));
            float pdf = 0.3989422804014327f * std::exp(-0.5f * v * v);
            return g * (cdf + v * pdf);
        });
    } else if (is(name, "sigmoid")) {
        dz = (dy.array() * y.array() * (1.0f - y.array())).matrix();
    } else if (is(name, "tanh")) {
        dz = (dy.array() * (1.0f - y.array().square())).matrix();
    } else if (is(name, "softplus")) {
        dz = z.binaryExpr(dy, [](float v, float g) { return g * sigmoidf(v); });
    } else if (is(name, "swish")) {
        dz = z.binaryExpr(dy, [](float v, float g) {
            float s = sigmoidf(v);
            return g * (s + v * s * (1.0f - s));
        });
    } else if (is(name, "softmax")) {  // dz = y ⊙ (dy − <dy, y>) per row
        for (Eigen::Index r = 0; r < z.rows(); ++r) {
            float dot = dy.row(r).dot(y.row(r));
            dz.row(r) = (y.row(r).array() * (dy.row(r).array() - dot)).matrix();
        }
    } else {
        throw ConfigError("unknown activation '" + name + "'");
    }
}

}  // namespace nnctl
