// Initializers and layers against their defining properties (distribution bounds and moments,
// inverted dropout's scaling, dense layer algebra).
#include <doctest/doctest.h>

#include <cmath>

#include "core/initializers.hpp"
#include "layers/dense.hpp"
#include "layers/dropout.hpp"

using namespace nnctl;

namespace {
struct Moments {
    double mean, var, min, max;
};
Moments moments(const Matrix& w) {
    double s = w.cast<double>().sum() / double(w.size());
    double v = (w.cast<double>().array() - s).square().sum() / double(w.size());
    return {s, v, double(w.minCoeff()), double(w.maxCoeff())};
}
Matrix init(const std::string& type, int64_t fan_in, int64_t fan_out) {
    Matrix w(fan_in, fan_out);
    Rng rng(99);
    InitializerSpec s;
    s.type = type;
    initialize(w, s, fan_in, fan_out, rng);
    return w;
}
}  // namespace

TEST_CASE("variance-scaling initializers have Keras' bounds and variances") {
    const int64_t fi = 300, fo = 200;
    // Uniform: limit sqrt(3·scale/n), variance scale/n.
    struct Case {
        const char* type;
        double scale, n;
        bool uniform;
    } cases[] = {{"glorot_uniform", 1.0, (fi + fo) / 2.0, true}, {"he_uniform", 2.0, double(fi), true},
                 {"lecun_uniform", 1.0, double(fi), true},     {"glorot_normal", 1.0, (fi + fo) / 2.0, false},
                 {"he_normal", 2.0, double(fi), false},        {"lecun_normal", 1.0, double(fi), false}};
    for (const auto& c : cases) {
        INFO(c.type);
        Moments m = moments(init(c.type, fi, fo));
        CHECK(std::fabs(m.mean) < 0.01 * std::sqrt(c.scale / c.n) * 10);
        CHECK(m.var == doctest::Approx(c.scale / c.n).epsilon(0.03));
        if (c.uniform) {
            double limit = std::sqrt(3.0 * c.scale / c.n);
            CHECK(m.max <= limit);
            CHECK(m.min >= -limit);
            CHECK(m.max > 0.99 * limit);
        } else {  // truncated at two standard deviations of the untruncated normal
            double sd = std::sqrt(c.scale / c.n) / 0.87962566103423978;
            CHECK(m.max <= 2.0 * sd + 1e-6);
            CHECK(m.min >= -2.0 * sd - 1e-6);
        }
    }
}

TEST_CASE("constant, zeros, ones, random_normal and random_uniform initializers") {
    CHECK(init("zeros", 3, 4).cwiseAbs().maxCoeff() == 0.0f);
    CHECK(init("ones", 3, 4).minCoeff() == 1.0f);
    Matrix w(2, 2);
    Rng rng(1);
    InitializerSpec c{"constant", 0.25};
    initialize(w, c, 2, 2, rng);
    CHECK(w.minCoeff() == 0.25f);
    Moments n = moments(init("random_normal", 400, 400));
    CHECK(n.mean == doctest::Approx(0.0).scale(1.0).epsilon(0.002));
    CHECK(std::sqrt(n.var) == doctest::Approx(0.05).epsilon(0.02));
    Moments u = moments(init("random_uniform", 400, 400));
    CHECK(u.min >= -0.05);
    CHECK(u.max <= 0.05);
    CHECK(u.var == doctest::Approx(0.01 / 12.0).epsilon(0.03));  // (b−a)²/12
}

TEST_CASE("inverted dropout keeps the expected value and is the identity at inference") {
    Dropout d(0.3);
    Rng init_rng(1);
    d.build({1000}, init_rng);
    Matrix x = Matrix::Ones(100, 1000), y;
    Rng rng(5);
    d.forward(x, y, ForwardContext{true, &rng});
    double kept = double((y.array() != 0).count()) / double(y.size());
    CHECK(kept == doctest::Approx(0.7).epsilon(0.02));
    CHECK(y.maxCoeff() == doctest::Approx(1.0 / 0.7));
    CHECK(y.mean() == doctest::Approx(1.0).epsilon(0.03));
    d.forward(x, y, ForwardContext{false, nullptr});
    CHECK(y == x);
}

TEST_CASE("dense computes x·W + b with the kernel stored (in, out)") {
    Dense::Options o;
    o.units = 2;
    Dense d(o);
    Rng rng(1);
    d.build({3}, rng);
    d.kernel() << 1, 2, 3, 4, 5, 6;
    d.bias() << 0.5f, -1.0f;
    Matrix x(1, 3), y;
    x << 1, 1, 2;
    d.forward(x, y, ForwardContext{});
    CHECK(y(0, 0) == 1 + 3 + 10 + 0.5f);
    CHECK(y(0, 1) == 2 + 4 + 12 - 1.0f);
}
