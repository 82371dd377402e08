#pragma once
#include <memory>
#include <string>
#include <vector>

#include "layers/activations.hpp"
#include "layers/layer.hpp"

namespace nnctl {

/// A model: a graph of layers run in topological order with reusable activation buffers. A layer
/// added without inputs takes the one before it (the first: the model's input), so a plain stack is
/// a chain as in Keras' Sequential; `add(layer, inputs)` names other layers (by index) or model
/// inputs (−1 − k), as Keras' functional API does. Backward runs in reverse topological order and
/// sums the gradients where an output feeds several layers.
///
/// Several model inputs come as one batch matrix holding their features side by side, in order
/// (input k: the columns after inputs 0..k−1).
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

    /// inputs: indices of earlier-added layers, or −1 − k for model input k; empty: the previous layer.
    void add(std::unique_ptr<Layer> layer, std::vector<int> inputs = {});
    /// The layer whose output is the model's (default: the last added).
    void set_output(int layer) { set_outputs({layer}); }
    /// Several outputs (Keras' functional API): forward returns their outputs side by side, each
    /// flattened, in this order (output k: the columns after outputs 0..k−1); backward takes the
    /// gradient in the same layout. Each output has its own fused activation.
    void set_outputs(std::vector<int> layers) { out_nodes_ = std::move(layers); }
    /// The output layers (after build: at least one).
    const std::vector<int>& outputs() const { return out_nodes_; }
    /// Columns of output k in forward's result, and the first of them.
    int64_t output_width(size_t k) const;
    int64_t output_offset(size_t k) const;
    /// Names of the model inputs (default: one input called "input"), for summaries and messages.
    void set_input_names(std::vector<std::string> names) { input_names_ = std::move(names); }
    /// Fix shapes and initialise every layer (each from its own seed stream). A cycle, an input that
    /// does not exist or a layer that does not lead to the output is an Error here; lib/config reports
    /// them first with the config's line numbers.
    void build(const Shape& input, uint64_t seed);
    void build(const std::vector<Shape>& inputs, uint64_t seed);
    /// If output k's final activation is `name` (softmax or sigmoid), strip it for training; returns true if done.
    bool fuse_output_activation(const std::string& name, size_t k = 0);

    /// x: (batch × in) → the training-path output (logits when fused), (batch × out).
    const Matrix& forward(const ConstView& x, const ForwardContext& ctx);
    /// dout = dL/d(output of forward); fills every parameter gradient (no dx for the input).
    void backward(const ConstView& x, const ConstView& dout);
    /// Inference: probabilities / values, the output activation applied. x: (batch × in) → out.
    void predict(const ConstView& x, Matrix& out);
    /// Set the activation `predict` applies to output k on top of the training path (for losses given logits).
    void set_output_activation(ActivationFn a, size_t k = 0);
    /// Apply the fused output activations (identity where nothing was fused) to forward's result.
    void apply_output_activation(const ConstView& logits, Matrix& out) const;

    std::vector<ParamRef> params();
    /// Make the layer named `name` trainable or not (its weights' `trainable` flags follow);
    /// false when there is no such layer.
    bool set_layer_trainable(const std::string& name, bool trainable);
    /// Σ of every parameter's regularization penalty.
    double regularization_penalty();
    /// Adds each parameter's regularizer gradient to its gradient.
    void add_regularization_gradients();

    /// The input's shape; with several inputs, (total features).
    const Shape& input_shape() const { return input_shape_; }
    const std::vector<Shape>& input_shapes() const { return input_shapes_; }
    const std::vector<std::string>& input_names() const { return input_names_; }
    /// Layer i's inputs after build (−1 − k: model input k).
    const std::vector<int>& layer_inputs(size_t i) const { return inputs_[i]; }
    /// The layers in the order they run (topological).
    const std::vector<int>& order() const { return order_; }
    /// True when the model is a plain chain (every layer takes the one before, one model input).
    bool is_chain() const;
    Shape output_shape() const;
    size_t size() const { return layers_.size(); }
    Layer& layer(size_t i) { return *layers_[i]; }
    const Layer& layer(size_t i) const { return *layers_[i]; }
    const ActivationFn& output_activation(size_t k = 0) const { return output_acts_[k]; }
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
    /// Which layer's output is output k's training-path output (the fused activation's input).
    int effective_output(size_t k) const;
    /// Layer out_nodes_[k] is a standalone activation that was fused out.
    bool skipped(size_t i) const;
    /// Model input k of batch x (a view, or a contiguous copy of its columns).
    ConstView model_input(const ConstView& x, int k);
    /// The view of layer/input `src` (≥ 0: a layer's output buffer; < 0: a model input).
    ConstView value_of(int src, const ConstView& x);
    std::vector<std::unique_ptr<Layer>> layers_;
    std::vector<std::vector<int>> inputs_;  // per layer: its inputs (layer index, or −1 − k)
    std::vector<int> order_;                // topological order of the layers that run
    std::vector<int> consumers_;            // per buffer: how many layer inputs read it
    std::vector<int> out_nodes_;  // empty before build: the last layer
    std::vector<Shape> input_shapes_;
    std::vector<std::string> input_names_ = {"input"};
    std::vector<int64_t> input_offset_;    // first column of model input k in the batch
    std::vector<Matrix> input_bufs_;       // contiguous copies of model inputs (several inputs only)
    std::vector<const Matrix*> node_mask_;  // the mask of layer i's output (null: none)
    std::vector<Matrix> and_masks_;        // the combined mask of a layer's several masked inputs
    std::vector<const Matrix*> input_masks_;  // the masks of the inputs of the layer being run
    std::vector<char> grad_set_;           // backward: grads_[b] holds a value this pass
    std::vector<Matrix> scratch_;          // backward: an input gradient to add to one already set
    Shape input_shape_;
    std::vector<ActivationFn> output_acts_ = {ActivationFn{}};  // per output: linear unless its activation was fused out
    std::vector<char> skip_out_ = {0};  // per output: its layer is a standalone activation that was fused out
    Matrix joined_, joined_act_;        // several outputs: forward's result side by side; scratch
    std::vector<Matrix> outs_;      // output of layer i
    std::vector<Matrix> grads_;     // dL/d(output buffer i), summed over the buffer's consumers
    std::vector<ParamRef> params_;  // cached after build
    std::vector<bool> folded_;      // layers folded away by fold_batch_norm (empty: none)
    std::vector<size_t> src_;       // which outs_ buffer holds layer i's output (a reshape, a folded layer: the one before)
    std::vector<bool> fused_;       // layer i is a convolution run together with the max pooling after it
    std::vector<Matrix> masks_;     // masks made by layer i (MaskFlow::Make)
};

}  // namespace nnctl
