#include "layers/normalization.hpp"

#include <cmath>

#include "core/error.hpp"

namespace nnctl {

namespace {
/// (batch·positions × channels) view of a (batch × positions·channels) buffer.
using Rows = Eigen::Map<const Matrix, 0, Eigen::OuterStride<>>;
Rows as_rows(const ConstView& m, int64_t c) {
    // Samples are rows of m; within a row, positions follow each other channel-fast, so the whole
    // buffer is a (rows·positions × c) matrix when m is contiguous.
    return Rows(m.data(), m.rows() * (m.cols() / c), c, Eigen::OuterStride<>(c));
}
int64_t last_axis(const Shape& s) { return s.empty() ? 1 : s.back(); }

void init_row(Matrix& m, int64_t c, const InitializerSpec& spec, Rng& rng) {
    m.resize(1, c);
    initialize(m, spec, c, c, rng);
}
}  // namespace

// ------------------------------------------------------------------ batch normalization
Shape BatchNorm::build(const Shape& input, Rng& rng) {
    shape_ = input;
    channels_ = last_axis(input);
    const int64_t c = channels_;
    if (opt_.scale) init_row(gamma_, c, opt_.gamma_initializer, rng), ggamma_.setZero(1, c);
    if (opt_.center) init_row(beta_, c, opt_.beta_initializer, rng), gbeta_.setZero(1, c);
    init_row(mean_, c, opt_.moving_mean_initializer, rng);
    init_row(var_, c, opt_.moving_variance_initializer, rng);
    gmean_.setZero(1, c);
    gvar_.setZero(1, c);
    return shape_;
}

void BatchNorm::inference_affine(RowVector& a, RowVector& b) const {
    a = (var_.array() + float(opt_.epsilon)).rsqrt().matrix();
    if (opt_.scale) a = a.cwiseProduct(gamma_);
    b = -mean_.cwiseProduct(a);
    if (opt_.center) b += beta_;
}

void BatchNorm::forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) {
    if (x.outerStride() != x.cols()) throw Error("batch_normalization: input rows must be contiguous");
    const int64_t c = channels_;
    Rows xr = as_rows(x, c);
    y.resize(x.rows(), x.cols());
    Eigen::Map<Matrix> yr(y.data(), xr.rows(), c);
    batch_stats_ = ctx.training && trainable();
    if (!batch_stats_) {
        RowVector a, b;
        inference_affine(a, b);
        yr.noalias() = (xr.array().rowwise() * a.array()).matrix();
        yr.rowwise() += b;
        return;
    }
    const double n = double(xr.rows());
    // Statistics in double: a channel summed over a large batch of images loses float digits.
    Eigen::RowVectorXd mean = xr.cast<double>().colwise().sum() / n;
    Eigen::RowVectorXd var = (xr.cast<double>().rowwise() - mean).array().square().colwise().sum() / n;
    inv_ = (var.array() + opt_.epsilon).rsqrt().cast<float>().matrix();
    const RowVector m = mean.cast<float>();
    xhat_.resize(xr.rows(), c);
    xhat_.noalias() = ((xr.rowwise() - m).array().rowwise() * inv_.array()).matrix();
    if (opt_.scale) yr.noalias() = (xhat_.array().rowwise() * gamma_.row(0).array()).matrix();
    else yr = xhat_;
    if (opt_.center) yr.rowwise() += beta_.row(0);
    const float mom = float(opt_.momentum);
    mean_ = mean_ * mom + m * (1.0f - mom);
    var_ = var_ * mom + var.cast<float>() * (1.0f - mom);
}

