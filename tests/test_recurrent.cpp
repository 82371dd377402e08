// Recurrent layers against a plain loop over Keras' published equations, masking through a model, and
// the wrappers' wiring. Gradients are checked in test_gradients.cpp.
#include <doctest/doctest.h>

#include <cmath>

#include "config/parse.hpp"
#include "config/registry.hpp"
#include "core/error.hpp"
#include "core/initializers.hpp"
#include "core/parallel.hpp"
#include "layers/dense.hpp"
#include "layers/pool.hpp"
#include "layers/recurrent.hpp"
#include "layers/sequence.hpp"
#include "model/sequential.hpp"
#include "support/gradcheck.hpp"

using namespace nnctl;
using namespace nnctl::test;

namespace {
using Vec = std::vector<double>;
double sig(double v) { return 1.0 / (1.0 + std::exp(-v)); }

/// x·W[:, cols j0..j0+n) + h·U[:, same] for one sample, in double.
Vec affine(const float* x, int64_t F, const Matrix& W, const Vec& h, const Matrix& U, int64_t j0, int64_t n) {
    Vec out(size_t(n), 0.0);
    for (int64_t j = 0; j < n; ++j) {
        double a = 0;
        for (int64_t f = 0; f < F; ++f) a += double(x[f]) * W(f, j0 + j);
        for (size_t k = 0; k < h.size(); ++k) a += h[k] * U(Eigen::Index(k), j0 + j);
        out[size_t(j)] = a;
    }
    return out;
}

/// The reference: Keras' cell equations step by step, one sample at a time, masked steps carrying the state.
/// Returns (B × T·n) with return_sequences, else (B × n).
Matrix reference(Recurrent& r, const Matrix& x, int64_t T, int64_t F, const Matrix* mask) {
    const auto& o = r.options();
    const int64_t n = o.units, B = x.rows();
    const Matrix &W = r.kernel(), &U = r.recurrent_kernel();
    const Matrix bias = o.use_bias ? r.bias() : Matrix::Zero(o.cell == Recurrent::Cell::Gru && o.reset_after ? 2 : 1, W.cols());
    Matrix out(B, o.return_sequences ? T * n : n);
    for (int64_t b = 0; b < B; ++b) {
        Vec h(size_t(n), 0.0), c(size_t(n), 0.0);
        const Vec none;
        for (int64_t step = 0; step < T; ++step) {
            const int64_t t = o.go_backwards ? T - 1 - step : step;
            const bool padded = mask && (*mask)(b, t) == 0;
            const float* xt = x.data() + b * T * F + t * F;
            if (!padded) {
                if (o.cell == Recurrent::Cell::Simple) {
                    Vec a = affine(xt, F, W, h, U, 0, n);
                    for (int64_t j = 0; j < n; ++j) h[size_t(j)] = std::tanh(a[size_t(j)] + bias(0, j));
                } else if (o.cell == Recurrent::Cell::Lstm) {
                    Vec a = affine(xt, F, W, h, U, 0, 4 * n);
                    for (int64_t j = 0; j < n; ++j) {
                        const size_t J = size_t(j);
                        double i = sig(a[J] + bias(0, j)), f = sig(a[J + size_t(n)] + bias(0, n + j));
                        double g = std::tanh(a[J + 2 * size_t(n)] + bias(0, 2 * n + j));
                        double og = sig(a[J + 3 * size_t(n)] + bias(0, 3 * n + j));
                        c[J] = f * c[J] + i * g;
                        a[J] = og * std::tanh(c[J]);  // new h, kept aside until every unit used the old one
                    }
                    for (int64_t j = 0; j < n; ++j) h[size_t(j)] = a[size_t(j)];
                } else {
                    Vec xz = affine(xt, F, W, none, U, 0, 3 * n);  // x part only
                    Vec hu = affine(xt, 0, W, h, U, 0, 3 * n);     // h part only
                    Vec hn(static_cast<size_t>(n), 0.0);
                    for (int64_t j = 0; j < n; ++j) {
                        const size_t J = size_t(j), N = size_t(n);
                        double z, rr, hh;
                        if (o.reset_after) {
                            z = sig(xz[J] + bias(0, j) + hu[J] + bias(1, j));
                            rr = sig(xz[J + N] + bias(0, n + j) + hu[J + N] + bias(1, n + j));
                            hh = std::tanh(xz[J + 2 * N] + bias(0, 2 * n + j) + rr * (hu[J + 2 * N] + bias(1, 2 * n + j)));
                        } else {
                            z = sig(xz[J] + hu[J] + bias(0, j));
                            rr = sig(xz[J + N] + hu[J + N] + bias(0, n + j));
                            double rh = 0;  // (r ⊙ h)·Uh, r of unit k
                            for (int64_t k = 0; k < n; ++k) {
                                double rk = sig(xz[size_t(k) + N] + hu[size_t(k) + N] + bias(0, n + k));
                                rh += rk * h[size_t(k)] * U(k, 2 * n + j);
                            }
                            hh = std::tanh(xz[J + 2 * N] + rh + bias(0, 2 * n + j));
                        }
                        hn[J] = z * h[J] + (1 - z) * hh;
                    }
                    h = hn;
                }
            }
            if (o.return_sequences)
                for (int64_t j = 0; j < n; ++j) out(b, step * n + j) = float(h[size_t(j)]);
        }
        if (!o.return_sequences)
            for (int64_t j = 0; j < n; ++j) out(b, j) = float(h[size_t(j)]);
    }
    return out;
}

Recurrent::Options options(Recurrent::Cell cell, int64_t units, bool seq, bool back) {
    Recurrent::Options o;
    o.cell = cell;
    o.units = units;
    o.activation.name = "tanh";
    o.recurrent_activation.name = "sigmoid";
    o.return_sequences = seq;
    o.go_backwards = back;
    o.bias_initializer.type = "random_uniform";
    o.bias_initializer.minval = -0.5;
    o.bias_initializer.maxval = 0.5;
    return o;
}
}  // namespace

