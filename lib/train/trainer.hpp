#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "data/dataset.hpp"
#include "losses/loss.hpp"
#include "metrics/metric.hpp"
#include "model/sequential.hpp"
#include "optim/optimizer.hpp"

namespace nnctl {

/// Ordered name → value pairs, as Keras' logs dict.
using Logs = std::vector<std::pair<std::string, double>>;
/// The value of `key` in `logs`; NaN when absent.
double log_value(const Logs& logs, const std::string& key);

struct EpochLog {
    int epoch = 0;  ///< 1-based
    double seconds = 0.0;
    double learning_rate = 0.0;  ///< the rate at the end of the epoch
    Logs values;                 ///< loss, metrics, val_loss, val_metrics
};

struct TrainCallbacks {
    std::function<void(int epoch, int epochs)> on_epoch_begin;
    std::function<void(int batch, int batches, double running_loss)> on_batch_end;
    std::function<void(const EpochLog&)> on_epoch_end;
    std::function<bool()> stop_requested;  ///< polled after every batch (signals)
    std::function<void(const std::string&)> on_message;  ///< early stopping, lr changes
};

struct TrainResult {
    std::vector<EpochLog> history;
    bool stopped_early = false;
    bool interrupted = false;  ///< stopped by stop_requested; the weights are those of the last full epoch
    int best_epoch = 0;  ///< with early stopping: the epoch whose monitor value was best
};

/// How targets are laid out for this loss and output width.
struct TargetEncoding {
    bool sparse = false;  ///< class index per row
    bool binary = false;  ///< one 0/1 column
    int width = 0;        ///< columns of the encoded targets
};

/// Encode a data set's labels or values as the loss expects; throws ConfigError on a mismatch
/// between the model's output width and the data.
Matrix encode_targets(const Dataset& d, const Loss& loss, int64_t outputs, TargetEncoding* enc = nullptr);

/// Trains a Sequential model: epochs × shuffled batches, forward → loss (+ penalties) → backward →
/// optimizer, with validation, early stopping and reduce-on-plateau after each epoch.
class Trainer {
public:
    Trainer(Sequential& model, Loss loss, Optimizer& optimizer, std::vector<MetricSpec> metrics,
            TrainingConfig cfg, uint64_t seed);
    /// Stops with DivergedError on a non-finite loss, naming epoch and batch.
    TrainResult fit(const Dataset& train, const Dataset* validation, const TrainCallbacks& cb = {});
    /// Loss (with penalties, as Keras reports it) and metrics over a whole data set, inference mode.
    Logs evaluate(const Dataset& data, int batch_size = 1024);
    /// With false, an epoch computes only the logs that early stopping or the plateau schedule
    /// monitor (training metrics and validation passes are skipped otherwise), unless callbacks
    /// ask for them (on_epoch_end). For callers that only read the final weights, e.g. search folds.
    void set_full_logs(bool on) { full_logs_ = on; }

private:
    std::vector<std::unique_ptr<Metric>> make_metrics() const;
    Sequential& model_;
    Loss loss_;
    Optimizer& opt_;
    std::vector<MetricSpec> metric_specs_;
    TrainingConfig cfg_;
    uint64_t seed_;
    AccuracyKind acc_kind_ = AccuracyKind::Categorical;
    bool any_regularizer_ = false;
    bool full_logs_ = true;
    // Reused per-batch buffers.
    Matrix xb_, tb_, dout_, probs_;
};

}  // namespace nnctl