void BatchNorm::backward(const ConstView& x, const ConstView&, const ConstView& dy, Matrix* dx) {
    const int64_t c = channels_;
    Rows g = as_rows(dy, c);
    if (!batch_stats_) {  // inference statistics: a fixed per-channel affine map
        RowVector a, b;
        inference_affine(a, b);
        if (trainable()) {
            Rows xr = as_rows(x, c);
            RowVector inv = (var_.array() + float(opt_.epsilon)).rsqrt().matrix();
            if (opt_.center) gbeta_ = g.colwise().sum();
            if (opt_.scale)
                ggamma_ = (g.array() * ((xr.rowwise() - mean_.row(0)).array().rowwise() * inv.array())).colwise().sum();
        }
        if (dx) {
            dx->resize(x.rows(), x.cols());
            Eigen::Map<Matrix> d(dx->data(), g.rows(), c);
            d.noalias() = (g.array().rowwise() * a.array()).matrix();
        }
        return;
    }
    const double n = double(g.rows());
    if (opt_.center) gbeta_ = g.colwise().sum();
    if (opt_.scale) ggamma_ = (g.array() * xhat_.array()).colwise().sum();
    if (!dx) return;
    // dx̂ = dy·γ; dx = inv/n · (n·dx̂ − Σdx̂ − x̂·Σ(dx̂·x̂)), sums over the batch and positions.
    Matrix dxhat = opt_.scale ? Matrix((g.array().rowwise() * gamma_.row(0).array()).matrix()) : Matrix(g);
    const Eigen::RowVectorXd s1 = dxhat.cast<double>().colwise().sum();
    const Eigen::RowVectorXd s2 = (dxhat.cast<double>().array() * xhat_.cast<double>().array()).colwise().sum();
    const RowVector m1 = (s1 / n).cast<float>(), m2 = (s2 / n).cast<float>();
    dx->resize(x.rows(), x.cols());
    Eigen::Map<Matrix> d(dx->data(), g.rows(), c);
    d.noalias() = (((dxhat.rowwise() - m1).array() - xhat_.array().rowwise() * m2.array()).rowwise() * inv_.array()).matrix();
}

std::vector<ParamRef> BatchNorm::params() {
    std::vector<ParamRef> p;
    const Shape s{channels_};
    if (opt_.scale) p.push_back({name() + ".gamma", &gamma_, &ggamma_, &opt_.gamma_regularizer, trainable(), s});
    if (opt_.center) p.push_back({name() + ".beta", &beta_, &gbeta_, &opt_.beta_regularizer, trainable(), s});
    p.push_back({name() + ".moving_mean", &mean_, &gmean_, &none_, false, s});
    p.push_back({name() + ".moving_variance", &var_, &gvar_, &none_, false, s});
    return p;
}

namespace {
std::vector<OptionSpec> norm_options(bool batch) {
    std::vector<OptionSpec> o = {
        opt_int("axis", -1, "the feature axis; only the last (-1) is supported").range(-1, -1),
    };
    if (batch) o.push_back(opt_number("momentum", 0.99, "weight of the old moving statistics").range(0, 1));
    o.push_back(opt_number("epsilon", 1e-3, "added to the variance").range(0, 1, true, false));
    o.push_back(opt_bool("center", true, "add the learned offset beta"));
    o.push_back(opt_bool("scale", true, "multiply by the learned gamma"));
    o.push_back(opt_initializer("beta_initializer", "zeros", "initial beta"));
    o.push_back(opt_initializer("gamma_initializer", "ones", "initial gamma"));
    if (batch) {
        o.push_back(opt_initializer("moving_mean_initializer", "zeros", "initial moving mean"));
        o.push_back(opt_initializer("moving_variance_initializer", "ones", "initial moving variance"));
    }
    o.push_back(opt_regularizer("beta_regularizer", "penalty on beta"));
    o.push_back(opt_regularizer("gamma_regularizer", "penalty on gamma"));
    return o;
}
}  // namespace

LayerSchema BatchNorm::schema() {
    LayerSchema s;
    s.type = "batch_normalization";
    s.doc = "Normalizes each channel by the batch's statistics in training, the moving ones at inference";
    s.options = norm_options(true);
    s.make = [](const LayerOptions& o) -> std::unique_ptr<Layer> {
        Options b;
        b.momentum = o.number("momentum");
        b.epsilon = o.number("epsilon");
        b.center = o.flag("center");
        b.scale = o.flag("scale");
        b.beta_initializer = o.initializer("beta_initializer");
        b.gamma_initializer = o.initializer("gamma_initializer");
        b.moving_mean_initializer = o.initializer("moving_mean_initializer");
        b.moving_variance_initializer = o.initializer("moving_variance_initializer");
        b.beta_regularizer = o.regularizer("beta_regularizer");
        b.gamma_regularizer = o.regularizer("gamma_regularizer");
        return std::make_unique<BatchNorm>(b);
    };
    return s;
}

