#include "core/initializers.hpp"

#include <Eigen/QR>
#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace nnctl {

const std::vector<std::string>& initializer_names() {
    static const std::vector<std::string> names = {
        "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
        "zeros",          "ones",          "constant",   "random_normal", "random_uniform",
        "uniform",        "orthogonal"};
    return names;
}

namespace {
// Keras' variance-scaling: uniform limit sqrt(3*scale/n); truncated normal stddev sqrt(scale/n)/0.8796...
void variance_scaling(Matrix& w, double scale, double n, bool uniform, Rng& rng) {
    if (uniform) {
        double limit = std::sqrt(3.0 * scale / n);
        for (Eigen::Index i = 0; i < w.size(); ++i)
            w.data()[i] = float((2.0 * rng.uniform() - 1.0) * limit);
    } else {
        double stddev = std::sqrt(scale / n) / 0.87962566103423978;
        for (Eigen::Index i = 0; i < w.size(); ++i) w.data()[i] = float(rng.truncated_normal() * stddev);
    }
}
}  // namespace

void initialize(Matrix& w, const InitializerSpec& s, int64_t fan_in, int64_t fan_out, Rng& rng) {
    const double fi = double(fan_in), fo = double(fan_out);
    if (s.type == "glorot_uniform") variance_scaling(w, 1.0, (fi + fo) / 2.0, true, rng);
    else if (s.type == "glorot_normal") variance_scaling(w, 1.0, (fi + fo) / 2.0, false, rng);
    else if (s.type == "he_uniform") variance_scaling(w, 2.0, fi, true, rng);
    else if (s.type == "he_normal") variance_scaling(w, 2.0, fi, false, rng);
    else if (s.type == "lecun_uniform") variance_scaling(w, 1.0, fi, true, rng);
    else if (s.type == "lecun_normal") variance_scaling(w, 1.0, fi, false, rng);
    else if (s.type == "zeros") w.setZero();
    else if (s.type == "ones") w.setOnes();
    else if (s.type == "constant") w.setConstant(float(s.value));
    else if (s.type == "random_normal") {
        for (Eigen::Index i = 0; i < w.size(); ++i) w.data()[i] = float(s.mean + s.stddev * rng.normal());
    } else if (s.type == "orthogonal") {
        // Keras' Orthogonal (gain 1): Q of the QR decomposition of a normal matrix, its columns' signs
        // fixed by R's diagonal; the taller orientation is drawn and transposed when the matrix is wide.
        const Eigen::Index r = w.rows(), c = w.cols(), tall = std::max(r, c), wide = std::min(r, c);
        Eigen::MatrixXd a(tall, wide);
        for (Eigen::Index i = 0; i < a.rows(); ++i)
            for (Eigen::Index j = 0; j < a.cols(); ++j) a(i, j) = rng.normal();
        Eigen::HouseholderQR<Eigen::MatrixXd> qr(a);
        Eigen::MatrixXd q = qr.householderQ() * Eigen::MatrixXd::Identity(tall, wide);
        const Eigen::MatrixXd rr = qr.matrixQR().topRows(wide).triangularView<Eigen::Upper>();
        for (Eigen::Index j = 0; j < wide; ++j)
            if (rr(j, j) < 0) q.col(j) = -q.col(j);
        if (r < c) w = q.transpose().cast<float>();
        else w = q.cast<float>();
    } else if (s.type == "random_uniform" || s.type == "uniform") {  // Keras' "uniform": [−0.05, 0.05)
        for (Eigen::Index i = 0; i < w.size(); ++i)
            w.data()[i] = float(s.minval + (s.maxval - s.minval) * rng.uniform());
    } else {
        throw ConfigError("unknown initializer '" + s.type + "'");
    }
}

}  // namespace nnctl
