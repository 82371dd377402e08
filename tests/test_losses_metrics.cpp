// Loss and metric values against reference numbers computed by hand.
#include <doctest/doctest.h>

#include <cmath>

#include "losses/loss.hpp"
#include "metrics/metric.hpp"
#include "regularizers/regularizer.hpp"

using namespace nnctl;

namespace {
Matrix rows(std::initializer_list<std::initializer_list<float>> r) {
    Matrix m(Eigen::Index(r.size()), Eigen::Index(r.begin()->size()));
    Eigen::Index i = 0;
    for (auto& row : r) {
        Eigen::Index j = 0;
        for (float v : row) m(i, j++) = v;
        ++i;
    }
    return m;
}
}  // namespace

TEST_CASE("loss values match hand-computed references") {
    CHECK(Loss{"mean_squared_error"}.compute(rows({{1, 2}}), rows({{0, 0}}), nullptr) == doctest::Approx(2.5));
    CHECK(Loss{"mean_absolute_error"}.compute(rows({{1, -2}}), rows({{0, 0}}), nullptr) == doctest::Approx(1.5));
    // Huber, delta 1: e = 2 → 1.5 (linear part), e = 0.5 → 0.125 (quadratic part); mean 0.8125.
    CHECK(Loss{"huber"}.compute(rows({{2, 0.5}}), rows({{0, 0}}), nullptr) == doctest::Approx(0.8125));
    CHECK(Loss{"categorical_crossentropy"}.compute(rows({{0.7f, 0.2f, 0.1f}}), rows({{1, 0, 0}}), nullptr) ==
          doctest::Approx(-std::log(0.7)));
    CHECK(Loss{"sparse_categorical_crossentropy"}.compute(rows({{0.7f, 0.2f, 0.1f}}), rows({{1}}), nullptr) ==
          doctest::Approx(-std::log(0.2)));
    // From logits: log(e² + e + 1) − 2.
    Loss cl{"categorical_crossentropy", true};
    CHECK(cl.compute(rows({{2, 1, 0}}), rows({{1, 0, 0}}), nullptr) ==
          doctest::Approx(std::log(std::exp(2.0) + std::exp(1.0) + 1.0) - 2.0));
    CHECK(Loss{"binary_crossentropy"}.compute(rows({{0.8f}}), rows({{1}}), nullptr) ==
          doctest::Approx(-std::log(0.8)));
    Loss bl{"binary_crossentropy", true};
    CHECK(bl.compute(rows({{0}}), rows({{1}}), nullptr) == doctest::Approx(std::log(2.0)));
    // Stable for extreme logits: −z·y + log(1+e^z) at z = 100, y = 0 → 100.
    CHECK(bl.compute(rows({{100}}), rows({{0}}), nullptr) == doctest::Approx(100.0));
    // Probabilities are clipped to [1e-7, 1 − 1e-7] as in Keras: −log(1e-7) for a confident miss.
    CHECK(Loss{"binary_crossentropy"}.compute(rows({{0}}), rows({{1}}), nullptr) ==
          doctest::Approx(-std::log(1e-7)).epsilon(1e-4));
    // Batch mean: two rows average.
    CHECK(Loss{"mean_squared_error"}.compute(rows({{1}, {3}}), rows({{0}, {0}}), nullptr) == doctest::Approx(5.0));
}

TEST_CASE("fused softmax + cross-entropy equals cross-entropy on softmax probabilities") {
    Matrix z = rows({{0.3f, -1.2f, 2.0f}, {1.0f, 1.0f, -0.5f}});
    Matrix t = rows({{0, 0, 1}, {1, 0, 0}});
    Matrix p(2, 3);
    for (int i = 0; i < 2; ++i) p.row(i) = (z.row(i).array().exp() / z.row(i).array().exp().sum()).matrix();
    Loss fused{"categorical_crossentropy", true};
    CHECK(fused.compute(z, t, nullptr) == doctest::Approx(Loss{"categorical_crossentropy"}.compute(p, t, nullptr)));
}

TEST_CASE("a sparse label outside the classes is a data error") {
    CHECK_THROWS_WITH(Loss{"sparse_categorical_crossentropy"}.compute(rows({{0.5f, 0.5f}}), rows({{2}}), nullptr),
                      doctest::Contains("not a class index"));
}

