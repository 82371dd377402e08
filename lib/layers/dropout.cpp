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
    for (Eigen::Index i = 0; i < mask_.size(); ++i)
        mask_.data()[i] = ctx.rng->uniform24() >= r ? keep_scale : 0.0f;
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
