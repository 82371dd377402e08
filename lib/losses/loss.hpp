#pragma once
#include <string>
#include <vector>

#include "core/strings.hpp"
#include "core/tensor.hpp"

namespace nnctl {

/// A loss with Keras' semantics: per-sample loss averaged over the last axis (regression losses)
/// or summed over classes (cross-entropies), then averaged over the batch. This is the only place
/// that divides by the batch size.
struct Loss {
    Loss() = default;
    Loss(std::string t, bool logits = false, double d = 1.0) : type(std::move(t)), from_logits(logits), delta(d) {}

    std::string type = "mean_squared_error";
    bool from_logits = false;
    double delta = 1.0;  ///< huber

    /// p: (batch × k) predictions; t: targets, (batch × k), or (batch × 1) class indices for the
    /// sparse cross-entropy. Returns the mean loss and writes dp = dL/dp (batch × k) when not null.
    double compute(const ConstView& p, const ConstView& t, Matrix* dp) const;
    /// Whether targets are class indices (sparse) rather than one-hot / values.
    bool sparse_targets() const { return is(type, "sparse_categorical_crossentropy"); }
    bool is_classification() const;

private:
    mutable Matrix scratch_;  // reused per-batch buffers (a Loss is not shared between threads)
    mutable Eigen::VectorXf rowmax_, rowsum_, lse_;
};

/// Canonical loss names (aliases such as `mse` are resolved by the config layer).
const std::vector<std::string>& loss_names();
/// Canonical name for an alias (mse → mean_squared_error, ...); unknown names are returned as is.
std::string canonical_loss_name(const std::string& name);

}  // namespace nnctl
