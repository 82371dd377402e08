#pragma once
#include "core/initializers.hpp"
#include "layers/activations.hpp"
#include "layers/layer.hpp"
#include "layers/options.hpp"

namespace nnctl {

/// Keras' SimpleRNN, LSTM and GRU over a (T, F) input, with Keras' equations, gate orders and weight
/// layouts, so that weights move between the two unchanged:
///   kernel (F, G·units), recurrent_kernel (units, G·units), bias (G·units), G = 1, 4 (i, f, c, o) or 3 (z, r, h);
///   GRU with reset_after (Keras' default) has two bias rows, (2, 3·units): input and recurrent.
/// LSTM:  i = σ(x·Wi + h·Ui + bi), f, o alike, c̃ = act(x·Wc + h·Uc + bc), c = f⊙c₋₁ + i⊙c̃, h = o⊙act(c).
/// GRU:   z = σ(x·Wz + h·Uz + b), r alike; reset_after: h̃ = act(x·Wh + bₓh + r⊙(h·Uh + bᵣh)), else
///        h̃ = act(x·Wh + (r⊙h)·Uh + bh); h = z⊙h₋₁ + (1 − z)⊙h̃.
/// SimpleRNN: h = act(x·W + h₋₁·U + b).
/// The input projection of every step is one product; each step then adds only h₋₁·U, into buffers kept
/// across batches (no allocation per step). Masked steps (ctx.mask) keep the state and output the previous
/// output (zeros under set_zero_output_for_mask, as Keras' Bidirectional asks). dropout / recurrent_dropout
/// draw one mask per sample for the whole sequence (Keras' behaviour), on x and on h₋₁ where it enters the
/// recurrent product.
class Recurrent : public Layer {
public:
    enum class Cell { Simple, Lstm, Gru };
    struct Options {
        Cell cell = Cell::Lstm;
        int64_t units = 0;
        ActivationFn activation;            // tanh
        ActivationFn recurrent_activation;  // sigmoid (LSTM, GRU gates)
        bool use_bias = true;
        bool return_sequences = false;
        bool go_backwards = false;
        bool unit_forget_bias = true;  // LSTM: forget-gate bias starts at 1
        bool reset_after = true;       // GRU
        double dropout = 0.0, recurrent_dropout = 0.0;
        InitializerSpec kernel_initializer;                      // glorot_uniform
        InitializerSpec recurrent_initializer{"orthogonal"};
        InitializerSpec bias_initializer{"zeros"};
        RegularizerSpec kernel_regularizer, recurrent_regularizer, bias_regularizer;
    };
    explicit Recurrent(Options o);
    static LayerSchema schema(Cell cell);
    static const char* type_name(Cell cell);
    std::string type() const override { return type_name(opt_.cell); }
    Shape build(const Shape& input, Rng& rng) override;
    Shape output_shape() const override;
    void forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) override;
    void backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) override;
    std::vector<ParamRef> params() override;
    MaskFlow mask_flow() const override { return opt_.return_sequences ? MaskFlow::Keep : MaskFlow::Drop; }
    std::unique_ptr<Layer> clone() const override { return std::make_unique<Recurrent>(*this); }

    const Options& options() const { return opt_; }
    /// Masked steps output zeros instead of the previous output (Keras' zero_output_for_mask).
    void set_zero_output_for_mask(bool z) { zero_masked_ = z; }
    /// Bidirectional's backward copy runs the sequence the other way.
    void set_go_backwards(bool b) { opt_.go_backwards = b; }
    Matrix& kernel() { return w_; }
    Matrix& recurrent_kernel() { return u_; }
    Matrix& bias() { return b_; }

private:
    int gates() const { return opt_.cell == Cell::Lstm ? 4 : opt_.cell == Cell::Gru ? 3 : 1; }
    bool masked(int64_t b, int64_t t) const;  // step t (processing order) of sample b is padding
    void step_forward(int64_t t, int64_t B, int64_t r0, int64_t m);
    void step_backward(int64_t t, int64_t B, int64_t r0, int64_t m, const ConstView& dy);

    Options opt_;
    int64_t T_ = 0, F_ = 0, n_ = 0;  // steps, input features, units
    Matrix w_, u_, b_, gw_, gu_, gb_;
    // Per batch, kept across batches. Row blocks of B rows are time steps in processing order.
    Matrix xt_;     // (T·B × F) the inputs, time-major, dropout applied
    Matrix z_;      // (T·B × G·n) input projection + bias; after forward: the activated gates (GRU z, r, h̃)
    Matrix h_;      // ((T+1)·B × n) h₋₁ = 0, then the state after each step
    Matrix c_;      // LSTM: ((T+1)·B × n) cell states
    Matrix tc_;     // LSTM: act(c) per step
    Matrix rh_;     // GRU: reset_after: h·Uh + bᵣh per step; else r⊙h₋₁ (the candidate product's input)
    Matrix hd_;     // (T·B × n) h₋₁ with recurrent dropout applied (only when it is active)
    Matrix step_;   // (B × G·n) scratch: the recurrent product of one step
    Matrix ut_;     // backward: recurrent_kernelᵀ (G·n × n)
    Matrix dz_;     // backward: (T·B × G·n) gradients of the input projection
    Matrix dr_;     // backward, GRU: gradients of the recurrent projection
    Matrix dh_, dc_, dtmp_, dtmp2_, dxt_;
    Matrix in_mask_, rec_mask_;  // dropout masks (B × F), (B × n), scaled by 1/(1 − rate)
    const Matrix* mask_ = nullptr;
    bool zero_masked_ = false;
    bool in_drop_ = false, rec_drop_ = false;
};

/// Keras' Bidirectional: a recurrent layer and its copy running backwards; outputs merged by
/// merge_mode (concat, sum, mul, ave). Weights NAME.forward_TYPE.* and NAME.backward_TYPE.*.
class Bidirectional : public Layer {
public:
    Bidirectional(std::unique_ptr<Recurrent> fwd, std::string merge_mode);
    Bidirectional(const Bidirectional& o);
    static LayerSchema schema();
    std::string type() const override { return "bidirectional"; }
    Shape build(const Shape& input, Rng& rng) override;
    Shape output_shape() const override { return out_; }
    void forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) override;
    void backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) override;
    std::vector<ParamRef> params() override;
    MaskFlow mask_flow() const override { return seq_ ? MaskFlow::Keep : MaskFlow::Drop; }
    std::unique_ptr<Layer> clone() const override { return std::make_unique<Bidirectional>(*this); }
    const Recurrent& forward_layer() const { return *f_; }
    const Recurrent& backward_layer() const { return *b_; }
    const std::string& merge_mode() const { return merge_; }

private:
    void reverse_steps(const ConstView& in, Matrix& out) const;  // (B × T·k): step order reversed
    std::unique_ptr<Recurrent> f_, b_;
    std::string merge_;
    bool seq_ = false;
    int64_t T_ = 1, k_ = 0;  // steps in the output (1 without return_sequences), units per step
    Shape out_;
    Matrix yf_, yb_, ybr_, dyf_, dyb_, dybr_, dxb_;
};

}  // namespace nnctl
