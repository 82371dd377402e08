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
    /// Data-parallel training: the seconds of the epoch's training steps spent in collectives
    /// (moving gradients and outputs, and waiting for the slowest process); 0 alone.
    double comm_seconds = 0.0;
    Logs values;                 ///< loss, metrics, val_loss, val_metrics
};

/// Where a fit stands at the end of an epoch: what a checkpoint needs to continue it exactly (the
/// weights and the optimizer's state are saved beside it).
struct TrainerSnapshot {
    int epochs_done = 0;             ///< epochs of this fit completed
    std::vector<EpochLog> history;   ///< this fit's epochs so far
    uint64_t rng = 0;                ///< the dropout / augmentation stream's state
    double es_best = 0, rp_best = 0;
    int es_wait = 0, rp_wait = 0, rp_cooldown = 0, best_epoch = 0;
    bool stopped_early = false;      ///< early stopping ended the fit at this epoch
    std::vector<Matrix> best_weights;  ///< early stopping's restore point (empty: none yet)
};

struct TrainCallbacks {
    std::function<void(int epoch, int epochs)> on_epoch_begin;
    std::function<void(int batch, int batches, double running_loss)> on_batch_end;
    std::function<void(const EpochLog&)> on_epoch_end;
    std::function<bool()> stop_requested;  ///< polled after every batch (signals)
    std::function<void(const std::string&)> on_message;  ///< early stopping, lr changes
    std::function<void(const TrainerSnapshot&)> on_checkpoint;  ///< after every epoch, when set
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

/// One output of a model as training and evaluation see it: its columns in the model's output, its
/// loss and loss weight, and its metrics. With several outputs (Keras' functional API) the model's
/// loss is Σ weight · loss, and the logs name each output: NAME_loss, NAME_accuracy, ...
struct OutputHead {
    std::string name;                  ///< the output layer; empty for a model with one output (no prefix)
    Loss loss;                         ///< as used in training (from_logits when its activation was fused)
    double weight = 1.0;
    std::vector<MetricSpec> metrics;
    int64_t offset = 0, width = 0;     ///< the head's columns in the model's output
    int64_t target_offset = 0, target_width = 0;  ///< its columns in the encoded targets (set by encode_heads)
    /// Log key: `key` itself with one output, NAME_key with several.
    std::string log_name(const std::string& key) const { return name.empty() ? key : name + "_" + key; }
};
/// One head for a one-output model.
std::vector<OutputHead> single_head(const Sequential& model, const Loss& loss, const std::vector<MetricSpec>& metrics);
/// Every head's targets from `d` (several outputs: d.targets[k] for head k), side by side; sets each
/// head's target_offset/width.
Matrix encode_heads(const Dataset& d, std::vector<OutputHead>& heads);

/// The running loss and metrics of each head over the batches of a pass (training and evaluation).
class HeadScores {
public:
    /// `metrics`: false to skip the metrics (only losses).
    HeadScores(const Sequential& model, const std::vector<OutputHead>& heads, bool metrics);
    /// A batch's loss Σ weight · loss (no penalties), with dout = its gradient when not null; each head's
    /// loss is added to its running mean.
    double batch_loss(const ConstView& out, const ConstView& t, Matrix* dout);
    /// Update the metrics with a batch (`out` as forward returns it: logits where an activation was fused).
    void update_metrics(const Sequential& model, const ConstView& out, const ConstView& t);
    /// The batch loss and its gradient (into dout) without adding to the running means.
    double loss_gradient(const ConstView& out, const ConstView& t, Matrix& dout);
    void reset();
    bool has_metrics() const { return any_metrics_; }
    /// After "loss": each head's loss (several heads) and every metric, named by log_name.
    void append_logs(Logs& logs) const;

private:
    double compute(const ConstView& out, const ConstView& t, Matrix* dout, bool record);
    const std::vector<OutputHead>& heads_;
    std::vector<std::vector<std::unique_ptr<Metric>>> metrics_;
    std::vector<char> need_probs_;
    bool any_metrics_ = false;
    std::vector<double> sums_;
    double rows_ = 0.0;
    Matrix part_, probs_;
};

/// Trains a Sequential model: epochs × shuffled batches, forward → loss (+ penalties) → backward →
/// optimizer, with validation, early stopping and reduce-on-plateau after each epoch.
class Trainer {
public:
    Trainer(Sequential& model, Loss loss, Optimizer& optimizer, std::vector<MetricSpec> metrics,
            TrainingConfig cfg, uint64_t seed);
    /// A model with one head per output (see OutputHead).
    Trainer(Sequential& model, std::vector<OutputHead> heads, Optimizer& optimizer, TrainingConfig cfg, uint64_t seed);
    /// Stops with DivergedError on a non-finite loss, naming epoch and batch. `resume`: continue a fit
    /// from a snapshot (the model's weights and the optimizer's state already restored).
    TrainResult fit(const Dataset& train, const Dataset* validation, const TrainCallbacks& cb = {},
                    const TrainerSnapshot* resume = nullptr);
    /// Loss (with penalties, as Keras reports it) and metrics over a whole data set, inference mode.
    Logs evaluate(const Dataset& data, int batch_size = 1024);
    /// With false, an epoch computes only the logs that early stopping or the plateau schedule
    /// monitor (training metrics and validation passes are skipped otherwise), unless callbacks
    /// ask for them (on_epoch_end). For callers that only read the final weights, e.g. search folds.
    void set_full_logs(bool on) { full_logs_ = on; }
    /// Train data-parallel with the other processes of `comm` (null or one process: alone). Every
    /// process calls fit with the same model, data, seed and callbacks' presence; each computes its
    /// shard of every batch, and all end with the same weights: those one process would reach, within
    /// float rounding (the gradients are summed in another order). Evaluation is shared too.
    void set_communicator(Communicator* comm) { comm_ = comm; }

    const std::vector<OutputHead>& heads() const { return heads_; }

private:
    Sequential& model_;
    std::vector<OutputHead> heads_;
    Optimizer& opt_;
    TrainingConfig cfg_;
    uint64_t seed_;
    bool any_regularizer_ = false;
    bool full_logs_ = true;
    Communicator* comm_ = nullptr;
    /// The shard's loss gradient, scaled to its part of the whole batch's mean loss (in dout_).
    const Matrix& shard_gradient(HeadScores& scores, const Matrix& out, const ConstView& t, int batch_rows);
    // Reused per-batch buffers.
    Matrix xb_, tb_, dout_, probs_, dpart_, out_all_;
};

}  // namespace nnctl
