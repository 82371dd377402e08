#include "train/evaluate.hpp"

#include <cmath>

namespace nnctl {

AccuracyKind accuracy_kind(const Loss& loss, int64_t outputs) {
    if (loss.sparse_targets()) return AccuracyKind::Sparse;
    if (loss.type == "binary_crossentropy" || outputs == 1) return AccuracyKind::Binary;
    return AccuracyKind::Categorical;
}

Logs evaluate_model(Sequential& model, const Loss& loss, const std::vector<MetricSpec>& metric_specs,
                    const Dataset& data, int batch_size) {
    const int64_t outputs = shape_size(model.output_shape());
    const Matrix t = encode_targets(data, loss, outputs);
    std::vector<std::unique_ptr<Metric>> metrics;
    for (const auto& s : metric_specs) metrics.push_back(make_metric(s, accuracy_kind(loss, outputs)));
    const Eigen::Index n = data.size();
    double loss_sum = 0.0;
    Matrix probs;
    for (Eigen::Index s = 0; s < n; s += batch_size) {
        const Eigen::Index b = std::min<Eigen::Index>(batch_size, n - s);
        const Matrix& out = model.forward(data.x.middleRows(s, b), ForwardContext{});
        loss_sum += loss.compute(out, t.middleRows(s, b), nullptr) * double(b);
        model.apply_output_activation(out, probs);
        for (auto& m : metrics) m->update(probs, t.middleRows(s, b));
    }
    Logs logs{{"loss", loss_sum / double(n) + model.regularization_penalty()}};
    for (auto& m : metrics) logs.emplace_back(m->name(), m->result());
    return logs;
}

Matrix predict_all(Sequential& model, const Matrix& x, int batch_size) {
    Matrix out(x.rows(), shape_size(model.output_shape())), buf;
    for (Eigen::Index s = 0; s < x.rows(); s += batch_size) {
        const Eigen::Index b = std::min<Eigen::Index>(batch_size, x.rows() - s);
        model.predict(x.middleRows(s, b), buf);
        out.middleRows(s, b) = buf;
    }
    return out;
}

std::vector<int> predicted_classes(const Matrix& p) {
    std::vector<int> c(size_t(p.rows()));
    for (Eigen::Index i = 0; i < p.rows(); ++i) {
        if (p.cols() == 1) {
            c[size_t(i)] = p(i, 0) > 0.5f ? 1 : 0;
        } else {
            Eigen::Index j;
            p.row(i).maxCoeff(&j);
            c[size_t(i)] = int(j);
        }
    }
    return c;
}

ClassificationReport classification_report(const std::vector<int>& truth, const std::vector<int>& pred,
                                           const std::vector<std::string>& classes) {
    ClassificationReport r;
    const size_t k = classes.size();
    r.classes = classes;
    r.confusion.assign(k, std::vector<long long>(k, 0));
    long long correct = 0;
    for (size_t i = 0; i < truth.size(); ++i) {
        r.confusion[size_t(truth[i])][size_t(pred[i])]++;
        correct += truth[i] == pred[i];
    }
    r.accuracy = truth.empty() ? 0.0 : double(correct) / double(truth.size());
    const double total = double(truth.size());
    for (size_t c = 0; c < k; ++c) {
        long long tp = r.confusion[c][c], predicted = 0, actual = 0;
        for (size_t o = 0; o < k; ++o) predicted += r.confusion[o][c], actual += r.confusion[c][o];
        // Zero where undefined, as scikit-learn's zero_division default reports.
        double p = predicted ? double(tp) / double(predicted) : 0.0;
        double rec = actual ? double(tp) / double(actual) : 0.0;
        double f = p + rec > 0 ? 2 * p * rec / (p + rec) : 0.0;
        r.precision.push_back(p);
        r.recall.push_back(rec);
        r.f1.push_back(f);
        r.support.push_back(actual);
        r.macro_precision += p / double(k);
        r.macro_recall += rec / double(k);
        r.macro_f1 += f / double(k);
        if (total > 0) {
            r.weighted_precision += p * double(actual) / total;
            r.weighted_recall += rec * double(actual) / total;
            r.weighted_f1 += f * double(actual) / total;
        }
    }
    return r;
}

RegressionReport regression_report(const Matrix& truth, const Matrix& pred) {
    RegressionReport r;
    const double n = double(truth.rows());
    const Eigen::Index k = truth.cols();
    Eigen::MatrixXd e = (pred.cast<double>() - truth.cast<double>());
    r.mse = e.array().square().sum() / (n * double(k));
    r.mae = e.array().abs().sum() / (n * double(k));
    r.rmse = std::sqrt(r.mse);
    double r2 = 0.0;
    for (Eigen::Index j = 0; j < k; ++j) {
        Eigen::VectorXd t = truth.col(j).cast<double>();
        double ss_tot = (t.array() - t.mean()).square().sum();
        double ss_res = e.col(j).squaredNorm();
        // scikit-learn: a constant target scores 1 when predicted exactly, else 0.
        r2 += (ss_tot > 0 ? 1.0 - ss_res / ss_tot : (ss_res == 0 ? 1.0 : 0.0)) / double(k);
    }
    r.r2 = r2;
    return r;
}

}  // namespace nnctl
