#pragma once
#include "core/initializers.hpp"
#include "layers/activations.hpp"
#include "layers/dropout.hpp"
#include "layers/normalization.hpp"
#include "layers/layer.hpp"
#include "layers/options.hpp"

namespace nnctl {

/// Keras' MultiHeadAttention over (steps, features) sequences: self-attention on one input (query =
/// key = value), or cross-attention on `inputs: [query, value]` or `[query, value, key]` (the key
/// defaults to the value; query and value may differ in steps and features). Per head h:
/// softmax(Q_h·K_hᵀ / √key_dim) with padded key steps (the value's or key's mask) and, with
/// use_causal_mask, later steps left out; dropout on the attention weights in training; then the
/// heads' A·V_h concatenated and projected to output_shape features (default: the query's). Weights
/// as Keras stores them: NAME.query.kernel (query features, heads, key_dim), NAME.query.bias
/// (heads, key_dim), key.*, value.* (value_dim), and NAME.attention_output.kernel (heads, value_dim,
/// output), .bias (output). The output keeps the query's mask.
class MultiHeadAttention : public Layer {
public:
    struct Options {
        int64_t num_heads = 1, key_dim = 1, value_dim = 0, output_dim = 0;  ///< 0: key_dim / the query's features
        double dropout = 0.0;
        bool use_bias = true, use_causal_mask = false;
        InitializerSpec kernel_initializer{"glorot_uniform"}, bias_initializer{"zeros"};
        RegularizerSpec kernel_regularizer, bias_regularizer;
    };
    explicit MultiHeadAttention(Options o) : opt_(std::move(o)) {}
    static LayerSchema schema();
    std::string type() const override { return "multi_head_attention"; }
    Shape build(const Shape& input, Rng& rng) override { return build_multi({input}, rng); }
    Shape build_multi(const std::vector<Shape>& inputs, Rng& rng) override;
    Shape output_shape() const override { return {T_, O_}; }
    void forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) override;
    void backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) override;
    void forward_multi(const std::vector<ConstView>& xs, Matrix& y, const ForwardContext& ctx) override;
    void backward_multi(const std::vector<ConstView>& xs, const ConstView& y, const ConstView& dy,
                        const std::vector<Matrix*>& dxs) override;
    int max_inputs() const override { return 3; }
    bool merges_masks() const override { return false; }
    std::vector<ParamRef> params() override;
    MaskFlow mask_flow() const override { return MaskFlow::Keep; }
    std::unique_ptr<Layer> clone() const override { return std::make_unique<MultiHeadAttention>(*this); }
    /// The last forward's attention weights of sample b, head h: (query steps × key steps), rows sum to 1.
    Matrix scores(int64_t b, int64_t h) const;

private:
    /// The shared forward/backward: query, key and value inputs (views of one input for self-attention).
    void run(const ConstView& xq, const ConstView& xk, const ConstView& xv, Matrix& y, const Matrix* key_mask,
             const ForwardContext& ctx);
    void run_backward(const ConstView& xq, const ConstView& xk, const ConstView& xv, const ConstView& dy);

    Options opt_;
    int64_t T_ = 0, S_ = 0;            // query steps, key/value steps
    int64_t Dq_ = 0, Dk_ = 0, Dv_ = 0;  // query, key, value features
    int64_t H_ = 0, K_ = 0, V_ = 0, O_ = 0;
    Matrix wq_, wk_, wv_, wo_, bq_, bk_, bv_, bo_;      // (Dq × H·K), ..., (H·V × O); biases as rows
    Matrix gwq_, gwk_, gwv_, gwo_, gbq_, gbk_, gbv_, gbo_;
    // The last forward pass: projections (B·T × H·K, B·S × H·K / H·V), attention weights after dropout
    // and before (B·H·T × S), the dropout keep-scale (empty: none) and the heads' outputs (B·T × H·V).
    Matrix q_, k_, v_, a_, p_, drop_, c_;
    Matrix dq_, dk_, dv_, dc_, ds_, qbuf_, kbuf_, vbuf_;  // ds_: dL/d(scores), (B·H·T × S)
    Matrix kt_;  // per (sample, head): Khᵀ (K × S) in the forward pass, Vhᵀ (V × S) in the backward
    Matrix gq_, gk_, gv_, tmp_;  // backward: dL/d(query, key, value inputs) as (B·steps × features)
    bool dropped_ = false;
};

