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
    // (From the targets themselves: an output's target set of a several-output data set has no x.)
    const Eigen::Index n = d.is_classification() ? Eigen::Index(d.labels.size()) : d.y.rows();
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

std::vector<OutputHead> single_head(const Sequential& model, const Loss& loss, const std::vector<MetricSpec>& metrics) {
    OutputHead h;
    h.loss = loss;
    h.metrics = metrics;
    h.width = shape_size(model.output_shape());
    return {h};
}

Matrix encode_heads(const Dataset& d, std::vector<OutputHead>& heads) {
    if (heads.size() == 1 && heads[0].name.empty()) {
        Matrix t = encode_targets(d, heads[0].loss, heads[0].width);
        heads[0].target_width = t.cols();
        return t;
    }
    if (d.targets.size() != heads.size())
        throw ConfigError("the model has " + std::to_string(heads.size()) + " outputs but the data has " +
                          std::to_string(d.targets.size()) + " target column(s)");
    std::vector<Matrix> parts;
    int64_t width = 0;
    for (size_t k = 0; k < heads.size(); ++k) {
        try {
            parts.push_back(encode_targets(d.targets[k], heads[k].loss, heads[k].width));
        } catch (const ConfigError& e) {
            throw ConfigError("output '" + heads[k].name + "': " + e.what());
        }
        heads[k].target_offset = width;
        heads[k].target_width = parts.back().cols();
        width += parts.back().cols();
    }
    Matrix t(d.size(), width);
    for (size_t k = 0; k < heads.size(); ++k) t.middleCols(heads[k].target_offset, heads[k].target_width) = parts[k];
    return t;
}

HeadScores::HeadScores(const Sequential& model, const std::vector<OutputHead>& heads, bool metrics)
    : heads_(heads), metrics_(heads.size()), need_probs_(heads.size(), 0), sums_(heads.size(), 0.0) {
    for (size_t k = 0; k < heads.size() && metrics; ++k) {
        const OutputHead& h = heads[k];
        for (const auto& m : h.metrics) metrics_[k].push_back(make_metric(m, accuracy_kind(h.loss, h.width)));
        need_probs_[k] = metrics_need_probabilities(model, metrics_[k], k);
        any_metrics_ = any_metrics_ || !metrics_[k].empty();
    }
}

double HeadScores::batch_loss(const ConstView& out, const ConstView& t, Matrix* dout) { return compute(out, t, dout, true); }

double HeadScores::loss_gradient(const ConstView& out, const ConstView& t, Matrix& dout) {
    return compute(out, t, &dout, false);
}

double HeadScores::compute(const ConstView& out, const ConstView& t, Matrix* dout, bool record) {
    const double rows = double(out.rows());
    if (record) rows_ += rows;
    if (heads_.size() == 1) {  // the whole output and targets: exactly the one loss
        const double l = heads_[0].loss.compute(out, t, dout);
        if (record) sums_[0] += l * rows;
        return l;
    }
    if (dout) dout->resize(out.rows(), out.cols());
    double total = 0.0;
    for (size_t k = 0; k < heads_.size(); ++k) {
        const OutputHead& h = heads_[k];
        const double l = h.loss.compute(out.middleCols(h.offset, h.width), t.middleCols(h.target_offset, h.target_width),
                                        dout ? &part_ : nullptr);
        if (dout) dout->middleCols(h.offset, h.width) = part_ * float(h.weight);
        if (record) sums_[k] += l * rows;
        total += h.weight * l;
    }
    return total;
}

void HeadScores::update_metrics(const Sequential& model, const ConstView& out, const ConstView& t) {
    bool probs = false;
    for (size_t k = 0; k < heads_.size(); ++k) {
        if (metrics_[k].empty()) continue;
        if (need_probs_[k] && !probs) model.apply_output_activation(out, probs_), probs = true;
        const OutputHead& h = heads_[k];
        if (heads_.size() == 1) {
            for (auto& m : metrics_[k]) m->update(need_probs_[k] ? ConstView(probs_) : out, t);
            continue;
        }
        const ConstView o = need_probs_[k] ? ConstView(probs_) : out;
        for (auto& m : metrics_[k])
            m->update(o.middleCols(h.offset, h.width), t.middleCols(h.target_offset, h.target_width));
    }
}

void HeadScores::reset() {
    for (auto& ms : metrics_)
        for (auto& m : ms) m->reset();
    std::fill(sums_.begin(), sums_.end(), 0.0);
    rows_ = 0.0;
}

void HeadScores::append_logs(Logs& logs) const {
    if (heads_.size() > 1)
        for (size_t k = 0; k < heads_.size(); ++k) logs.emplace_back(heads_[k].log_name("loss"), sums_[k] / rows_);
    for (size_t k = 0; k < heads_.size(); ++k)
        for (const auto& m : metrics_[k]) logs.emplace_back(heads_[k].log_name(m->name()), m->result());
}

