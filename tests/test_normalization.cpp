// Batch and layer normalization, spatial dropout and zero padding: values against hand-computed
// references and the training/inference behaviour Keras defines.
#include <doctest/doctest.h>

#include <cmath>

#include "layers/normalization.hpp"
#include "layers/spatial.hpp"
#include "support/gradcheck.hpp"

using namespace nnctl;
using namespace nnctl::test;

TEST_CASE("batch normalization: batch statistics in training, moving statistics at inference") {
    BatchNorm::Options o;
    o.momentum = 0.9;
    BatchNorm bn(o);
    Rng rng(1);
    REQUIRE(bn.build({2, 2}, rng) == Shape{2, 2});  // 2 positions × 2 channels
    Matrix x(2, 4);                                 // channel 0: 1, 3, 5, 7; channel 1: 2, 2, 2, 10
    x << 1, 2, 3, 2, 5, 2, 7, 10;
    Matrix y;
    Rng r(2);
    bn.forward(x, y, ForwardContext{true, &r});
    // Channel 0: mean 4, biased variance 5; y = (x − 4)/sqrt(5 + 0.001).
    CHECK(y(0, 0) == doctest::Approx(-3.0 / std::sqrt(5.001)).epsilon(1e-5));
    CHECK(y(1, 2) == doctest::Approx(3.0 / std::sqrt(5.001)).epsilon(1e-5));
    // Channel 1: mean 4, variance 12.
    CHECK(y(1, 3) == doctest::Approx(6.0 / std::sqrt(12.001)).epsilon(1e-5));
    auto p = bn.params();
    REQUIRE(p.size() == 4);
    CHECK(p[0].name == ".gamma");
    CHECK(p[2].name == ".moving_mean");
    CHECK_FALSE(p[2].trainable);
    CHECK_FALSE(p[3].trainable);
    // moving = 0.9·moving + 0.1·batch: mean 0 → 0.4, variance 1 → 0.9 + 0.5 = 1.4 (channel 0).
    CHECK((*p[2].value)(0, 0) == doctest::Approx(0.4));
    CHECK((*p[3].value)(0, 0) == doctest::Approx(1.4));
    CHECK((*p[3].value)(0, 1) == doctest::Approx(0.9 + 1.2));
    // Inference uses the moving statistics and leaves them alone.
    Matrix yi;
    bn.forward(x, yi, ForwardContext{});
    CHECK(yi(0, 0) == doctest::Approx((1.0 - 0.4) / std::sqrt(1.4 + 0.001)).epsilon(1e-5));
    CHECK((*p[2].value)(0, 0) == doctest::Approx(0.4));
    // A frozen layer runs as at inference even in training (Keras' rule for fine-tuning).
    bn.set_trainable(false);
    Matrix yf;
    bn.forward(x, yf, ForwardContext{true, &r});
    CHECK(yf(0, 0) == doctest::Approx(yi(0, 0)));
    CHECK((*p[2].value)(0, 0) == doctest::Approx(0.4));
    // Inference as one affine map per channel (what folding into a preceding layer uses).
    RowVector a, b;
    bn.inference_affine(a, b);
    CHECK(x(1, 1) * a(1) + b(1) == doctest::Approx(yi(1, 1)));
}

TEST_CASE("batch normalization over 64 channels has 256 parameters, 128 of them non-trainable") {
    BatchNorm bn({});
    Rng rng(1);
    bn.build({5, 5, 64}, rng);
    int64_t total = 0, frozen = 0;
    for (auto& p : bn.params()) {
        total += p.value->size();
        if (!p.trainable) frozen += p.value->size();
        CHECK(p.shape == Shape{64});
    }
    CHECK(total == 256);
    CHECK(frozen == 128);
}

TEST_CASE("layer normalization normalizes each position over its channels") {
    LayerNorm ln({});
    Rng rng(1);
    ln.build({2, 3}, rng);
    Matrix x(1, 6);
    x << 1, 2, 3, 10, 10, 40;
    Matrix y;
    ln.forward(x, y, ForwardContext{});
    const double v0 = 2.0 / 3.0;  // (1, 2, 3): mean 2
    CHECK(y(0, 0) == doctest::Approx(-1.0 / std::sqrt(v0 + 0.001)).epsilon(1e-5));
    CHECK(y(0, 5) == doctest::Approx(20.0 / std::sqrt(200.0 + 0.001)).epsilon(1e-5));  // (10, 10, 40): mean 20, var 200
}

