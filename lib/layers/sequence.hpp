#pragma once
#include "core/initializers.hpp"
#include "layers/layer.hpp"
#include "layers/options.hpp"

namespace nnctl {

/// Keras' Embedding: token ids (any shape, e.g. (steps)) → one learned row each, output shape + (output_dim).
/// Weights NAME.embeddings (input_dim, output_dim). With mask_zero, id 0 is padding: the output carries a
/// mask that recurrent layers and pooling skip.
class Embedding : public Layer {
public:
    struct Options {
        int64_t input_dim = 0, output_dim = 0;
        InitializerSpec embeddings_initializer{"uniform"};
        RegularizerSpec embeddings_regularizer;
        bool mask_zero = false;
    };
    explicit Embedding(Options o) : opt_(std::move(o)) {}
    static LayerSchema schema();
    std::string type() const override { return "embedding"; }
    Shape build(const Shape& input, Rng& rng) override;
    Shape output_shape() const override { return out_; }
    void forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) override;
    void backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) override;
    std::vector<ParamRef> params() override;
    MaskFlow mask_flow() const override { return opt_.mask_zero ? MaskFlow::Make : MaskFlow::Drop; }
    void make_mask(const ConstView& x, const Matrix* in, Matrix& mask) const override;
    std::unique_ptr<Layer> clone() const override { return std::make_unique<Embedding>(*this); }
    Matrix& embeddings() { return w_; }

private:
    Options opt_;
    Shape out_;
    int64_t positions_ = 0;
    Matrix w_, gw_;
    std::vector<int32_t> ids_;  // the last forward's ids, for the backward scatter
};

/// Keras' Masking: steps (rows of a (steps, ...) sample) whose every value equals mask_value are padding:
/// they are zeroed and masked for the layers that follow.
class Masking : public Layer {
public:
    explicit Masking(double mask_value) : value_(float(mask_value)) {}
    static LayerSchema schema();
    std::string type() const override { return "masking"; }
    Shape build(const Shape& input, Rng& rng) override;
    Shape output_shape() const override { return shape_; }
    void forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) override;
    void backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) override;
    MaskFlow mask_flow() const override { return MaskFlow::Make; }
    void make_mask(const ConstView&, const Matrix*, Matrix& mask) const override { mask = mask_; }
    std::unique_ptr<Layer> clone() const override { return std::make_unique<Masking>(*this); }

private:
    float value_;
    Shape shape_;
    int64_t T_ = 0, step_ = 0;
    Matrix mask_;
};

/// Keras' TimeDistributed: the wrapped layer applied to every step of a (steps, ...) input with the same
/// weights (NAME.kernel, ...); output (steps, wrapped output).
class TimeDistributed : public Layer {
public:
    explicit TimeDistributed(std::unique_ptr<Layer> inner) : inner_(std::move(inner)) {}
    TimeDistributed(const TimeDistributed& o);
    static LayerSchema schema();
    std::string type() const override { return "time_distributed"; }
    Shape build(const Shape& input, Rng& rng) override;
    Shape output_shape() const override { return out_; }
    void forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) override;
    void backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) override;
    std::vector<ParamRef> params() override;
    MaskFlow mask_flow() const override { return MaskFlow::Keep; }
    std::unique_ptr<Layer> clone() const override { return std::make_unique<TimeDistributed>(*this); }
    Layer& inner() { return *inner_; }

private:
    std::unique_ptr<Layer> inner_;
    Shape out_;
    int64_t T_ = 0, in_ = 0, outw_ = 0;
    Matrix xc_, dyc_, iy_, idx_;
};

}  // namespace nnctl