// ------------------------------------------------------------------ layer normalization
Shape LayerNorm::build(const Shape& input, Rng& rng) {
    shape_ = input;
    channels_ = last_axis(input);
    if (opt_.scale) init_row(gamma_, channels_, opt_.gamma_initializer, rng), ggamma_.setZero(1, channels_);
    if (opt_.center) init_row(beta_, channels_, opt_.beta_initializer, rng), gbeta_.setZero(1, channels_);
    return shape_;
}

void LayerNorm::forward(const ConstView& x, Matrix& y, const ForwardContext&) {
    if (x.outerStride() != x.cols()) throw Error("layer_normalization: input rows must be contiguous");
    const int64_t c = channels_;
    Rows xr = as_rows(x, c);
    const Eigen::VectorXd mean = xr.cast<double>().rowwise().sum() / double(c);
    const Eigen::VectorXd var = (xr.cast<double>().colwise() - mean).array().square().rowwise().sum() / double(c);
    inv_ = (var.array() + opt_.epsilon).rsqrt().cast<float>().matrix().transpose();
    xhat_.resize(xr.rows(), c);
    xhat_.noalias() = ((xr.colwise() - mean.cast<float>()).array().colwise() * inv_.transpose().array()).matrix();
    y.resize(x.rows(), x.cols());
    Eigen::Map<Matrix> yr(y.data(), xr.rows(), c);
    if (opt_.scale) yr.noalias() = (xhat_.array().rowwise() * gamma_.row(0).array()).matrix();
    else yr = xhat_;
    if (opt_.center) yr.rowwise() += beta_.row(0);
}

void LayerNorm::backward(const ConstView& x, const ConstView&, const ConstView& dy, Matrix* dx) {
    const int64_t c = channels_;
    Rows g = as_rows(dy, c);
    if (opt_.center) gbeta_ = g.colwise().sum();
    if (opt_.scale) ggamma_ = (g.array() * xhat_.array()).colwise().sum();
    if (!dx) return;
    Matrix dxhat = opt_.scale ? Matrix((g.array().rowwise() * gamma_.row(0).array()).matrix()) : Matrix(g);
    const Eigen::VectorXf m1 = dxhat.rowwise().mean();
    const Eigen::VectorXf m2 = (dxhat.array() * xhat_.array()).rowwise().mean();
    dx->resize(x.rows(), x.cols());
    Eigen::Map<Matrix> d(dx->data(), g.rows(), c);
    d.noalias() = (((dxhat.colwise() - m1).array() - xhat_.array().colwise() * m2.array()).colwise() *
                   inv_.transpose().array()).matrix();
}

std::vector<ParamRef> LayerNorm::params() {
    std::vector<ParamRef> p;
    const Shape s{channels_};
    if (opt_.scale) p.push_back({name() + ".gamma", &gamma_, &ggamma_, &opt_.gamma_regularizer, trainable(), s});
    if (opt_.center) p.push_back({name() + ".beta", &beta_, &gbeta_, &opt_.beta_regularizer, trainable(), s});
    return p;
}

LayerSchema LayerNorm::schema() {
    LayerSchema s;
    s.type = "layer_normalization";
    s.doc = "Normalizes each position's channels by their own mean and variance, then scales and shifts";
    s.options = norm_options(false);
    s.make = [](const LayerOptions& o) -> std::unique_ptr<Layer> {
        Options l;
        l.epsilon = o.number("epsilon");
        l.center = o.flag("center");
        l.scale = o.flag("scale");
        l.beta_initializer = o.initializer("beta_initializer");
        l.gamma_initializer = o.initializer("gamma_initializer");
        l.beta_regularizer = o.regularizer("beta_regularizer");
        l.gamma_regularizer = o.regularizer("gamma_regularizer");
        return std::make_unique<LayerNorm>(l);
    };
    return s;
}

}  // namespace nnctl
