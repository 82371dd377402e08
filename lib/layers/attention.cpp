#include "layers/attention.hpp"

#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "layers/registry.hpp"

namespace nnctl {

namespace {
using Map = Eigen::Map<const Matrix>;

Map rows_of(const ConstView& x, int64_t rows, int64_t cols, Matrix& buf) {
    if (x.outerStride() == x.cols()) return Map(x.data(), rows, cols);
    buf = x;
    return Map(buf.data(), rows, cols);
}

/// Keras' fans for an EinsumDense kernel of shape (..., in, out): the leading dimensions count as a
/// receptive field, as for a convolution kernel.
void init_kernel(Matrix& w, const InitializerSpec& spec, int64_t a, int64_t b, int64_t c, Rng& rng) {
    initialize(w, spec, b * a, c * a, rng);
}
}  // namespace

// ---- MultiHeadAttention ---------------------------------------------------------------------------

Shape MultiHeadAttention::build(const Shape& input, Rng& rng) {
    if (input.size() != 2)
        throw ConfigError("multi_head_attention expects a sequence (steps, features), got " + shape_str(input));
    T_ = input[0], D_ = input[1], H_ = opt_.num_heads, K_ = opt_.key_dim;
    V_ = opt_.value_dim > 0 ? opt_.value_dim : K_;
    O_ = opt_.output_dim > 0 ? opt_.output_dim : D_;
    wq_.resize(D_, H_ * K_), wk_.resize(D_, H_ * K_), wv_.resize(D_, H_ * V_), wo_.resize(H_ * V_, O_);
    init_kernel(wq_, opt_.kernel_initializer, D_, H_, K_, rng);
    init_kernel(wk_, opt_.kernel_initializer, D_, H_, K_, rng);
    init_kernel(wv_, opt_.kernel_initializer, D_, H_, V_, rng);
    init_kernel(wo_, opt_.kernel_initializer, H_, V_, O_, rng);
    bq_.resize(1, H_ * K_), bk_.resize(1, H_ * K_), bv_.resize(1, H_ * V_), bo_.resize(1, O_);
    for (Matrix* b : {&bq_, &bk_, &bv_, &bo_}) initialize(*b, opt_.bias_initializer, b->cols(), b->cols(), rng);
    if (!opt_.use_bias)
        for (Matrix* b : {&bq_, &bk_, &bv_, &bo_}) b->setZero();
    for (auto [w, g] : {std::pair{&wq_, &gwq_}, {&wk_, &gwk_}, {&wv_, &gwv_}, {&wo_, &gwo_}, {&bq_, &gbq_},
                        {&bk_, &gbk_}, {&bv_, &gbv_}, {&bo_, &gbo_}})
        g->setZero(w->rows(), w->cols());
    return {T_, O_};
}

void MultiHeadAttention::forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) {
    const int64_t B = x.rows(), T = T_, H = H_, K = K_, V = V_;
    const Map X = rows_of(x, B * T, D_, xbuf_);
    const float* no_bias = nullptr;
    matmul(X, wq_, q_, opt_.use_bias ? bq_.data() : no_bias);
    matmul(X, wk_, k_, opt_.use_bias ? bk_.data() : no_bias);
    matmul(X, wv_, v_, opt_.use_bias ? bv_.data() : no_bias);
    p_.resize(B * H * T, T);
    c_.resize(B * T, H * V);
    dropped_ = ctx.training && opt_.dropout > 0.0;
    if (dropped_) {  // drawn in order on this thread: the same stream gives the same masks for any thread count
        if (!ctx.rng) throw Error(name() + ": training forward pass without a random generator");
        drop_.resize(B * H * T, T);
        const float keep = float(1.0 / (1.0 - opt_.dropout)), r = float(opt_.dropout);
        for (Eigen::Index i = 0; i < drop_.size(); ++i) drop_.data()[i] = ctx.rng->uniform24() >= r ? keep : 0.0f;
        a_.resize(B * H * T, T);
    }
    const Matrix* mask = ctx.mask && ctx.mask->rows() == B && ctx.mask->cols() == T ? ctx.mask : nullptr;
    const float scale = float(1.0 / std::sqrt(double(K)));
    parallel_for(B * H, [&](int64_t bh) {
        const int64_t b = bh / H, h = bh % H;
        auto Q = q_.block(b * T, h * K, T, K);
        auto Kh = k_.block(b * T, h * K, T, K);
        auto Vh = v_.block(b * T, h * V, T, V);
        auto P = p_.middleRows(bh * T, T);
        P.noalias() = (Q * Kh.transpose()) * scale;
        for (int64_t i = 0; i < T; ++i) {
            float mx = -std::numeric_limits<float>::infinity();
            for (int64_t j = 0; j < T; ++j) {
                const bool off = (mask && (*mask)(b, j) == 0.0f) || (opt_.use_causal_mask && j > i);
                if (off) P(i, j) = -std::numeric_limits<float>::infinity();
                else mx = std::max(mx, P(i, j));
            }
            if (mx == -std::numeric_limits<float>::infinity()) {  // nothing to attend to: a zero row
                P.row(i).setZero();
                continue;
            }
            float sum = 0.0f;
            for (int64_t j = 0; j < T; ++j) {
                const float e = P(i, j) == -std::numeric_limits<float>::infinity() ? 0.0f : std::exp(P(i, j) - mx);
                P(i, j) = e;
                sum += e;
            }
            P.row(i) /= sum;
        }
        auto C = c_.block(b * T, h * V, T, V);
        if (dropped_) {
            auto A = a_.middleRows(bh * T, T);
            A = P.cwiseProduct(drop_.middleRows(bh * T, T));
            C.noalias() = A * Vh;
        } else {
            C.noalias() = P * Vh;
        }
    });
    Matrix out;
    matmul(c_, wo_, out, opt_.use_bias ? bo_.data() : no_bias);
    y.resize(B, T * O_);
    std::copy(out.data(), out.data() + out.size(), y.data());
}

