// Optimizer steps against values computed independently from the published update rules, three
// steps each, on a two-element parameter with a fixed gradient sequence.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "optim/optimizer.hpp"

using namespace nnctl;

namespace {

const std::vector<std::vector<double>> kGrads = {{0.5, -0.2}, {-0.3, 0.4}, {0.2, 0.1}};
const std::vector<double> kW0 = {1.0, -0.5};

/// Runs three steps of `spec` and returns w after each step.
std::vector<std::vector<double>> run(const OptimizerSpec& spec) {
    auto opt = make_optimizer(spec);
    Matrix w(1, 2), g(1, 2);
    w << float(kW0[0]), float(kW0[1]);
    RegularizerSpec none;
    std::vector<ParamRef> params = {{"w", &w, &g, &none, true}};
    std::vector<std::vector<double>> out;
    for (const auto& gs : kGrads) {
        g << float(gs[0]), float(gs[1]);
        opt->step(params);
        out.push_back({w(0, 0), w(0, 1)});
    }
    return out;
}

void expect_close(const std::vector<std::vector<double>>& got, const std::vector<std::vector<double>>& want,
                  double tol = 2e-6) {
    REQUIRE(got.size() == want.size());
    for (size_t s = 0; s < got.size(); ++s)
        for (size_t i = 0; i < 2; ++i) {
            INFO("step " << s + 1 << " element " << i);
            CHECK(got[s][i] == doctest::Approx(want[s][i]).epsilon(tol).scale(1.0));
        }
}

OptimizerSpec spec(const std::string& type, double lr) {
    OptimizerSpec s;
    s.type = type;
    s.learning_rate.initial_learning_rate = lr;
    s.weight_decay = 0.0;
    return s;
}

}  // namespace

TEST_CASE("sgd: plain, momentum and nesterov, against hand-computed steps") {
    // Plain: w -= 0.1 g.
    expect_close(run(spec("sgd", 0.1)), {{0.95, -0.48}, {0.98, -0.52}, {0.96, -0.53}});
    // Momentum 0.9, element 0 by hand: v1=-0.05 w=0.95; v2=-0.045+0.03=-0.015 w=0.935; v3=-0.0135-0.02=-0.0335 w=0.9015
    // element 1: v1=0.02 w=-0.48; v2=0.018-0.04=-0.022 w=-0.502; v3=-0.0198-0.01=-0.0298 w=-0.5318
    auto m = spec("sgd", 0.1);
    m.momentum = 0.9;
    expect_close(run(m), {{0.95, -0.48}, {0.935, -0.502}, {0.9015, -0.5318}});
    // Nesterov: w += mu v - lr g. element 0: 1-0.045-0.05=0.905; +(-0.0135)+0.03=0.9215; +(-0.03015)-0.02=0.87135
    // element 1: -0.5+0.018+0.02=-0.462; -0.462-0.0198-0.04=-0.5218; -0.5218-0.02682-0.01=-0.55862
    m.nesterov = true;
    expect_close(run(m), {{0.905, -0.462}, {0.9215, -0.5218}, {0.87135, -0.55862}});
}

namespace {
// Textbook Adam (Kingma & Ba): bias-corrected moments, ε̂ = ε·√(1−β2^t) makes it equal Keras' form.
std::vector<std::vector<double>> adam_reference(double lr, bool amsgrad, double wd) {
    const double b1 = 0.9, b2 = 0.999, eps = 1e-7;
    std::vector<double> w = kW0, m(2, 0.0), v(2, 0.0), vmax(2, 0.0);
    std::vector<std::vector<double>> out;
    for (size_t t = 1; t <= kGrads.size(); ++t) {
        for (size_t i = 0; i < 2; ++i) {
            double g = kGrads[t - 1][i];
            w[i] -= lr * wd * w[i];
            m[i] = b1 * m[i] + (1 - b1) * g;
            v[i] = b2 * v[i] + (1 - b2) * g * g;
            vmax[i] = std::max(vmax[i], v[i]);
            double mhat = m[i] / (1 - std::pow(b1, double(t)));
            double vv = amsgrad ? vmax[i] : v[i];
            double vhat = vv / (1 - std::pow(b2, double(t)));
            w[i] -= lr * mhat / (std::sqrt(vhat) + eps / std::sqrt(1 - std::pow(b2, double(t))));
        }
        out.push_back(w);
    }
    return out;
}
}  // namespace