TEST_CASE("spatial dropout drops whole channels, only in training, reproducibly") {
    SpatialDropout d(0.5, 2);
    Rng rng(1);
    d.build({3, 3, 8}, rng);
    Matrix x = Matrix::Ones(4, 72), y, y2;
    Rng a(7), b(7);
    d.forward(x, y, ForwardContext{true, &a});
    for (int s = 0; s < 4; ++s)
        for (int c = 0; c < 8; ++c) {
            const float v = y(s, c);
            CHECK((v == 0.0f || v == 2.0f));
            for (int p = 1; p < 9; ++p) CHECK(y(s, p * 8 + c) == v);  // the same for every position
        }
    CHECK(y.sum() > 0.0f);
    CHECK(y.sum() < 2.0f * 72 * 4);
    SpatialDropout e = d;
    e.forward(x, y2, ForwardContext{true, &b});
    CHECK(y == y2);
    d.forward(x, y, ForwardContext{});
    CHECK(y == x);
}

TEST_CASE("zero padding places the sample inside zeros") {
    ZeroPadding z({1, 0, 2, 1}, 2);
    Rng rng(1);
    REQUIRE(z.build({1, 2, 1}, rng) == Shape{2, 5, 1});
    Matrix x(1, 2), y;
    x << 7, 8;
    z.forward(x, y, ForwardContext{});
    Matrix want(1, 10);
    want << 0, 0, 0, 0, 0, 0, 0, 7, 8, 0;
    CHECK(y == want);
}

#include "config/parse.hpp"
#include "config/registry.hpp"
#include "core/error.hpp"

TEST_CASE("batch normalization folds into the preceding conv or dense layer at inference") {
    ExperimentConfig c = parse_config(R"(data: {train: {format: synthetic}}
model:
  layers:
    - {type: conv2d, filters: 4, kernel_size: 3, use_bias: false}
    - {type: batch_normalization, momentum: 0.5}
    - {type: activation, activation: relu}
    - {type: conv2d, filters: 3, kernel_size: 2, activation: relu}
    - {type: batch_normalization}
    - {type: flatten}
    - {type: dense, units: 5}
    - {type: batch_normalization, center: false}
    - {type: dense, units: 2}
loss: mse
)", "cfg.yaml");
    Sequential m = build_model(c.layers, {6, 6, 2}, 3);
    // Give the moving statistics values other than their initial ones.
    Matrix x = random_matrix(16, 72, 4, 2.0), y0, y1;
    Rng rng(5);
    for (int i = 0; i < 3; ++i) m.forward(x, ForwardContext{true, &rng});
    m.predict(x, y0);
    Sequential f = m;
    CHECK(f.fold_batch_norm() == 2);  // not the one after a relu'd conv
    f.predict(x, y1);
    CHECK((y0 - y1).cwiseAbs().maxCoeff() < 1e-4f * std::max(1.0f, y0.cwiseAbs().maxCoeff()));
    CHECK_THROWS_AS(f.backward(x, y1), Error);
}

#include "core/parallel.hpp"

TEST_CASE("batch normalization gives the same bits on 1 and 2 threads") {
    BatchNorm a({}), b({});
    Rng r1(1), r2(1);
    a.build({20, 20, 8}, r1);  // 64 × 400 rows: several chunks of rows
    b.build({20, 20, 8}, r2);
    Matrix x = random_matrix(64, 3200, 3), dy = random_matrix(64, 3200, 4), ya, yb, dxa, dxb;
    Rng g1(5), g2(5);
    set_num_threads(1);
    a.forward(x, ya, ForwardContext{true, &g1});
    a.backward(x, ya, dy, &dxa);
    set_num_threads(2);
    b.forward(x, yb, ForwardContext{true, &g2});
    b.backward(x, yb, dy, &dxb);
    set_num_threads(1);
    CHECK(ya == yb);
    CHECK(dxa == dxb);
    CHECK(*a.params()[0].grad == *b.params()[0].grad);
    CHECK(*a.params()[2].value == *b.params()[2].value);
}