void MultiHeadAttention::backward(const ConstView& x, const ConstView&, const ConstView& dy, Matrix* dx) {
    const int64_t B = x.rows(), T = T_, H = H_, K = K_, V = V_;
    const Map X = rows_of(x, B * T, D_, xbuf_);
    Matrix dyb;
    const Map dY = rows_of(dy, B * T, O_, dyb);
    matmul_tn(c_, dY, gwo_);
    if (opt_.use_bias) gbo_ = dY.colwise().sum();
    matmul_nt(dY, wo_, dc_);
    dq_.resize(B * T, H * K), dk_.resize(B * T, H * K), dv_.resize(B * T, H * V);
    const float scale = float(1.0 / std::sqrt(double(K)));
    parallel_for(B * H, [&](int64_t bh) {
        const int64_t b = bh / H, h = bh % H;
        auto Q = q_.block(b * T, h * K, T, K);
        auto Kh = k_.block(b * T, h * K, T, K);
        auto Vh = v_.block(b * T, h * V, T, V);
        auto P = p_.middleRows(bh * T, T);
        auto dC = dc_.block(b * T, h * V, T, V);
        Matrix dA = dC * Vh.transpose();  // dL/d(weights after dropout)
        if (dropped_) {
            dv_.block(b * T, h * V, T, V).noalias() = a_.middleRows(bh * T, T).transpose() * dC;
            dA = dA.cwiseProduct(drop_.middleRows(bh * T, T));
        } else {
            dv_.block(b * T, h * V, T, V).noalias() = P.transpose() * dC;
        }
        // Softmax: dS = P ⊙ (dA − rowsum(dA ⊙ P)); masked entries have P = 0 and get none.
        const Eigen::VectorXf dot = dA.cwiseProduct(P).rowwise().sum();
        Matrix dS = (P.array() * (dA.colwise() - dot).array()).matrix() * scale;
        dq_.block(b * T, h * K, T, K).noalias() = dS * Kh;
        dk_.block(b * T, h * K, T, K).noalias() = dS.transpose() * Q;
    });
    matmul_tn(X, dq_, gwq_);
    matmul_tn(X, dk_, gwk_);
    matmul_tn(X, dv_, gwv_);
    if (opt_.use_bias) {
        gbq_ = dq_.colwise().sum();
        gbk_ = dk_.colwise().sum();
        gbv_ = dv_.colwise().sum();
    }
    if (dx) {
        Matrix g, t;
        matmul_nt(dq_, wq_, g);
        matmul_nt(dk_, wk_, t);
        g += t;
        matmul_nt(dv_, wv_, t);
        g += t;
        dx->resize(B, T * D_);
        std::copy(g.data(), g.data() + g.size(), dx->data());
    }
}

Matrix MultiHeadAttention::scores(int64_t b, int64_t h) const { return p_.middleRows((b * H_ + h) * T_, T_); }

std::vector<ParamRef> MultiHeadAttention::params() {
    const bool t = trainable();
    std::vector<ParamRef> p = {
        {name() + ".query.kernel", &wq_, &gwq_, &opt_.kernel_regularizer, t, {D_, H_, K_}},
        {name() + ".key.kernel", &wk_, &gwk_, &opt_.kernel_regularizer, t, {D_, H_, K_}},
        {name() + ".value.kernel", &wv_, &gwv_, &opt_.kernel_regularizer, t, {D_, H_, V_}},
        {name() + ".attention_output.kernel", &wo_, &gwo_, &opt_.kernel_regularizer, t, {H_, V_, O_}},
    };
    if (opt_.use_bias) {
        p.push_back({name() + ".query.bias", &bq_, &gbq_, &opt_.bias_regularizer, t, {H_, K_}});
        p.push_back({name() + ".key.bias", &bk_, &gbk_, &opt_.bias_regularizer, t, {H_, K_}});
        p.push_back({name() + ".value.bias", &bv_, &gbv_, &opt_.bias_regularizer, t, {H_, V_}});
        p.push_back({name() + ".attention_output.bias", &bo_, &gbo_, &opt_.bias_regularizer, t, {O_}});
    }
    return p;
}

