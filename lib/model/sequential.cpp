#include "model/sequential.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "layers/activation_layer.hpp"
#include "layers/conv.hpp"
#include "layers/dense.hpp"
#include "layers/pool.hpp"
#include "layers/normalization.hpp"

namespace nnctl {

Sequential::Sequential(const Sequential& o)
    : inputs_(o.inputs_), order_(o.order_), consumers_(o.consumers_), out_nodes_(o.out_nodes_),
      input_shapes_(o.input_shapes_), input_names_(o.input_names_), input_offset_(o.input_offset_),
      input_shape_(o.input_shape_), output_acts_(o.output_acts_), skip_out_(o.skip_out_), folded_(o.folded_),
      src_(o.src_), fused_(o.fused_) {
    for (const auto& l : o.layers_) layers_.push_back(l->clone());
    outs_.resize(layers_.size());
    grads_.resize(layers_.size());
    input_bufs_.resize(o.input_bufs_.size());
    collect_params();
}

Sequential& Sequential::operator=(const Sequential& o) {
    if (this != &o) *this = Sequential(o);
    return *this;
}

void Sequential::add(std::unique_ptr<Layer> layer, std::vector<int> inputs) {
    layers_.push_back(std::move(layer));
    inputs_.push_back(std::move(inputs));
}

bool Sequential::is_chain() const {
    if (input_shapes_.size() > 1) return false;
    for (size_t i = 0; i < inputs_.size(); ++i)
        if (inputs_[i].size() != 1 || inputs_[i][0] != int(i) - 1) return false;
    return out_nodes_.empty() || out_nodes_ == std::vector<int>{int(layers_.size()) - 1};
}

void Sequential::build(const Shape& input, uint64_t seed) { build(std::vector<Shape>{input}, seed); }

void Sequential::build(const std::vector<Shape>& inputs, uint64_t seed) {
    const int n = int(layers_.size());
    if (n == 0) throw Error("model has no layers");
    if (inputs.empty()) throw Error("internal: a model needs at least one input");
    input_shapes_ = inputs;
    if (input_names_.size() != inputs.size()) {
        input_names_.clear();
        for (size_t k = 0; k < inputs.size(); ++k)
            input_names_.push_back(inputs.size() == 1 ? "input" : "input_" + std::to_string(k + 1));
    }
    input_offset_.clear();
    int64_t total = 0;
    for (const auto& s : inputs) input_offset_.push_back(total), total += shape_size(s);
    input_shape_ = inputs.size() == 1 ? inputs[0] : Shape{total};
    input_bufs_.assign(inputs.size() > 1 ? inputs.size() : 0, Matrix());
    if (out_nodes_.empty()) out_nodes_ = {n - 1};
    for (int o : out_nodes_)
        if (o < 0 || o >= n) throw Error("internal: an output layer does not exist");
    output_acts_.resize(out_nodes_.size());
    skip_out_.resize(out_nodes_.size(), 0);

    // Defaults (the previous layer) and checks; lib/config reports the same problems with line numbers.
    for (int i = 0; i < n; ++i) {
        auto& in = inputs_[size_t(i)];
        if (in.empty()) in.push_back(i - 1);
        for (int s : in)
            if (s >= n || s == i || s < -int(inputs.size()))
                throw Error("layer '" + layers_[size_t(i)]->name() + "' takes an input that does not exist");
    }
    // Topological order (Kahn's algorithm, lowest index first so that a chain keeps its order).
    std::vector<int> pending(size_t(n), 0);
    std::vector<std::vector<int>> users(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i)
        for (int s : inputs_[size_t(i)])
            if (s >= 0) ++pending[size_t(i)], users[size_t(s)].push_back(i);
    order_.clear();
    std::vector<int> ready;
    for (int i = n - 1; i >= 0; --i)
        if (!pending[size_t(i)]) ready.push_back(i);
    while (!ready.empty()) {
        auto it = std::min_element(ready.begin(), ready.end());
        const int i = *it;
        ready.erase(it);
        order_.push_back(i);
        for (int u : users[size_t(i)])
            if (--pending[size_t(u)] == 0) ready.push_back(u);
    }
    if (int(order_.size()) != n) throw Error("the model's layers form a cycle");
    // Every layer must lead to the output: walk back from it.
    std::vector<char> used(size_t(n), 0);
    std::vector<int> stack = out_nodes_;
    while (!stack.empty()) {
        const int i = stack.back();
        stack.pop_back();
        if (used[size_t(i)]) continue;
        used[size_t(i)] = 1;
        for (int s : inputs_[size_t(i)])
            if (s >= 0) stack.push_back(s);
    }
    for (int i = 0; i < n; ++i)
        if (!used[size_t(i)])
            throw Error("layer '" + layers_[size_t(i)]->name() + "' does not lead to the model's output" +
                        (out_nodes_.size() > 1 ? "s" : ""));

    std::vector<Shape> out_shapes(static_cast<size_t>(n));
    for (int i : order_) {
        Layer& l = *layers_[size_t(i)];
        std::vector<Shape> in_shapes;
        for (int s : inputs_[size_t(i)]) in_shapes.push_back(s >= 0 ? out_shapes[size_t(s)] : inputs[size_t(-1 - s)]);
        Rng rng(Rng::derive(seed, 1000 + uint64_t(i)));
        try {
            if (int(in_shapes.size()) < l.min_inputs() || int(in_shapes.size()) > l.max_inputs()) {
                const int lo = l.min_inputs(), hi = l.max_inputs();
                throw ConfigError(l.type() + " takes " +
                                  (lo == hi ? std::to_string(lo) : hi >= 64 ? "at least " + std::to_string(lo)
                                                                            : std::to_string(lo) + " to " + std::to_string(hi)) +
                                  (hi == 1 ? " input" : " inputs") + ", got " + std::to_string(in_shapes.size()));
            }
            out_shapes[size_t(i)] = in_shapes.size() == 1 && l.min_inputs() == 1 ? l.build(in_shapes[0], rng)
                                                                                 : l.build_multi(in_shapes, rng);
        } catch (const LayerBuildError&) {
            throw;
        } catch (const ConfigError& e) {
            std::string from;  // which layers feed it, for a merge whose inputs do not fit together
            if (in_shapes.size() > 1)
                for (int s : inputs_[size_t(i)])
                    from += (from.empty() ? " (inputs: " : ", ") + (s >= 0 ? layers_[size_t(s)]->name() : input_names_[size_t(-1 - s)]);
            throw LayerBuildError(size_t(i), e.what() + from + (from.empty() ? "" : ")"));
        }
    }
    consumers_.assign(size_t(n), 0);
    for (int i = 0; i < n; ++i)
        for (int s : inputs_[size_t(i)])
            if (s >= 0) ++consumers_[size_t(s)];
    outs_.assign(size_t(n), Matrix());
    grads_.assign(size_t(n), Matrix());
    scratch_.assign(8, Matrix());
    folded_.clear();
    link();
    // A convolution whose only reader is the max pooling that runs right after it, tiling its output,
    // run as one pass: the convolution's output (the largest buffer of a CNN) never goes to memory.
    fused_.assign(size_t(n), false);
    for (size_t k = 0; k + 1 < order_.size(); ++k) {
        const int c = order_[k], p = order_[k + 1];
        auto* conv = dynamic_cast<Conv*>(layers_[size_t(c)].get());
        auto* pool = dynamic_cast<Pool*>(layers_[size_t(p)].get());
        if (conv && pool && inputs_[size_t(p)] == std::vector<int>{c} && consumers_[size_t(c)] == 1 &&
            std::find(out_nodes_.begin(), out_nodes_.end(), c) == out_nodes_.end() && conv->can_fuse(*pool))
            fused_[size_t(c)] = true;
    }
    collect_params();
}

int Sequential::effective_output(size_t k) const {
    const int o = out_nodes_[k];
    return skip_out_[k] ? inputs_[size_t(o)][0] : o;
}

bool Sequential::skipped(size_t i) const {
    for (size_t k = 0; k < out_nodes_.size(); ++k)
        if (skip_out_[k] && out_nodes_[k] == int(i)) return true;
    return false;
}

int64_t Sequential::output_width(size_t k) const { return shape_size(layers_[size_t(out_nodes_[k])]->output_shape()); }

int64_t Sequential::output_offset(size_t k) const {
    int64_t off = 0;
    for (size_t j = 0; j < k; ++j) off += output_width(j);
    return off;
}

void Sequential::set_output_activation(ActivationFn a, size_t k) {
    if (output_acts_.size() <= k) output_acts_.resize(k + 1), skip_out_.resize(k + 1, 0);
    output_acts_[k] = std::move(a);
}

bool Sequential::fuse_output_activation(const std::string& name, size_t k) {
    if (layers_.empty() || k >= output_acts_.size() || output_acts_[k].name != "linear") return false;
    const int o = out_nodes_.empty() ? int(layers_.size()) - 1 : out_nodes_[k];
    // A layer that is also read by other layers keeps its activation: they need its real output.
    if (consumers_.size() == layers_.size() && consumers_[size_t(o)] > 0) return false;
    for (size_t j = 0; j < out_nodes_.size(); ++j)
        if (j != k && out_nodes_[j] == o) return false;
    Layer& last = *layers_[size_t(o)];
    if (auto* d = dynamic_cast<Dense*>(&last)) {
        if (d->activation().name != name) return false;
        output_acts_[k] = d->activation();
        d->set_activation(ActivationFn{});
        return true;
    }
    if (auto* a = dynamic_cast<ActivationLayer*>(&last)) {
        if (a->activation().name != name) return false;
        // The activation's input becomes the output: it must be a layer's (not the model's input).
        if (!inputs_.empty() && !inputs_[size_t(o)].empty() && inputs_[size_t(o)][0] < 0) return false;
        if (o == 0) return false;
        output_acts_[k] = a->activation();
        skip_out_[k] = 1;
        return true;
    }
    return false;
}

ConstView Sequential::model_input(const ConstView& x, int k) {
    if (input_bufs_.empty()) return x;
    Matrix& b = input_bufs_[size_t(k)];
    b = x.middleCols(input_offset_[size_t(k)], shape_size(input_shapes_[size_t(k)]));
    return b;
}

ConstView Sequential::value_of(int src, const ConstView& x) {
    if (src >= 0) return outs_[src_[size_t(src)]];
    return input_bufs_.empty() ? x : ConstView(input_bufs_[size_t(-1 - src)]);
}

const Matrix& Sequential::forward(const ConstView& x, const ForwardContext& ctx) {
    if (order_.empty()) throw Error("model has no layers to run");
    if (!input_bufs_.empty())
        for (size_t k = 0; k < input_bufs_.size(); ++k) model_input(x, int(k));
    const size_t n = layers_.size();
    masks_.resize(n);
    and_masks_.resize(n);
    node_mask_.assign(n, nullptr);
    ForwardContext c = ctx;  // c.mask: the mask of the current layer's input (Keras' mask propagation)
    auto mask_of = [&](int s) -> const Matrix* { return s >= 0 ? node_mask_[size_t(s)] : nullptr; };
    for (size_t k = 0; k < order_.size(); ++k) {
        const size_t i = size_t(order_[k]);
        if (skipped(i)) continue;
        const auto& in = inputs_[i];
        if (src_[i] != i) {  // a reshape or a folded layer: its output is its input's buffer
            // a folded normalization keeps the mask; a reshape changes the time axis
            node_mask_[i] = (!folded_.empty() && folded_[i]) ? mask_of(in[0]) : nullptr;
            continue;
        }
        Layer& l = *layers_[i];
        if (in.size() == 1) {
            c.mask = mask_of(in[0]);
            const ConstView v = value_of(in[0], x);
            if (fused_[i]) {  // conv + max pooling in one pass, straight into the pooling's output
                const size_t p = size_t(order_[++k]);
                static_cast<Conv&>(l).forward_pooled(v, static_cast<Pool&>(*layers_[p]), outs_[p], c);
                continue;
            }
            if (l.min_inputs() == 1) l.forward(v, outs_[i], c);
            else l.forward_multi({v}, outs_[i], c);
        } else {
            // Keras merges the inputs' masks: a step is real when it is real in every masked input
            // (attention instead keeps the query's and reads the others from input_masks).
            input_masks_.clear();
            for (int s : in) input_masks_.push_back(mask_of(s));
            c.input_masks = &input_masks_;
            const Matrix* m = l.merges_masks() ? nullptr : input_masks_[0];
            for (size_t j = 0; l.merges_masks() && j < in.size(); ++j) {
                const Matrix* ms = input_masks_[j];
                if (!ms) continue;
                if (!m) m = ms;
                else if (ms->rows() == m->rows() && ms->cols() == m->cols()) {
                    if (m != &and_masks_[i]) and_masks_[i] = *m, m = &and_masks_[i];
                    and_masks_[i] = and_masks_[i].cwiseMin(*ms);
                }
            }
            c.mask = m;
            std::vector<ConstView> views;
            views.reserve(in.size());
            for (int s : in) views.push_back(value_of(s, x));
            l.forward_multi(views, outs_[i], c);
            c.input_masks = nullptr;
        }
        switch (l.mask_flow()) {
            case MaskFlow::Drop: node_mask_[i] = nullptr; break;
            case MaskFlow::Keep: node_mask_[i] = c.mask; break;
            case MaskFlow::Make:
                l.make_mask(value_of(in[0], x), c.mask, masks_[i]);
                node_mask_[i] = &masks_[i];
                break;
        }
    }
    if (out_nodes_.size() == 1) return outs_[src_[size_t(effective_output(0))]];
    int64_t width = 0;
    for (size_t k = 0; k < out_nodes_.size(); ++k) width += output_width(k);
    joined_.resize(x.rows(), width);
    for (size_t k = 0, off = 0; k < out_nodes_.size(); off += size_t(output_width(k)), ++k)
        joined_.middleCols(Eigen::Index(off), output_width(k)) = outs_[src_[size_t(effective_output(k))]];
    return joined_;
}

void Sequential::backward(const ConstView& x, const ConstView& dout) {
    if (!folded_.empty()) throw Error("internal: a model folded for inference cannot be trained");
    const size_t n = layers_.size();
    grad_set_.assign(n, 0);
    // dL/d(output), into the output's gradient buffer (other layers may read that buffer too); with
    // several outputs, each one's columns of dout.
    if (out_nodes_.size() == 1) {
        const size_t ob = src_[size_t(effective_output(0))];
        grads_[ob] = dout;
        grad_set_[ob] = 1;
    } else {
        for (size_t k = 0, off = 0; k < out_nodes_.size(); off += size_t(output_width(k)), ++k) {
            const size_t ob = src_[size_t(effective_output(k))];
            const auto d = dout.middleCols(Eigen::Index(off), output_width(k));
            if (grad_set_[ob]) grads_[ob] += d;
            else grads_[ob] = d, grad_set_[ob] = 1;
        }
    }
    std::vector<Matrix*> dxs;
    std::vector<int> targets;  // per input: the buffer its gradient goes to (−1: none), or −2 − b to add
    for (size_t k = order_.size(); k-- > 0;) {
        const size_t i = size_t(order_[k]);
        if (skipped(i)) continue;
        if (src_[i] != i) continue;  // a reshape passes the gradient on unchanged: same buffer
        if (fused_[i]) continue;     // done with its pooling
        size_t node = i;             // the layer whose inputs receive gradients
        const bool pair = k > 0 && fused_[size_t(order_[k - 1])] && inputs_[i] == std::vector<int>{order_[k - 1]};
        if (pair) node = size_t(order_[k - 1]);
        if (!grad_set_[i]) grads_[i].setZero(outs_[i].rows(), outs_[i].cols());  // not in a validated graph
        const ConstView dy = grads_[i];
        const auto& in = inputs_[node];
        dxs.assign(in.size(), nullptr);
        targets.assign(in.size(), -1);
        for (size_t j = 0; j < in.size(); ++j) {
            if (in[j] < 0) continue;  // a model input: its gradient is never needed
            const size_t b = src_[size_t(in[j])];
            bool taken = grad_set_[b] != 0;
            for (size_t q = 0; q < j; ++q) taken = taken || targets[q] == int(b);
            if (!taken) {
                targets[j] = int(b);
                dxs[j] = &grads_[b];
            } else {
                targets[j] = -2 - int(b);
                if (scratch_.size() <= j) scratch_.resize(j + 1);
                dxs[j] = &scratch_[j];
            }
        }
        const ConstView in0 = value_of(in[0], x);
        if (pair) {
            static_cast<Conv&>(*layers_[node]).backward_pooled(in0, static_cast<const Pool&>(*layers_[i]), outs_[i], dy,
                                                               dxs[0]);
        } else if (in.size() == 1 && layers_[i]->min_inputs() == 1) {
            layers_[i]->backward(in0, outs_[i], dy, dxs[0]);
        } else {
            std::vector<ConstView> views;
            views.reserve(in.size());
            for (int s : in) views.push_back(value_of(s, x));
            layers_[i]->backward_multi(views, outs_[i], dy, dxs);
        }
        for (size_t j = 0; j < in.size(); ++j) {
            if (targets[j] >= 0) grad_set_[size_t(targets[j])] = 1;
            else if (targets[j] <= -2) grads_[size_t(-2 - targets[j])] += scratch_[j];
        }
    }
}

void Sequential::apply_output_activation(const ConstView& logits, Matrix& out) const {
    if (output_acts_.size() == 1) {
        output_acts_[0].forward(logits, out);
        return;
    }
    out.resize(logits.rows(), logits.cols());
    Matrix part;
    for (size_t k = 0, off = 0; k < output_acts_.size(); off += size_t(output_width(k)), ++k) {
        output_acts_[k].forward(logits.middleCols(Eigen::Index(off), output_width(k)), part);
        out.middleCols(Eigen::Index(off), output_width(k)) = part;
    }
}

void Sequential::predict(const ConstView& x, Matrix& out) {
    const Matrix& z = forward(x, ForwardContext{});
    apply_output_activation(z, out);
}

std::vector<ParamRef> Sequential::params() { return params_; }

void Sequential::collect_params() {
    params_.clear();
    for (auto& l : layers_)
        for (auto& p : l->params()) params_.push_back(p);
}

bool Sequential::set_layer_trainable(const std::string& name, bool trainable) {
    for (auto& l : layers_)
        if (l->name() == name) {
            l->set_trainable(trainable);
            collect_params();
            return true;
        }
    return false;
}

void fold_columns(Matrix& w, Matrix& bias, Matrix& bias_grad, bool& use_bias, const RowVector& a, const RowVector& b) {
    if (!use_bias) {
        use_bias = true;
        bias.setZero(1, w.cols());
        bias_grad.setZero(1, w.cols());
    }
    w.array().rowwise() *= a.array();
    bias = (bias.array() * a.array() + b.array()).matrix();
}

Shape stored_shape(const ParamRef& p) {
    if (!p.shape.empty()) return p.shape;
    if (p.value->rows() == 1 && p.name.size() > 5 && p.name.compare(p.name.size() - 5, 5, ".bias") == 0)
        return {p.value->cols()};
    return {p.value->rows(), p.value->cols()};
}

double Sequential::regularization_penalty() {
    double p = 0.0;
    for (const auto& r : params_)
        if (r.regularizer->active()) p += r.regularizer->penalty(*r.value);
    return p;
}

void Sequential::add_regularization_gradients() {
    for (auto& r : params_)
        if (r.regularizer->active() && r.trainable) r.regularizer->add_gradient(*r.value, *r.grad);
}

void Sequential::link() {
    src_.resize(layers_.size());
    for (int i : order_) {
        const bool passes_on = layers_[size_t(i)]->aliases_input() || (!folded_.empty() && folded_[size_t(i)]);
        const int in = inputs_[size_t(i)][0];
        src_[size_t(i)] = (passes_on && in >= 0) ? src_[size_t(in)] : size_t(i);
    }
}

int Sequential::fold_batch_norm() {
    int folded = 0;
    std::vector<bool> done(layers_.size(), false);
    for (int i : order_) {
        auto* bn = dynamic_cast<BatchNorm*>(layers_[size_t(i)].get());
        if (!bn || inputs_[size_t(i)].size() != 1) continue;
        const int p = inputs_[size_t(i)][0];
        // Only a layer whose output nothing else reads can be changed to give the normalised values.
        if (p < 0 || done[size_t(p)] || consumers_[size_t(p)] != 1 || fused_[size_t(p)]) continue;
        RowVector a, b;
        bn->inference_affine(a, b);
        if (layers_[size_t(p)]->fold_affine(a, b)) done[size_t(i)] = true, ++folded;
    }
    if (folded) {  // a folded layer passes its input on, as a reshape does
        folded_ = done;
        link();
    }
    return folded;
}

Shape Sequential::output_shape() const {
    if (layers_.empty()) return input_shape_;
    if (out_nodes_.size() <= 1) return layers_[size_t(out_nodes_.empty() ? int(layers_.size()) - 1 : out_nodes_[0])]->output_shape();
    int64_t width = 0;
    for (size_t k = 0; k < out_nodes_.size(); ++k) width += output_width(k);
    return {width};
}

int64_t Sequential::param_count(bool trainable_only) {
    int64_t n = 0;
    for (const auto& p : params_)
        if (!trainable_only || p.trainable) n += p.value->size();
    return n;
}

}  // namespace nnctl
