#pragma once
#include "layers/activations.hpp"
#include "layers/layer.hpp"
#include "layers/options.hpp"

namespace nnctl {

/// A standalone activation, Keras' `Activation` layer.
class ActivationLayer : public Layer {
public:
    explicit ActivationLayer(ActivationFn fn) : fn_(std::move(fn)) {}
    static LayerSchema schema();
    std::string type() const override { return "activation"; }
    Shape build(const Shape& input, Rng&) override { shape_ = input; return input; }
    Shape output_shape() const override { return shape_; }
    void forward(const ConstView& x, Matrix& y, const ForwardContext&) override { fn_.forward(x, y); }
    void backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) override;
    std::unique_ptr<Layer> clone() const override { return std::make_unique<ActivationLayer>(*this); }
    MaskFlow mask_flow() const override { return MaskFlow::Keep; }
    const ActivationFn& activation() const { return fn_; }

private:
    ActivationFn fn_;
    Shape shape_;
};

}  // namespace nnctl