TEST_CASE("accuracy follows Keras' choice of binary, categorical or sparse") {
    auto cat = make_metric({"accuracy"}, AccuracyKind::Categorical);
    cat->update(rows({{0.1f, 0.9f}, {0.8f, 0.2f}, {0.3f, 0.7f}}), rows({{0, 1}, {0, 1}, {0, 1}}));
    CHECK(cat->result() == doctest::Approx(2.0 / 3.0));
    auto sp = make_metric({"accuracy"}, AccuracyKind::Sparse);
    sp->update(rows({{0.1f, 0.9f}, {0.8f, 0.2f}}), rows({{1}, {1}}));
    CHECK(sp->result() == doctest::Approx(0.5));
    auto bin = make_metric({"accuracy"}, AccuracyKind::Binary);
    bin->update(rows({{0.6f}, {0.4f}, {0.9f}, {0.2f}}), rows({{1}, {1}, {1}, {0}}));
    CHECK(bin->result() == doctest::Approx(0.75));
    bin->reset();
    CHECK(bin->result() == 0.0);
}

TEST_CASE("top_k_accuracy, mse and mae metrics") {
    MetricSpec k2{"top_k_accuracy", 2};
    auto tk = make_metric(k2, AccuracyKind::Sparse);
    tk->update(rows({{0.5f, 0.3f, 0.2f}, {0.5f, 0.3f, 0.2f}}), rows({{1}, {2}}));
    CHECK(tk->result() == doctest::Approx(0.5));
    auto mse = make_metric({"mse"}, AccuracyKind::Categorical);
    mse->update(rows({{1, 2}}), rows({{0, 0}}));
    CHECK(mse->result() == doctest::Approx(2.5));
    auto mae = make_metric({"mae"}, AccuracyKind::Categorical);
    mae->update(rows({{1, -3}}), rows({{0, 0}}));
    CHECK(mae->result() == doctest::Approx(2.0));
}

TEST_CASE("regularizer penalties follow Keras (no 1/2 on l2)") {
    Matrix w = rows({{1, -2}, {0.5f, 0}});
    CHECK(RegularizerSpec{0.1, 0.0}.penalty(w) == doctest::Approx(0.35));
    CHECK(RegularizerSpec{0.0, 0.1}.penalty(w) == doctest::Approx(0.525));
    CHECK(RegularizerSpec{0.1, 0.1}.penalty(w) == doctest::Approx(0.875));
}

TEST_CASE("softmax cross-entropy from logits on a batch view: value and gradient against double sums") {
    // 37 rows of 10 logits read through a view with a row stride of 13 (as a block of a wider
    // matrix), one row with logits far apart (stability), sparse and one-hot targets.
    const Eigen::Index B = 37, K = 10;
    Matrix wide(B, 13);
    for (Eigen::Index i = 0; i < B; ++i)
        for (Eigen::Index j = 0; j < 13; ++j) wide(i, j) = float(std::sin(double(i * 13 + j)) * 4.0);
    wide(5, 9) = 95.0f;  // the row max in the last column
    wide(5, 0) = -80.0f;
    const ConstView z = wide.leftCols(K);
    Matrix sparse(B, 1), onehot = Matrix::Zero(B, K);
    for (Eigen::Index i = 0; i < B; ++i) {
        sparse(i, 0) = float((i * 7) % K);
        onehot(i, (i * 7) % K) = 1.0f;
    }
    double want = 0.0;
    Eigen::MatrixXd grad(B, K);
    for (Eigen::Index i = 0; i < B; ++i) {
        double m = -1e300, s = 0.0;
        for (Eigen::Index j = 0; j < K; ++j) m = std::max(m, double(z(i, j)));
        for (Eigen::Index j = 0; j < K; ++j) s += std::exp(double(z(i, j)) - m);
        const Eigen::Index c = (i * 7) % K;
        want += (m + std::log(s) - double(z(i, c))) / double(B);
        for (Eigen::Index j = 0; j < K; ++j)
            grad(i, j) = (std::exp(double(z(i, j)) - m) / s - (j == c ? 1.0 : 0.0)) / double(B);
    }
    for (const Matrix* t : {&sparse, &onehot}) {
        Loss l{t == &sparse ? "sparse_categorical_crossentropy" : "categorical_crossentropy", true};
        Matrix dz;
        CHECK(l.compute(z, *t, &dz) == doctest::Approx(want).epsilon(1e-6));
        REQUIRE(dz.rows() == B);
        REQUIRE(dz.cols() == K);
        CHECK((dz.cast<double>() - grad).cwiseAbs().maxCoeff() < 1e-7);
    }
}