/// Keras-hub's PositionEmbedding added to its input: a learned vector per position,
/// NAME.embeddings (sequence_length, features); a (steps, features) input gets rows 0..steps−1.
class PositionEmbedding : public Layer {
public:
    PositionEmbedding(int64_t sequence_length, InitializerSpec init) : len_(sequence_length), init_(std::move(init)) {}
    static LayerSchema schema();
    std::string type() const override { return "position_embedding"; }
    Shape build(const Shape& input, Rng& rng) override;
    Shape output_shape() const override { return shape_; }
    void forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) override;
    void backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) override;
    std::vector<ParamRef> params() override;
    MaskFlow mask_flow() const override { return MaskFlow::Keep; }
    std::unique_ptr<Layer> clone() const override { return std::make_unique<PositionEmbedding>(*this); }

private:
    int64_t len_;
    InitializerSpec init_;
    RegularizerSpec none_;
    Shape shape_;
    Matrix w_, gw_;
};

/// The fixed sinusoidal position encoding of "Attention Is All You Need" (keras-hub's
/// SinePositionEncoding: feature 2i of step t is sin(t / w^(2i/F)), feature 2i+1 cos(t / w^(2i/F)),
/// w = max_wavelength), added to a (steps, features) input. No weights. keras-hub's layer returns the
/// encoding for the user to add; this one adds it, as position_embedding does.
class SinePositionEncoding : public Layer {
public:
    explicit SinePositionEncoding(double max_wavelength) : wavelength_(max_wavelength) {}
    static LayerSchema schema();
    std::string type() const override { return "sine_position_encoding"; }
    Shape build(const Shape& input, Rng& rng) override;
    Shape output_shape() const override { return shape_; }
    void forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) override;
    void backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) override;
    MaskFlow mask_flow() const override { return MaskFlow::Keep; }
    std::unique_ptr<Layer> clone() const override { return std::make_unique<SinePositionEncoding>(*this); }
    const RowVector& encoding() const { return table_; }

private:
    double wavelength_;
    Shape shape_;
    RowVector table_;  // (steps · features), row-major
};

/// keras-hub's TransformerEncoder over (steps, features): self-attention (num_heads heads of
/// features / num_heads each, padding masked), dropout, a residual connection and layer
/// normalization, then a feed-forward block (dense intermediate_dim with `activation`, dense back
/// to features), dropout, a residual and layer normalization. norm_first moves each normalization
/// before its block (pre-norm). Weights NAME.self_attention.{query,key,value,attention_output}.*,
/// NAME.self_attention_layer_norm.{gamma,beta}, NAME.feedforward_layer_norm.*,
/// NAME.feedforward_intermediate_dense.{kernel,bias}, NAME.feedforward_output_dense.*.
class TransformerEncoder : public Layer {
public:
    struct Options {
        int64_t intermediate_dim = 0, num_heads = 1;
        double dropout = 0.0, layer_norm_epsilon = 1e-5;
        ActivationFn activation{"relu"};
        bool norm_first = false;
        InitializerSpec kernel_initializer{"glorot_uniform"}, bias_initializer{"zeros"};
    };
    explicit TransformerEncoder(Options o);
    static LayerSchema schema();
    std::string type() const override { return "transformer_encoder"; }
    Shape build(const Shape& input, Rng& rng) override;
    Shape output_shape() const override { return shape_; }
    void forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) override;
    void backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) override;
    std::vector<ParamRef> params() override;
    MaskFlow mask_flow() const override { return MaskFlow::Keep; }
    std::unique_ptr<Layer> clone() const override { return std::make_unique<TransformerEncoder>(*this); }

private:
    Options opt_;
    Shape shape_;
    int64_t T_ = 0, D_ = 0;
    MultiHeadAttention attn_;
    LayerNorm norm1_, norm2_;
    Dropout drop1_, drop2_;
    Matrix w1_, b1_, w2_, b2_, gw1_, gb1_, gw2_, gb2_;
    RegularizerSpec none_;
    // The last forward pass, each (batch × steps·features) unless noted.
    Matrix n1_, a_, ad_, h_, hn_, n2_, z1_, y1_, f_, fd_, o_;  // z1_, y1_: (batch·steps × intermediate)
    Matrix g1_, g2_, g3_, g4_;
    Matrix t1_, d_o_, dy1_, dz1_, d_h_, d_hpre_;  // scratch kept between batches (no allocation per batch)
};

}  // namespace nnctl
