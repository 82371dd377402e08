#pragma once
#include "layers/layer.hpp"
#include "layers/options.hpp"

namespace nnctl {

/// Keras' SpatialDropout2D / SpatialDropout1D: in training, drops whole channels of a sample
/// (every position of it) with probability `rate` and scales the kept ones by 1/(1 − rate);
/// identity at inference. Neighbouring pixels are correlated, so per-element dropout barely
/// regularizes a convolution; dropping feature maps does.
class SpatialDropout : public Layer {
public:
    SpatialDropout(double rate, int rank) : rate_(rate), rank_(rank) {}
    std::string type() const override { return rank_ == 2 ? "spatial_dropout2d" : "spatial_dropout1d"; }
    static LayerSchema schema(int rank);
    Shape build(const Shape& input, Rng& rng) override;
    Shape output_shape() const override { return shape_; }
    void forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) override;
    void backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) override;
    std::unique_ptr<Layer> clone() const override { return std::make_unique<SpatialDropout>(*this); }
    MaskFlow mask_flow() const override { return MaskFlow::Keep; }

private:
    double rate_;
    int rank_;
    Shape shape_;
    int64_t channels_ = 1;
    Matrix mask_;  // (batch × channels): 0 or 1/(1 − rate)
    bool last_training_ = false;
};

/// Keras' ZeroPadding2D / ZeroPadding1D: zeros added before and after each spatial axis.
class ZeroPadding : public Layer {
public:
    /// pads: (top, bottom, left, right) for rank 2, (left, right) for rank 1.
    ZeroPadding(std::vector<int64_t> pads, int rank) : pads_(std::move(pads)), rank_(rank) {}
    std::string type() const override { return rank_ == 2 ? "zero_padding2d" : "zero_padding1d"; }
    static LayerSchema schema(int rank);
    Shape build(const Shape& input, Rng& rng) override;
    Shape output_shape() const override { return out_; }
    void forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) override;
    void backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) override;
    std::unique_ptr<Layer> clone() const override { return std::make_unique<ZeroPadding>(*this); }

private:
    std::vector<int64_t> pads_;
    int rank_;
    int64_t h_ = 1, w_ = 1, c_ = 1, oh_ = 1, ow_ = 1, top_ = 0, left_ = 0;
    Shape out_;
};

}  // namespace nnctl
