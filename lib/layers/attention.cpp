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

Shape MultiHeadAttention::build_multi(const std::vector<Shape>& inputs, Rng& rng) {
    static const char* role[] = {"query", "value", "key"};
    for (size_t k = 0; k < inputs.size(); ++k)
        if (inputs[k].size() != 2)
            throw ConfigError(std::string("multi_head_attention expects sequences (steps, features); the ") +
                              (inputs.size() == 1 ? "input" : role[k]) + " is " + shape_str(inputs[k]));
    const Shape& q = inputs[0];
    const Shape& v = inputs.size() > 1 ? inputs[1] : q;
    const Shape& k = inputs.size() > 2 ? inputs[2] : v;
    if (k[0] != v[0])
        throw ConfigError("multi_head_attention: the key has " + std::to_string(k[0]) + " steps and the value " +
                          std::to_string(v[0]) + "; they must match");
    if (opt_.use_causal_mask && q[0] != v[0])
        throw ConfigError("multi_head_attention: use_causal_mask needs as many query steps as key steps (" +
                          std::to_string(q[0]) + " and " + std::to_string(v[0]) + ")");
    T_ = q[0], S_ = v[0], Dq_ = q[1], Dv_ = v[1], Dk_ = k[1], H_ = opt_.num_heads, K_ = opt_.key_dim;
    V_ = opt_.value_dim > 0 ? opt_.value_dim : K_;
    O_ = opt_.output_dim > 0 ? opt_.output_dim : Dq_;
    wq_.resize(Dq_, H_ * K_), wk_.resize(Dk_, H_ * K_), wv_.resize(Dv_, H_ * V_), wo_.resize(H_ * V_, O_);
    init_kernel(wq_, opt_.kernel_initializer, Dq_, H_, K_, rng);
    init_kernel(wk_, opt_.kernel_initializer, Dk_, H_, K_, rng);
    init_kernel(wv_, opt_.kernel_initializer, Dv_, H_, V_, rng);
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
    run(x, x, x, y, ctx.mask, ctx);
}

void MultiHeadAttention::forward_multi(const std::vector<ConstView>& xs, Matrix& y, const ForwardContext& ctx) {
    const ConstView& q = xs[0];
    const ConstView& v = xs.size() > 1 ? xs[1] : xs[0];
    const ConstView& k = xs.size() > 2 ? xs[2] : v;
    // Padded keys: the key's mask, else the value's (Keras: key_mask defaults to value_mask).
    const Matrix* key_mask = ctx.mask;
    if (ctx.input_masks && xs.size() > 1) {
        const auto& m = *ctx.input_masks;
        key_mask = xs.size() > 2 && m.size() > 2 && m[2] ? m[2] : m.size() > 1 ? m[1] : nullptr;
    }
    run(q, k, v, y, key_mask, ctx);
}

