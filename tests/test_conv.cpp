// Convolution and pooling against naive loops written from Keras' definitions (channels last,
// kernel (kh, kw, in, out), TensorFlow's 'same' padding), and the properties training relies on.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "layers/conv.hpp"
#include "layers/pool.hpp"
#include "support/gradcheck.hpp"

using namespace nnctl;
using namespace nnctl::test;

namespace {
struct Geometry {
    int64_t out, pad;
};
/// One axis, as TensorFlow defines it.
Geometry axis(int64_t in, int64_t k, int64_t s, int64_t d, const std::string& pad) {
    const int64_t span = (k - 1) * d + 1;
    if (pad == "valid") return {(in - span) / s + 1, 0};
    const int64_t out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>((out - 1) * s + span - in, 0);
    return {out, pad == "causal" ? span - 1 : total / 2};
}

/// y[n, oh, ow, f] = b[f] + Σ_{i, j, c} x[n, oh·sh − pt + i·dh, ow·sw − pl + j·dw, c] · k[i, j, c, f]
Matrix naive_conv(const Matrix& x, int64_t h, int64_t w, int64_t c, const Matrix& kernel, const Matrix* bias,
                  int64_t kh, int64_t kw, int64_t s, int64_t d, const std::string& pad, int64_t& oh_out,
                  int64_t& ow_out) {
    const int64_t f = kernel.cols();
    Geometry gh = h == 1 && kh == 1 ? Geometry{1, 0} : axis(h, kh, s, d, pad == "causal" ? "valid" : pad);
    Geometry gw = axis(w, kw, s, d, pad);
    oh_out = gh.out, ow_out = gw.out;
    Matrix y = Matrix::Zero(x.rows(), gh.out * gw.out * f);
    for (int64_t n = 0; n < x.rows(); ++n)
        for (int64_t oh = 0; oh < gh.out; ++oh)
            for (int64_t ow = 0; ow < gw.out; ++ow)
                for (int64_t fo = 0; fo < f; ++fo) {
                    double acc = bias ? (*bias)(0, fo) : 0.0;
                    for (int64_t i = 0; i < kh; ++i)
                        for (int64_t j = 0; j < kw; ++j)
                            for (int64_t ch = 0; ch < c; ++ch) {
                                const int64_t ih = oh * (h == 1 ? 1 : s) - gh.pad + i * d, iw = ow * s - gw.pad + j * d;
                                if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                                acc += double(x(n, (ih * w + iw) * c + ch)) * kernel((i * kw + j) * c + ch, fo);
                            }
                    y(n, (oh * gw.out + ow) * f + fo) = float(acc);
                }
    return y;
}

double max_abs_diff(const Matrix& a, const Matrix& b) {
    REQUIRE(a.rows() == b.rows());
    REQUIRE(a.cols() == b.cols());
    return double((a - b).cwiseAbs().maxCoeff());
}

Conv make_conv(int rank, int64_t filters, std::vector<int64_t> k, int64_t s, int64_t d, const std::string& pad,
               const std::string& act = "linear") {
    Conv::Options o;
    o.rank = rank;
    o.filters = filters;
    o.kernel_size = std::move(k);
    o.strides.assign(size_t(rank), s);
    o.dilation_rate.assign(size_t(rank), d);
    o.padding = pad;
    o.activation.name = act;
    o.bias_initializer.type = "random_uniform";
    return Conv(o);
}
}  // namespace

