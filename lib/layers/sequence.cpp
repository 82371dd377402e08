#include "layers/sequence.hpp"

#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "core/json.hpp"
#include "layers/registry.hpp"

namespace nnctl {

namespace {
using RowMap = Eigen::Map<const Matrix>;

/// x as (rows × cols) when its rows are contiguous; otherwise a copy in `buf`.
RowMap contiguous(const ConstView& x, int64_t rows, int64_t cols, Matrix& buf) {
    if (x.outerStride() == x.cols()) return RowMap(x.data(), rows, cols);
    buf = x;
    return RowMap(buf.data(), rows, cols);
}
}  // namespace

// ---- Embedding -----------------------------------------------------------------------------------

Shape Embedding::build(const Shape& input, Rng& rng) {
    if (opt_.mask_zero && input.size() != 1)
        throw ConfigError("embedding with mask_zero expects token ids of shape (steps), got " + shape_str(input));
    positions_ = shape_size(input);
    out_ = input;
    out_.push_back(opt_.output_dim);
    w_.resize(opt_.input_dim, opt_.output_dim);
    initialize(w_, opt_.embeddings_initializer, opt_.input_dim, opt_.output_dim, rng);
    gw_.setZero(opt_.input_dim, opt_.output_dim);
    return out_;
}

void Embedding::forward(const ConstView& x, Matrix& y, const ForwardContext&) {
    const int64_t B = x.rows(), P = positions_, D = opt_.output_dim;
    y.resize(B, P * D);
    ids_.resize(size_t(B * P));
    for (int64_t b = 0; b < B; ++b)
        for (int64_t p = 0; p < P; ++p) {
            const float v = x(b, p);
            if (!(v >= 0.0f && v < float(opt_.input_dim)) || v != std::floor(v))
                throw DataError(name() + ": input value " + format_number(v) + " (sample " + std::to_string(b + 1) +
                                ", position " + std::to_string(p + 1) + ") is not a token id in [0, " +
                                std::to_string(opt_.input_dim) + "): raise input_dim to the vocabulary size");
            const int32_t id = int32_t(v);
            ids_[size_t(b * P + p)] = id;
            std::memcpy(y.data() + (b * P + p) * D, w_.data() + int64_t(id) * D, size_t(D) * sizeof(float));
        }
}

void Embedding::backward(const ConstView& x, const ConstView&, const ConstView& dy, Matrix* dx) {
    const int64_t B = x.rows(), P = positions_, D = opt_.output_dim;
    gw_.setZero();
    for (int64_t b = 0; b < B; ++b)
        for (int64_t p = 0; p < P; ++p) {
            float* g = gw_.data() + int64_t(ids_[size_t(b * P + p)]) * D;
            const float* d = dy.data() + b * dy.outerStride() + p * D;
            for (int64_t k = 0; k < D; ++k) g[k] += d[k];
        }
    if (dx) dx->setZero(B, P);  // token ids have no gradient
}

void Embedding::make_mask(const ConstView& x, const Matrix*, Matrix& mask) const {
    mask = (x.array() != 0.0f).cast<float>().matrix();
}

std::vector<ParamRef> Embedding::params() {
    return {{name() + ".embeddings", &w_, &gw_, &opt_.embeddings_regularizer, trainable()}};
}

LayerSchema Embedding::schema() {
    LayerSchema s;
    s.type = "embedding";
    s.doc = "Token ids → learned vectors: (steps) → (steps, output_dim); mask_zero makes id 0 padding";
    s.options = {
        opt_int("input_dim", 0, "vocabulary size: ids are 0 .. input_dim − 1").needed("the vocabulary size").range(1, 100'000'000),
        opt_int("output_dim", 0, "width of each vector").needed("the vectors' width").range(1, 1'000'000),
        opt_initializer("embeddings_initializer", "uniform", "initial vectors (uniform: in [−0.05, 0.05])"),
        opt_regularizer("embeddings_regularizer", "penalty on the vectors"),
        opt_bool("mask_zero", false, "id 0 is padding: masked for the recurrent layers and pooling after it"),
    };
    s.make = [](const LayerOptions& o) -> std::unique_ptr<Layer> {
        Options e;
        e.input_dim = o.integer("input_dim");
        e.output_dim = o.integer("output_dim");
        e.embeddings_initializer = o.initializer("embeddings_initializer");
        e.embeddings_regularizer = o.regularizer("embeddings_regularizer");
        e.mask_zero = o.flag("mask_zero");
        return std::make_unique<Embedding>(e);
    };
    return s;
}

// ---- Masking -------------------------------------------------------------------------------------

Shape Masking::build(const Shape& input, Rng&) {
    if (input.empty()) throw ConfigError("masking expects a sequence (steps, ...), got " + shape_str(input));
    shape_ = input;
    T_ = input[0];
    step_ = shape_size(input) / T_;
    return input;
}

void Masking::forward(const ConstView& x, Matrix& y, const ForwardContext&) {
    const int64_t B = x.rows();
    mask_.resize(B, T_);
    y.resize(B, T_ * step_);
    for (int64_t b = 0; b < B; ++b)
        for (int64_t t = 0; t < T_; ++t) {
            const float* s = x.data() + b * x.outerStride() + t * step_;
            bool keep = false;
            for (int64_t k = 0; k < step_ && !keep; ++k) keep = s[k] != value_;
            mask_(b, t) = keep ? 1.0f : 0.0f;
            float* d = y.data() + b * y.cols() + t * step_;
            if (keep) std::memcpy(d, s, size_t(step_) * sizeof(float));
            else std::fill(d, d + step_, 0.0f);
        }
}

void Masking::backward(const ConstView&, const ConstView&, const ConstView& dy, Matrix* dx) {
    if (!dx) return;
    const int64_t B = dy.rows();
    dx->resize(B, T_ * step_);
    for (int64_t b = 0; b < B; ++b)
        for (int64_t t = 0; t < T_; ++t) {
            float* d = dx->data() + b * dx->cols() + t * step_;
            if (mask_(b, t) != 0.0f) std::memcpy(d, dy.data() + b * dy.outerStride() + t * step_, size_t(step_) * sizeof(float));
            else std::fill(d, d + step_, 0.0f);
        }
}

LayerSchema Masking::schema() {
    LayerSchema s;
    s.type = "masking";
    s.doc = "Steps whose values all equal mask_value are padding: zeroed, and skipped by the layers after it";
    s.options = {opt_number("mask_value", 0.0, "the padding value")};
    s.make = [](const LayerOptions& o) -> std::unique_ptr<Layer> { return std::make_unique<Masking>(o.number("mask_value")); };
    return s;
}

// ---- TimeDistributed -----------------------------------------------------------------------------

TimeDistributed::TimeDistributed(const TimeDistributed& o)
    : Layer(o), inner_(o.inner_->clone()), out_(o.out_), T_(o.T_), in_(o.in_), outw_(o.outw_) {}

Shape TimeDistributed::build(const Shape& input, Rng& rng) {
    if (input.size() < 2)
        throw ConfigError("time_distributed expects a sequence (steps, ...), got " + shape_str(input));
    T_ = input[0];
    const Shape step(input.begin() + 1, input.end());
    in_ = shape_size(step);
    inner_->set_name(name());
    Shape o;
    try {
        o = inner_->build(step, rng);
    } catch (const ConfigError& e) {
        throw ConfigError(std::string("the wrapped ") + inner_->type() + " (on each step's " + shape_str(step) + "): " + e.what());
    }
    outw_ = shape_size(o);
    out_ = {T_};
    out_.insert(out_.end(), o.begin(), o.end());
    return out_;
}

void TimeDistributed::forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) {
    const int64_t B = x.rows();
    ForwardContext c = ctx;
    c.mask = nullptr;  // the wrapped layer sees single steps
    c.row0 = ctx.row0 * T_;  // sample b's steps are rows b·T .. b·T + T − 1
    const RowMap steps = contiguous(x, B * T_, in_, xc_);
    inner_->forward(steps, iy_, c);
    y = RowMap(iy_.data(), B, T_ * outw_);
}