TEST_CASE("adam, amsgrad and adamw against the published rules") {
    expect_close(run(spec("adam", 0.1)), adam_reference(0.1, false, 0.0));
    // First step by hand: m̂ = g, v̂ = g², so w moves by lr·sign(g) (to 1e-6).
    CHECK(run(spec("adam", 0.1))[0][0] == doctest::Approx(0.9).epsilon(1e-5));
    auto a = spec("adam", 0.1);
    a.amsgrad = true;
    expect_close(run(a), adam_reference(0.1, true, 0.0));
    auto w = spec("adamw", 0.1);
    w.weight_decay = 0.05;
    expect_close(run(w), adam_reference(0.1, false, 0.05));
}

TEST_CASE("rmsprop: plain, centered, momentum") {
    auto reference = [](bool centered, double mom) {
        const double rho = 0.9, eps = 1e-7, lr = 0.01;
        std::vector<double> w = kW0, v(2, 0.0), a(2, 0.0), m(2, 0.0);
        std::vector<std::vector<double>> out;
        for (const auto& gs : kGrads) {
            for (size_t i = 0; i < 2; ++i) {
                double g = gs[i];
                v[i] = rho * v[i] + (1 - rho) * g * g;
                double denom = v[i];
                if (centered) {
                    a[i] = rho * a[i] + (1 - rho) * g;
                    denom -= a[i] * a[i];
                }
                double inc = lr * g / std::sqrt(denom + eps);
                if (mom > 0) {
                    m[i] = mom * m[i] + inc;
                    w[i] -= m[i];
                } else {
                    w[i] -= inc;
                }
            }
            out.push_back(w);
        }
        return out;
    };
    // Step 1 by hand: v = 0.1·0.25 = 0.025, inc = 0.01·0.5/√0.025 = 0.0316228 → w = 0.9683772.
    CHECK(run(spec("rmsprop", 0.01))[0][0] == doctest::Approx(0.9683772).epsilon(1e-6));
    expect_close(run(spec("rmsprop", 0.01)), reference(false, 0.0));
    auto c = spec("rmsprop", 0.01);
    c.centered = true;
    expect_close(run(c), reference(true, 0.0), 1e-5);
    c.momentum = 0.5;
    expect_close(run(c), reference(true, 0.5), 1e-5);
}

TEST_CASE("adagrad against the published rule") {
    // acc starts at 0.1. Step 1, element 0: acc = 0.35, w = 1 − 0.1·0.5/√0.35 = 0.9154845.
    auto got = run(spec("adagrad", 0.1));
    CHECK(got[0][0] == doctest::Approx(1.0 - 0.05 / std::sqrt(0.35)).epsilon(1e-6));
    std::vector<double> w = kW0, acc(2, 0.1);
    std::vector<std::vector<double>> want;
    for (const auto& gs : kGrads) {
        for (size_t i = 0; i < 2; ++i) {
            acc[i] += gs[i] * gs[i];
            w[i] -= 0.1 * gs[i] / std::sqrt(acc[i] + 1e-7);
        }
        want.push_back(w);
    }
    expect_close(got, want);
}

TEST_CASE("nadam against Keras' published rule") {
    const double b1 = 0.9, b2 = 0.999, eps = 1e-7, lr = 0.01;
    std::vector<double> w = kW0, m(2, 0.0), v(2, 0.0);
    double uprod = 1.0;
    std::vector<std::vector<double>> want;
    for (size_t t = 1; t <= 3; ++t) {
        double ut = b1 * (1 - 0.5 * std::pow(0.96, double(t)));
        double ut1 = b1 * (1 - 0.5 * std::pow(0.96, double(t + 1)));
        uprod *= ut;
        for (size_t i = 0; i < 2; ++i) {
            double g = kGrads[t - 1][i];
            m[i] = b1 * m[i] + (1 - b1) * g;
            v[i] = b2 * v[i] + (1 - b2) * g * g;
            double mhat = ut1 * m[i] / (1 - uprod * ut1) + (1 - ut) * g / (1 - uprod);
            double vhat = v[i] / (1 - std::pow(b2, double(t)));
            w[i] -= lr * mhat / (std::sqrt(vhat) + eps);
        }
        want.push_back(w);
    }
    expect_close(run(spec("nadam", lr)), want);
}

