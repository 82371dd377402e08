// Attention: multi_head_attention's forward pass against a plain double loop over Keras' einsum
// equations (with padding and causal masks), its weight names and shapes, and position_embedding.
#include <doctest/doctest.h>

#include <cmath>

#include "config/parse.hpp"
#include "config/registry.hpp"
#include "core/error.hpp"
#include "layers/attention.hpp"
#include "support/gradcheck.hpp"

using namespace nnctl;

namespace {

Matrix* param(Layer& l, const std::string& name, Shape* shape = nullptr) {
    for (auto& p : l.params())
        if (p.name == name) {
            if (shape) *shape = p.shape;
            return p.value;
        }
    FAIL("no parameter " << name);
    return nullptr;
}

}  // namespace

TEST_CASE("multi_head_attention matches Keras' equations, with padding and causal masks") {
    const int B = 2, T = 4, D = 3, H = 2, K = 3, V = 2, O = 5;
    for (bool causal : {false, true}) {
        MultiHeadAttention::Options o;
        o.num_heads = H, o.key_dim = K, o.value_dim = V, o.output_dim = O, o.use_causal_mask = causal;
        o.bias_initializer.type = "random_uniform";
        MultiHeadAttention m(o);
        m.set_name("mha");
        Rng rng(5);
        REQUIRE(m.build({T, D}, rng) == Shape{T, O});
        Shape s;
        param(m, "mha.query.kernel", &s);
        CHECK(s == Shape{D, H, K});
        param(m, "mha.value.bias", &s);
        CHECK(s == Shape{H, V});
        param(m, "mha.attention_output.kernel", &s);
        CHECK(s == Shape{H, V, O});
        const Matrix x = test::random_matrix(B, T * D, 9);
        Matrix mask = Matrix::Ones(B, T);
        mask(1, 3) = 0, mask(1, 2) = 0;  // sample 1: the last two steps are padding
        ForwardContext ctx;
        ctx.mask = &mask;
        Matrix y;
        m.forward(x, y, ctx);
        // q[t,h,k] = Σ_d x[t,d] Wq[d,h,k] + bq[h,k]; s = q·k / √K; a = softmax over unmasked keys;
        // c[t,h,v] = Σ_j a[t,j] v[j,h,v]; y[t,o] = Σ_{h,v} c[t,h,v] Wo[h,v,o] + bo[o].
        const Matrix &wq = *param(m, "mha.query.kernel"), &wk = *param(m, "mha.key.kernel"),
                     &wv = *param(m, "mha.value.kernel"), &wo = *param(m, "mha.attention_output.kernel");
        const Matrix &bq = *param(m, "mha.query.bias"), &bk = *param(m, "mha.key.bias"), &bv = *param(m, "mha.value.bias"),
                     &bo = *param(m, "mha.attention_output.bias");
        for (int b = 0; b < B; ++b) {
            auto X = [&](int t, int d) { return double(x(b, t * D + d)); };
            std::vector<double> q(T * H * K), k(T * H * K), v(T * H * V), c(T * H * V, 0.0);
            for (int t = 0; t < T; ++t)
                for (int h = 0; h < H; ++h) {
                    for (int j = 0; j < K; ++j) {
                        double sq = bq(0, h * K + j), sk = bk(0, h * K + j);
                        for (int d = 0; d < D; ++d) sq += X(t, d) * wq(d, h * K + j), sk += X(t, d) * wk(d, h * K + j);
                        q[(t * H + h) * K + j] = sq, k[(t * H + h) * K + j] = sk;
                    }
                    for (int j = 0; j < V; ++j) {
                        double sv = bv(0, h * V + j);
                        for (int d = 0; d < D; ++d) sv += X(t, d) * wv(d, h * V + j);
                        v[(t * H + h) * V + j] = sv;
                    }
                }
            for (int h = 0; h < H; ++h) {
                const Matrix a = m.scores(b, h);
                for (int t = 0; t < T; ++t) {
                    std::vector<double> e(T, 0.0);
                    double sum = 0.0;
                    for (int j = 0; j < T; ++j) {
                        if (mask(b, j) == 0 || (causal && j > t)) continue;
                        double dot = 0.0;
                        for (int i = 0; i < K; ++i) dot += q[(t * H + h) * K + i] * k[(j * H + h) * K + i];
                        e[size_t(j)] = std::exp(dot / std::sqrt(double(K)));
                        sum += e[size_t(j)];
                    }
                    for (int j = 0; j < T; ++j) {
                        CHECK(a(t, j) == doctest::Approx(e[size_t(j)] / sum).epsilon(1e-4));
                        for (int i = 0; i < V; ++i) c[(t * H + h) * V + i] += e[size_t(j)] / sum * v[(j * H + h) * V + i];
                    }
                }
            }
            for (int t = 0; t < T; ++t)
                for (int j = 0; j < O; ++j) {
                    double out = bo(0, j);
                    for (int h = 0; h < H; ++h)
                        for (int i = 0; i < V; ++i) out += c[(t * H + h) * V + i] * wo(h * V + i, j);
                    CHECK(y(b, t * O + j) == doctest::Approx(out).epsilon(1e-4));
                }
        }
        if (causal) CHECK(m.scores(0, 1)(0, 1) == 0.0f);  // the first step sees only itself
        CHECK(m.scores(1, 0)(0, 3) == 0.0f);            // padding gets no weight
    }
}