TEST_CASE("conv2d and conv1d match a naive convolution for every padding, stride and dilation") {
    uint64_t seed = 1;
    // Grey and colour inputs reach im2col's fixed-width window copies (3 or 5 wide on one channel,
    // 3 wide on three) as well as its general paths.
    for (int64_t c : {1, 3})
        for (const char* pad : {"valid", "same"})
            for (auto [s, d] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {2, 1}, {3, 1}, {1, 2}})
                for (auto [kh, kw] : std::vector<std::pair<int64_t, int64_t>>{{3, 3}, {2, 3}, {1, 1}, {5, 5}}) {
                    Conv conv = make_conv(2, 4, {kh, kw}, s, d, pad);
                    Rng rng(++seed);
                    const Shape out = conv.build({11, 10, c}, rng);
                    Matrix x = random_matrix(3, 11 * 10 * c, seed + 100);
                    Matrix y;
                    conv.forward(x, y, ForwardContext{});
                    auto p = conv.params();
                    int64_t oh, ow;
                    Matrix ref = naive_conv(x, 11, 10, c, *p[0].value, p[1].value, kh, kw, s, d, pad, oh, ow);
                    INFO(pad << " " << kh << "x" << kw << " on " << c << " channels, strides " << s << " dilation " << d);
                    CHECK(out == Shape{oh, ow, 4});
                    CHECK(max_abs_diff(y, ref) < 1e-5);
                    CHECK(p[0].shape == Shape{kh, kw, c, 4});  // Keras' layout
                }
    for (const char* pad : {"valid", "same", "causal"})
        for (auto [s, d] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {2, 1}, {1, 3}}) {
            Conv conv = make_conv(1, 3, {3}, s, d, pad);
            Rng rng(++seed);
            const Shape out = conv.build({9, 2}, rng);
            Matrix x = random_matrix(2, 18, seed + 100);
            Matrix y;
            conv.forward(x, y, ForwardContext{});
            auto p = conv.params();
            int64_t oh, ow;
            Matrix ref = naive_conv(x, 1, 9, 2, *p[0].value, p[1].value, 1, 3, s, d, pad, oh, ow);
            INFO("conv1d " << pad << " strides " << s << " dilation " << d);
            CHECK(out == Shape{ow, 3});
            CHECK(max_abs_diff(y, ref) < 1e-5);
            CHECK(p[0].shape == Shape{3, 2, 3});
        }
}

TEST_CASE("conv2d output shapes and parameter counts are Keras'") {
    Rng rng(1);
    Conv a = make_conv(2, 32, {3, 3}, 1, 1, "valid");
    CHECK(a.build({28, 28, 1}, rng) == Shape{26, 26, 32});
    int64_t n = 0;
    for (auto& p : a.params()) n += p.value->size();
    CHECK(n == 320);
    Conv b = make_conv(2, 8, {3, 3}, 2, 1, "same");
    CHECK(b.build({28, 28, 1}, rng) == Shape{14, 14, 8});
    Conv c = make_conv(2, 8, {3, 3}, 2, 1, "same");
    CHECK(c.build({5, 5, 2}, rng) == Shape{3, 3, 8});
    Conv d = make_conv(1, 8, {5}, 1, 2, "causal");
    CHECK(d.build({20, 4}, rng) == Shape{20, 8});
    Conv e = make_conv(2, 8, {5, 5}, 1, 1, "valid");
    CHECK_THROWS_AS(e.build({4, 4, 1}, rng), ConfigError);
    Conv f = make_conv(2, 8, {3, 3}, 1, 1, "valid");
    CHECK_THROWS_WITH_AS(f.build({784}, rng), doctest::Contains("conv2d expects (height, width, channels) inputs"),
                         ConfigError);
}

TEST_CASE("conv with relu: the fused path equals linear followed by relu, forward and backward") {
    for (const char* pad : {"valid", "same"}) {
        Conv fused = make_conv(2, 5, {3, 3}, 1, 1, pad, "relu");
        Conv lin = make_conv(2, 5, {3, 3}, 1, 1, pad, "linear");
        Rng r1(9), r2(9);
        fused.build({6, 6, 2}, r1);
        lin.build({6, 6, 2}, r2);
        Matrix x = random_matrix(4, 72, 3), y1, y0, dx1, dx0;
        Rng r(1);
        fused.forward(x, y1, ForwardContext{true, &r});  // training: the backward pass reads the kept mask
        lin.forward(x, y0, ForwardContext{});
        Matrix relu = y0.cwiseMax(0.0f);
        CHECK(max_abs_diff(y1, relu) == 0.0);
        Matrix dy = random_matrix(4, y1.cols(), 4);
        Matrix dz = (y0.array() > 0).select(dy, 0.0f);
        fused.backward(x, y1, dy, &dx1);
        lin.backward(x, y0, dz, &dx0);
        CHECK(max_abs_diff(dx1, dx0) == 0.0);
        CHECK(max_abs_diff(*fused.params()[0].grad, *lin.params()[0].grad) == 0.0);
        CHECK(max_abs_diff(*fused.params()[1].grad, *lin.params()[1].grad) == 0.0);
        Matrix y2, dx2;  // and after an inference forward pass, from the outputs
        fused.forward(x, y2, ForwardContext{});
        fused.backward(x, y2, dy, &dx2);
        CHECK(max_abs_diff(dx2, dx0) == 0.0);
    }
}

