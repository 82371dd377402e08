#pragma once
#include <vector>

#include "core/initializers.hpp"
#include "layers/layer.hpp"
#include "layers/options.hpp"

namespace nnctl {

/// Keras' BatchNormalization over the last axis (channels): in training, each channel is
/// normalized with the batch's mean and (biased) variance over every sample and position, and the
/// moving statistics are updated, moving = moving·momentum + batch·(1 − momentum); at inference
/// (and when the layer is frozen, as in Keras) the moving statistics are used. y = γ·x̂ + β.
/// moving_mean and moving_variance are non-trainable parameters, saved with the weights.
class BatchNorm : public Layer {
public:
    struct Options {
        double momentum = 0.99, epsilon = 1e-3;
        bool center = true, scale = true;
        InitializerSpec beta_initializer{"zeros"}, gamma_initializer{"ones"};
        InitializerSpec moving_mean_initializer{"zeros"}, moving_variance_initializer{"ones"};
        RegularizerSpec beta_regularizer, gamma_regularizer;
    };
    explicit BatchNorm(Options o) : opt_(std::move(o)) {}
    std::string type() const override { return "batch_normalization"; }
    static LayerSchema schema();
    Shape build(const Shape& input, Rng& rng) override;
    Shape output_shape() const override { return shape_; }
    void forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) override;
    void backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) override;
    std::vector<ParamRef> params() override;
    std::unique_ptr<Layer> clone() const override { return std::make_unique<BatchNorm>(*this); }
    MaskFlow mask_flow() const override { return MaskFlow::Keep; }
    /// Per-channel y = x·a + b as inference computes it (for folding into a preceding layer).
    void inference_affine(RowVector& a, RowVector& b) const;

private:
    Options opt_;
    Shape shape_;
    int64_t channels_ = 1;
    Matrix gamma_, beta_, mean_, var_, ggamma_, gbeta_, gmean_, gvar_;
    RowVector mean_b_, inv_;  // the last training pass's batch mean and 1/sqrt(var + ε)
    std::vector<double> sum_, sq_;  // per-channel sums, reused
    RowVector aff_a_, aff_b_, bw_mean_, bw_inv_, bw_m1_, bw_m2_;  // per-channel scratch, reused
    bool batch_stats_ = false;  // the last forward used the batch's statistics
    double rows_b_ = 0;         // the rows (× positions) those statistics were taken over, all processes
    Communicator* comm_ = nullptr;  // the last training forward's processes (synchronized statistics)
    RegularizerSpec none_;
};

/// Keras' LayerNormalization over the last axis: each position's channels are normalized by
/// their own mean and variance, then y = γ·x̂ + β (γ, β per channel). Same in training and inference.
class LayerNorm : public Layer {
public:
    struct Options {
        double epsilon = 1e-3;
        bool center = true, scale = true;
        InitializerSpec beta_initializer{"zeros"}, gamma_initializer{"ones"};
        RegularizerSpec beta_regularizer, gamma_regularizer;
    };
    explicit LayerNorm(Options o) : opt_(std::move(o)) {}
    std::string type() const override { return "layer_normalization"; }
    static LayerSchema schema();
    Shape build(const Shape& input, Rng& rng) override;
    Shape output_shape() const override { return shape_; }
    void forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) override;
    void backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) override;
    std::vector<ParamRef> params() override;
    std::unique_ptr<Layer> clone() const override { return std::make_unique<LayerNorm>(*this); }
    MaskFlow mask_flow() const override { return MaskFlow::Keep; }

private:
    Options opt_;
    Shape shape_;
    int64_t channels_ = 1;
    Matrix gamma_, beta_, ggamma_, gbeta_;
    Matrix xhat_;            // (batch·positions × channels)
    Eigen::VectorXf inv_;    // per position: 1/sqrt(var + ε)
    Eigen::ArrayXf dh_;      // backward scratch: one row of dL/dx̂
};

}  // namespace nnctl