TEST_CASE("simple_rnn, lstm and gru match a plain loop over Keras' equations") {
    const int64_t T = 6, F = 3, B = 4;
    Matrix mask = Matrix::Ones(B, T);
    mask.block(1, 4, 1, 2).setZero();  // post-padding
    mask.block(2, 0, 1, 3).setZero();  // pre-padding
    for (auto cell : {Recurrent::Cell::Simple, Recurrent::Cell::Lstm, Recurrent::Cell::Gru})
        for (bool reset_after : {true, false})
            for (bool seq : {false, true})
                for (bool back : {false, true})
                    for (bool masked : {false, true}) {
                        if (cell != Recurrent::Cell::Gru && !reset_after) continue;
                        Recurrent::Options o = options(cell, 5, seq, back);
                        o.reset_after = reset_after;
                        Recurrent r(o);
                        Rng rng(7);
                        r.build({T, F}, rng);
                        Matrix x = random_matrix(B, T * F, 8, 2.0);
                        Matrix y;
                        Rng drop(1);
                        r.forward(x, y, ForwardContext{false, &drop, masked ? &mask : nullptr});
                        const Matrix want = reference(r, x, T, F, masked ? &mask : nullptr);
                        INFO(r.type() << " reset_after=" << reset_after << " seq=" << seq << " back=" << back
                                      << " masked=" << masked);
                        REQUIRE(y.rows() == want.rows());
                        REQUIRE(y.cols() == want.cols());
                        CHECK((y - want).cwiseAbs().maxCoeff() < 2e-5);
                    }
}

TEST_CASE("recurrent weights have Keras' names, shapes and initial values") {
    Recurrent::Options o = options(Recurrent::Cell::Lstm, 4, false, false);
    o.bias_initializer.type = "zeros";
    Recurrent lstm(o);
    lstm.set_name("lstm");
    Rng rng(3);
    lstm.build({7, 3}, rng);
    auto p = lstm.params();
    REQUIRE(p.size() == 3);
    CHECK(p[0].name == "lstm.kernel");
    CHECK(stored_shape(p[0]) == Shape{3, 16});
    CHECK(p[1].name == "lstm.recurrent_kernel");
    CHECK(stored_shape(p[1]) == Shape{4, 16});
    CHECK(p[2].name == "lstm.bias");
    CHECK(stored_shape(p[2]) == Shape{16});
    // unit_forget_bias: the forget gate's block (the second of i, f, c, o) starts at 1, the rest at 0.
    for (int j = 0; j < 16; ++j) CHECK(lstm.bias()(0, j) == (j >= 4 && j < 8 ? 1.0f : 0.0f));
    // orthogonal recurrent kernel (4 × 16): its rows are orthonormal.
    const Matrix& u = lstm.recurrent_kernel();
    CHECK((u * u.transpose() - Matrix::Identity(4, 4)).cwiseAbs().maxCoeff() < 1e-5);

    Recurrent gru(options(Recurrent::Cell::Gru, 2, false, false));
    gru.set_name("gru");
    gru.build({5, 3}, rng);
    auto g = gru.params();
    CHECK(stored_shape(g[2]) == Shape{2, 6});  // reset_after: input and recurrent bias rows
    Recurrent::Options nr = options(Recurrent::Cell::Gru, 2, false, false);
    nr.reset_after = false;
    Recurrent gru2(nr);
    gru2.set_name("gru2");
    gru2.build({5, 3}, rng);
    CHECK(stored_shape(gru2.params()[2]) == Shape{6});
}

