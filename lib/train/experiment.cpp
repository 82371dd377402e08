#include "train/experiment.hpp"

#include <cmath>

#include "config/registry.hpp"
#include "core/error.hpp"
#include "core/fileio.hpp"
#include "core/json.hpp"
#include "model/safetensors.hpp"

namespace nnctl {

Experiment prepare_experiment(const ExperimentConfig& cfg) {
    Experiment ex;
    ex.cfg = cfg;
    ex.loss = cfg.loss;
    ex.data = load_data(cfg.data, cfg.loss.is_classification(), Rng::derive(cfg.seed, 5));
    ex.model = build_model(cfg.layers, Shape{ex.data.train.x.cols()}, Rng::derive(cfg.seed, 1));
    // Fuse a final softmax / sigmoid into the cross-entropy (stable gradients, same predictions).
    const std::string& lt = ex.loss.type;
    if (!ex.loss.from_logits) {
        if ((lt == "categorical_crossentropy" || lt == "sparse_categorical_crossentropy") &&
            ex.model.fuse_output_activation("softmax"))
            ex.loss.from_logits = true;
        else if (lt == "binary_crossentropy" && ex.model.fuse_output_activation("sigmoid"))
            ex.loss.from_logits = true;
    } else if (ex.model.output_activation().is_linear()) {
        // The model outputs logits: predictions and metrics see probabilities.
        ActivationFn a;
        a.name = lt == "binary_crossentropy" ? "sigmoid" : "softmax";
        ex.model.set_output_activation(a);
    }
    ex.optimizer = make_optimizer(cfg.optimizer);
    return ex;
}

ExperimentResult run_experiment(Experiment& ex, const TrainCallbacks& cb) {
    Trainer trainer(ex.model, ex.loss, *ex.optimizer, ex.cfg.metrics, ex.cfg.training, Rng::derive(ex.cfg.seed, 2));
    ExperimentResult r;
    r.train = trainer.fit(ex.data.train, ex.data.validation.size() > 0 ? &ex.data.validation : nullptr, cb);
    if (!r.train.history.empty()) r.final_logs = r.train.history.back().values;
    if (ex.data.test.size() > 0 && !r.train.interrupted) r.test_logs = trainer.evaluate(ex.data.test);
    return r;
}

std::string history_csv(const std::vector<EpochLog>& history) {
    std::string s = "epoch";
    if (history.empty()) return s + "\n";
    for (const auto& [k, v] : history[0].values) s += "," + k;
    s += ",learning_rate,seconds\n";
    for (const auto& e : history) {
        s += std::to_string(e.epoch);
        for (const auto& [k, v] : e.values) s += "," + format_number(v);
        s += "," + format_number(e.learning_rate) + "," + format_number(std::round(e.seconds * 1e6) / 1e6) + "\n";
    }
    return s;
}

void write_logs(JsonWriter& j, const Logs& logs) {
    j.begin_object();
    for (const auto& [k, v] : logs) j.key(k).value(v);
    j.end_object();
}

void save_run(const std::string& dir, const std::string& resolved_yaml, Experiment& ex, const ExperimentResult& res,
              bool save_model) {
    make_dirs(dir);
    write_file_atomic(dir + "/config.yaml", resolved_yaml);
    if (save_model) {
        std::vector<NamedTensor> tensors;
        for (const auto& p : ex.model.params()) {
            for (Eigen::Index i = 0; i < p.value->size(); ++i)
                if (!std::isfinite(p.value->data()[i]))
                    throw DivergedError("refusing to save non-finite weights in " + p.name);
            std::vector<int64_t> shape;
            if (p.value->rows() == 1 && p.name.size() > 5 && p.name.compare(p.name.size() - 5, 5, ".bias") == 0)
                shape = {p.value->cols()};
            else
                shape = {p.value->rows(), p.value->cols()};
            tensors.push_back({p.name, shape, p.value->data()});
        }
        write_file_atomic(dir + "/model.safetensors",
                          safetensors_bytes(tensors, {{"format", "nnctl"}, {"nnctl_version", NNCTL_VERSION}}));
        JsonWriter m;
        m.begin_object();
        m.key("nnctl_version").value(NNCTL_VERSION);
        m.key("input_shape").begin_array();
        for (auto d : ex.model.input_shape()) m.value(static_cast<long long>(d));
        m.end_array();
        m.key("output_activation").value(ex.model.output_activation().name);
        m.key("task").value(ex.data.train.is_classification() ? "classification" : "regression");
        m.key("class_names").begin_array();
        for (const auto& c : ex.data.train.class_names) m.value(c);
        m.end_array();
        m.key("feature_names").begin_array();
        for (const auto& c : ex.data.train.feature_names) m.value(c);
        m.end_array();
        m.end_object();
        write_file_atomic(dir + "/model.json", m.str() + "\n");
    }
    write_file_atomic(dir + "/history.csv", history_csv(res.train.history));
    JsonWriter j;
    j.begin_object();
    j.key("epochs_run").value(int(res.train.history.size()));
    j.key("stopped_early").value(res.train.stopped_early);
    j.key("interrupted").value(res.train.interrupted);
    if (res.train.best_epoch > 0) j.key("best_epoch").value(res.train.best_epoch);
    j.key("final");
    write_logs(j, res.final_logs);
    if (!res.test_logs.empty()) {
        j.key("test");
        write_logs(j, res.test_logs);
    }
    j.end_object();
    write_file_atomic(dir + "/metrics.json", j.str() + "\n");
}

}  // namespace nnctl
