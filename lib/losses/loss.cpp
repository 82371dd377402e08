#include "losses/loss.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace nnctl {

namespace {
constexpr double kEps = 1e-7;  // Keras' backend epsilon, used to clip probabilities

double log_sum_exp_row(const ConstView& z, Eigen::Index r) {
    double m = z.row(r).maxCoeff();
    double s = 0.0;
    for (Eigen::Index j = 0; j < z.cols(); ++j) s += std::exp(double(z(r, j)) - m);
    return m + std::log(s);
}
}  // namespace

const std::vector<std::string>& loss_names() {
    static const std::vector<std::string> names = {
        "mean_squared_error",  "mean_absolute_error",      "huber",
        "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"};
    return names;
}

std::string canonical_loss_name(const std::string& n) {
    if (is(n, "mse")) return "mean_squared_error";
    if (is(n, "mae")) return "mean_absolute_error";
    if (is(n, "huber_loss")) return "huber";
    return n;
}

bool Loss::is_classification() const {
    return is(type, "binary_crossentropy") || is(type, "categorical_crossentropy") ||
           is(type, "sparse_categorical_crossentropy");
}

double Loss::compute(const ConstView& p, const ConstView& t, Matrix* dp) const {
    const Eigen::Index B = p.rows(), K = p.cols();
    const double inv_b = 1.0 / double(B);
    if (dp) dp->resize(B, K);
    double total = 0.0;

    if (is(type, "mean_squared_error") || is(type, "mean_absolute_error") || is(type, "huber")) {
        const double scale = inv_b / double(K);
        const int mode = is(type, "mean_squared_error") ? 0 : is(type, "mean_absolute_error") ? 1 : 2;
        for (Eigen::Index i = 0; i < B; ++i)
            for (Eigen::Index j = 0; j < K; ++j) {
                double e = double(p(i, j)) - double(t(i, j));
                double l, g;
                if (mode == 0) {
                    l = e * e;
                    g = 2.0 * e;
                } else if (mode == 1) {
                    l = std::fabs(e);
                    g = (e > 0) - (e < 0);
                } else {
                    double a = std::fabs(e);
                    if (a <= delta) {
                        l = 0.5 * e * e;
                        g = e;
                    } else {
                        l = delta * (a - 0.5 * delta);
                        g = delta * ((e > 0) - (e < 0));
                    }
                }
                total += l;
                if (dp) (*dp)(i, j) = float(g * scale);
            }
        return total * scale;
    }

    if (is(type, "binary_crossentropy")) {
        const double scale = inv_b / double(K);
        for (Eigen::Index i = 0; i < B; ++i)
            for (Eigen::Index j = 0; j < K; ++j) {
                double y = t(i, j), v = p(i, j), l, g;
                if (from_logits) {  // max(z,0) − z·y + log(1 + e^−|z|)
                    l = std::max(v, 0.0) - v * y + std::log1p(std::exp(-std::fabs(v)));
                    double s = v >= 0 ? 1.0 / (1.0 + std::exp(-v)) : std::exp(v) / (1.0 + std::exp(v));
                    g = s - y;
                } else {
                    double q = std::clamp(v, kEps, 1.0 - kEps);
                    l = -(y * std::log(q) + (1.0 - y) * std::log(1.0 - q));
                    g = (v < kEps || v > 1.0 - kEps) ? 0.0 : (-y / q + (1.0 - y) / (1.0 - q));
                }
                total += l;
                if (dp) (*dp)(i, j) = float(g * scale);
            }
        return total * scale;
    }

    if ((is(type, "categorical_crossentropy") || is(type, "sparse_categorical_crossentropy")) && from_logits) {
        // Whole-batch, vectorized: E = exp(z − rowmax), lse = rowmax + log ΣE;
        // loss = Σ_j t_j (lse − z_j); dL/dz = (softmax(z)·Σt − t) / B.
        // Rows of ~10 classes are shorter than one AVX-512 packet, so shift every row by its max,
        // then one exp, one log and one scaling over the whole batch.
        const bool sparse = sparse_targets();
        rowmax_.resize(B);
        scratch_.resize(B, K);
        rowsum_.resize(B);
        // Rows are ~10 wide: plain loops over raw rows (Eigen's per-row expressions cost more in
        // setup than in arithmetic here); exp and log run vectorized over the whole batch.
        const float* P = p.data();
        const Eigen::Index lp = p.outerStride();
        float* S = scratch_.data();
        for (Eigen::Index i = 0; i < B; ++i) {
            const float* zi = P + i * lp;
            float m = zi[0];
            for (Eigen::Index j = 1; j < K; ++j) m = std::max(m, zi[j]);
            rowmax_(i) = m;
            for (Eigen::Index j = 0; j < K; ++j) S[i * K + j] = zi[j] - m;
        }
        scratch_.array() = scratch_.array().exp();
        for (Eigen::Index i = 0; i < B; ++i) {
            float sum = 0.0f;
            for (Eigen::Index j = 0; j < K; ++j) sum += S[i * K + j];
            rowsum_(i) = sum;
        }
        lse_ = rowmax_.array() + rowsum_.array().log();
        if (sparse) {
            for (Eigen::Index i = 0; i < B; ++i) {
                const double c = t(i, 0);
                if (!(c >= 0 && c < double(K)) || c != std::floor(c))
                    throw DataError("sparse_categorical_crossentropy: label " + std::to_string(c) +
                                    " is not a class index in [0, " + std::to_string(K) + ")");
                total += double(lse_(i)) - double(p(i, Eigen::Index(c)));
            }
            if (dp) {
                float* D = dp->data();  // (B × K), contiguous
                for (Eigen::Index i = 0; i < B; ++i) {
                    const float f = float(inv_b) / rowsum_(i);  // softmax / B
                    for (Eigen::Index j = 0; j < K; ++j) D[i * K + j] = S[i * K + j] * f;
                    D[i * K + Eigen::Index(t(i, 0))] -= float(inv_b);
                }
            }
        } else {
            for (Eigen::Index i = 0; i < B; ++i) {
                const double tsum = double(t.row(i).sum());
                total += tsum * double(lse_(i)) - double(t.row(i).dot(p.row(i)));
                if (dp) dp->row(i) = (scratch_.row(i) * float(tsum / double(rowsum_(i))) - t.row(i)) * float(inv_b);
            }
        }
        return total * inv_b;
    }

    if (is(type, "categorical_crossentropy") || is(type, "sparse_categorical_crossentropy")) {
        const bool sparse = sparse_targets();
        for (Eigen::Index i = 0; i < B; ++i) {
            auto target = [&](Eigen::Index j) -> double {
                if (!sparse) return t(i, j);
                return Eigen::Index(t(i, 0)) == j ? 1.0 : 0.0;
            };
            if (sparse) {
                double c = t(i, 0);
                if (!(c >= 0 && c < double(K)) || c != std::floor(c))
                    throw DataError("sparse_categorical_crossentropy: label " + std::to_string(c) +
                                    " is not a class index in [0, " + std::to_string(K) + ")");
            }
            double tsum = 0.0;
            for (Eigen::Index j = 0; j < K; ++j) tsum += target(j);
            if (from_logits) {  // Σ t_j (lse − z_j); gradient softmax·Σt − t
                double lse = log_sum_exp_row(p, i);
                for (Eigen::Index j = 0; j < K; ++j) {
                    double y = target(j);
                    if (y != 0.0) total += y * (lse - double(p(i, j)));
                    if (dp) (*dp)(i, j) = float((std::exp(double(p(i, j)) - lse) * tsum - y) * inv_b);
                }
            } else {  // Keras: p ← p / Σp, clipped to [eps, 1−eps], loss −Σ t log p
                double s = 0.0;
                for (Eigen::Index j = 0; j < K; ++j) s += p(i, j);
                for (Eigen::Index j = 0; j < K; ++j) {
                    double y = target(j);
                    double q = double(p(i, j)) / s;
                    bool clipped = q < kEps || q > 1.0 - kEps;
                    double qc = std::clamp(q, kEps, 1.0 - kEps);
                    if (y != 0.0) total -= y * std::log(qc);
                    if (dp) {
                        // d/dp_j of −Σ_m t_m log(p_m/s) = −t_j/p_j + Σt/s  (clipped terms pass no gradient)
                        double g = (clipped || y == 0.0 ? 0.0 : -y / double(p(i, j)));
                        (*dp)(i, j) = float(g * inv_b);
                    }
                }
                if (dp) {
                    double corr = 0.0;  // the Σt/s part, from the unclipped terms only
                    for (Eigen::Index j = 0; j < K; ++j) {
                        double q = double(p(i, j)) / s;
                        if (!(q < kEps || q > 1.0 - kEps)) corr += target(j);
                    }
                    for (Eigen::Index j = 0; j < K; ++j) (*dp)(i, j) += float(corr / s * inv_b);
                }
            }
        }
        return total * inv_b;
    }
    throw ConfigError("unknown loss '" + type + "'");
}

}  // namespace nnctl