TEST_CASE("attention layers in a config: defaults, shapes, position_embedding") {
    const std::string yaml =
        "data:\n  train: {format: synthetic, samples: 10, features: 12, classes: 2}\n"
        "model:\n  input_shape: [6, 2]\n  layers:\n"
        "    - {type: position_embedding, sequence_length: 8}\n"
        "    - {type: multi_head_attention, num_heads: 2, key_dim: 4}\n"
        "    - {type: layer_normalization}\n"
        "    - {type: global_average_pooling1d}\n"
        "    - {type: dense, units: 2}\n"
        "loss: sparse_categorical_crossentropy\n";
    ExperimentConfig c = parse_config(yaml, "a.yaml");
    Sequential m = build_model(c.layers, c.input_shape, 1);
    CHECK(m.layer(1).output_shape() == Shape{6, 2});  // output_shape: the input's features
    int64_t n = 0;
    for (const auto& p : m.params()) n += p.value->size();
    // position 8·2; attention q, k, v (2·2·4 + 2·4 each), output (2·4·2 + 2); norm 4; dense 2·2 + 2
    CHECK(n == 16 + 3 * (16 + 8) + (16 + 2) + 4 + 6);
    CHECK_THROWS_WITH_AS(build_model(parse_config(yaml, "a.yaml").layers, Shape{9, 2}, 1),
                         doctest::Contains("more than sequence_length 8"), ConfigError);
}

TEST_CASE("transformer_encoder: every tensor's directional derivative matches central differences") {
    // A random direction per tensor sums many elements, so the derivative stands well above float32
    // noise (element-wise checks in test_gradients.cpp are loose for this layer). Tolerance 3e-3 of
    // (0.1 + |value|): float32 noise reaches ~1.3e-4 on the smallest tensors (ASan builds round
    // differently); a wrong or missing term is off by far more.
    Matrix mask = Matrix::Ones(3, 4);
    mask(1, 3) = 0, mask(2, 0) = 0;
    for (bool first : {false, true})
        for (bool masked : {false, true}) {
            TransformerEncoder::Options o;
            o.intermediate_dim = 5, o.num_heads = 2, o.norm_first = first;
            o.activation.name = "tanh";
            o.bias_initializer.type = "random_uniform";
            TransformerEncoder t(o);
            t.set_name("enc");
            Rng rng(3);
            REQUIRE(t.build({4, 4}, rng) == Shape{4, 4});
            const Matrix x = test::random_matrix(3, 16, 5), R = test::random_matrix(3, 16, 6);
            ForwardContext ctx;
            ctx.mask = masked ? &mask : nullptr;
            Matrix y, dx;
            auto loss = [&] {
                t.forward(x, y, ctx);
                return double((y.array() * R.array()).sum());
            };
            loss();
            t.backward(x, y, R, &dx);
            std::vector<ParamRef> ps = t.params();
            CHECK(ps.size() == 16);
            uint64_t seed = 100;
            std::vector<Matrix> grads;
            for (auto& p : ps) grads.push_back(*p.grad);
            for (size_t i = 0; i < ps.size(); ++i) {
                const Matrix d = test::random_matrix(ps[i].value->rows(), ps[i].value->cols(), ++seed);
                const double analytic = double((d.array() * grads[i].array()).sum()), eps = 1e-2;
                *ps[i].value += float(eps) * d;
                const double lp = loss();
                *ps[i].value -= float(2 * eps) * d;
                const double lm = loss();
                *ps[i].value += float(eps) * d;
                INFO(ps[i].name << std::string(first ? " norm_first" : "") << std::string(masked ? " masked" : ""));
                CHECK(analytic == doctest::Approx((lp - lm) / (2 * eps)).epsilon(3e-3).scale(0.1));
            }
            const Matrix d = test::random_matrix(3, 16, 999);  // the input's gradient
            const double analytic = double((d.array() * dx.array()).sum()), eps = 1e-2;
            Matrix xp = x + float(eps) * d, xm = x - float(eps) * d;
            t.forward(xp, y, ctx);
            const double lp = double((y.array() * R.array()).sum());
            t.forward(xm, y, ctx);
            const double lm = double((y.array() * R.array()).sum());
            CHECK(analytic == doctest::Approx((lp - lm) / (2 * eps)).epsilon(3e-3).scale(0.1));
        }
}