TEST_CASE("gradient clipping: clipvalue, clipnorm, global_clipnorm") {
    auto s = spec("sgd", 1.0);
    s.clipvalue = 0.25;  // g1 = (0.25, -0.2) → w = (0.75, -0.3)
    CHECK(run(s)[0][0] == doctest::Approx(0.75));
    CHECK(run(s)[0][1] == doctest::Approx(-0.3));
    auto n = spec("sgd", 1.0);
    n.clipnorm = 0.1;  // |g1| = √0.29 → g scaled by 0.1/0.5385
    double scale = 0.1 / std::sqrt(0.29);
    CHECK(run(n)[0][0] == doctest::Approx(1.0 - 0.5 * scale));
    CHECK(run(n)[0][1] == doctest::Approx(-0.5 + 0.2 * scale));
    auto gl = spec("sgd", 1.0);
    gl.global_clipnorm = 0.1;  // one tensor: the same as clipnorm
    CHECK(run(gl)[0][0] == doctest::Approx(1.0 - 0.5 * scale));
    // Two tensors: the joint norm is clipped, each keeps its direction.
    auto opt = make_optimizer(gl);
    Matrix a(1, 1), ga(1, 1), b(1, 1), gb(1, 1);
    a << 0.f;
    b << 0.f;
    ga << 3.f;
    gb << 4.f;  // joint norm 5 → scale 0.02
    RegularizerSpec none;
    opt->step({{"a", &a, &ga, &none, true}, {"b", &b, &gb, &none, true}});
    CHECK(a(0, 0) == doctest::Approx(-0.06));
    CHECK(b(0, 0) == doctest::Approx(-0.08));
}

TEST_CASE("frozen parameters are not updated") {
    auto opt = make_optimizer(spec("sgd", 0.1));
    Matrix w(1, 1), g(1, 1);
    w << 1.f;
    g << 1.f;
    RegularizerSpec none;
    opt->step({{"w", &w, &g, &none, false}});
    CHECK(w(0, 0) == 1.0f);
}

TEST_CASE("learning-rate schedules match Keras' formulas") {
    ScheduleSpec e;
    e.type = "exponential_decay";
    e.initial_learning_rate = 0.1;
    e.decay_steps = 10;
    e.decay_rate = 0.5;
    CHECK(e.at(0) == doctest::Approx(0.1));
    CHECK(e.at(10) == doctest::Approx(0.05));
    CHECK(e.at(5) == doctest::Approx(0.1 * std::pow(0.5, 0.5)));
    e.staircase = true;
    CHECK(e.at(15) == doctest::Approx(0.05));

    ScheduleSpec p;
    p.type = "piecewise_constant";
    p.boundaries = {100, 200};
    p.values = {1.0, 0.5, 0.1};
    CHECK(p.at(100) == 1.0);  // step <= boundary keeps the earlier value
    CHECK(p.at(101) == 0.5);
    CHECK(p.at(200) == 0.5);
    CHECK(p.at(201) == 0.1);

    ScheduleSpec c;
    c.type = "cosine_decay";
    c.initial_learning_rate = 0.1;
    c.decay_steps = 100;
    c.alpha = 0.1;
    CHECK(c.at(0) == doctest::Approx(0.1));
    CHECK(c.at(50) == doctest::Approx(0.1 * (0.9 * 0.5 + 0.1)));
    CHECK(c.at(100) == doctest::Approx(0.01));
    CHECK(c.at(1000) == doctest::Approx(0.01));
    c.warmup_steps = 10;
    c.warmup_target = 0.2;
    c.initial_learning_rate = 0.0;
    CHECK(c.at(5) == doctest::Approx(0.1));   // halfway up the linear warmup
    CHECK(c.at(10) == doctest::Approx(0.2));  // the peak
    CHECK(c.at(60) == doctest::Approx(0.2 * (0.9 * 0.5 + 0.1)));
}