void MultiHeadAttention::run(const ConstView& xq, const ConstView& xk, const ConstView& xv, Matrix& y,
                             const Matrix* key_mask, const ForwardContext& ctx) {
    const int64_t B = xq.rows(), T = T_, S = S_, H = H_, K = K_, V = V_;
    const float* no_bias = nullptr;
    matmul(rows_of(xq, B * T, Dq_, qbuf_), wq_, q_, opt_.use_bias ? bq_.data() : no_bias);
    matmul(rows_of(xk, B * S, Dk_, kbuf_), wk_, k_, opt_.use_bias ? bk_.data() : no_bias);
    matmul(rows_of(xv, B * S, Dv_, vbuf_), wv_, v_, opt_.use_bias ? bv_.data() : no_bias);
    p_.resize(B * H * T, S);
    c_.resize(B * T, H * V);
    kt_.resize(B * H * K, S);
    const int64_t HK = H * K, HV = H * V;
    dropped_ = ctx.training && opt_.dropout > 0.0;
    if (dropped_) {  // drawn in order on this thread: the same stream gives the same masks for any thread count
        if (!ctx.rng) throw Error(name() + ": training forward pass without a random generator");
        drop_.resize(B * H * T, S);
        const float keep = float(1.0 / (1.0 - opt_.dropout)), r = float(opt_.dropout);
        const SampleStreams streams(ctx);  // sample b's block: rows b·H·T .. (b+1)·H·T of drop_
        const int64_t per_sample = H * T * S;
        for (int64_t b = 0; b < B; ++b) {
            Rng rng = streams(b);
            float* d = drop_.data() + b * per_sample;
            for (int64_t i = 0; i < per_sample; ++i) d[i] = rng.uniform24() >= r ? keep : 0.0f;
        }
        a_.resize(B * H * T, S);
    }
    const Matrix* mask = key_mask && key_mask->rows() == B && key_mask->cols() == S ? key_mask : nullptr;
    const float scale = float(1.0 / std::sqrt(double(K)));
    parallel_for(B * H, [&](int64_t bh) {
        const int64_t b = bh / H, h = bh % H;
        const float* Q = q_.data() + b * T * HK + h * K;  // (T × K), row stride H·K
        const float* Kh = k_.data() + b * S * HK + h * K;  // (S × K)
        const float* Vh = v_.data() + b * S * HV + h * V;  // (S × V), row stride H·V
        auto P = p_.middleRows(bh * T, T);
        // Scores Q·Khᵀ by the small-product kernel (a general GEMM's packing dominates at head sizes):
        // Khᵀ is copied to (K × S) rows first, as the kernel reads b row by row.
        float* kt = kt_.data() + bh * K * S;
        for (int64_t j = 0; j < S; ++j)
            for (int64_t p = 0; p < K; ++p) kt[p * S + j] = Kh[j * HK + p];
        gemm(T, K, S, Q, HK, 1, kt, S, P.data(), S);
        // Softmax of each row, fused with the 1/√key_dim scale and the masks: one pass for the
        // maximum over the allowed keys, one vectorised exp, then zeros where a key is masked.
        const float* keep = mask ? mask->row(b).data() : nullptr;
        for (int64_t i = 0; i < T; ++i) {
            float* row = P.row(i).data();
            const int64_t n = opt_.use_causal_mask ? std::min(S, i + 1) : S;  // keys 0..n−1 may be seen
            Eigen::Map<Eigen::ArrayXf> r(row, S);
            float mx = -std::numeric_limits<float>::infinity();
            if (!keep) mx = r.head(n).maxCoeff();
            else
                for (int64_t j = 0; j < n; ++j) {
                    if (keep[j] != 0.0f) mx = std::max(mx, row[j]);
                    else row[j] = -std::numeric_limits<float>::infinity();  // exp → 0, never inf · 0
                }
            if (mx == -std::numeric_limits<float>::infinity()) {  // nothing to attend to: a zero row
                r.setZero();
                continue;
            }
            r.head(n) = ((r.head(n) - mx) * scale).exp();
            r.tail(S - n).setZero();
            if (keep) r.head(n) *= Eigen::Map<const Eigen::ArrayXf>(keep, n);  // masks hold 0 or 1
            r.head(n) *= 1.0f / r.head(n).sum();
        }
        float* C = c_.data() + b * T * HV + h * V;
        const float* W = P.data();
        if (dropped_) {
            auto A = a_.middleRows(bh * T, T);
            A = P.cwiseProduct(drop_.middleRows(bh * T, T));
            W = A.data();
        }
        gemm(T, S, V, W, S, 1, Vh, HV, C, HV);
    });
    matmul(c_, wo_, tmp_, opt_.use_bias ? bo_.data() : no_bias);
    y.resize(B, T * O_);
    std::copy(tmp_.data(), tmp_.data() + tmp_.size(), y.data());
}

namespace {
/// dx (batch × steps·features) = Σ d_i · w_iᵀ over the projections that read one input.
void input_gradient(std::initializer_list<std::pair<const Matrix*, const Matrix*>> terms, int64_t batch, Matrix& g,
                    Matrix& t, Matrix& dx) {
    bool first = true;
    for (auto [d, w] : terms) {
        matmul_nt(*d, *w, first ? g : t);
        if (!first) g += t;
        first = false;
    }
    dx.resize(batch, g.size() / batch);
    std::copy(g.data(), g.data() + g.size(), dx.data());
}
}  // namespace