TEST_CASE("orthogonal initializer: orthonormal columns of a tall matrix, rows of a wide one") {
    Rng rng(11);
    InitializerSpec s;
    s.type = "orthogonal";
    Matrix tall(9, 4), wide(3, 12);
    initialize(tall, s, 9, 4, rng);
    initialize(wide, s, 3, 12, rng);
    CHECK((tall.transpose() * tall - Matrix::Identity(4, 4)).cwiseAbs().maxCoeff() < 1e-5);
    CHECK((wide * wide.transpose() - Matrix::Identity(3, 3)).cwiseAbs().maxCoeff() < 1e-5);
}

namespace {
/// embedding(mask_zero) → `rec` → (optionally) pooling, as a model built from config text.
Sequential text_model(const std::string& rec, int64_t T, bool pool = false) {
    std::string cfg = "data:\n  train: {format: synthetic, samples: 10, features: " + std::to_string(T) +
                      ", classes: 2}\nmodel:\n  layers:\n    - {type: embedding, input_dim: 9, output_dim: 3, mask_zero: true, "
                      "name: emb}\n    - " + rec + "\n";
    if (pool) cfg += "    - {type: global_average_pooling1d}\n";
    cfg += "    - {type: dense, units: 2, name: out}\nloss: sparse_categorical_crossentropy\n";
    ExperimentConfig c = parse_config(cfg, "cfg.yaml");
    return build_model(c.layers, {T}, 5);
}
}  // namespace

TEST_CASE("padded steps change nothing: a post-padded sequence gives the unpadded one's output") {
    // The same weights (same seed, and no weight depends on T) run on [3 1 4 1] and on [3 1 4 1 0 0 0].
    for (const char* rec : {"{type: lstm, units: 4, name: rec}", "{type: gru, units: 4, name: rec}",
                            "{type: simple_rnn, units: 4, name: rec}",
                            "{type: bidirectional, name: rec, layer: {type: lstm, units: 3}}",
                            "{type: lstm, units: 4, name: rec, return_sequences: true}"}) {
        const bool seq = std::string(rec).find("return_sequences") != std::string::npos;
        Sequential short_m = text_model(rec, 4, seq), long_m = text_model(rec, 7, seq);
        Matrix a(1, 4), b(1, 7);
        a << 3, 1, 4, 1;
        b << 3, 1, 4, 1, 0, 0, 0;
        Matrix ya, yb;
        short_m.predict(a, ya);
        long_m.predict(b, yb);
        INFO(rec);
        CHECK((ya - yb).cwiseAbs().maxCoeff() < 1e-6);
    }
}

TEST_CASE("masking layer: all-padding steps are zeroed and masked") {
    Masking m(-1.0);
    Rng rng(1);
    m.build({3, 2}, rng);
    Matrix x(2, 6), y;
    x << 1, 2, -1, -1, 3, -1,  //
        -1, -1, 5, 6, 7, 8;
    m.forward(x, y, ForwardContext{});
    Matrix want(2, 6);
    want << 1, 2, 0, 0, 3, -1, 0, 0, 5, 6, 7, 8;
    CHECK(y == want);
    Matrix mask;
    m.make_mask(x, nullptr, mask);
    Matrix wm(2, 3);
    wm << 1, 0, 1, 0, 1, 1;
    CHECK(mask == wm);
}

TEST_CASE("embedding rejects ids outside [0, input_dim) with a data error naming the layer") {
    Embedding::Options o;
    o.input_dim = 5;
    o.output_dim = 2;
    Embedding e(o);
    e.set_name("words");
    Rng rng(1);
    e.build({3}, rng);
    Matrix x(1, 3), y;
    x << 1, 5, 2;
    CHECK_THROWS_WITH_AS(e.forward(x, y, ForwardContext{}),
                         doctest::Contains("words: input value 5 (sample 1, position 2) is not a token id in [0, 5)"),
                         DataError);
    x << 1, 2.5, 2;
    CHECK_THROWS_AS(e.forward(x, y, ForwardContext{}), DataError);
}

