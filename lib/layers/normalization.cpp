#include "layers/normalization.hpp"

#include <cmath>

#include <algorithm>
#include <vector>

#include "core/error.hpp"
#include "core/parallel.hpp"

namespace nnctl {

namespace {
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

namespace {
constexpr int64_t kRowsPerChunk = 2048;  // fixed: per-chunk sums combine in order for any thread count

/// Per-chunk, per-channel sums of f(row values) over a (rows × c) buffer, combined in chunk order.
template <class F>
void channel_sums(int64_t rows, int64_t c, std::vector<double>& a, std::vector<double>& b, F&& f) {
    const int64_t chunks = (rows + kRowsPerChunk - 1) / kRowsPerChunk;
    // Reused (no allocation per batch once sizes settle). The workers must see this thread's
    // buffers, so they get pointers: a thread_local named inside the lambda would be their own.
    thread_local std::vector<double> pa_buf, pb_buf;
    pa_buf.assign(size_t(chunks * c), 0.0);
    pb_buf.assign(size_t(chunks * c), 0.0);
    double* const pa = pa_buf.data();
    double* const pb = pb_buf.data();
    parallel_for(chunks, [&](int64_t k) {
        double* __restrict sa = pa + k * c;
        double* __restrict sb = pb + k * c;
        for (int64_t r = k * kRowsPerChunk, e = std::min(rows, r + kRowsPerChunk); r < e; ++r) f(r, sa, sb);
    });
    a.assign(size_t(c), 0.0);
    b.assign(size_t(c), 0.0);
    for (int64_t k = 0; k < chunks; ++k)
        for (int64_t j = 0; j < c; ++j) a[size_t(j)] += pa[k * c + j], b[size_t(j)] += pb[k * c + j];
}

/// out = in·k + m per channel, over a (rows × c) buffer.
void affine_rows(const float* in, float* out, int64_t rows, int64_t c, const float* k, const float* m) {
    const int64_t chunks = (rows + kRowsPerChunk - 1) / kRowsPerChunk;
    parallel_for(chunks, [&](int64_t ch) {
        for (int64_t r = ch * kRowsPerChunk, e = std::min(rows, r + kRowsPerChunk); r < e; ++r) {
            const float* __restrict x = in + r * c;
            float* __restrict y = out + r * c;
            for (int64_t j = 0; j < c; ++j) y[j] = x[j] * k[j] + m[j];
        }
    });
}
/// a[j], b[j] and n summed over the processes of `comm` (in place; returns the summed n).
double sync_sums(Communicator& comm, std::vector<double>& a, std::vector<double>& b, double n) {
    thread_local std::vector<double> buf;
    const size_t c = a.size();
    buf.resize(2 * c + 1);
    std::copy(a.begin(), a.end(), buf.begin());
    std::copy(b.begin(), b.end(), buf.begin() + long(c));
    buf[2 * c] = n;
    comm.sum(buf.data(), buf.size());
    std::copy(buf.begin(), buf.begin() + long(c), a.begin());
    std::copy(buf.begin() + long(c), buf.begin() + long(2 * c), b.begin());
    return buf[2 * c];
}
}  // namespace

void BatchNorm::forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) {
    if (x.outerStride() != x.cols()) throw Error("batch_normalization: input rows must be contiguous");
    const int64_t c = channels_, rows = x.rows() * (x.cols() / c);
    y.resize(x.rows(), x.cols());
    batch_stats_ = ctx.training && trainable();
    RowVector& a = aff_a_;
    RowVector& b = aff_b_;
    if (!batch_stats_) {
        inference_affine(a, b);
        affine_rows(x.data(), y.data(), rows, c, a.data(), b.data());
        return;
    }
    // Sums in double, per chunk of rows: a channel summed over a batch of images loses float digits.
    const float* xd = x.data();
    std::vector<double>& sum = sum_;
    std::vector<double>& sq = sq_;
    channel_sums(rows, c, sum, sq, [&](int64_t r, double* __restrict s1, double* __restrict s2) {
        const float* __restrict v = xd + r * c;
        for (int64_t j = 0; j < c; ++j) s1[j] += v[j], s2[j] += double(v[j]) * v[j];
    });
    double n = double(rows);
    comm_ = ctx.comm && ctx.comm->size() > 1 ? ctx.comm : nullptr;
    if (comm_) n = sync_sums(*comm_, sum, sq, n);  // Keras' synchronized=True: the whole batch's statistics
    rows_b_ = n;
    mean_b_.resize(1, c);
    inv_.resize(1, c);
    a.resize(1, c);
    b.resize(1, c);
    const float mom = float(opt_.momentum);
    for (int64_t j = 0; j < c; ++j) {
        const double m = sum[size_t(j)] / n, var = std::max(0.0, sq[size_t(j)] / n - m * m);
        mean_b_(j) = float(m);
        inv_(j) = float(1.0 / std::sqrt(var + opt_.epsilon));
        const float g = opt_.scale ? gamma_(0, j) : 1.0f;
        a(j) = g * inv_(j);
        b(j) = (opt_.center ? beta_(0, j) : 0.0f) - float(m) * a(j);
        mean_(0, j) = mean_(0, j) * mom + float(m) * (1.0f - mom);
        var_(0, j) = var_(0, j) * mom + float(var) * (1.0f - mom);
    }
    affine_rows(xd, y.data(), rows, c, a.data(), b.data());
}

void BatchNorm::backward(const ConstView& x, const ConstView&, const ConstView& dy, Matrix* dx) {
    const int64_t c = channels_, rows = x.rows() * (x.cols() / c);
    const float* xd = x.data();
    const float* g = dy.data();
    // The statistics the forward pass used, and x̂ = (x − mean)·inv recomputed from x (cheaper than
    // keeping it: one read of x instead of a write and a read of x̂).
    RowVector& mean = bw_mean_;
    RowVector& inv = bw_inv_;
    if (batch_stats_) mean = mean_b_, inv = inv_;
    else mean = mean_, inv = (var_.array() + float(opt_.epsilon)).rsqrt().matrix();
    std::vector<double>& sdy = sum_;
    std::vector<double>& sdyx = sq_;
    if (trainable() || batch_stats_)
        channel_sums(rows, c, sdy, sdyx, [&](int64_t r, double* __restrict s1, double* __restrict s2) {
            const float* __restrict v = xd + r * c;
            const float* __restrict d = g + r * c;
            const float* __restrict mu = mean.data();
            const float* __restrict iv = inv.data();
            for (int64_t j = 0; j < c; ++j) s1[j] += d[j], s2[j] += double(d[j]) * ((v[j] - mu[j]) * iv[j]);
        });
    if (trainable()) {
        for (int64_t j = 0; j < c; ++j) {
            if (opt_.center) gbeta_(0, j) = float(sdy[size_t(j)]);
            if (opt_.scale) ggamma_(0, j) = float(sdyx[size_t(j)]);
        }
    }
    if (!dx) return;
    dx->resize(x.rows(), x.cols());
    RowVector& k = aff_a_;
    RowVector& m1 = bw_m1_;
    RowVector& m2 = bw_m2_;
    k.resize(c), m1.resize(c), m2.resize(c);
    for (int64_t j = 0; j < c; ++j) k(j) = (opt_.scale ? gamma_(0, j) : 1.0f) * inv(j);
    if (!batch_stats_) {  // fixed statistics: a per-channel affine map, dx = dy·k
        bw_m1_.setZero(c);
        affine_rows(g, dx->data(), rows, c, k.data(), bw_m1_.data());
        return;
    }
    // dx = γ·inv · (dy − mean(dy) − x̂·mean(dy·x̂)), means over the batch and positions (the whole
    // batch's, across processes, when the statistics were; the parameter gradients above stay this
    // process's part: the trainer sums them with the others).
    if (comm_) sync_sums(*comm_, sdy, sdyx, 0.0);
    const double n = rows_b_;
    for (int64_t j = 0; j < c; ++j) m1(j) = float(sdy[size_t(j)] / n), m2(j) = float(sdyx[size_t(j)] / n);
    float* out = dx->data();
    const int64_t chunks = (rows + kRowsPerChunk - 1) / kRowsPerChunk;
    parallel_for(chunks, [&](int64_t ch) {
        const float* __restrict mu = mean.data();
        const float* __restrict iv = inv.data();
        for (int64_t r = ch * kRowsPerChunk, e = std::min(rows, r + kRowsPerChunk); r < e; ++r) {
            const float* __restrict v = xd + r * c;
            const float* __restrict d = g + r * c;
            float* __restrict o = out + r * c;
            for (int64_t j = 0; j < c; ++j) o[j] = k(j) * (d[j] - m1(j) - (v[j] - mu[j]) * iv[j] * m2(j));
        }
    });
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
    const int64_t c = channels_, rows = x.rows() * (x.cols() / c);
    // One position (row of c channels) at a time: mean, then the centred variance (two passes, in
    // float as Keras computes them, vectorised); no temporaries per batch.
    using Row = Eigen::Map<Eigen::ArrayXf>;
    using ConstRow = Eigen::Map<const Eigen::ArrayXf>;
    xhat_.resize(rows, c);
    inv_.resize(rows);
    y.resize(x.rows(), x.cols());
    const ConstRow g(opt_.scale ? gamma_.data() : nullptr, opt_.scale ? c : 0);
    const ConstRow be(opt_.center ? beta_.data() : nullptr, opt_.center ? c : 0);
    for (int64_t r = 0; r < rows; ++r) {
        const ConstRow v(x.data() + r * c, c);
        Row h(xhat_.data() + r * c, c), o(y.data() + r * c, c);
        const float mean = v.mean();
        h = v - mean;
        const float inv = 1.0f / std::sqrt(h.square().mean() + float(opt_.epsilon));
        inv_(r) = inv;
        h *= inv;
        if (opt_.scale && opt_.center) o = h * g + be;
        else if (opt_.scale) o = h * g;
        else if (opt_.center) o = h + be;
        else o = h;
    }
}

void LayerNorm::backward(const ConstView& x, const ConstView&, const ConstView& dy, Matrix* dx) {
    const int64_t c = channels_, rows = x.rows() * (x.cols() / c);
    using Row = Eigen::Map<Eigen::ArrayXf>;
    using ConstRow = Eigen::Map<const Eigen::ArrayXf>;
    if (opt_.center) gbeta_.setZero(1, c);
    if (opt_.scale) ggamma_.setZero(1, c);
    if (dx) dx->resize(x.rows(), x.cols());
    Row gb(opt_.center ? gbeta_.data() : nullptr, opt_.center ? c : 0);
    Row gg(opt_.scale ? ggamma_.data() : nullptr, opt_.scale ? c : 0);
    const ConstRow g(opt_.scale ? gamma_.data() : nullptr, opt_.scale ? c : 0);
    dh_.resize(c);
    for (int64_t r = 0; r < rows; ++r) {
        const ConstRow d(dy.data() + r * c, c), h(xhat_.data() + r * c, c);
        if (opt_.center) gb += d;
        if (opt_.scale) gg += d * h;
        if (!dx) continue;
        // dx̂ = dy·γ; dx = inv · (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), means over the row's channels.
        Row dh(dh_.data(), c);
        if (opt_.scale) dh = d * g;
        else dh = d;
        const float m1 = dh.mean(), m2 = (dh * h).mean();
        Row(dx->data() + r * c, c) = (dh - m1 - h * m2) * inv_(r);
    }
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
