#pragma once
#include "core/initializers.hpp"
#include "layers/activations.hpp"
#include "layers/layer.hpp"
#include "layers/options.hpp"

namespace nnctl {

/// y = act(x·W + b), W: (in × units), b: (1 × units) — Keras' Dense, kernel stored (in, out).
class Dense : public Layer {
public:
    struct Options {
        int64_t units = 0;
        ActivationFn activation;
        bool use_bias = true;
        InitializerSpec kernel_initializer;                       // glorot_uniform
        InitializerSpec bias_initializer{"zeros"};
        RegularizerSpec kernel_regularizer;
        RegularizerSpec bias_regularizer;
    };
    explicit Dense(Options o) : opt_(std::move(o)) {}
    /// The `dense` config keys (Keras' names and defaults) and factory.
    static LayerSchema schema();
    std::string type() const override { return "dense"; }
    Shape build(const Shape& input, Rng& rng) override;
    Shape output_shape() const override { return {opt_.units}; }
    void forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) override;
    void backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) override;
    std::vector<ParamRef> params() override;
    bool fold_affine(const RowVector& a, const RowVector& b) override;
    std::unique_ptr<Layer> clone() const override { return std::make_unique<Dense>(*this); }

    const ActivationFn& activation() const { return opt_.activation; }
    /// Used by the model to fuse a final softmax/sigmoid into the loss.
    void set_activation(ActivationFn a) { opt_.activation = std::move(a); }
    Matrix& kernel() { return w_; }
    Matrix& bias() { return b_; }

private:
    bool needs_z() const;
    Options opt_;
    Matrix w_, b_, gw_, gb_;
    Matrix z_, dz_;  // pre-activation and its gradient (z_ only for activations that need it)
};

}  // namespace nnctl
