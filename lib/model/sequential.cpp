#include "model/sequential.hpp"

#include "core/error.hpp"
#include "layers/activation_layer.hpp"
#include "layers/conv.hpp"
#include "layers/dense.hpp"
#include "layers/pool.hpp"
#include "layers/normalization.hpp"

namespace nnctl {

Sequential::Sequential(const Sequential& o)
    : input_shape_(o.input_shape_), output_act_(o.output_act_), skip_last_(o.skip_last_), folded_(o.folded_), src_(o.src_),
      fused_(o.fused_) {
    for (const auto& l : o.layers_) layers_.push_back(l->clone());
    outs_.resize(layers_.size());
    grads_.resize(layers_.size());
    collect_params();
}

Sequential& Sequential::operator=(const Sequential& o) {
    if (this != &o) *this = Sequential(o);
    return *this;
}

void Sequential::add(std::unique_ptr<Layer> layer) { layers_.push_back(std::move(layer)); }

void Sequential::build(const Shape& input, uint64_t seed) {
    input_shape_ = input;
    Shape s = input;
    for (size_t i = 0; i < layers_.size(); ++i) {
        Rng rng(Rng::derive(seed, 1000 + i));
        try {
            s = layers_[i]->build(s, rng);
        } catch (const LayerBuildError&) {
            throw;
        } catch (const ConfigError& e) {
            throw LayerBuildError(i, e.what());
        }
    }
    outs_.assign(layers_.size(), Matrix());
    grads_.assign(layers_.size(), Matrix());
    folded_.clear();
    link();
    // A convolution followed by a max pooling that tiles its output run as one pass: the
    // convolution's output (the largest buffer of a CNN) never goes to memory.
    fused_.assign(layers_.size(), false);
    for (size_t i = 0; i + 1 < layers_.size(); ++i) {
        auto* conv = dynamic_cast<Conv*>(layers_[i].get());
        auto* pool = dynamic_cast<Pool*>(layers_[i + 1].get());
        if (conv && pool && conv->can_fuse(*pool) && (i == 0 || !fused_[i - 1])) fused_[i] = true;
    }
    collect_params();
}

bool Sequential::fuse_output_activation(const std::string& name) {
    if (layers_.empty() || output_act_.name != "linear") return false;
    Layer& last = *layers_.back();
    if (auto* d = dynamic_cast<Dense*>(&last)) {
        if (d->activation().name != name) return false;
        output_act_ = d->activation();
        d->set_activation(ActivationFn{});
        return true;
    }
    if (auto* a = dynamic_cast<ActivationLayer*>(&last)) {
        if (a->activation().name != name) return false;
        output_act_ = a->activation();
        skip_last_ = true;
        return true;
    }
    return false;
}

const Matrix& Sequential::forward(const ConstView& x, const ForwardContext& ctx) {
    const size_t n = layers_.size() - (skip_last_ ? 1 : 0);
    if (n == 0) throw Error("model has no layers to run");
    masks_.resize(layers_.size());
    ForwardContext c = ctx;  // c.mask: the mask of the current layer's input (Keras' mask propagation)
    c.mask = nullptr;
    for (size_t i = 0; i < n; ++i) {
        if (src_[i] != i) {  // a reshape or a folded layer: its output is the buffer before it
            if (!folded_.empty() && folded_[i]) continue;  // a folded normalization keeps the mask
            c.mask = nullptr;  // a reshape changes the time axis
            continue;
        }
        const ConstView in = i == 0 ? x : ConstView(outs_[src_[i - 1]]);
        if (fused_[i] && i + 1 < n) {  // conv + max pooling in one pass, straight into the pooling's output
            static_cast<Conv&>(*layers_[i]).forward_pooled(in, static_cast<Pool&>(*layers_[i + 1]), outs_[i + 1], c);
            ++i;
            c.mask = nullptr;
            continue;
        }
        layers_[i]->forward(in, outs_[i], c);
        switch (layers_[i]->mask_flow()) {
            case MaskFlow::Drop: c.mask = nullptr; break;
            case MaskFlow::Keep: break;
            case MaskFlow::Make:
                layers_[i]->make_mask(in, c.mask, masks_[i]);
                c.mask = &masks_[i];
                break;
        }
    }
    return outs_[src_[n - 1]];
}

void Sequential::backward(const ConstView& x, const ConstView& dout) {
    if (!folded_.empty()) throw Error("internal: a model folded for inference cannot be trained");
    const size_t n = layers_.size() - (skip_last_ ? 1 : 0);
    size_t next = n;  // the layer whose input gradient is the current dy (n: dout)
    for (size_t i = n; i-- > 0;) {
        if (src_[i] != i) continue;  // a reshape passes the gradient on unchanged
        const ConstView dy = next == n ? dout : ConstView(grads_[next]);
        if (i > 0 && fused_[i - 1]) {  // the pooling of a fused pair: both layers' backward at once
            const size_t c = i - 1;
            const ConstView in = (c == 0) ? x : ConstView(outs_[src_[c - 1]]);
            static_cast<Conv&>(*layers_[c]).backward_pooled(in, static_cast<const Pool&>(*layers_[i]), outs_[i], dy,
                                                           c == 0 ? nullptr : &grads_[c]);
            next = c;
            i = c;
            continue;
        }
        const ConstView in = (i == 0) ? x : ConstView(outs_[src_[i - 1]]);
        // The input's gradient is never needed; nor is anything below the lowest trainable layer.
        Matrix* dx = (i == 0) ? nullptr : &grads_[i];
        layers_[i]->backward(in, outs_[i], dy, dx);
        next = i;
    }
}

void Sequential::apply_output_activation(const ConstView& logits, Matrix& out) const {
    output_act_.forward(logits, out);
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
    for (size_t i = 0; i < layers_.size(); ++i) {
        const bool passes_on = layers_[i]->aliases_input() || (!folded_.empty() && folded_[i]);
        src_[i] = (i > 0 && passes_on) ? src_[i - 1] : i;
    }
}

int Sequential::fold_batch_norm() {
    int folded = 0;
    std::vector<bool> done(layers_.size(), false);
    for (size_t i = 1; i < layers_.size(); ++i) {
        auto* bn = dynamic_cast<BatchNorm*>(layers_[i].get());
        if (!bn || done[i - 1]) continue;
        RowVector a, b;
        bn->inference_affine(a, b);
        if (layers_[i - 1]->fold_affine(a, b)) done[i] = true, ++folded;
    }
    if (folded) {  // a folded layer passes its input on, as a reshape does
        folded_ = done;
        link();
    }
    return folded;
}

Shape Sequential::output_shape() const { return layers_.empty() ? input_shape_ : layers_.back()->output_shape(); }

int64_t Sequential::param_count(bool trainable_only) {
    int64_t n = 0;
    for (const auto& p : params_)
        if (!trainable_only || p.trainable) n += p.value->size();
    return n;
}

}  // namespace nnctl
