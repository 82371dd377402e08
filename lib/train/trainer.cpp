#include "train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>

#include "core/error.hpp"
#include "train/evaluate.hpp"

namespace nnctl {

double log_value(const Logs& logs, const std::string& key) {
    for (const auto& [k, v] : logs)
        if (k == key) return v;
    return std::numeric_limits<double>::quiet_NaN();
}

Matrix encode_targets(const Dataset& d, const Loss& loss, int64_t outputs, TargetEncoding* enc) {
    TargetEncoding e;
    Matrix t;
    const Eigen::Index n = d.size();
    if (!d.is_classification()) {
        if (loss.is_classification())
            throw ConfigError("loss '" + loss.type + "' needs class labels, but the data has numeric targets");
        if (d.y.cols() != outputs)
            throw ConfigError("the last layer has " + std::to_string(outputs) + " units but the data has " +
                              std::to_string(d.y.cols()) + " target column(s)");
        e.width = int(outputs);
        t = d.y;
    } else if (loss.sparse_targets()) {
        if (outputs != d.num_classes)
            throw ConfigError("the last layer has " + std::to_string(outputs) + " units but the data has " +
                              std::to_string(d.num_classes) + " classes");
        e.sparse = true;
        e.width = 1;
        t.resize(n, 1);
        for (Eigen::Index i = 0; i < n; ++i) t(i, 0) = float(d.labels[size_t(i)]);
    } else if (outputs == 1) {
        if (d.num_classes > 2)
            throw ConfigError("the last layer has 1 unit (binary) but the data has " + std::to_string(d.num_classes) +
                              " classes");
        e.binary = true;
        e.width = 1;
        t.resize(n, 1);
        for (Eigen::Index i = 0; i < n; ++i) t(i, 0) = float(d.labels[size_t(i)]);
    } else {
        if (outputs != d.num_classes)
            throw ConfigError("the last layer has " + std::to_string(outputs) + " units but the data has " +
                              std::to_string(d.num_classes) + " classes");
        e.width = int(outputs);
        t.setZero(n, outputs);
        for (Eigen::Index i = 0; i < n; ++i) t(i, d.labels[size_t(i)]) = 1.0f;
    }
    if (enc) *enc = e;
    return t;
}

Trainer::Trainer(Sequential& model, Loss loss, Optimizer& optimizer, std::vector<MetricSpec> metrics,
                 TrainingConfig cfg, uint64_t seed)
    : model_(model), loss_(std::move(loss)), opt_(optimizer), metric_specs_(std::move(metrics)),
      cfg_(std::move(cfg)), seed_(seed) {
    acc_kind_ = accuracy_kind(loss_, shape_size(model_.output_shape()));
    for (const auto& p : model_.params())
        if (p.regularizer->active()) any_regularizer_ = true;
    for (const auto& m : metric_specs_)
        if ((m.type == "mse" || m.type == "mae") && loss_.sparse_targets())
            throw ConfigError("metric '" + m.type + "' needs one-hot targets; with sparse_categorical_crossentropy "
                              "use accuracy or top_k_accuracy");
}

std::vector<std::unique_ptr<Metric>> Trainer::make_metrics() const {
    std::vector<std::unique_ptr<Metric>> ms;
    for (const auto& s : metric_specs_) ms.push_back(make_metric(s, acc_kind_));
    return ms;
}

namespace {
bool lower_is_better(const std::string& monitor, const std::string& mode) {
    if (mode == "min") return true;
    if (mode == "max") return false;
    auto ends = [&](const std::string& s) {
        return monitor.size() >= s.size() && monitor.compare(monitor.size() - s.size(), s.size(), s) == 0;
    };
    return ends("loss") || ends("mse") || ends("mae");
}
}  // namespace

Logs Trainer::evaluate(const Dataset& data, int batch_size) {
    return evaluate_model(model_, loss_, metric_specs_, data, batch_size);
}

TrainResult Trainer::fit(const Dataset& train, const Dataset* validation, const TrainCallbacks& cb) {
    using clock = std::chrono::steady_clock;
    const int64_t outputs = shape_size(model_.output_shape());
    const Matrix targets = encode_targets(train, loss_, outputs);
    if (validation && validation->size() > 0) encode_targets(*validation, loss_, outputs);  // fail early
    const auto& es = cfg_.early_stopping;
    const auto& rp = cfg_.reduce_lr_on_plateau;
    // Which epoch logs are needed: all of them, or just what early stopping and the plateau read.
    const bool all_logs = full_logs_ || bool(cb.on_epoch_end);
    auto monitored = [&](bool val) {
        auto reads = [&](bool on, const std::string& m) { return on && (m.rfind("val_", 0) == 0) == val; };
        return reads(es.enabled, es.monitor) || reads(rp.enabled, rp.monitor);
    };
    const bool val_given = validation && validation->size() > 0;
    const bool has_val = val_given && (all_logs || monitored(true));
    const int n = int(train.size());
    const int bs = std::min(cfg_.batch_size, n);
    const int batches = (n + bs - 1) / bs;
    auto metrics = all_logs || monitored(false) ? make_metrics() : std::vector<std::unique_ptr<Metric>>{};
    // Probabilities only when the output activation was fused out and a metric needs them
    // (argmax-based metrics read the same answer off softmax logits).
    const bool need_probs = metrics_need_probabilities(model_, metrics);
    std::vector<ParamRef> params = model_.params();
    Rng dropout_rng(Rng::derive(seed_, 3));
    std::vector<int> order(static_cast<size_t>(n));

    TrainResult result;
    // Early stopping and plateau state.
    const bool es_min = lower_is_better(es.monitor, es.mode);
    const bool rp_min = lower_is_better(rp.monitor, rp.mode);
    double es_best = es_min ? INFINITY : -INFINITY, rp_best = rp_min ? INFINITY : -INFINITY;
    int es_wait = 0, rp_wait = 0, rp_cooldown = 0;
    std::vector<Matrix> best_weights;
    // When the run can be interrupted, keep the weights of the last completed epoch so that an
    // interrupted run saves a consistent model rather than one from the middle of an epoch.
    std::vector<Matrix> epoch_weights;
    auto snapshot = [&](std::vector<Matrix>& into) {
        into.resize(params.size());
        for (size_t i = 0; i < params.size(); ++i) into[i] = *params[i].value;
    };
    if (cb.stop_requested) snapshot(epoch_weights);

    for (int epoch = 0; epoch < cfg_.epochs; ++epoch) {
        if (cb.on_epoch_begin) cb.on_epoch_begin(epoch + 1, cfg_.epochs);
        const auto t0 = clock::now();
        std::iota(order.begin(), order.end(), 0);
        if (cfg_.shuffle) {
            Rng r(Rng::derive(seed_, 100000 + uint64_t(epoch)));
            order = permutation(n, r);
        }
        for (auto& m : metrics) m->reset();
        double loss_sum = 0.0;
        int seen = 0;
        const ForwardContext ctx{true, &dropout_rng};
        for (int b = 0; b < batches; ++b) {
            const int start = b * bs, rows = std::min(bs, n - start);
            const Eigen::Index xc = train.x.cols(), tc = targets.cols();
            xb_.resize(rows, xc);
            tb_.resize(rows, tc);
            for (int i = 0; i < rows; ++i) {  // raw row copies: rows are short, Eigen's per-row setup is not
                const int src = order[size_t(start + i)];
                std::copy_n(train.x.data() + src * train.x.outerStride(), xc, xb_.data() + i * xc);
                std::copy_n(targets.data() + src * targets.outerStride(), tc, tb_.data() + i * tc);
            }
            const Matrix& out = model_.forward(xb_, ctx);
            double batch_loss = loss_.compute(out, tb_, &dout_);
            if (any_regularizer_) batch_loss += model_.regularization_penalty();
            if (!std::isfinite(batch_loss)) {
                std::ostringstream msg;
                msg << "training diverged: the loss became " << batch_loss << " at epoch " << epoch + 1 << ", batch "
                    << b + 1 << " of " << batches << " (try a lower learning rate, gradient clipping with "
                    << "optimizer.clipnorm, or check the data for extreme values)";
                throw DivergedError(msg.str());
            }
            model_.backward(xb_, dout_);
            if (any_regularizer_) model_.add_regularization_gradients();
            opt_.step(params);
            if (!metrics.empty()) {
                if (need_probs) {
                    model_.apply_output_activation(out, probs_);
                    for (auto& m : metrics) m->update(probs_, tb_);
                } else {
                    for (auto& m : metrics) m->update(out, tb_);
                }
            }
            loss_sum += batch_loss * rows;
            seen += rows;
            if (cb.on_batch_end) cb.on_batch_end(b + 1, batches, loss_sum / seen);
            if (cb.stop_requested && cb.stop_requested()) {
                result.interrupted = true;
                break;
            }
        }
        if (result.interrupted) {
            for (size_t i = 0; i < params.size(); ++i) *params[i].value = epoch_weights[i];
            break;
        }

        EpochLog log;
        log.epoch = epoch + 1;
        log.values.emplace_back("loss", loss_sum / seen);
        for (auto& m : metrics) log.values.emplace_back(m->name(), m->result());
        if (has_val)
            for (auto& [k, v] : evaluate(*validation)) log.values.emplace_back("val_" + k, v);
        log.seconds = std::chrono::duration<double>(clock::now() - t0).count();

        // Reduce the learning rate on a plateau (Keras' ReduceLROnPlateau).
        if (rp.enabled) {
            double cur = log_value(log.values, rp.monitor);
            if (std::isnan(cur))
                throw ConfigError("training.reduce_lr_on_plateau.monitor: '" + rp.monitor + "' is not logged" +
                                  (val_given ? "" : " (no validation data)"));
            bool in_cooldown = rp_cooldown > 0;
            if (in_cooldown) {
                --rp_cooldown;
                rp_wait = 0;
            }
            bool better = rp_min ? cur < rp_best - rp.min_delta : cur > rp_best + rp.min_delta;
            if (better) {
                rp_best = cur;
                rp_wait = 0;
            } else if (!in_cooldown && ++rp_wait >= rp.patience) {
                double lr = opt_.current_learning_rate();
                if (lr > rp.min_lr) {
                    double new_lr = std::max(lr * rp.factor, rp.min_lr);
                    opt_.set_lr_factor(opt_.lr_factor() * new_lr / lr);
                    if (cb.on_message) {
                        std::ostringstream m;
                        m << "epoch " << epoch + 1 << ": reducing learning rate to " << new_lr;
                        cb.on_message(m.str());
                    }
                    rp_cooldown = rp.cooldown;
                    rp_wait = 0;
                }
            }
        }
        log.learning_rate = opt_.current_learning_rate();
        result.history.push_back(log);
        if (cb.stop_requested) snapshot(epoch_weights);
        if (cb.on_epoch_end) cb.on_epoch_end(log);

        // Early stopping (Keras' EarlyStopping, min_delta counted as in Keras).
        if (es.enabled && epoch + 1 > es.start_from_epoch) {
            double cur = log_value(log.values, es.monitor);
            if (std::isnan(cur))
                throw ConfigError("training.early_stopping.monitor: '" + es.monitor + "' is not logged" +
                                  (val_given ? "" : " (no validation data)"));
            ++es_wait;
            bool better = es_min ? cur + es.min_delta < es_best : cur - es.min_delta > es_best;
            if (better) {
                es_best = cur;
                es_wait = 0;
                result.best_epoch = epoch + 1;
                if (es.restore_best_weights) {
                    best_weights.clear();
                    for (const auto& p : params) best_weights.push_back(*p.value);
                }
            } else if (es_wait >= es.patience && epoch > 0) {
                result.stopped_early = true;
                if (cb.on_message)
                    cb.on_message("epoch " + std::to_string(epoch + 1) + ": early stopping (best " + es.monitor +
                                  " at epoch " + std::to_string(result.best_epoch) + ")");
                break;
            }
        }
    }
    // Unlike Keras, the best weights are restored whenever training ends, not only on an early stop.
    if (es.enabled && es.restore_best_weights && !best_weights.empty() && !result.interrupted &&
        result.best_epoch != int(result.history.size())) {
        for (size_t i = 0; i < params.size(); ++i) *params[i].value = best_weights[i];
        if (cb.on_message)
            cb.on_message("restored the weights of epoch " + std::to_string(result.best_epoch));
    }
    return result;
}

}  // namespace nnctl