void TimeDistributed::backward(const ConstView& x, const ConstView&, const ConstView& dy, Matrix* dx) {
    const int64_t B = x.rows();
    const RowMap steps = x.outerStride() == x.cols() ? RowMap(x.data(), B * T_, in_) : RowMap(xc_.data(), B * T_, in_);
    const RowMap dsteps = contiguous(dy, B * T_, outw_, dyc_);
    inner_->backward(steps, iy_, dsteps, dx ? &idx_ : nullptr);
    if (dx) *dx = RowMap(idx_.data(), B, T_ * in_);
}

std::vector<ParamRef> TimeDistributed::params() {
    std::vector<ParamRef> p = inner_->params();
    for (auto& q : p) q.trainable = q.trainable && trainable();
    return p;
}

LayerSchema TimeDistributed::schema() {
    LayerSchema s;
    s.type = "time_distributed";
    s.doc = "Applies the wrapped layer to every step of a (steps, ...) input, with one set of weights";
    s.options = {opt_layer("layer", "the layer applied per step, e.g. {type: dense, units: 1}")};
    s.make = [](const LayerOptions& o) -> std::unique_ptr<Layer> {
        return std::make_unique<TimeDistributed>(make_nested_layer(o.layer("layer")));
    };
    return s;
}

}  // namespace nnctl
