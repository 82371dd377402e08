#pragma once
#include <memory>
#include <string>
#include <vector>

#include "layers/activations.hpp"
#include "layers/layer.hpp"

namespace nnctl {

/// A stack of layers with reusable activation buffers.
///
/// When the last activation is softmax (or sigmoid) and the loss is the matching cross-entropy,
/// `fuse_output_activation` moves that activation out of the training path: `forward` then
/// returns logits and the loss works from logits (stable), while `predict` still returns
/// probabilities.
class Sequential {
public:
    Sequential() = default;
    Sequential(const Sequential& other);
    Sequential& operator=(const Sequential& other);
    Sequential(Sequential&&) = default;
    Sequential& operator=(Sequential&&) = default;

    void add(std::unique_ptr<Layer> layer);
    /// Fix shapes and initialise every layer (each from its own seed stream).
    void build(const Shape& input, uint64_t seed);
    /// If the final activation is `name` (softmax or sigmoid), strip it for training; returns true if done.
    bool fuse_output_activation(const std::string& name);

    /// x: (batch × in) → the training-path output (logits when fused), (batch × out).
    const Matrix& forward(const ConstView& x, const ForwardContext& ctx);
    /// dout = dL/d(output of forward); fills every parameter gradient (no dx for the input).
    void backward(const ConstView& x, const ConstView& dout);
    /// Inference: probabilities / values, the output activation applied. x: (batch × in) → out.
    void predict(const ConstView& x, Matrix& out);
    /// Set the activation `predict` applies on top of the training path (for losses given logits).
    void set_output_activation(ActivationFn a) { output_act_ = std::move(a); }
    /// Apply the fused output activation (identity when nothing was fused).
    void apply_output_activation(const ConstView& logits, Matrix& out) const;

    std::vector<ParamRef> params();
    /// Make the layer named `name` trainable or not (its weights' `trainable` flags follow);
    /// false when there is no such layer.
    bool set_layer_trainable(const std::string& name, bool trainable);
    /// Σ of every parameter's regularization penalty.
    double regularization_penalty();
    /// Adds each parameter's regularizer gradient to its gradient.
    void add_regularization_gradients();

    const Shape& input_shape() const { return input_shape_; }
    Shape output_shape() const;
    size_t size() const { return layers_.size(); }
    Layer& layer(size_t i) { return *layers_[i]; }
    const Layer& layer(size_t i) const { return *layers_[i]; }
    const ActivationFn& output_activation() const { return output_act_; }
    int64_t param_count(bool trainable_only = false);
    /// For inference only (evaluate, predict): fold each batch normalization that follows a linear
    /// dense or convolution layer into that layer's kernel and bias, and skip it. Same outputs up to
    /// float rounding, one pass less over the data. Training such a model afterwards is an error.
    /// Returns how many were folded.
    int fold_batch_norm();

private:
    /// src_ from the layers that pass their input on (reshapes, folded layers).
    void link();
    void collect_params();
    std::vector<std::unique_ptr<Layer>> layers_;
    Shape input_shape_;
    ActivationFn output_act_;       // linear unless a final activation was fused out
    bool skip_last_ = false;        // the final layer was a standalone activation that was fused out
    std::vector<Matrix> outs_;      // output of layer i
    std::vector<Matrix> grads_;     // dL/d(input of layer i), i ≥ 1
    std::vector<ParamRef> params_;  // cached after build
    std::vector<bool> folded_;      // layers folded away by fold_batch_norm (empty: none)
    std::vector<size_t> src_;       // which outs_ buffer holds layer i's output (a reshape, a folded layer: the one before)
    std::vector<bool> fused_;       // layer i is a convolution run together with the max pooling after it
    std::vector<Matrix> masks_;     // masks made by layer i (MaskFlow::Make)
};

}  // namespace nnctl