TEST_CASE("an optimizer follows its schedule step by step") {
    auto s = spec("sgd", 0.1);
    s.learning_rate.type = "piecewise_constant";
    s.learning_rate.boundaries = {0};
    s.learning_rate.values = {0.1, 0.01};
    // step 0 uses 0.1, later steps 0.01: w0 = 1 − 0.05 = 0.95, then 0.95 + 0.003 = 0.953, then 0.951
    auto got = run(s);
    CHECK(got[0][0] == doctest::Approx(0.95));
    CHECK(got[1][0] == doctest::Approx(0.953));
    CHECK(got[2][0] == doctest::Approx(0.951));
}

TEST_CASE("every optimizer's exported state continues its steps exactly (checkpoints)") {
    struct Case {
        const char* type;
        bool amsgrad, centered;
        double momentum;
    };
    for (const Case& c : {Case{"sgd", false, false, 0.9}, Case{"adam", true, false, 0}, Case{"adamw", false, false, 0},
                          Case{"rmsprop", false, true, 0.5}, Case{"adagrad", false, false, 0}, Case{"nadam", false, false, 0}}) {
        INFO(c.type);
        OptimizerSpec s;
        s.type = c.type;
        s.amsgrad = c.amsgrad, s.centered = c.centered, s.momentum = c.momentum;
        s.learning_rate.initial_learning_rate = 0.05;
        Matrix w1 = Matrix::Constant(2, 3, 0.5f), w2 = Matrix::Constant(1, 3, -0.25f), g1(2, 3), g2(1, 3);
        RegularizerSpec none;
        auto params = [&](Matrix& a, Matrix& b) {
            return std::vector<ParamRef>{{"a", &a, &g1, &none, true}, {"b", &b, &g2, &none, true}};
        };
        auto grads = [&](int step) {
            for (Eigen::Index i = 0; i < g1.size(); ++i) g1.data()[i] = std::sin(float(step * 7 + i));
            for (Eigen::Index i = 0; i < g2.size(); ++i) g2.data()[i] = std::cos(float(step * 3 + i));
        };
        auto straight = make_optimizer(s);
        straight->set_lr_factor(0.5);  // as reduce_lr_on_plateau leaves it
        auto pa = params(w1, w2);
        for (int t = 0; t < 3; ++t) grads(t), straight->step(pa);
        // Export after 3 steps, import into a fresh optimizer with copies of the weights, then both go on.
        std::vector<std::pair<std::string, const Matrix*>> ts;
        std::vector<std::pair<std::string, double>> sc;
        straight->export_state(ts, sc);
        std::map<std::string, Matrix> tm;
        std::map<std::string, double> sm(sc.begin(), sc.end());
        for (const auto& [k, m] : ts) tm[k] = *m;
        Matrix v1 = w1, v2 = w2;
        auto resumed = make_optimizer(s);
        resumed->import_state(tm, sm);
        CHECK(resumed->iterations() == 3);
        CHECK(resumed->lr_factor() == 0.5);
        auto pb = params(v1, v2);
        for (int t = 3; t < 6; ++t) {
            grads(t), straight->step(pa);
            grads(t), resumed->step(pb);
        }
        CHECK((w1 - v1).norm() == 0);
        CHECK((w2 - v2).norm() == 0);
        // A fresh optimizer without the state would have moved differently (the test can fail).
        Matrix u1 = v1, u2 = v2;
        auto fresh = make_optimizer(s);
        auto pc = params(u1, u2);
        grads(6), fresh->step(pc);
        grads(6), resumed->step(pb);
        if (std::string(c.type) != "sgd" || c.momentum != 0) CHECK((u1 - v1).norm() > 0);
    }
}