Trainer::Trainer(Sequential& model, Loss loss, Optimizer& optimizer, std::vector<MetricSpec> metrics,
                 TrainingConfig cfg, uint64_t seed)
    : Trainer(model, single_head(model, loss, metrics), optimizer, std::move(cfg), seed) {}

Trainer::Trainer(Sequential& model, std::vector<OutputHead> heads, Optimizer& optimizer, TrainingConfig cfg, uint64_t seed)
    : model_(model), heads_(std::move(heads)), opt_(optimizer), cfg_(std::move(cfg)), seed_(seed) {
    for (const auto& p : model_.params())
        if (p.regularizer->active()) any_regularizer_ = true;
    for (const auto& h : heads_)
        for (const auto& m : h.metrics)
            if ((m.type == "mse" || m.type == "mae") && h.loss.sparse_targets())
                throw ConfigError((h.name.empty() ? "" : "output '" + h.name + "': ") + "metric '" + m.type +
                                  "' needs one-hot targets; with sparse_categorical_crossentropy use accuracy or "
                                  "top_k_accuracy");
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
    return evaluate_model(model_, heads_, data, batch_size, comm_);
}

TrainResult Trainer::fit(const Dataset& train, const Dataset* validation, const TrainCallbacks& cb,
                         const TrainerSnapshot* resume) {
    using clock = std::chrono::steady_clock;
    const Matrix targets = encode_heads(train, heads_);
    if (validation && validation->size() > 0) {  // fail early
        std::vector<OutputHead> check = heads_;
        encode_heads(*validation, check);
    }
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
    // The metrics only when logged (probabilities for them only when an output activation was fused
    // out and a metric needs them: argmax-based metrics read the same answer off softmax logits).
    HeadScores scores(model_, heads_, all_logs || monitored(false));
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
    int first_epoch = 0;
    if (resume) {  // continue where the snapshot stopped (weights and optimizer state are restored)
        first_epoch = resume->epochs_done;
        dropout_rng.set_state(resume->rng);
        es_best = resume->es_best, es_wait = resume->es_wait, rp_best = resume->rp_best, rp_wait = resume->rp_wait;
        rp_cooldown = resume->rp_cooldown;
        result.history = resume->history;
        result.best_epoch = resume->best_epoch;
        result.stopped_early = resume->stopped_early;
        best_weights = resume->best_weights;
        if (resume->stopped_early) first_epoch = cfg_.epochs;
    }
    // Data parallelism: each batch is split into contiguous shards, one per process (a batch with
    // fewer rows than processes is computed whole by every process). A shard's loss gradient is
    // scaled by its share of the batch, so that the sum of the shards' parameter gradients, taken in
    // rank order by comm, is the gradient of the whole batch's mean loss; every process then takes
    // the same optimizer step. The batch's outputs are gathered for the logged loss and metrics,
    // which are thus those of the whole batch, as one process computes them.
    Communicator* comm = comm_ && comm_->size() > 1 ? comm_ : nullptr;
    const int ranks = comm ? comm->size() : 1, rank = comm ? comm->rank() : 0;
    size_t grad_size = 1;  // the trainable parameters' gradients, then the stop request
    for (const auto& p : params)
        if (p.trainable) grad_size += size_t(p.grad->size());
    std::vector<float> grad_buf, gathered;
    if (comm) {  // every process must run the same steps with the same shapes, or the collectives mismatch
        const double mine[] = {double(n), double(train.x.cols()), double(targets.cols()), double(grad_size),
                               double(bs), double(cfg_.epochs), double(first_epoch)};
        const size_t k = sizeof mine / sizeof mine[0];
        double all[k];
        std::copy(mine, mine + k, all);
        comm->sum(all, k);
        for (size_t i = 0; i < k; ++i)
            if (all[i] != mine[i] * ranks)
                throw Error("data-parallel training: process " + std::to_string(rank) +
                            " does not train what the others do (its training rows, features, targets, "
                            "parameters, batch size, epochs, resumed epoch: " +
                            std::to_string(n) + ", " + std::to_string(train.x.cols()) + ", " +
                            std::to_string(targets.cols()) + ", " + std::to_string(grad_size) + ", " + std::to_string(bs) +
                            ", " + std::to_string(cfg_.epochs) + ", " + std::to_string(first_epoch) +
                            "); every process needs the same config and the same data files");
    }
    // Every process must stop at the same batch: a stop request is summed with the gradients.
    const bool stoppable = bool(cb.stop_requested) || comm;
    auto stop_wanted = [&] { return cb.stop_requested && cb.stop_requested(); };
    if (stoppable) snapshot(epoch_weights);

    for (int epoch = first_epoch; epoch < cfg_.epochs; ++epoch) {
        if (cb.on_epoch_begin) cb.on_epoch_begin(epoch + 1, cfg_.epochs);
        const auto t0 = clock::now();
        std::iota(order.begin(), order.end(), 0);
        if (cfg_.shuffle) {
            Rng r(Rng::derive(seed_, 100000 + uint64_t(epoch)));
            order = permutation(n, r);
        }
        scores.reset();
        double loss_sum = 0.0, comm_seconds = 0.0;
        int seen = 0;
        ForwardContext ctx{true, &dropout_rng};
        for (int b = 0; b < batches; ++b) {
            const int start = b * bs, rows = std::min(bs, n - start);
            const bool sharded = comm && rows >= ranks;
            const int lo = sharded ? int(shard_begin(rows, rank, ranks)) : 0;
            const int hi = sharded ? int(shard_begin(rows, rank + 1, ranks)) : rows;
            const Eigen::Index xc = train.x.cols(), tc = targets.cols();
            xb_.resize(hi - lo, xc);
            tb_.resize(rows, tc);  // the whole batch's targets (the logs score the whole batch)
            for (int i = 0; i < rows; ++i) {  // raw row copies: rows are short, Eigen's per-row setup is not
                const int src = order[size_t(start + i)];
                if (i >= lo && i < hi) std::copy_n(train.x.data() + src * train.x.outerStride(), xc, xb_.data() + (i - lo) * xc);
                std::copy_n(targets.data() + src * targets.outerStride(), tc, tb_.data() + i * tc);
            }
            ctx.row0 = lo;
            ctx.comm = sharded ? comm : nullptr;
            const Matrix* outp = &model_.forward(xb_, ctx);
            double batch_loss;
            bool stop = false;
            if (sharded) {
                model_.backward(xb_, shard_gradient(scores, *outp, tb_.middleRows(lo, hi - lo), rows));
                grad_buf.resize(grad_size);
                float* g = grad_buf.data();
                for (const auto& p : params)
                    if (p.trainable) g = std::copy_n(p.grad->data(), p.grad->size(), g);
                *g = stop_wanted() ? 1.0f : 0.0f;
                const auto c0 = clock::now();
                comm->sum(grad_buf.data(), grad_buf.size());
                g = grad_buf.data();
                for (const auto& p : params)
                    if (p.trainable) std::copy_n(g, p.grad->size(), p.grad->data()), g += p.grad->size();
                stop = *g > 0.0f;
                comm->gather(outp->data(), size_t(outp->size()), gathered);
                comm_seconds += std::chrono::duration<double>(clock::now() - c0).count();
                out_all_ = Eigen::Map<const Matrix>(gathered.data(), rows, outp->cols());
                outp = &out_all_;
                batch_loss = scores.batch_loss(*outp, tb_, nullptr);
            } else {
                batch_loss = scores.batch_loss(*outp, tb_, &dout_);
            }
            const Matrix& out = *outp;
            if (any_regularizer_) batch_loss += model_.regularization_penalty();
            if (!std::isfinite(batch_loss)) {
                std::ostringstream msg;
                msg << "training diverged: the loss became " << batch_loss << " at epoch " << epoch + 1 << ", batch "
                    << b + 1 << " of " << batches << " (try a lower learning rate, gradient clipping with "
                    << "optimizer.clipnorm, or check the data for extreme values)";
                throw DivergedError(msg.str());
            }
            if (!sharded) {
                model_.backward(xb_, dout_);
                stop = stop_wanted();
                if (comm) {  // a batch every process computed whole: only the stop request to agree on
                    float f = stop ? 1.0f : 0.0f;
                    comm->sum(&f, 1);
                    stop = f > 0.0f;
                }
            }
            if (any_regularizer_) model_.add_regularization_gradients();
            opt_.step(params);
            if (scores.has_metrics()) scores.update_metrics(model_, out, tb_);
            loss_sum += batch_loss * rows;
            seen += rows;
            if (cb.on_batch_end) cb.on_batch_end(b + 1, batches, loss_sum / seen);
            if (stop) {
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
        log.comm_seconds = comm_seconds;
        log.values.emplace_back("loss", loss_sum / seen);
        scores.append_logs(log.values);
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
        if (stoppable) snapshot(epoch_weights);
        if (cb.on_epoch_end) cb.on_epoch_end(log);

        // Early stopping (Keras' EarlyStopping, min_delta counted as in Keras).
        bool stop = false;
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
                stop = true;
            }
        }
        if (cb.on_checkpoint) {
            TrainerSnapshot sn;
            sn.epochs_done = epoch + 1;
            sn.history = result.history;
            sn.rng = dropout_rng.state();
            sn.es_best = es_best, sn.es_wait = es_wait, sn.rp_best = rp_best, sn.rp_wait = rp_wait;
            sn.rp_cooldown = rp_cooldown, sn.best_epoch = result.best_epoch, sn.stopped_early = stop;
            sn.best_weights = best_weights;
            cb.on_checkpoint(sn);
        }
        if (stop) break;
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

const Matrix& Trainer::shard_gradient(HeadScores& scores, const Matrix& out, const ConstView& t, int batch_rows) {
    scores.loss_gradient(out, t, dout_);
    dout_ *= float(double(out.rows()) / double(batch_rows));  // a mean over the shard → its part of the batch's mean
    return dout_;
}

}  // namespace nnctl