TEST_CASE("sine_position_encoding: keras-hub's values, added to the input") {
    SinePositionEncoding p(10000);
    Rng rng(1);
    p.build({3, 4}, rng);
    Matrix x = Matrix::Zero(2, 12), y;
    p.forward(x, y, ForwardContext{});
    // step t, feature f: sin(t·10000^(−2⌊f/2⌋/4)) for even f, cos(...) for odd f (keras-hub's formula)
    const float ref[3][4] = {{0.0f, 1.0f, 0.0f, 1.0f},
                             {0.84147098f, 0.54030231f, 0.00999983f, 0.99995000f},
                             {0.90929743f, -0.41614684f, 0.01999867f, 0.99980001f}};
    for (int t = 0; t < 3; ++t)
        for (int f = 0; f < 4; ++f) {
            CHECK(y(0, t * 4 + f) == doctest::Approx(ref[t][f]).epsilon(1e-6));
            CHECK(y(1, t * 4 + f) == doctest::Approx(ref[t][f]).epsilon(1e-6));
        }
    Matrix x2 = Matrix::Constant(1, 12, 2.0f);
    p.forward(x2, y, ForwardContext{});
    CHECK(y(0, 5) == doctest::Approx(2.0f + 0.54030231f));
}

TEST_CASE("multi_head_attention given [x, x] equals self-attention on x; padded value steps get no weight") {
    MultiHeadAttention::Options o;
    o.num_heads = 2;
    o.key_dim = 3;
    MultiHeadAttention self(o), cross(o);
    Rng r1(5), r2(5);
    self.build({4, 3}, r1);
    cross.build_multi({{4, 3}, {4, 3}}, r2);  // same shapes: the same weights from the same stream
    Matrix x = Matrix::Random(2, 12), y1, y2;
    self.forward(x, y1, ForwardContext{});
    cross.forward_multi({x, x}, y2, ForwardContext{});
    CHECK((y1 - y2).cwiseAbs().maxCoeff() < 1e-6f);

    MultiHeadAttention q_over_v(o);
    Rng r3(6);
    CHECK(q_over_v.build_multi({{2, 3}, {5, 4}}, r3) == Shape{2, 3});  // output: query steps × query features
    Matrix q = Matrix::Random(2, 6), v = Matrix::Random(2, 20), y;
    Matrix vmask = Matrix::Ones(2, 5);
    vmask(0, 3) = vmask(0, 4) = 0;  // sample 0: the last two value steps are padding
    std::vector<const Matrix*> masks = {nullptr, &vmask};
    ForwardContext c;
    c.input_masks = &masks;
    q_over_v.forward_multi({q, v}, y, c);
    const Matrix s = q_over_v.scores(0, 1);
    CHECK(s.rows() == 2);
    CHECK(s.cols() == 5);
    CHECK(s(0, 3) == 0.0f);
    CHECK(s(1, 4) == 0.0f);
    CHECK(s.row(0).sum() == doctest::Approx(1.0f));
    CHECK(q_over_v.scores(1, 0)(0, 4) > 0.0f);
    Rng r4(7);
    MultiHeadAttention bad(o);
    CHECK_THROWS_WITH_AS(bad.build_multi({{2, 3}, {5, 4}, {4, 4}}, r4), doctest::Contains("the key has 4 steps and the value 5"),
                         ConfigError);
}
