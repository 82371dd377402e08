#include "train/experiment.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>

#include <sys/stat.h>

#include "config/parse.hpp"
#include "config/registry.hpp"
#include "core/json_value.hpp"
#include "core/sha256.hpp"
#include "data/image_folder.hpp"
#include "core/error.hpp"
#include "core/fileio.hpp"
#include "core/json.hpp"
#include "model/safetensors.hpp"
#include "train/evaluate.hpp"

namespace nnctl {

Experiment prepare_experiment(const ExperimentConfig& cfg) {
    Experiment ex;
    ex.cfg = cfg;
    ex.loss = cfg.loss;
    ex.data = load_data(cfg.data, cfg.loss.is_classification(), Rng::derive(cfg.seed, 5));
    const DataSchema& ds = ex.data.schema;
    if (ds.format == "text" && ds.text.output_mode == "int" && !cfg.layers.empty() && cfg.layers[0].type == "embedding") {
        // Out-of-range ids would be found only mid-training; say at once what to change.
        const LayerConfig& e = cfg.layers[0];
        const int64_t dim = e.options.integer("input_dim"), vocab = int64_t(ds.text.vocabulary.size());
        if (dim < vocab)
            throw ConfigError(e.where + ": input_dim " + std::to_string(dim) + " is smaller than the text source's "
                              "vocabulary of " + std::to_string(vocab) + " entries (ids 0.." + std::to_string(vocab - 1) +
                              ", padding and [UNK] included): set input_dim to " +
                              (ds.text.max_tokens > 0 ? "max_tokens (" + std::to_string(ds.text.max_tokens) + ")"
                                                      : std::to_string(vocab) + " or set data.train.max_tokens"));
    }
    ex.model = build_model(cfg.layers, model_input_shape(cfg, ex.data.train), Rng::derive(cfg.seed, 1), cfg.model_inputs, cfg.outputs);
    ex.heads = model_heads(ex.model, cfg);
    ex.loss = ex.heads[0].loss;
    if (cfg.init_from.present()) init_weights_from(ex.model, cfg.init_from);
    if (ex.data.schema.format == "timeseries" && !cfg.layers.empty()) {
        // Checked here rather than by encode_targets, so that the message can say what the units mean.
        const int64_t outputs = shape_size(ex.model.output_shape()), want = ex.data.schema.outputs;
        const SeriesSchema& s = ex.data.schema.series;
        if (outputs != want)
            throw ConfigError(cfg.layers.back().where + ": the last layer outputs " + std::to_string(outputs) +
                              " values per window, shape " + shape_str(ex.model.output_shape()) +
                              "; the timeseries source forecasts horizon " + std::to_string(s.horizon) + " × " +
                              std::to_string(s.targets.size()) + " target(s) = " + std::to_string(want) +
                              " values (y[h·targets + j]): end with a dense layer of " + std::to_string(want) + " units");
    }
    ex.optimizer = make_optimizer(cfg.optimizer);
    return ex;
}

Shape model_input_shape(const ExperimentConfig& cfg, const Dataset& train) {
    if (cfg.input_shape.empty()) return train.sample_shape();
    if (shape_size(cfg.input_shape) != train.x.cols())
        throw ConfigError(cfg.source_file + ": model.input_shape " + shape_str(cfg.input_shape) + " holds " +
                          std::to_string(shape_size(cfg.input_shape)) + " values per sample, but the training data has " +
                          std::to_string(train.x.cols()) + " features" +
                          (train.shape.empty() ? "" : " in the shape " + shape_str(train.shape)));
    return cfg.input_shape;
}

void fuse_output(Sequential& model, Loss& loss, size_t k) {
    const std::string& lt = loss.type;
    if (!loss.from_logits) {
        if ((lt == "categorical_crossentropy" || lt == "sparse_categorical_crossentropy") &&
            model.fuse_output_activation("softmax", k))
            loss.from_logits = true;
        else if (lt == "binary_crossentropy" && model.fuse_output_activation("sigmoid", k))
            loss.from_logits = true;
    } else if (model.output_activation(k).is_linear()) {
        ActivationFn a;  // the model outputs logits: predictions and metrics see probabilities
        a.name = lt == "binary_crossentropy" ? "sigmoid" : "softmax";
        model.set_output_activation(a, k);
    }
}

std::vector<OutputHead> model_heads(Sequential& model, const ExperimentConfig& cfg) {
    if (cfg.outputs.empty()) {
        Loss loss = cfg.loss;
        fuse_output(model, loss);
        return single_head(model, loss, cfg.metrics);
    }
    std::vector<OutputHead> heads;
    for (size_t k = 0; k < cfg.outputs.size(); ++k) {
        const OutputConfig& o = cfg.outputs[k];
        OutputHead h;
        h.name = o.layer;
        h.loss = o.loss;
        fuse_output(model, h.loss, k);
        h.weight = o.loss_weight;
        h.metrics = o.metrics;
        h.offset = model.output_offset(k);
        h.width = model.output_width(k);
        heads.push_back(std::move(h));
    }
    return heads;
}

void load_weights(Sequential& model, const std::vector<LoadedTensor>& tensors, const std::string& what) {
    std::vector<std::string> problems;
    std::vector<bool> used(tensors.size(), false);
    auto shape_text = [](const std::vector<int64_t>& s) {
        std::string t = "[";
        for (size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
        return t + "]";
    };
    for (auto& p : model.params()) {
        const bool bias = p.shape.empty() && p.value->rows() == 1 && p.name.size() > 5 &&
                          p.name.compare(p.name.size() - 5, 5, ".bias") == 0;
        const std::vector<int64_t> want = stored_shape(p);
        size_t k = 0;
        while (k < tensors.size() && tensors[k].name != p.name) ++k;
        if (k == tensors.size()) {
            problems.push_back("missing tensor '" + p.name + "' " + shape_text(want));
            continue;
        }
        used[k] = true;
        const auto& t = tensors[k];
        bool same = t.shape == want || (bias && t.shape == std::vector<int64_t>{1, p.value->cols()});
        if (!same) {
            problems.push_back("tensor '" + p.name + "' has shape " + shape_text(t.shape) + ", the model needs " +
                               shape_text(want));
            continue;
        }
        std::copy(t.data.begin(), t.data.end(), p.value->data());
    }
    for (size_t k = 0; k < tensors.size(); ++k)
        if (!used[k]) problems.push_back("unexpected tensor '" + tensors[k].name + "' " + shape_text(tensors[k].shape));
    if (!problems.empty()) {
        std::string msg = what + ": the weights do not match the model (" + std::to_string(problems.size()) + " problem" +
                          (problems.size() > 1 ? "s" : "") + "):";
        for (size_t i = 0; i < problems.size() && i < 8; ++i) msg += "\n  " + problems[i];
        if (problems.size() > 8) msg += "\n  ... and " + std::to_string(problems.size() - 8) + " more";
        throw DataError(msg);
    }
}

void init_weights_from(Sequential& model, const InitFromConfig& f) {
    struct stat st {};
    const bool dir = ::stat(f.path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    const std::string file = dir ? f.path + "/model.safetensors" : f.path;
    if (::stat(file.c_str(), &st) != 0)
        throw DataError("model.init_from: " + file + ": not found (a run directory written by nnctl train, or a "
                        ".safetensors file)");
    const std::vector<LoadedTensor> tensors = read_safetensors(read_file(file), file);
    auto shape_text = [](const std::vector<int64_t>& s) {
        std::string t = "[";
        for (size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
        return t + "]";
    };
    std::vector<std::string> problems;
    size_t loaded = 0;
    for (auto& p : model.params()) {
        const std::string layer = p.name.substr(0, p.name.find('.'));
        if (!f.all && std::find(f.layers.begin(), f.layers.end(), layer) == f.layers.end()) continue;
        const std::vector<int64_t> want = stored_shape(p);
        const bool bias = p.shape.empty() && p.value->rows() == 1 && p.name.size() > 5 &&
                          p.name.compare(p.name.size() - 5, 5, ".bias") == 0;
        auto it = std::find_if(tensors.begin(), tensors.end(), [&](const LoadedTensor& t) { return t.name == p.name; });
        if (it == tensors.end()) {
            problems.push_back("no tensor '" + p.name + "' " + shape_text(want) + " in " + file);
        } else if (it->shape != want && !(bias && it->shape == std::vector<int64_t>{1, p.value->cols()})) {
            problems.push_back("tensor '" + p.name + "' has shape " + shape_text(it->shape) + " in " + file +
                               ", the model needs " + shape_text(want));
        } else {
            std::copy(it->data.begin(), it->data.end(), p.value->data());
            ++loaded;
        }
    }
    if (!problems.empty() && f.strict) {
        std::string msg = "model.init_from: " + std::to_string(problems.size()) + " weight" +
                          (problems.size() > 1 ? "s" : "") + " cannot be loaded (strict: false skips them):";
        for (size_t i = 0; i < problems.size() && i < 8; ++i) msg += "\n  " + problems[i];
        if (problems.size() > 8) msg += "\n  ... and " + std::to_string(problems.size() - 8) + " more";
        throw DataError(msg);
    }
    for (const auto& p : problems) warn("model.init_from: skipped: " + p);
    if (loaded == 0) throw DataError("model.init_from: no weight of the chosen layers is in " + file);
}

SavedRun load_run(const std::string& dir) {
    SavedRun r;
    r.dir = dir;
    const std::string cfg_path = dir + "/config.yaml", json_path = dir + "/model.json",
                      weights_path = dir + "/model.safetensors";
    for (const auto& f : {cfg_path, json_path, weights_path}) {
        struct stat st {};
        if (::stat(f.c_str(), &st) != 0)
            throw DataError(f + ": not found (is " + dir + " a run directory written by nnctl train?)");
    }
    try {
        r.cfg = load_config(cfg_path);
    } catch (const ConfigError& e) {
        throw DataError(std::string("the run's config does not load: ") + e.what());
    }
    set_read_limits(r.cfg.data.limits);  // predict's and evaluate's input is held to the run's limits
    JsonValue meta;
    try {
        meta = parse_json(read_file(json_path));
    } catch (const DataError&) {
        throw;
    } catch (const std::exception& e) {
        throw DataError(json_path + ": " + e.what());
    }
    const JsonValue* schema = meta.find("data");
    if (!schema) throw DataError(json_path + ": no 'data' schema (written by an older nnctl?)");
    r.schema = DataSchema::from_json(*schema);
    r.loss = r.cfg.loss;
    Shape input{r.schema.width};  // runs saved before shapes were kept are flat
    if (const JsonValue* is = meta.find("input_shape"); is && is->is_array() && !is->items.empty()) {
        Shape s;
        for (const auto& d : is->items) {
            uint64_t v = 0;
            if (!d.as_uint64(v) || v == 0) throw DataError(json_path + ": input_shape entries must be whole numbers ≥ 1");
            s.push_back(int64_t(v));
        }
        if (shape_size(s) != r.schema.width)
            throw DataError(json_path + ": input_shape " + shape_str(s) + " does not match the data's " +
                            std::to_string(r.schema.width) + " features");
        input = s;
    }
    r.model = build_model(r.cfg.layers, input, 0, r.cfg.model_inputs, r.cfg.outputs);
    r.heads = model_heads(r.model, r.cfg);
    r.loss = r.heads[0].loss;
    load_weights(r.model, read_safetensors(read_file(weights_path), weights_path), weights_path);
    return r;
}

TrainResult fit_model(Sequential& model, const std::vector<OutputHead>& heads, const ExperimentConfig& cfg, const Dataset& train,
                      const Dataset* validation, uint64_t seed, const TrainCallbacks& cb, FitState& st) {
    const TrainingConfig& tc = cfg.training;
    const Checkpoint* resume = st.resume;
    // The checkpoint hook: the stage, the history before it and the optimizer, around the fit's snapshot.
    auto hook = [&](TrainCallbacks& c, int stage, int offset, const std::vector<EpochLog>& earlier) {
        if (!st.on_checkpoint) return;
        c.on_checkpoint = [&st, stage, offset, &earlier](const TrainerSnapshot& sn) {
            Checkpoint cp;
            cp.stage = stage, cp.offset = offset, cp.earlier = earlier, cp.trainer = sn;
            cp.optimizer = st.optimizer.get();
            st.on_checkpoint(cp);
        };
    };
    if (tc.stages.empty()) {
        if (!st.optimizer) st.optimizer = make_optimizer(cfg.optimizer);
        if (resume) st.optimizer->import_state(resume->optimizer_tensors, resume->optimizer_scalars);
        st.trainer = std::make_unique<Trainer>(model, heads, *st.optimizer, tc, Rng::derive(seed, 2));
        st.trainer->set_full_logs(st.full_logs);
        st.trainer->set_communicator(st.comm);
        TrainCallbacks c = cb;
        const std::vector<EpochLog> none;
        hook(c, 0, 0, none);
        return st.trainer->fit(train, validation, c, resume ? &resume->trainer : nullptr);
    }
    TrainResult all;
    int offset = 0;
    if (resume) {
        all.history = resume->earlier;
        offset = resume->offset;
    }
    for (size_t k = 0; k < tc.stages.size(); ++k) {
        const StageConfig& g = tc.stages[k];
        const std::string where = "training.stages." + std::to_string(k);
        for (const auto& n : g.unfreeze)
            if (!model.set_layer_trainable(n, true)) throw ConfigError(where + ".unfreeze: no layer '" + n + "'");
        for (const auto& n : g.freeze)
            if (!model.set_layer_trainable(n, false)) throw ConfigError(where + ".freeze: no layer '" + n + "'");
        if (resume && int(k) < resume->stage) continue;  // done before the checkpoint: its freezes still apply
        const TrainerSnapshot* from = resume && int(k) == resume->stage ? &resume->trainer : nullptr;
        OptimizerSpec spec = cfg.optimizer;
        if (g.learning_rate > 0) {
            spec.learning_rate = ScheduleSpec{};
            spec.learning_rate.initial_learning_rate = g.learning_rate;
        }
        st.optimizer = make_optimizer(spec);
        if (from) st.optimizer->import_state(resume->optimizer_tensors, resume->optimizer_scalars);
        TrainingConfig stage = tc;
        stage.stages.clear();
        stage.epochs = g.epochs;
        const uint64_t s = k == 0 ? Rng::derive(seed, 2) : Rng::derive(Rng::derive(seed, 2), k);
        st.trainer = std::make_unique<Trainer>(model, heads, *st.optimizer, stage, s);
        st.trainer->set_full_logs(st.full_logs);
        st.trainer->set_communicator(st.comm);
        if (cb.on_message && !from) {
            std::string m = "stage " + std::to_string(k + 1) + "/" + std::to_string(tc.stages.size()) + ": " +
                            std::to_string(g.epochs) + " epoch" + (g.epochs > 1 ? "s" : "");
            if (!g.unfreeze.empty()) {
                m += ", unfrozen:";
                for (const auto& n : g.unfreeze) m += " " + n;
            }
            if (!g.freeze.empty()) {
                m += ", frozen:";
                for (const auto& n : g.freeze) m += " " + n;
            }
            if (g.learning_rate > 0) m += ", learning rate " + format_number(g.learning_rate);
            m += "; " + std::to_string(model.param_count(true)) + " trainable parameters";
            cb.on_message(m);
        }
        TrainCallbacks scb = cb;
        if (cb.on_epoch_begin) scb.on_epoch_begin = [&](int e, int) { cb.on_epoch_begin(offset + e, tc.epochs); };
        if (cb.on_epoch_end)
            scb.on_epoch_end = [&](const EpochLog& l) {
                EpochLog c = l;
                c.epoch += offset;
                cb.on_epoch_end(c);
            };
        hook(scb, int(k), offset, all.history);
        TrainResult r = st.trainer->fit(train, validation, scb, from);
        for (auto& l : r.history) {
            l.epoch += offset;
            all.history.push_back(std::move(l));
        }
        all.stopped_early = all.stopped_early || r.stopped_early;
        if (r.best_epoch > 0) all.best_epoch = r.best_epoch + offset;
        offset += int(r.history.size());
        if (r.interrupted) {
            all.interrupted = true;
            break;
        }
    }
    return all;
}

ExperimentResult run_experiment(Experiment& ex, const TrainCallbacks& cb, const Checkpoint* resume,
                                const std::function<void(const Checkpoint&)>& on_checkpoint) {
    ExperimentResult r;
    FitState st;
    st.optimizer = std::move(ex.optimizer);
    st.resume = resume;
    st.on_checkpoint = on_checkpoint;
    st.comm = ex.comm;
    r.train = fit_model(ex.model, ex.heads, ex.cfg, ex.data.train, ex.data.validation.size() > 0 ? &ex.data.validation : nullptr,
                        ex.cfg.seed, cb, st);
    ex.optimizer = std::move(st.optimizer);
    Trainer& trainer = *st.trainer;
    if (!r.train.history.empty()) r.final_logs = r.train.history.back().values;
    if (ex.data.test.size() > 0 && !r.train.interrupted) r.test_logs = trainer.evaluate(ex.data.test);
    if (!ex.data.test_reference.empty() && !r.train.interrupted) {
        const SeriesSchema& s = ex.data.schema.series;
        r.forecast = forecast_report(s, ex.data.test_reference, unscale_forecast(s, predict_all(ex.model, ex.data.test.x)));
    }
    return r;
}

std::vector<std::string> data_files(const DataConfig& d) {
    std::vector<std::string> out;
    auto add = [&](const DataSourceConfig& s) {
        for (const auto* p : {&s.path, &s.images, &s.labels, &s.features_path, &s.targets_path})
            if (!p->empty()) out.push_back(*p);
    };
    add(d.train);
    if (d.validation) add(*d.validation);
    if (d.test) add(*d.test);
    return out;
}

std::string utc_now() {
    std::time_t t = std::time(nullptr);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

std::string utc_time(double seconds) {
    const std::time_t t = std::time_t(std::floor(seconds));
    const int ms = std::min(999, int((seconds - std::floor(seconds)) * 1000));
    std::tm tm {};
    ::gmtime_r(&t, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[64];
    std::snprintf(out, sizeof out, "%s.%03dZ", buf, ms);
    return out;
}

void write_run_info(const std::string& dir, const ExperimentConfig& cfg, const RunInfo& info) {
    // Hashes are computed once per process and file (the start and the end of a run share them).
    static std::map<std::string, std::pair<std::string, uint64_t>> cache;
    JsonWriter j;
    j.begin_object();
    j.key("nnctl_version").value(NNCTL_VERSION);
    j.key("command").begin_array();
    for (const auto& a : info.command) j.value(a);
    j.end_array();
    j.key("seed").value(static_cast<long long>(cfg.seed));
    j.key("threads").value(info.threads);
    if (info.processes > 1) j.key("processes").value(info.processes);
    j.key("status").value(info.status);
    if (!info.message.empty()) j.key("message").value(info.message);
    j.key("started").value(info.started);
    if (!info.finished.empty()) j.key("finished").value(info.finished);
    j.key("data_files").begin_array();
    for (const auto& f : data_files(cfg.data)) {
        auto it = cache.find(f);
        if (it == cache.end()) {
            uint64_t size = 0;
            std::string hash;
            try {
                struct stat st {};
                if (::stat(f.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
                    // An image folder: one hash over every image's relative path and hash, in order.
                    std::string manifest;
                    for (const auto& [file, cls] : list_image_folder(f).files) {
                        uint64_t n = 0;
                        manifest += file.substr(f.size() + 1) + '\0' + sha256_file(file, &n) + '\n';
                        size += n;
                    }
                    Sha256 h;
                    h.update(manifest.data(), manifest.size());
                    hash = h.hex();
                } else {
                    hash = sha256_file(f, &size);
                }
            } catch (const DataError&) {
                hash = "";  // unreadable: the data loader reports it properly
            }
            it = cache.emplace(f, std::make_pair(hash, size)).first;
        }
        j.begin_object().key("path").value(f).key("bytes").value(static_cast<long long>(it->second.second));
        j.key("sha256").value(it->second.first).end_object();
    }
    j.end_array();
    j.end_object();
    write_file_atomic(dir + "/run.json", j.str() + "\n");
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

void write_result_logs(JsonWriter& j, const ExperimentResult& res) {
    j.key("final");
    write_logs(j, res.final_logs);
    if (!res.test_logs.empty()) {
        j.key("test");
        write_logs(j, res.test_logs);
    }
    if (res.forecast) {  // the test logs' loss is on scaled values; these are in the series' units
        j.key("test_forecast");
        write_forecast_json(j, *res.forecast);
    }
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
            tensors.push_back({p.name, stored_shape(p), p.value->data()});
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
        if (ex.heads.size() > 1) {  // several outputs: each one's columns, activation and loss (for people; the config rebuilds them)
            m.key("outputs").begin_array();
            for (size_t k = 0; k < ex.heads.size(); ++k) {
                const OutputHead& h = ex.heads[k];
                m.begin_object().key("name").value(h.name).key("columns").value(static_cast<long long>(h.width));
                m.key("activation").value(ex.model.output_activation(k).name).key("loss").value(h.loss.type);
                m.key("loss_weight").value(h.weight).end_object();
            }
            m.end_array();
        }
        m.key("data");
        ex.data.schema.write_json(m);
        m.end_object();
        write_file_atomic(dir + "/model.json", m.str() + "\n");
        if (ex.data.schema.format == "text") {
            // Keras' vocabulary asset, for people and other tools: token i on line i + 1 (the int
            // mode's padding "" is the empty first line). model.json holds the copy nnctl reads.
            std::string v;
            for (const auto& t : ex.data.schema.text.vocabulary) {
                for (char c : t) v += c == '\n' ? std::string("\\n") : c == '\\' ? std::string("\\\\") : std::string(1, c);
                v += '\n';
            }
            write_file_atomic(dir + "/vocabulary.txt", v);
        }
    }
    write_file_atomic(dir + "/history.csv", history_csv(res.train.history));
    JsonWriter j;
    j.begin_object();
    j.key("epochs_run").value(int(res.train.history.size()));
    j.key("stopped_early").value(res.train.stopped_early);
    j.key("interrupted").value(res.train.interrupted);
    if (res.train.best_epoch > 0) j.key("best_epoch").value(res.train.best_epoch);
    write_result_logs(j, res);
    j.end_object();
    write_file_atomic(dir + "/metrics.json", j.str() + "\n");
}

}  // namespace nnctl