void MultiHeadAttention::run_backward(const ConstView& xq, const ConstView& xk, const ConstView& xv, const ConstView& dy) {
    const int64_t B = xq.rows(), T = T_, S = S_, H = H_, K = K_, V = V_;
    Matrix dyb;
    const Map dY = rows_of(dy, B * T, O_, dyb);
    matmul_tn(c_, dY, gwo_);
    if (opt_.use_bias) gbo_ = dY.colwise().sum();
    matmul_nt(dY, wo_, dc_);
    dq_.resize(B * T, H * K), dk_.resize(B * S, H * K), dv_.resize(B * S, H * V);
    ds_.resize(B * H * T, S);
    const float scale = float(1.0 / std::sqrt(double(K)));
    const int64_t HK = H * K, HV = H * V;
    kt_.resize(B * H * V, S);  // reused for Vhᵀ
    parallel_for(B * H, [&](int64_t bh) {
        const int64_t b = bh / H, h = bh % H;
        const float* Q = q_.data() + b * T * HK + h * K;
        const float* Kh = k_.data() + b * S * HK + h * K;
        const float* Vh = v_.data() + b * S * HV + h * V;
        auto P = p_.middleRows(bh * T, T);
        const float* dC = dc_.data() + b * T * HV + h * V;  // (T × V), row stride H·V
        auto dA = ds_.middleRows(bh * T, T);  // dL/d(weights after dropout), then in place dL/d(scores)
        float* vt = kt_.data() + bh * V * S;
        for (int64_t j = 0; j < S; ++j)
            for (int64_t p = 0; p < V; ++p) vt[p * S + j] = Vh[j * HV + p];
        gemm(T, V, S, dC, HV, 1, vt, S, dA.data(), S);  // dC·Vhᵀ
        // dVh = (weights)ᵀ·dC: the weights read transposed (row stride 1, column stride S)
        const float* W = dropped_ ? a_.middleRows(bh * T, T).data() : P.data();
        gemm(S, T, V, W, 1, S, dC, HV, dv_.data() + b * S * HV + h * V, HV);
        if (dropped_) dA.array() *= drop_.middleRows(bh * T, T).array();
        // Softmax: dS = P ⊙ (dA − rowsum(dA ⊙ P)) · scale; masked entries have P = 0 and get none.
        for (int64_t i = 0; i < T; ++i) {
            const float dot = dA.row(i).dot(P.row(i));
            dA.row(i).array() = P.row(i).array() * (dA.row(i).array() - dot) * scale;
        }
        gemm(T, S, K, dA.data(), S, 1, Kh, HK, dq_.data() + b * T * HK + h * K, HK);  // dS·Kh
        gemm(S, T, K, dA.data(), 1, S, Q, HK, dk_.data() + b * S * HK + h * K, HK);   // dSᵀ·Q
    });
    matmul_tn(rows_of(xq, B * T, Dq_, qbuf_), dq_, gwq_);
    matmul_tn(rows_of(xk, B * S, Dk_, kbuf_), dk_, gwk_);
    matmul_tn(rows_of(xv, B * S, Dv_, vbuf_), dv_, gwv_);
    if (opt_.use_bias) {
        gbq_ = dq_.colwise().sum();
        gbk_ = dk_.colwise().sum();
        gbv_ = dv_.colwise().sum();
    }
}

void MultiHeadAttention::backward(const ConstView& x, const ConstView&, const ConstView& dy, Matrix* dx) {
    run_backward(x, x, x, dy);
    if (dx) input_gradient({{&dq_, &wq_}, {&dk_, &wk_}, {&dv_, &wv_}}, x.rows(), gq_, tmp_, *dx);
}

void MultiHeadAttention::backward_multi(const std::vector<ConstView>& xs, const ConstView&, const ConstView& dy,
                                        const std::vector<Matrix*>& dxs) {
    const ConstView& q = xs[0];
    const ConstView& v = xs.size() > 1 ? xs[1] : xs[0];
    const ConstView& k = xs.size() > 2 ? xs[2] : v;
    run_backward(q, k, v, dy);
    const int64_t B = q.rows();
    if (xs.size() == 1) {  // self-attention given as one named input
        if (dxs[0]) input_gradient({{&dq_, &wq_}, {&dk_, &wk_}, {&dv_, &wv_}}, B, gq_, tmp_, *dxs[0]);
        return;
    }
    if (dxs[0]) input_gradient({{&dq_, &wq_}}, B, gq_, tmp_, *dxs[0]);
    if (dxs[1]) {  // the value's gradient, plus the key's when the key is the value
        if (xs.size() == 2) input_gradient({{&dv_, &wv_}, {&dk_, &wk_}}, B, gv_, tmp_, *dxs[1]);
        else input_gradient({{&dv_, &wv_}}, B, gv_, tmp_, *dxs[1]);
    }
    if (xs.size() > 2 && dxs[2]) input_gradient({{&dk_, &wk_}}, B, gk_, tmp_, *dxs[2]);
}

