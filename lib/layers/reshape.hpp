#pragma once
#include "layers/layer.hpp"
#include "layers/options.hpp"

namespace nnctl {

/// Keras' Reshape (each sample to `target_shape`, one entry may be -1: inferred) and Flatten
/// ((batch, d1, d2, ...) → (batch, d1·d2·...)). The row-major batch buffer already holds each sample
/// flat, so only the shape changes: the values are copied in the same order, with no arithmetic.
class Reshape : public Layer {
public:
    /// An empty target flattens.
    explicit Reshape(Shape target) : target_(std::move(target)) {}
    std::string type() const override { return target_.empty() ? "flatten" : "reshape"; }
    static LayerSchema schema();
    static LayerSchema flatten_schema();
    Shape build(const Shape& input, Rng&) override;
    Shape output_shape() const override { return out_; }
    void forward(const ConstView& x, Matrix& y, const ForwardContext&) override { y = x; }
    void backward(const ConstView&, const ConstView&, const ConstView& dy, Matrix* dx) override {
        if (dx) *dx = dy;
    }
    std::unique_ptr<Layer> clone() const override { return std::make_unique<Reshape>(*this); }
    bool aliases_input() const override { return true; }

private:
    Shape target_, out_;
};

}  // namespace nnctl
