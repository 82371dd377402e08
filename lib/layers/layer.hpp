#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "dist/comm.hpp"
#include "regularizers/regularizer.hpp"

namespace nnctl {

/// What an optimizer sees of one parameter tensor: its value, its gradient, its penalty.
struct ParamRef {
    std::string name;  ///< stable, e.g. "dense_1.kernel"
    Matrix* value;
    Matrix* grad;
    const RegularizerSpec* regularizer;  ///< never null
    bool trainable;
    /// The tensor's shape as stored (Keras' layout, e.g. a conv kernel (kh, kw, in, out)); empty:
    /// (rows, cols) of `value`, or (cols) for a bias row.
    Shape shape = {};
};

/// Shared by layers whose output is x·w (+ bias) per output column: scale column j of w by a(j) and
/// make the bias bias·a + b, creating a zero bias first when the layer had none (see fold_affine).
void fold_columns(Matrix& w, Matrix& bias, Matrix& bias_grad, bool& use_bias, const RowVector& a, const RowVector& b);

/// The stored shape of a parameter (ParamRef::shape, or the default for its matrix).
Shape stored_shape(const ParamRef& p);

struct ForwardContext {
    bool training = false;
    Rng* rng = nullptr;  ///< needed by stochastic layers in training
    /// Keras' mask of a sequence input (T, ...): (batch × T), 1 for a real step and 0 for padding;
    /// null when the input has none. Set by the model for each layer; it stays valid until the next
    /// forward pass, so a layer may keep the pointer for its backward pass.
    const Matrix* mask = nullptr;
    /// A layer of several inputs: each input's mask (null entries: none), in input order. `mask` is
    /// then their combination (see Layer::merges_masks).
    const std::vector<const Matrix*>* input_masks = nullptr;
    /// Data-parallel training: where this process's rows start in the whole batch (its shard), so
    /// that stochastic layers draw for each sample what a single process would (see SampleStreams).
    int64_t row0 = 0;
    /// The processes that share the batch (batch normalization sums its statistics over them);
    /// null for a single process.
    Communicator* comm = nullptr;
};

/// The random numbers of one stochastic layer call, one stream per sample: the call takes one
/// number from the context's generator, and sample i's stream derives from it and i's place in
/// the whole batch (row0 + i). What a sample draws thus depends neither on how the batch is split
/// across processes nor on how many numbers the other samples took.
class SampleStreams {
public:
    explicit SampleStreams(const ForwardContext& ctx) : base_(ctx.rng->next()), row0_(ctx.row0) {}
    Rng operator()(int64_t i) const { return Rng(Rng::derive(base_, uint64_t(row0_ + i))); }

private:
    uint64_t base_;
    int64_t row0_;
};

/// How a layer's output mask follows from its input's (Keras' compute_mask).
enum class MaskFlow {
    Drop,  ///< the output has no mask (the default: flatten, dense, pooling, ...)
    Keep,  ///< the output has the input's mask (dropout, layer normalization, time_distributed, ...)
    Make,  ///< the layer computes a new mask (embedding with mask_zero, masking)
};

/// One layer of a Sequential model. Inputs are views, outputs are caller-owned buffers that are
/// reused across batches (no allocation per batch once shapes settle).
class Layer {
public:
    virtual ~Layer() = default;
    virtual std::string type() const = 0;
    const std::string& name() const { return name_; }
    void set_name(std::string n) { name_ = std::move(n); }
    bool trainable() const { return trainable_; }
    void set_trainable(bool t) { trainable_ = t; }

    /// Fix the input shape, create and initialise parameters; returns the output shape.
    virtual Shape build(const Shape& input, Rng& rng) = 0;
    virtual Shape output_shape() const = 0;
    /// x: (batch × in) → y: (batch × out).
    virtual void forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) = 0;
    /// x, y: the last forward's input and output; dy = dL/dy. Overwrites the parameter gradients,
    /// and writes dx = dL/dx when dx is not null.
    virtual void backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) = 0;
    virtual std::vector<ParamRef> params() { return {}; }

    /// Layers of several inputs (merges; attention given a separate value/key): how many they take.
    /// The model calls the *_multi forms for a layer given more than one input, or whose min_inputs
    /// is above 1; by default they run the one-input forms.
    /// With several inputs, ctx.mask is the AND of the inputs' masks (Keras' merges), or with false
    /// the first input's (attention: the query's; the others come in ctx.input_masks).
    virtual bool merges_masks() const { return true; }
    virtual int min_inputs() const { return 1; }
    virtual int max_inputs() const { return 1; }
    virtual Shape build_multi(const std::vector<Shape>& inputs, Rng& rng) { return build(inputs.at(0), rng); }
    virtual void forward_multi(const std::vector<ConstView>& xs, Matrix& y, const ForwardContext& ctx) {
        forward(xs.at(0), y, ctx);
    }
    /// dxs[k] (null: not needed) receives dL/d(input k).
    virtual void backward_multi(const std::vector<ConstView>& xs, const ConstView& y, const ConstView& dy,
                                const std::vector<Matrix*>& dxs) {
        backward(xs.at(0), y, dy, dxs.at(0));
    }
    /// Inference only: make this layer compute y·a + b per output channel instead of y (so that a
    /// following batch normalization can be dropped). False when the layer cannot (e.g. it applies
    /// a non-linear activation to y).
    virtual bool fold_affine(const RowVector& /*a*/, const RowVector& /*b*/) { return false; }
    /// True for layers whose output is their input's values in the same order (reshape, flatten): the
    /// model passes the buffer on instead of running them.
    virtual bool aliases_input() const { return false; }
    /// Masking (Keras): whether the output has a mask, and for MaskFlow::Make, what it is.
    virtual MaskFlow mask_flow() const { return MaskFlow::Drop; }
    /// MaskFlow::Make only: the output's mask (batch × T) for input x, whose own mask is `in` (or null).
    virtual void make_mask(const ConstView& /*x*/, const Matrix* /*in*/, Matrix& /*mask*/) const {}
    virtual std::unique_ptr<Layer> clone() const = 0;

private:
    std::string name_;
    bool trainable_ = true;
};

}  // namespace nnctl
