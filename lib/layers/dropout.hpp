#pragma once
#include "layers/layer.hpp"
#include "layers/options.hpp"

namespace nnctl {

/// Inverted dropout: in training, zero each input with probability `rate` and scale the rest by
/// 1/(1−rate); identity at inference.
class Dropout : public Layer {
public:
    explicit Dropout(double rate) : rate_(rate) {}
    static LayerSchema schema();
    std::string type() const override { return "dropout"; }
    Shape build(const Shape& input, Rng&) override { shape_ = input; return input; }
    Shape output_shape() const override { return shape_; }
    void forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) override;
    void backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) override;
    std::unique_ptr<Layer> clone() const override { return std::make_unique<Dropout>(*this); }
    MaskFlow mask_flow() const override { return MaskFlow::Keep; }
    double rate() const { return rate_; }

private:
    double rate_;
    Shape shape_;
    Matrix mask_;
    bool last_training_ = false;
};

}  // namespace nnctl