LayerSchema MultiHeadAttention::schema() {
    LayerSchema s;
    s.type = "multi_head_attention";
    s.doc = "Self-attention over (steps, features) with num_heads heads, as Keras' MultiHeadAttention";
    s.options = {
        opt_int("num_heads", 1, "attention heads").needed("the number of heads").range(1, 4096),
        opt_int("key_dim", 1, "size of each head's query and key").needed("each head's query/key size").range(1, 1'000'000),
        opt_int("value_dim", 0, "size of each head's value (null: key_dim)").range(1, 1'000'000).or_null(),
        opt_number("dropout", 0.0, "dropout rate on the attention weights in training").range(0.0, 1.0, false, true),
        opt_bool("use_bias", true, "add biases to the projections"),
        opt_int("output_shape", 0, "output features per step (null: the input's)").range(1, 1'000'000).or_null(),
        opt_bool("use_causal_mask", false, "a step attends only to itself and earlier steps"),
        opt_initializer("kernel_initializer", "glorot_uniform", "initial projection kernels"),
        opt_initializer("bias_initializer", "zeros", "initial biases"),
        opt_regularizer("kernel_regularizer", "penalty on the kernels"),
        opt_regularizer("bias_regularizer", "penalty on the biases"),
    };
    s.make = [](const LayerOptions& o) -> std::unique_ptr<Layer> {
        Options m;
        m.num_heads = o.integer("num_heads");
        m.key_dim = o.integer("key_dim");
        m.value_dim = o.is_null("value_dim") ? 0 : o.integer("value_dim");
        m.output_dim = o.is_null("output_shape") ? 0 : o.integer("output_shape");
        m.dropout = o.number("dropout");
        m.use_bias = o.flag("use_bias");
        m.use_causal_mask = o.flag("use_causal_mask");
        m.kernel_initializer = o.initializer("kernel_initializer");
        m.bias_initializer = o.initializer("bias_initializer");
        m.kernel_regularizer = o.regularizer("kernel_regularizer");
        m.bias_regularizer = o.regularizer("bias_regularizer");
        return std::make_unique<MultiHeadAttention>(m);
    };
    return s;
}

// ---- PositionEmbedding ----------------------------------------------------------------------------

Shape PositionEmbedding::build(const Shape& input, Rng& rng) {
    if (input.size() != 2)
        throw ConfigError("position_embedding expects a sequence (steps, features), got " + shape_str(input));
    if (input[0] > len_)
        throw ConfigError("position_embedding: the input has " + std::to_string(input[0]) +
                          " steps, more than sequence_length " + std::to_string(len_));
    shape_ = input;
    w_.resize(len_, input[1]);
    initialize(w_, init_, len_, input[1], rng);
    gw_.setZero(len_, input[1]);
    return input;
}

void PositionEmbedding::forward(const ConstView& x, Matrix& y, const ForwardContext&) {
    const int64_t n = shape_[0] * shape_[1];
    y.resize(x.rows(), n);
    const Map pos(w_.data(), 1, n);
    for (Eigen::Index b = 0; b < x.rows(); ++b) y.row(b) = x.row(b) + pos;
}

void PositionEmbedding::backward(const ConstView&, const ConstView&, const ConstView& dy, Matrix* dx) {
    const int64_t n = shape_[0] * shape_[1];
    gw_.setZero();
    Eigen::Map<Matrix>(gw_.data(), 1, n) = dy.colwise().sum();
    if (dx) *dx = dy;
}

std::vector<ParamRef> PositionEmbedding::params() {
    return {{name() + ".embeddings", &w_, &gw_, &none_, trainable()}};
}

LayerSchema PositionEmbedding::schema() {
    LayerSchema s;
    s.type = "position_embedding";
    s.doc = "Adds a learned vector per position to (steps, features) inputs (keras-hub's PositionEmbedding)";
    s.options = {
        opt_int("sequence_length", 0, "most steps an input may have").needed("the longest sequence").range(1, 1'000'000),
        opt_initializer("initializer", "glorot_uniform", "initial position vectors"),
    };
    s.make = [](const LayerOptions& o) -> std::unique_ptr<Layer> {
        return std::make_unique<PositionEmbedding>(o.integer("sequence_length"), o.initializer("initializer"));
    };
    return s;
}

}  // namespace nnctl
