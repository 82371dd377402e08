#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace nnctl {

/// A metric accumulated over batches. `p` are the model's outputs after its final activation
/// (probabilities for classifiers), `t` the targets in the loss's format.
class Metric {
public:
    virtual ~Metric() = default;
    /// The key in logs and history (`accuracy`, `top_k_accuracy`, `mse`, ...).
    const std::string& name() const { return name_; }
    virtual void reset() { total_ = 0.0; count_ = 0.0; }
    virtual void update(const ConstView& p, const ConstView& t) = 0;
    double result() const { return count_ > 0 ? total_ / count_ : 0.0; }
    /// False when the metric gives the same result on softmax logits as on probabilities (argmax
    /// based), so the trainer can skip computing probabilities for it.
    virtual bool needs_probabilities() const { return true; }
    /// Whether larger is better (for early stopping's `mode: auto`).
    virtual bool higher_is_better() const { return true; }

protected:
    explicit Metric(std::string name) : name_(std::move(name)) {}
    std::string name_;
    double total_ = 0.0, count_ = 0.0;
};

/// How `accuracy` is computed, chosen from the loss and output width the way Keras does.
enum class AccuracyKind { Binary, Categorical, Sparse };

struct MetricSpec {
    std::string type;  ///< accuracy | top_k_accuracy | mse | mae (aliases resolved by config)
    int k = 5;         ///< top_k_accuracy
};

/// Build a metric; `kind` decides what "accuracy" means for this model.
std::unique_ptr<Metric> make_metric(const MetricSpec& spec, AccuracyKind kind);
const std::vector<std::string>& metric_names();
/// Canonical name for an alias (acc → accuracy, mean_squared_error → mse, ...).
std::string canonical_metric_name(const std::string& name);

}  // namespace nnctl