Matrix MultiHeadAttention::scores(int64_t b, int64_t h) const { return p_.middleRows((b * H_ + h) * T_, T_); }

std::vector<ParamRef> MultiHeadAttention::params() {
    const bool t = trainable();
    std::vector<ParamRef> p = {
        {name() + ".query.kernel", &wq_, &gwq_, &opt_.kernel_regularizer, t, {Dq_, H_, K_}},
        {name() + ".key.kernel", &wk_, &gwk_, &opt_.kernel_regularizer, t, {Dk_, H_, K_}},
        {name() + ".value.kernel", &wv_, &gwv_, &opt_.kernel_regularizer, t, {Dv_, H_, V_}},
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
    s.doc = "Attention over (steps, features) with num_heads heads, as Keras' MultiHeadAttention: self-attention, or inputs: [query, value(, key)]";
    s.options = {
        opt_int("num_heads", 1, "attention heads").needed("the number of heads").range(1, 4096),
        opt_int("key_dim", 1, "size of each head's query and key").needed("each head's query/key size").range(1, 1'000'000),
        opt_int("value_dim", 0, "size of each head's value (null: key_dim)").range(1, 1'000'000).or_null(),
        opt_number("dropout", 0.0, "dropout rate on the attention weights in training").range(0.0, 1.0, false, true),
        opt_bool("use_bias", true, "add biases to the projections"),
        opt_int("output_shape", 0, "output features per step (null: the query's)").range(1, 1'000'000).or_null(),
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

Shape SinePositionEncoding::build(const Shape& input, Rng&) {
    if (input.size() != 2)
        throw ConfigError("sine_position_encoding expects a sequence (steps, features), got " + shape_str(input));
    shape_ = input;
    const int64_t T = input[0], F = input[1];
    table_.resize(T * F);
    for (int64_t t = 0; t < T; ++t)
        for (int64_t f = 0; f < F; ++f) {
            // keras-hub: timescale = (1 / max_wavelength)^(2·(f div 2) / F); even features sin, odd cos
            const double angle = double(t) * std::pow(1.0 / wavelength_, double(2 * (f / 2)) / double(F));
            table_(t * F + f) = float(f % 2 == 0 ? std::sin(angle) : std::cos(angle));
        }
    return input;
}

void SinePositionEncoding::forward(const ConstView& x, Matrix& y, const ForwardContext&) {
    y.resize(x.rows(), x.cols());
    y = x.rowwise() + table_;
}

void SinePositionEncoding::backward(const ConstView&, const ConstView&, const ConstView& dy, Matrix* dx) {
    if (dx) *dx = dy;
}

LayerSchema SinePositionEncoding::schema() {
    LayerSchema s;
    s.type = "sine_position_encoding";
    s.doc = "Adds the fixed sinusoidal position encoding to (steps, features) inputs (keras-hub's SinePositionEncoding)";
    s.options = {opt_number("max_wavelength", 10000, "the longest wavelength of the sinusoids").range(1, 1e12)};
    s.make = [](const LayerOptions& o) -> std::unique_ptr<Layer> {
        return std::make_unique<SinePositionEncoding>(o.number("max_wavelength"));
    };
    return s;
}

// ---- TransformerEncoder ---------------------------------------------------------------------------

namespace {
LayerNorm::Options norm_options(double eps) {
    LayerNorm::Options o;
    o.epsilon = eps;
    return o;
}
MultiHeadAttention::Options attention_options(const TransformerEncoder::Options& e) {
    MultiHeadAttention::Options o;
    o.num_heads = e.num_heads;
    o.dropout = e.dropout;
    o.kernel_initializer = e.kernel_initializer;
    o.bias_initializer = e.bias_initializer;
    return o;
}
}  // namespace

TransformerEncoder::TransformerEncoder(Options o)
    : opt_(std::move(o)),
      attn_(attention_options(opt_)),
      norm1_(norm_options(opt_.layer_norm_epsilon)),
      norm2_(norm_options(opt_.layer_norm_epsilon)),
      drop1_(opt_.dropout),
      drop2_(opt_.dropout) {}

Shape TransformerEncoder::build(const Shape& input, Rng& rng) {
    if (input.size() != 2)
        throw ConfigError("transformer_encoder expects a sequence (steps, features), got " + shape_str(input));
    T_ = input[0], D_ = input[1];
    if (D_ < opt_.num_heads)
        throw ConfigError("transformer_encoder: " + std::to_string(opt_.num_heads) + " heads need at least as many "
                          "features, the input has " + std::to_string(D_));
    shape_ = input;
    MultiHeadAttention::Options a = attention_options(opt_);
    a.key_dim = D_ / opt_.num_heads;  // as keras-hub: hidden_dim // num_heads
    attn_ = MultiHeadAttention(a);
    params();  // names the parts
    attn_.build(input, rng);
    norm1_.build(input, rng);
    norm2_.build(input, rng);
    drop1_.build(input, rng);
    drop2_.build(input, rng);
    const int64_t I = opt_.intermediate_dim;
    w1_.resize(D_, I), w2_.resize(I, D_), b1_.resize(1, I), b2_.resize(1, D_);
    initialize(w1_, opt_.kernel_initializer, D_, I, rng);
    initialize(b1_, opt_.bias_initializer, D_, I, rng);
    initialize(w2_, opt_.kernel_initializer, I, D_, rng);
    initialize(b2_, opt_.bias_initializer, I, D_, rng);
    gw1_.setZero(D_, I), gb1_.setZero(1, I), gw2_.setZero(I, D_), gb2_.setZero(1, D_);
    return input;
}

void TransformerEncoder::forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) {
    const int64_t B = x.rows(), N = T_ * D_;
    const bool drop = opt_.dropout > 0.0;  // without dropout its copies are skipped
    // Attention block: h = x + dropout(attention(norm_first ? norm(x) : x)), normalized after unless norm_first.
    if (opt_.norm_first) {
        norm1_.forward(x, n1_, ctx);
        attn_.forward(n1_, a_, ctx);
    } else {
        attn_.forward(x, a_, ctx);
    }
    if (drop) drop1_.forward(a_, ad_, ctx);
    h_ = (drop ? ad_ : a_) + x;
    const Matrix* h = &h_;
    if (!opt_.norm_first) {
        norm1_.forward(h_, hn_, ctx);
        h = &hn_;
    }
    // Feed-forward block on every step.
    const Matrix* fin = h;
    if (opt_.norm_first) {
        norm2_.forward(*h, n2_, ctx);
        fin = &n2_;
    }
    const Map F(fin->data(), B * T_, D_);
    matmul(F, w1_, z1_, b1_.data());
    opt_.activation.forward(z1_, y1_);
    matmul(y1_, w2_, t1_, b2_.data());
    f_.resize(B, N);
    std::copy(t1_.data(), t1_.data() + t1_.size(), f_.data());
    if (drop) drop2_.forward(f_, fd_, ctx);
    o_ = (drop ? fd_ : f_) + *h;
    if (opt_.norm_first) y = o_;
    else norm2_.forward(o_, y, ctx);
}

void TransformerEncoder::backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) {
    const int64_t B = x.rows(), N = T_ * D_;
    const bool drop = opt_.dropout > 0.0;
    const Matrix* h = opt_.norm_first ? &h_ : &hn_;
    // Output: o = fd + h (then norm2 unless norm_first).
    if (opt_.norm_first) d_o_ = dy;
    else norm2_.backward(o_, y, dy, &d_o_);
    if (drop) drop2_.backward(f_, fd_, d_o_, &g1_);  // dL/df
    const Matrix& df = drop ? g1_ : d_o_;
    const Map dF(df.data(), B * T_, D_);
    const Matrix* fin = opt_.norm_first ? &n2_ : h;
    const Map F(fin->data(), B * T_, D_);
    matmul_tn(y1_, dF, gw2_);
    gb2_ = dF.colwise().sum();
    matmul_nt(dF, w2_, dy1_);
    opt_.activation.backward(z1_, y1_, dy1_, dz1_);
    matmul_tn(F, dz1_, gw1_);
    gb1_ = dz1_.colwise().sum();
    matmul_nt(dz1_, w1_, t1_);  // dL/d(feed-forward input), (B·T × D)
    d_h_.resize(B, N);
    std::copy(t1_.data(), t1_.data() + t1_.size(), d_h_.data());
    if (opt_.norm_first) {
        norm2_.backward(*h, n2_, d_h_, &g2_);
        d_h_.swap(g2_);
    }
    d_h_ += d_o_;  // the residual
    // Attention block: h = ad + x (then norm1 unless norm_first).
    const Matrix* d_hpre = &d_h_;
    if (!opt_.norm_first) {
        norm1_.backward(h_, hn_, d_h_, &d_hpre_);
        d_hpre = &d_hpre_;
    }
    if (drop) drop1_.backward(a_, ad_, *d_hpre, &g3_);
    const Matrix& da = drop ? g3_ : *d_hpre;
    if (opt_.norm_first) {
        attn_.backward(n1_, a_, da, &g4_);
        norm1_.backward(x, n1_, g4_, &g2_);
        if (dx) *dx = g2_ + *d_hpre;
    } else {
        attn_.backward(x, a_, da, dx ? &g4_ : nullptr);
        if (dx) *dx = g4_ + *d_hpre;
    }
}

std::vector<ParamRef> TransformerEncoder::params() {
    attn_.set_name(name() + ".self_attention");
    norm1_.set_name(name() + ".self_attention_layer_norm");
    norm2_.set_name(name() + ".feedforward_layer_norm");
    std::vector<ParamRef> p = attn_.params();
    for (auto* n : {&norm1_, &norm2_})
        for (auto& q : n->params()) p.push_back(q);
    p.push_back({name() + ".feedforward_intermediate_dense.kernel", &w1_, &gw1_, &none_, true});
    p.push_back({name() + ".feedforward_intermediate_dense.bias", &b1_, &gb1_, &none_, true});
    p.push_back({name() + ".feedforward_output_dense.kernel", &w2_, &gw2_, &none_, true});
    p.push_back({name() + ".feedforward_output_dense.bias", &b2_, &gb2_, &none_, true});
    for (auto& q : p) q.trainable = trainable();
    return p;
}

LayerSchema TransformerEncoder::schema() {
    LayerSchema s;
    s.type = "transformer_encoder";
    s.doc = "Self-attention + feed-forward block with residuals and layer norms over (steps, features), as keras-hub's";
    s.options = {
        opt_int("intermediate_dim", 0, "width of the feed-forward layer").needed("the feed-forward width").range(1, 1'000'000),
        opt_int("num_heads", 1, "attention heads (each features / num_heads wide)").needed("the number of heads").range(1, 4096),
        opt_number("dropout", 0.0, "dropout rate after attention and feed-forward, and on the attention weights")
            .range(0.0, 1.0, false, true),
        opt_activation("activation", "relu", "the feed-forward layer's activation"),
        opt_number("layer_norm_epsilon", 1e-5, "layer normalization's epsilon").range(0.0, 1.0, true, false),
        opt_bool("norm_first", false, "normalize before each block (pre-norm) instead of after"),
        opt_initializer("kernel_initializer", "glorot_uniform", "initial kernels"),
        opt_initializer("bias_initializer", "zeros", "initial biases"),
    };
    s.make = [](const LayerOptions& o) -> std::unique_ptr<Layer> {
        Options e;
        e.intermediate_dim = o.integer("intermediate_dim");
        e.num_heads = o.integer("num_heads");
        e.dropout = o.number("dropout");
        e.activation = o.activation("activation");
        e.layer_norm_epsilon = o.number("layer_norm_epsilon");
        e.norm_first = o.flag("norm_first");
        e.kernel_initializer = o.initializer("kernel_initializer");
        e.bias_initializer = o.initializer("bias_initializer");
        return std::make_unique<TransformerEncoder>(e);
    };
    return s;
}

}  // namespace nnctl