TEST_CASE("conv results do not depend on the thread count") {
    Conv a = make_conv(2, 16, {3, 3}, 1, 1, "same", "relu");
    Rng rng(5);
    a.build({12, 12, 8}, rng);
    Conv b = a;
    Matrix x = random_matrix(37, 12 * 12 * 8, 6), dy = random_matrix(37, 12 * 12 * 16, 7);
    Matrix ya, yb, dxa, dxb;
    set_num_threads(1);
    a.forward(x, ya, ForwardContext{});
    a.backward(x, ya, dy, &dxa);
    set_num_threads(2);
    b.forward(x, yb, ForwardContext{});
    b.backward(x, yb, dy, &dxb);
    set_num_threads(1);
    CHECK(max_abs_diff(ya, yb) == 0.0);
    CHECK(max_abs_diff(dxa, dxb) == 0.0);
    CHECK(max_abs_diff(*a.params()[0].grad, *b.params()[0].grad) == 0.0);
}

TEST_CASE("pooling matches naive loops; average pooling leaves padding out of the mean") {
    for (bool max : {true, false})
        for (const char* pad : {"valid", "same"})
            for (int64_t s : {1, 2, 3}) {
                Pool::Options o;
                o.max = max;
                o.pool_size = {3, 2};
                o.strides = {s, s};
                o.padding = pad;
                Pool p(o);
                Rng rng(1);
                const Shape out = p.build({7, 5, 2}, rng);
                Geometry gh = axis(7, 3, s, 1, pad), gw = axis(5, 2, s, 1, pad);
                REQUIRE(out == Shape{gh.out, gw.out, 2});
                Matrix x = random_matrix(2, 70, 11 + uint64_t(s)), y;
                p.forward(x, y, ForwardContext{});
                Matrix ref(2, gh.out * gw.out * 2);
                for (int64_t n = 0; n < 2; ++n)
                    for (int64_t oh = 0; oh < gh.out; ++oh)
                        for (int64_t ow = 0; ow < gw.out; ++ow)
                            for (int64_t c = 0; c < 2; ++c) {
                                double m = -std::numeric_limits<double>::infinity(), sum = 0;
                                int count = 0;
                                for (int64_t i = 0; i < 3; ++i)
                                    for (int64_t j = 0; j < 2; ++j) {
                                        const int64_t ih = oh * s - gh.pad + i, iw = ow * s - gw.pad + j;
                                        if (ih < 0 || ih >= 7 || iw < 0 || iw >= 5) continue;
                                        const double v = x(n, (ih * 5 + iw) * 2 + c);
                                        m = std::max(m, v), sum += v, ++count;
                                    }
                                ref(n, (oh * gw.out + ow) * 2 + c) = float(max ? m : sum / count);
                            }
                INFO((max ? "max " : "average ") << pad << " strides " << s);
                CHECK(max_abs_diff(y, ref) < 1e-6);
            }
}

TEST_CASE("global pooling and 1-D pooling shapes") {
    Rng rng(1);
    GlobalPool g(false, 2, false);
    CHECK(g.build({4, 4, 6}, rng) == Shape{6});
    GlobalPool k(true, 2, true);
    CHECK(k.build({4, 4, 6}, rng) == Shape{1, 1, 6});
    Matrix x(1, 6);
    x << 1, 2, 3, 4, 5, 6;  // (3 steps, 2 features)
    GlobalPool avg1(false, 1, false), max1(true, 1, false);
    avg1.build({3, 2}, rng);
    max1.build({3, 2}, rng);
    Matrix y;
    avg1.forward(x, y, ForwardContext{});
    CHECK(y(0, 0) == doctest::Approx(3.0));
    CHECK(y(0, 1) == doctest::Approx(4.0));
    max1.forward(x, y, ForwardContext{});
    CHECK(y(0, 0) == 5.0f);
    CHECK(y(0, 1) == 6.0f);
    Pool::Options o;
    o.rank = 1;
    o.pool_size = {2};
    Pool p(o);
    CHECK(p.build({9, 4}, rng) == Shape{4, 4});
}

