#include "metrics/metric.hpp"

#include <cmath>

#include "core/error.hpp"
#include "core/strings.hpp"

namespace nnctl {

namespace {

class Accuracy : public Metric {
public:
    Accuracy(AccuracyKind k) : Metric("accuracy"), kind_(k) {}
    bool needs_probabilities() const override { return kind_ == AccuracyKind::Binary; }
    void update(const ConstView& p, const ConstView& t) override {
        for (Eigen::Index i = 0; i < p.rows(); ++i) {
            if (kind_ == AccuracyKind::Binary) {  // every output thresholded at 0.5
                for (Eigen::Index j = 0; j < p.cols(); ++j) total_ += ((p(i, j) > 0.5f) == (t(i, j) > 0.5f));
                count_ += double(p.cols());
                continue;
            }
            Eigen::Index pred;
            p.row(i).maxCoeff(&pred);
            Eigen::Index truth;
            if (kind_ == AccuracyKind::Sparse) truth = Eigen::Index(t(i, 0));
            else t.row(i).maxCoeff(&truth);
            total_ += (pred == truth);
            count_ += 1.0;
        }
    }

private:
    AccuracyKind kind_;
};

class TopK : public Metric {
public:
    TopK(int k, bool sparse) : Metric("top_k_accuracy"), k_(k), sparse_(sparse) {}
    bool needs_probabilities() const override { return false; }
    void update(const ConstView& p, const ConstView& t) override {
        for (Eigen::Index i = 0; i < p.rows(); ++i) {
            Eigen::Index truth;
            if (sparse_) truth = Eigen::Index(t(i, 0));
            else t.row(i).maxCoeff(&truth);
            // In the top k when fewer than k classes score strictly higher than the true class.
            float s = p(i, truth);
            int higher = 0;
            for (Eigen::Index j = 0; j < p.cols(); ++j) higher += p(i, j) > s;
            total_ += higher < k_;
            count_ += 1.0;
        }
    }

private:
    int k_;
    bool sparse_;
};

class MeanError : public Metric {
public:
    explicit MeanError(bool squared) : Metric(squared ? "mse" : "mae"), squared_(squared) {}
    bool higher_is_better() const override { return false; }
    void update(const ConstView& p, const ConstView& t) override {
        if (squared_) total_ += double((p - t).squaredNorm());
        else total_ += double((p - t).cwiseAbs().sum());
        count_ += double(p.size());
    }

private:
    bool squared_;
};

}  // namespace

const std::vector<std::string>& metric_names() {
    static const std::vector<std::string> names = {"accuracy", "top_k_accuracy", "mse", "mae"};
    return names;
}

std::string canonical_metric_name(const std::string& n) {
    if (is(n, "acc")) return "accuracy";
    if (is(n, "mean_squared_error")) return "mse";
    if (is(n, "mean_absolute_error")) return "mae";
    if (is(n, "top_k_categorical_accuracy") || is(n, "sparse_top_k_categorical_accuracy")) return "top_k_accuracy";
    return n;
}

std::unique_ptr<Metric> make_metric(const MetricSpec& spec, AccuracyKind kind) {
    if (is(spec.type, "accuracy")) return std::make_unique<Accuracy>(kind);
    if (is(spec.type, "top_k_accuracy")) return std::make_unique<TopK>(spec.k, kind == AccuracyKind::Sparse);
    if (is(spec.type, "mse")) return std::make_unique<MeanError>(true);
    if (is(spec.type, "mae")) return std::make_unique<MeanError>(false);
    throw ConfigError("unknown metric '" + spec.type + "'");
}

}  // namespace nnctl
