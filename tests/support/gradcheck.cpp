#include "support/gradcheck.hpp"

#include <cmath>

#include "core/rng.hpp"

namespace nnctl::test {

GradReport check_layer(Layer& layer, int batch, const Shape& input, uint64_t seed, const GradCase& c, double input_scale);

namespace {
constexpr double kStep = 1e-3;

void record(GradReport& r, double analytic, double numeric, const std::string& where) {
    double err = std::fabs(analytic - numeric) / std::max(1e-2, std::fabs(analytic) + std::fabs(numeric));
    if (err > r.worst) {
        r.worst = err;
        r.where = where + " analytic=" + std::to_string(analytic) + " numeric=" + std::to_string(numeric);
    }
}
/// Central difference of f with respect to element i of m (m is restored).
template <class F>
double central_difference(Matrix& m, Eigen::Index i, F&& f) {
    const float orig = m.data()[i];
    m.data()[i] = float(orig + kStep);
    const double lp = f();
    m.data()[i] = float(orig - kStep);
    const double lm = f();
    m.data()[i] = orig;
    return (lp - lm) / (2 * kStep);
}
}  // namespace

Matrix random_matrix(Eigen::Index rows, Eigen::Index cols, uint64_t seed, double scale, double gap) {
    Rng rng(seed);
    Matrix m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) {
        double v;
        do v = (2.0 * rng.uniform() - 1.0) * scale;
        while (std::fabs(v) < gap);
        m.data()[i] = float(v);
    }
    return m;
}

GradReport check_layer(Layer& layer, int batch, const Shape& input, uint64_t seed, bool training, double input_scale) {
    return check_layer(layer, batch, input, seed, GradCase{nullptr, nullptr, true, training}, input_scale);
}

GradReport check_layer(Layer& layer, int batch, const Shape& input, uint64_t seed, const GradCase& c) {
    return check_layer(layer, batch, input, seed, c, 1.0);
}

GradReport check_layer(Layer& layer, int batch, const Shape& input, uint64_t seed, const GradCase& c, double input_scale) {
    const bool training = c.training;
    Rng init(seed);
    Shape out_shape = layer.build(input, init);
    Matrix x = c.x ? *c.x : random_matrix(batch, shape_size(input), seed + 1, input_scale, 0.05);
    Matrix r = random_matrix(batch, shape_size(out_shape), seed + 2);
    const uint64_t stream = seed + 3;

    auto loss_at = [&](const Matrix& xin) {
        Rng rng(stream);
        Matrix y;
        layer.forward(xin, y, ForwardContext{training, &rng, c.mask});
        return double((y.cast<double>().array() * r.cast<double>().array()).sum());
    };

    Rng rng(stream);
    Matrix y, dx;
    layer.forward(x, y, ForwardContext{training, &rng, c.mask});
    layer.backward(x, y, r, &dx);

    GradReport rep;
    // Parameters: copy the analytic gradients first (later forwards may not touch them, but be safe).
    std::vector<ParamRef> params = layer.params();
    std::vector<Matrix> grads;
    for (auto& p : params) grads.push_back(*p.grad);
    for (size_t k = 0; k < params.size(); ++k) {
        if (!params[k].trainable) continue;  // statistics (batch normalization's moving ones), not learned
        Matrix& w = *params[k].value;
        for (Eigen::Index i = 0; i < w.size(); ++i)
            record(rep, grads[k].data()[i], central_difference(w, i, [&] { return loss_at(x); }),
                   params[k].name + "[" + std::to_string(i) + "]");
    }
    if (!c.check_input) return rep;
    Matrix xp = x;
    for (Eigen::Index i = 0; i < x.size(); ++i)
        record(rep, dx.data()[i], central_difference(xp, i, [&] { return loss_at(xp); }),
               "input[" + std::to_string(i) + "]");
    return rep;
}

GradReport check_layer_multi(Layer& layer, int batch, const std::vector<Shape>& inputs, uint64_t seed,
                             const std::vector<Matrix>* given, const std::vector<const Matrix*>* masks) {
    ForwardContext ctx;
    ctx.input_masks = masks;
    ctx.mask = masks && !masks->empty() ? (*masks)[0] : nullptr;
    Rng init(seed);
    const Shape out_shape = layer.build_multi(inputs, init);
    std::vector<Matrix> xs;
    for (size_t k = 0; k < inputs.size(); ++k)
        xs.push_back(given ? (*given)[k] : random_matrix(batch, shape_size(inputs[k]), seed + 10 + k, 1.0, 0.05));
    const Matrix r = random_matrix(batch, shape_size(out_shape), seed + 2);
    auto loss_at = [&] {
        std::vector<ConstView> v(xs.begin(), xs.end());
        Matrix y;
        layer.forward_multi(v, y, ctx);
        return double((y.cast<double>().array() * r.cast<double>().array()).sum());
    };
    std::vector<ConstView> v(xs.begin(), xs.end());
    Matrix y;
    layer.forward_multi(v, y, ctx);
    std::vector<Matrix> dx(xs.size());
    std::vector<Matrix*> dxs;
    for (auto& d : dx) dxs.push_back(&d);
    layer.backward_multi(v, y, r, dxs);
    GradReport rep;
    std::vector<ParamRef> params = layer.params();
    std::vector<Matrix> grads;
    for (auto& p : params) grads.push_back(*p.grad);
    for (size_t k = 0; k < params.size(); ++k) {
        if (!params[k].trainable) continue;
        Matrix& w = *params[k].value;
        for (Eigen::Index i = 0; i < w.size(); ++i)
            record(rep, grads[k].data()[i], central_difference(w, i, loss_at), params[k].name + "[" + std::to_string(i) + "]");
    }
    for (size_t k = 0; k < xs.size(); ++k) {
        if (dx[k].rows() != xs[k].rows() || dx[k].cols() != xs[k].cols()) {
            rep.worst = 1e9;
            rep.where = "input " + std::to_string(k) + ": gradient of the wrong shape";
            return rep;
        }
        for (Eigen::Index i = 0; i < xs[k].size(); ++i)
            record(rep, dx[k].data()[i], central_difference(xs[k], i, loss_at),
                   "input" + std::to_string(k) + "[" + std::to_string(i) + "]");
    }
    return rep;
}

GradReport check_loss(const Loss& loss, const Matrix& p, const Matrix& t) {
    Matrix dp;
    loss.compute(p, t, &dp);
    GradReport rep;
    Matrix q = p;
    for (Eigen::Index i = 0; i < q.size(); ++i)
        record(rep, dp.data()[i], central_difference(q, i, [&] { return loss.compute(q, t, nullptr); }),
               loss.type + " p[" + std::to_string(i) + "]");
    return rep;
}

GradReport check_regularizer(const RegularizerSpec& r, const Matrix& w) {
    Matrix g = Matrix::Zero(w.rows(), w.cols());
    r.add_gradient(w, g);
    GradReport rep;
    Matrix q = w;
    for (Eigen::Index i = 0; i < q.size(); ++i)
        record(rep, g.data()[i], central_difference(q, i, [&] { return r.penalty(q); }), "w[" + std::to_string(i) + "]");
    return rep;
}

}  // namespace nnctl::test
