#include "layers/spatial.hpp"

#include <algorithm>
#include <cstring>

#include "core/error.hpp"
#include "layers/window.hpp"

namespace nnctl {

// ------------------------------------------------------------------ spatial dropout
Shape SpatialDropout::build(const Shape& input, Rng&) {
    int64_t h, w;
    spatial_dims(type(), input, rank_, h, w, channels_);
    shape_ = input;
    return shape_;
}

void SpatialDropout::forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) {
    last_training_ = ctx.training && rate_ > 0.0;
    if (!last_training_) {
        y = x;
        return;
    }
    if (!ctx.rng) throw Error(type() + ": training forward pass without a random generator");
    const int64_t c = channels_, positions = x.cols() / c;
    const float keep = float(1.0 / (1.0 - rate_)), r = float(rate_);
    mask_.resize(x.rows(), c);
    const SampleStreams streams(ctx);
    for (Eigen::Index s = 0; s < x.rows(); ++s) {
        Rng rng = streams(s);
        for (int64_t j = 0; j < c; ++j) mask_(s, j) = rng.uniform24() >= r ? keep : 0.0f;
    }
    y.resize(x.rows(), x.cols());
    for (Eigen::Index s = 0; s < x.rows(); ++s) {
        const float* m = mask_.data() + s * c;
        const float* in = x.data() + s * x.outerStride();
        float* out = y.data() + s * y.cols();
        for (int64_t p = 0; p < positions; ++p)
            for (int64_t ch = 0; ch < c; ++ch) out[p * c + ch] = in[p * c + ch] * m[ch];
    }
}

void SpatialDropout::backward(const ConstView&, const ConstView&, const ConstView& dy, Matrix* dx) {
    if (!dx) return;
    if (!last_training_) {
        *dx = dy;
        return;
    }
    const int64_t c = channels_, positions = dy.cols() / c;
    dx->resize(dy.rows(), dy.cols());
    for (Eigen::Index s = 0; s < dy.rows(); ++s) {
        const float* m = mask_.data() + s * c;
        const float* g = dy.data() + s * dy.outerStride();
        float* out = dx->data() + s * dx->cols();
        for (int64_t p = 0; p < positions; ++p)
            for (int64_t ch = 0; ch < c; ++ch) out[p * c + ch] = g[p * c + ch] * m[ch];
    }
}

LayerSchema SpatialDropout::schema(int rank) {
    LayerSchema s;
    s.type = rank == 2 ? "spatial_dropout2d" : "spatial_dropout1d";
    s.doc = std::string("Drops whole channels of ") + (rank == 2 ? "(h, w, c)" : "(steps, c)") +
            " samples in training (scaling the rest); identity at inference";
    s.options = {opt_number("rate", 0.0, "fraction of channels dropped")
                     .needed("the fraction of channels to drop")
                     .range(0, 1, false, true)};
    s.make = [rank](const LayerOptions& o) -> std::unique_ptr<Layer> {
        return std::make_unique<SpatialDropout>(o.number("rate"), rank);
    };
    return s;
}

// ------------------------------------------------------------------ zero padding
Shape ZeroPadding::build(const Shape& input, Rng&) {
    spatial_dims(type(), input, rank_, h_, w_, c_);
    top_ = rank_ == 2 ? pads_[0] : 0;
    left_ = rank_ == 2 ? pads_[2] : pads_[0];
    oh_ = h_ + (rank_ == 2 ? pads_[0] + pads_[1] : 0);
    ow_ = w_ + (rank_ == 2 ? pads_[2] + pads_[3] : pads_[0] + pads_[1]);
    out_ = rank_ == 2 ? Shape{oh_, ow_, c_} : Shape{ow_, c_};
    return out_;
}

void ZeroPadding::forward(const ConstView& x, Matrix& y, const ForwardContext&) {
    y.setZero(x.rows(), oh_ * ow_ * c_);
    for (Eigen::Index s = 0; s < x.rows(); ++s)
        for (int64_t ih = 0; ih < h_; ++ih)
            std::memcpy(y.data() + s * y.cols() + ((ih + top_) * ow_ + left_) * c_,
                        x.data() + s * x.outerStride() + ih * w_ * c_, sizeof(float) * size_t(w_ * c_));
}

void ZeroPadding::backward(const ConstView&, const ConstView&, const ConstView& dy, Matrix* dx) {
    if (!dx) return;
    dx->resize(dy.rows(), h_ * w_ * c_);
    for (Eigen::Index s = 0; s < dy.rows(); ++s)
        for (int64_t ih = 0; ih < h_; ++ih)
            std::memcpy(dx->data() + s * dx->cols() + ih * w_ * c_,
                        dy.data() + s * dy.outerStride() + ((ih + top_) * ow_ + left_) * c_, sizeof(float) * size_t(w_ * c_));
}

LayerSchema ZeroPadding::schema(int rank) {
    LayerSchema s;
    s.type = rank == 2 ? "zero_padding2d" : "zero_padding1d";
    s.doc = rank == 2 ? "Adds rows and columns of zeros around (h, w, c) samples"
                      : "Adds steps of zeros before and after (steps, c) samples";
    s.options = {opt_int_pairs("padding", rank, 1,
                               rank == 2 ? "zeros added: every side, [rows, cols], or [[top, bottom], [left, right]]"
                                         : "zeros added: both ends, or [before, after]")};
    s.make = [rank](const LayerOptions& o) -> std::unique_ptr<Layer> {
        return std::make_unique<ZeroPadding>(o.ints("padding"), rank);
    };
    return s;
}

}  // namespace nnctl