TEST_CASE("wrappers in YAML: bidirectional and time_distributed read, check and emit their wrapped layer") {
    const std::string base = R"(data:
  train: {format: synthetic, samples: 10, features: 12, classes: 2}
model:
  input_shape: [4, 3]
  layers:
)";
    const std::string tail = "loss: sparse_categorical_crossentropy\n";
    ExperimentConfig c = parse_config(base + R"(    - {type: bidirectional, merge_mode: sum, layer: {type: gru, units: 5, return_sequences: true}}
    - {type: time_distributed, layer: {type: dense, units: 2}}
    - {type: flatten}
)" + tail, "cfg.yaml");
    REQUIRE(c.layers.size() == 3);
    Sequential m = build_model(c.layers, c.input_shape, 1);
    CHECK(m.layer(0).output_shape() == Shape{4, 5});
    CHECK(m.layer(1).output_shape() == Shape{4, 2});
    std::vector<std::string> names;
    for (auto& p : m.params()) names.push_back(p.name);
    CHECK(names == std::vector<std::string>{"bidirectional_1.forward_gru.kernel", "bidirectional_1.forward_gru.recurrent_kernel",
                                            "bidirectional_1.forward_gru.bias", "bidirectional_1.backward_gru.kernel",
                                            "bidirectional_1.backward_gru.recurrent_kernel",
                                            "bidirectional_1.backward_gru.bias", "time_distributed_1.kernel",
                                            "time_distributed_1.bias"});
    // The resolved config round-trips, wrapped options included.
    const std::string emitted = emit_config(c);
    CHECK(emitted.find("reset_after: true") != std::string::npos);
    ExperimentConfig again = parse_config(emitted, "resolved.yaml");
    CHECK(emit_config(again) == emitted);

    auto error = [&](const std::string& layers) {
        try {
            parse_config(base + layers + tail, "cfg.yaml");
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string("(no error)");
    };
    CHECK(error("    - {type: bidirectional, layer: {type: dense, units: 2}}\n")
              .find("bidirectional wraps a recurrent layer (lstm, gru, simple_rnn), not dense") != std::string::npos);
    CHECK(error("    - {type: bidirectional, layer: {type: lstm, unit: 2}}\n").find("cfg.yaml:6:") != std::string::npos);
    CHECK(error("    - {type: bidirectional}\n").find("missing key 'layer'") != std::string::npos);
    CHECK(error("    - {type: lstm, units: 3, activation: softmax}\n")
              .find("recurrent layers take the activations tanh, sigmoid, relu and linear") != std::string::npos);
    ExperimentConfig stacked = parse_config(base + "    - {type: lstm, units: 3}\n    - {type: lstm, units: 3}\n" + tail, "cfg.yaml");
    CHECK_THROWS_WITH_AS(build_model(stacked.layers, stacked.input_shape, 1),
                         doctest::Contains("lstm expects a sequence (timesteps, features), got (None, 3)"), ConfigError);
}

TEST_CASE("recurrent layers give the same bits on one thread and on two") {
    for (auto cell : {Recurrent::Cell::Lstm, Recurrent::Cell::Gru, Recurrent::Cell::Simple})
        for (bool seq : {false, true}) {
            Recurrent::Options o = options(cell, 16, seq, false);
            Recurrent a(o);
            Rng rng(3);
            a.build({9, 5}, rng);
            Recurrent b = a;
            Matrix x = random_matrix(40, 45, 4), mask = Matrix::Ones(40, 9);
            mask.block(3, 6, 10, 3).setZero();
            Matrix ya, yb, dxa, dxb;
            auto run = [&](Recurrent& r, Matrix& y, Matrix& dx, int threads) {
                set_num_threads(threads);
                r.forward(x, y, ForwardContext{false, nullptr, &mask});
                Matrix dy = random_matrix(y.rows(), y.cols(), 5);
                r.backward(x, y, dy, &dx);
            };
            run(a, ya, dxa, 1);
            run(b, yb, dxb, 2);
            set_num_threads(1);
            INFO(a.type() << (seq ? " sequences" : ""));
            CHECK(ya == yb);
            CHECK(dxa == dxb);
            auto pa = a.params(), pb = b.params();
            for (size_t i = 0; i < pa.size(); ++i) CHECK(*pa[i].grad == *pb[i].grad);
        }
}
