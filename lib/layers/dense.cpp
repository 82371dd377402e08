#include "layers/dense.hpp"

#include "core/error.hpp"
#include "core/parallel.hpp"

namespace nnctl {

Shape Dense::build(const Shape& input, Rng& rng) {
    if (input.size() != 1)
        throw ConfigError("dense expects a flat input, got " + shape_str(input) + " (add {type: flatten} before it, as "
                          "in Keras)");
    const int64_t in = input[0], out = opt_.units;
    w_.resize(in, out);
    initialize(w_, opt_.kernel_initializer, in, out, rng);
    gw_.setZero(in, out);
    if (opt_.use_bias) {
        b_.resize(1, out);
        initialize(b_, opt_.bias_initializer, in, out, rng);
        gb_.setZero(1, out);
    }
    return {out};
}

bool Dense::needs_z() const {
    const std::string& n = opt_.activation.name;
    // These derivatives need the pre-activation; the rest can be read off the output.
    return is(n, "gelu") || is(n, "softplus") || is(n, "swish") || (is(n, "leaky_relu") && opt_.activation.alpha <= 0);
}

void Dense::forward(const ConstView& x, Matrix& y, const ForwardContext&) {
    // Product and bias in one sweep (relu too); other activations then run on the result, in
    // place unless the backward pass needs the pre-activation z kept.
    const bool relu = is(opt_.activation.name, "relu");
    Matrix& pre = needs_z() ? z_ : y;
    matmul(x, w_, pre, opt_.use_bias ? b_.data() : nullptr, relu);
    if (!relu && !opt_.activation.is_linear()) opt_.activation.forward(pre, y);
}

void Dense::backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) {
    auto finish = [&](const auto& dz) {
        matmul_tn(x, dz, gw_);
        if (opt_.use_bias) gb_ = dz.colwise().sum();
        if (dx) matmul_nt(dz, w_, *dx);
    };
    if (opt_.activation.is_linear()) return finish(dy);
    opt_.activation.backward(needs_z() ? ConstView(z_) : y, y, dy, dz_);
    finish(dz_);
}

bool Dense::fold_affine(const RowVector& a, const RowVector& b) {
    if (!opt_.activation.is_linear() || a.size() != w_.cols()) return false;
    fold_columns(w_, b_, gb_, opt_.use_bias, a, b);
    return true;
}

std::vector<ParamRef> Dense::params() {
    std::vector<ParamRef> p;
    p.push_back({name() + ".kernel", &w_, &gw_, &opt_.kernel_regularizer, trainable()});
    if (opt_.use_bias) p.push_back({name() + ".bias", &b_, &gb_, &opt_.bias_regularizer, trainable()});
    return p;
}

}  // namespace nnctl

namespace nnctl {

LayerSchema Dense::schema() {
    LayerSchema s;
    s.type = "dense";
    s.doc = "Fully connected layer: act(x·kernel + bias) on a flat input";
    s.options = {
        opt_int("units", 0, "output width").needed("the layer's width").range(1, 10'000'000),
        opt_activation("activation", "linear", "applied to x·kernel + bias"),
        opt_bool("use_bias", true, "add a bias vector"),
        opt_initializer("kernel_initializer", "glorot_uniform", "initial kernel, shape (in, units)"),
        opt_initializer("bias_initializer", "zeros", "initial bias"),
        opt_regularizer("kernel_regularizer", "penalty on the kernel"),
        opt_regularizer("bias_regularizer", "penalty on the bias"),
    };
    s.make = [](const LayerOptions& o) -> std::unique_ptr<Layer> {
        Options d;
        d.units = o.integer("units");
        d.activation = o.activation("activation");
        d.use_bias = o.flag("use_bias");
        d.kernel_initializer = o.initializer("kernel_initializer");
        d.bias_initializer = o.initializer("bias_initializer");
        d.kernel_regularizer = o.regularizer("kernel_regularizer");
        d.bias_regularizer = o.regularizer("bias_regularizer");
        return std::make_unique<Dense>(d);
    };
    return s;
}

}  // namespace nnctl
