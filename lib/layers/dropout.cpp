#include "layers/dropout.hpp"

#include "core/error.hpp"

namespace nnctl {

void Dropout::forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) {
    last_training_ = ctx.training && rate_ > 0.0;
    if (!last_training_) {
        y = x;
        return;
    }
    if (!ctx.rng) throw Error("dropout: training forward pass without a random generator");
    const float keep_scale = float(1.0 / (1.0 - rate_));
    const float r = float(rate_);
    mask_.resize(x.rows(), x.cols());
    const SampleStreams streams(ctx);
    for (Eigen::Index s = 0; s < x.rows(); ++s) {
        Rng rng = streams(s);
        float* m = mask_.data() + s * x.cols();
        for (Eigen::Index j = 0; j < x.cols(); ++j) m[j] = rng.uniform24() >= r ? keep_scale : 0.0f;
    }
    y.resize(x.rows(), x.cols());
    y.array() = x.array() * mask_.array();
}

void Dropout::backward(const ConstView&, const ConstView&, const ConstView& dy, Matrix* dx) {
    if (!dx) return;
    if (last_training_) {
        dx->resize(dy.rows(), dy.cols());
        dx->array() = dy.array() * mask_.array();
    } else {
        *dx = dy;
    }
}

}  // namespace nnctl

namespace nnctl {

LayerSchema Dropout::schema() {
    LayerSchema s;
    s.type = "dropout";
    s.doc = "Zeroes a fraction of inputs in training (scaling the rest); identity at inference";
    s.options = {opt_number("rate", 0.0, "fraction of inputs dropped")
                     .needed("the fraction of inputs to drop")
                     .range(0, 1, false, true)};
    s.make = [](const LayerOptions& o) -> std::unique_ptr<Layer> { return std::make_unique<Dropout>(o.number("rate")); };
    return s;
}

}  // namespace nnctl