#include "config/parse.hpp"
#include "config/registry.hpp"

TEST_CASE("a model passes reshape and flatten buffers on: same outputs and gradients as running them") {
    ExperimentConfig c = parse_config(R"(data: {train: {format: synthetic}}
model:
  layers:
    - {type: reshape, target_shape: [6, 6, 2]}
    - {type: conv2d, filters: 3, kernel_size: 3, activation: relu}
    - {type: flatten}
    - {type: reshape, target_shape: [4, -1]}
    - {type: flatten}
    - {type: dense, units: 4}
loss: mse
)", "cfg.yaml");
    Sequential m = build_model(c.layers, {72}, 7);
    Matrix x = random_matrix(5, 72, 8), dout = random_matrix(5, 4, 9);
    Rng r1(1);
    const Matrix y = m.forward(x, ForwardContext{true, &r1});
    m.backward(x, dout);
    // The same layers one by one, each run (the reshapes copy).
    std::vector<Matrix> outs(m.size()), grads(m.size());
    Rng r2(1);
    for (size_t i = 0; i < m.size(); ++i)
        m.layer(i).forward(i ? ConstView(outs[i - 1]) : ConstView(x), outs[i], ForwardContext{true, &r2});
    CHECK(max_abs_diff(outs.back(), y) == 0.0);
    const Matrix g_model = *m.params()[0].grad, gd_model = *m.params()[2].grad;
    for (size_t i = m.size(); i-- > 0;)
        m.layer(i).backward(i ? ConstView(outs[i - 1]) : ConstView(x), outs[i],
                            i + 1 == m.size() ? ConstView(dout) : ConstView(grads[i + 1]), i ? &grads[i] : nullptr);
    CHECK(max_abs_diff(*m.params()[0].grad, g_model) == 0.0);
    CHECK(max_abs_diff(*m.params()[2].grad, gd_model) == 0.0);
}

TEST_CASE("a convolution and the max pooling after it run fused: bit-identical to running both") {
    for (const char* act : {"relu", "linear"}) {
        ExperimentConfig c = parse_config(std::string(R"(data: {train: {format: synthetic}}
model:
  layers:
    - {type: conv2d, filters: 4, kernel_size: 3, activation: )") + act + R"(}
    - {type: max_pooling2d}
    - {type: conv2d, filters: 3, kernel_size: 2, activation: relu}
    - {type: max_pooling2d, pool_size: [2, 3]}
    - {type: flatten}
    - {type: dense, units: 4}
loss: mse
)", "cfg.yaml");
        Sequential m = build_model(c.layers, {11, 12, 2}, 7);  // 9x10 → 4x5 (a row and column left over) → 3x4 → 1x1
        Matrix x = random_matrix(9, 11 * 12 * 2, 8), dout = random_matrix(9, 4, 9);
        x.col(5).setZero();  // ties and all-zero windows after relu
        Rng r1(1);
        const Matrix y = m.forward(x, ForwardContext{true, &r1});
        m.backward(x, dout);
        std::vector<Matrix> fused_grads;
        for (auto& p : m.params()) fused_grads.push_back(*p.grad);
        std::vector<Matrix> outs(m.size()), grads(m.size());
        Rng r2(1);
        for (size_t i = 0; i < m.size(); ++i)
            m.layer(i).forward(i ? ConstView(outs[i - 1]) : ConstView(x), outs[i], ForwardContext{true, &r2});
        INFO(act);
        CHECK(max_abs_diff(outs.back(), y) == 0.0);
        for (size_t i = m.size(); i-- > 0;)
            m.layer(i).backward(i ? ConstView(outs[i - 1]) : ConstView(x), outs[i],
                                i + 1 == m.size() ? ConstView(dout) : ConstView(grads[i + 1]), i ? &grads[i] : nullptr);
        auto params = m.params();
        for (size_t k = 0; k < params.size(); ++k) {
            INFO(params[k].name);
            CHECK(max_abs_diff(*params[k].grad, fused_grads[k]) == 0.0);
        }
    }
}
