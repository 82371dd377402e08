#include "search/runner.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "config/parse.hpp"
#include "config/registry.hpp"
#include "core/error.hpp"
#include "core/fileio.hpp"
#include "core/json.hpp"
#include "core/json_value.hpp"
#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "core/sha256.hpp"
#include "search/cv.hpp"
#include "search/schedule.hpp"
#include "search/tpe.hpp"
#include "train/evaluate.hpp"
#include "train/experiment.hpp"

namespace nnctl {

using clock_type = std::chrono::steady_clock;

bool minimize_objective(const std::string& objective, const std::string& direction) {
    if (direction == "minimize") return true;
    if (direction == "maximize") return false;
    auto ends = [&](const char* x) {
        std::string s(x);
        return objective.size() >= s.size() && objective.compare(objective.size() - s.size(), s.size(), s) == 0;
    };
    return ends("loss") || ends("mse") || ends("mae");
}

TrialData load_trial_data(const ExperimentConfig& cfg, const SearchConfig& s) {
    DataConfig dc = cfg.data;
    dc.preprocess = "none";  // fitted per fold, on the fold's training rows only
    if (s.cv > 0) {
        dc.validation_split = 0.0;
        dc.validation.reset();
    }
    TrialData td;
    td.data = load_data(dc, cfg.loss.is_classification(), Rng::derive(cfg.seed, 5));
    if (s.cv > 0) {
        const int n = int(td.data.train.size());
        for (const auto& held : kfold(td.data.train, s.cv, Rng::derive(s.seed, 99))) {
            std::vector<char> out(size_t(n), 0);
            for (int i : held) out[size_t(i)] = 1;
            std::vector<int> tr;
            tr.reserve(size_t(n) - held.size());
            for (int i = 0; i < n; ++i)
                if (!out[size_t(i)]) tr.push_back(i);
            td.folds.emplace_back(std::move(tr), held);
        }
    } else if (td.data.validation.size() == 0) {
        throw ConfigError("search: no held-out data to score trials on: set search.cv (k-fold cross-validation) or "
                          "data.validation_split");
    }
    return td;
}

bool trials_share_data(const SearchConfig& s) {
    for (const auto& p : s.params)
        if (p.path == "seed" || p.path == "data" || p.path.rfind("data.", 0) == 0) return false;
    return true;
}

namespace {

/// Doubles as C99 hex floats (exact) in progress.json.
std::string hex_double(double v) {
    char b[40];
    std::snprintf(b, sizeof b, "%a", v);
    return b;
}

/// The finished units' scores an earlier attempt recorded for this config (none when the file is
/// absent, damaged or from another config or budget: then it is removed; the units' checkpoints are
/// checked on their own, and a rung's are continued by the next).
std::vector<double> read_progress(const TrialCheckpoints& ck, const std::string& fp) {
    std::vector<double> out;
    const std::string path = ck.dir + "/progress.json";
    if (!path_exists(path)) return out;
    try {
        const JsonValue v = parse_json(read_file(path));
        const JsonValue* c = v.find("config");
        const JsonValue* sc = v.find("scores");
        if (c && c->is_string() && c->text == fp && sc && sc->is_array()) {
            for (const auto& x : sc->items) out.push_back(std::strtod(x.text.c_str(), nullptr));
            return out;
        }
    } catch (const Error&) {
    }
    ::unlink(path.c_str());
    return {};
}

void write_progress(const TrialCheckpoints& ck, const std::string& fp, const std::vector<double>& scores) {
    JsonWriter j;
    j.begin_object().key("config").value(fp).key("scores").begin_array();
    for (double x : scores) j.value(hex_double(x));
    j.end_array().end_object();
    make_dirs(ck.dir);
    write_file_atomic(ck.dir + "/progress.json", j.str());
}

}  // namespace

std::vector<double> evaluate_trial(const ExperimentConfig& cfg_in, const SearchConfig& s, const TrialData* shared,
                                   const TrialCheckpoints* ck, TrialHooks* hooks) {
    // A rung's budget cuts the fit at fewer epochs; the checkpoints belong to the full config, so that
    // the next rung continues them, while the finished units' scores belong to this budget.
    ExperimentConfig budgeted;
    const bool cut = hooks && hooks->budget > 0 && hooks->budget != cfg_in.training.epochs;
    if (cut) {
        budgeted = cfg_in;
        budgeted.training.epochs = hooks->budget;
    }
    const ExperimentConfig& cfg = cut ? budgeted : cfg_in;
    std::optional<TrialData> own;
    if (!shared) own = load_trial_data(cfg, s);
    const DataSplits& data = shared ? shared->data : own->data;
    const auto& folds = shared ? shared->folds : own->folds;
    const std::string& pre = cfg.data.preprocess;
    const double rescale = cfg.data.rescale;
    const std::string metric = s.objective.rfind("val_", 0) == 0 ? s.objective.substr(4) : s.objective;
    // A checkpoint belongs to this trial's config and this search's scoring (folds, repeats, objective).
    std::string fp, progress_fp;
    if (ck) {
        const std::string text = emit_config(cfg_in) + "--- search ---\n" + s.canonical;
        Sha256 h;
        h.update(text.data(), text.size());
        fp = h.hex();
        progress_fp = cut ? fp + " epochs " + std::to_string(hooks->budget) : fp;
    }

    std::vector<double> scores;
    if (ck) scores = read_progress(*ck, progress_fp);
    const size_t nf = folds.empty() ? 1 : folds.size();
    size_t unit = 0;
    for (int r = 0; r < s.repeats; ++r) {
        const uint64_t seed = s.repeats == 1 ? cfg.seed : Rng::derive(cfg.seed, 1000 + uint64_t(r));
        for (size_t f = 0; f < nf; ++f, ++unit) {
            if (unit < scores.size()) continue;  // scored by an earlier attempt
            Scaling sc;
            sc.kind = pre;
            sc.rescale = rescale;
            // The fold's own copies when it is a subset or is scaled; the shared data otherwise.
            Dataset tr_copy, va_copy;
            const Dataset* trp = &data.train;
            const Dataset* vap = &data.validation;
            if (!folds.empty() || sc.active()) {
                tr_copy = folds.empty() ? data.train : data.train.subset(folds[f].first);
                va_copy = folds.empty() ? data.validation : data.train.subset(folds[f].second);
                if (sc.active()) {
                    fit_scaling(sc, tr_copy.x);
                    apply_scaling(sc, tr_copy.x);
                    apply_scaling(sc, va_copy.x);
                }
                trp = &tr_copy;
                vap = &va_copy;
            }
            const Dataset& tr = *trp;
            const Dataset& va = *vap;
            auto build = [&] {
                Sequential m = build_model(cfg.layers, model_input_shape(cfg, tr), Rng::derive(seed, 1), cfg.model_inputs, cfg.outputs);
                if (cfg.init_from.present()) init_weights_from(m, cfg.init_from);
                return m;
            };
            Sequential model = build();
            std::vector<OutputHead> heads = model_heads(model, cfg);
            FitState st;
            st.full_logs = false;  // only the final score is read: no per-epoch validation passes
            // Continue from the checkpoint an earlier attempt left for this unit, if it is usable.
            const std::string udir = ck ? ck->dir + "/unit-" + std::to_string(unit) : "";
            Checkpoint from;
            if (ck && path_exists(udir)) {
                bool ok = false;
                try {
                    ok = read_checkpoint(udir, model, from) && from.config == fp;
                } catch (const Error& e) {
                    if (ck->on_message) ck->on_message(ck->label + ": its checkpoint is unusable (" + e.what() + "); the fold starts over");
                }
                if (ok) {
                    st.resume = &from;
                    if (ck->on_message) {
                        std::string where = nf > 1 ? "fold " + std::to_string(f + 1) + "/" + std::to_string(nf) : "training";
                        if (s.repeats > 1) where += " of repeat " + std::to_string(r + 1);
                        ck->on_message(ck->label + ": " + where + " continues from its checkpoint after epoch " +
                                       std::to_string(from.offset + from.trainer.epochs_done));
                    }
                } else {
                    remove_tree(udir);
                    model = build();  // (a failed read may have loaded some weights)
                    heads = model_heads(model, cfg);
                }
            }
            const int every = cfg.training.checkpoint_every;
            const bool keep = ck && hooks && hooks->keep_checkpoints;
            auto last = clock_type::now();
            if (ck && (every > 0 || keep))
                st.on_checkpoint = [&](const Checkpoint& c) {
                    const int done = c.offset + c.trainer.epochs_done;
                    // The end of a rung that may be continued is always kept.
                    const bool rung_end = keep && (done == cfg.training.epochs || c.trainer.stopped_early);
                    if (!rung_end) {
                        if (every <= 0 || (done % every != 0 && !c.trainer.stopped_early)) return;
                        if (std::chrono::duration<double>(clock_type::now() - last).count() < ck->every_seconds) return;
                    }
                    Checkpoint w = c;
                    w.config = fp;
                    make_dirs(udir);
                    write_checkpoint(udir, w, model);
                    last = clock_type::now();
                };
            TrainCallbacks tcb;
            if (hooks && hooks->on_epoch) {
                st.full_logs = true;  // the objective on the held-out data after every epoch
                tcb.on_epoch_end = [hooks, u = int(unit), key = "val_" + metric](const EpochLog& l) {
                    hooks->on_epoch(u, l.epoch, log_value(l.values, key));
                };
            }
            const TrainResult fitted = fit_model(model, heads, cfg, tr, &va, seed, tcb, st);
            if (hooks) hooks->epochs = std::max(hooks->epochs, int(fitted.history.size()));
            Logs logs = st.trainer->evaluate(va);
            double v = log_value(logs, metric);
            if (std::isnan(v)) {
                std::string have;
                for (const auto& [k, x] : logs) have += (have.empty() ? "" : ", ") + std::string("val_") + k;
                throw ConfigError("search.objective: '" + s.objective + "' is not computed (available: " + have +
                                  "; add the metric to metrics:)");
            }
            if (!std::isfinite(v)) throw DivergedError("the objective is not finite");
            scores.push_back(v);
            if (ck && unit + 1 < nf * size_t(s.repeats)) {  // the unit's score is kept before its checkpoint goes
                write_progress(*ck, progress_fp, scores);
                if (!keep && path_exists(udir)) remove_tree(udir);
            }
        }
    }
    return scores;
}

namespace {

std::string join_lines_diff(const std::string& before, const std::string& after) {
    auto lines = [](const std::string& t) {
        std::vector<std::string> v;
        std::istringstream in(t);
        for (std::string l; std::getline(in, l);) v.push_back(l);
        return v;
    };
    auto a = lines(before), b = lines(after);
    std::multiset<std::string> sa(a.begin(), a.end()), sb(b.begin(), b.end());
    std::string out;
    for (const auto& l : a)
        if (!sb.count(l)) out += "\n  - " + l;
    for (const auto& l : b)
        if (!sa.count(l)) out += "\n  + " + l;
    return out;
}

std::vector<std::string> sets_of(const TrialRecord& r) {
    std::vector<std::string> v;
    for (const auto& x : parse_json(r.sets).items) v.push_back(x.text);
    return v;
}

std::string sets_json(const std::vector<std::string>& sets) {
    JsonWriter j;
    j.begin_array();
    for (const auto& s : sets) j.value(s);
    j.end_array();
    return j.str();
}

std::string describe(const TrialRecord& r) {
    std::string d;
    for (const auto& s : sets_of(r)) d += (d.empty() ? "" : ", ") + s;
    return d;
}

/// Complete trials best first (ties by index), then pruned ones (most epochs first, then by their
/// last objective), then failed, then unfinished.
std::vector<TrialRecord> ranked(std::vector<TrialRecord> t, bool minimize) {
    auto rank = [](const TrialRecord& r) {
        return r.state == "complete" ? 0 : r.state == "pruned" ? 1 : r.state == "failed" ? 2 : 3;
    };
    std::stable_sort(t.begin(), t.end(), [&](const TrialRecord& a, const TrialRecord& b) {
        if (rank(a) != rank(b)) return rank(a) < rank(b);
        if (rank(a) == 1 && a.epochs != b.epochs) return a.epochs > b.epochs;
        if (rank(a) <= 1 && a.mean != b.mean) return minimize ? a.mean < b.mean : a.mean > b.mean;
        return a.index < b.index;
    });
    return t;
}

std::string csv_cell(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string o = "\"";
    for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
    return o + "\"";
}

/// leaderboard.csv, trials.jsonl and best.yaml of a sweep directory, each written atomically.
std::string write_outputs(const std::string& out, const SearchStore& store, const std::vector<TrialRecord>& ranked_trials) {
    std::vector<std::string> paths;
    if (!ranked_trials.empty())
        for (const auto& s : sets_of(ranked_trials.front())) paths.push_back(s.substr(0, s.find('=')));
    std::string csv = "rank,trial,state,mean,std,duration_s,epochs";
    for (const auto& p : paths) csv += "," + csv_cell(p);
    csv += ",error\n";
    std::string jsonl;
    int rank = 0;
    for (const auto& r : ranked_trials) {
        const bool done = r.state == "complete";
        csv += (done ? std::to_string(++rank) : std::string()) + "," + std::to_string(r.index) + "," + r.state + "," +
               (done || r.state == "pruned" ? format_number(r.mean) : "") + "," + (done ? format_number(r.std) : "") + "," +
               (r.state == "pending" || r.state == "running" ? "" : format_number(std::round(r.duration * 1000) / 1000)) +
               "," + (r.epochs > 0 ? std::to_string(r.epochs) : "");
        const auto trial_sets = sets_of(r);
        for (size_t k = 0; k < paths.size(); ++k)  // (a tpe trial not proposed yet has no values)
            csv += "," + (k < trial_sets.size() ? csv_cell(trial_sets[k].substr(trial_sets[k].find('=') + 1)) : "");
        csv += "," + csv_cell(r.error) + "\n";
        JsonWriter j;
        j.begin_object().key("trial").value(static_cast<long long>(r.index)).key("state").value(r.state);
        j.key("params").raw(r.params).key("scores").begin_array();
        for (double x : r.scores) j.value(x);
        j.end_array();
        if (done) j.key("mean").value(r.mean).key("std").value(r.std);
        if (r.state == "pruned") j.key("value").value(r.mean);
        if (r.epochs > 0) j.key("epochs").value(r.epochs);
        if (!r.rung_values.empty() && r.budget > 0) {  // budgeted strategies: the objective at each rung reached
            j.key("rungs").begin_array();
            for (double x : r.rung_values) j.value(x);
            j.end_array();
        }
        if (r.state == "complete" || r.state == "failed" || r.state == "pruned") j.key("duration").value(r.duration);
        if (r.started > 0) j.key("started").value(utc_time(r.started)).key("worker").value(r.worker);
        if (r.deaths > 0) j.key("worker_deaths").value(r.deaths);
        if (!r.error.empty()) j.key(r.state == "pruned" ? "reason" : "error").value(r.error);
        j.end_object();
        jsonl += j.str() + "\n";
    }
    write_file_atomic(out + "/leaderboard.csv", csv);
    write_file_atomic(out + "/trials.jsonl", jsonl);
    if (ranked_trials.empty() || ranked_trials.front().state != "complete") return "";
    std::vector<std::string> best_sets;
    for (const auto& x : parse_json(store.meta("base_sets")).items) best_sets.push_back(x.text);
    for (const auto& x : sets_of(ranked_trials.front())) best_sets.push_back(x);
    // From the config file, as the search read it; on a machine that does not have it (a search
    // exported from PostgreSQL), from the resolved base config the store keeps (data paths absolute).
    ExperimentConfig best;
    try {
        const std::string path = store.meta("config_path");  // (its search section is not needed again)
        best = parse_config(read_config_text(path), path, best_sets, "", false);
    } catch (const ConfigError&) {
        if (path_exists(store.meta("config_path"))) throw;
        best = parse_config(store.meta("base_config"), store.meta("config_path"), best_sets, "", false);
    }
    std::string text = "# The best configuration of the search in " + out + " (trial " +
                       std::to_string(ranked_trials.front().index) + ", " + store.meta("objective") + " " +
                       format_number(ranked_trials.front().mean) + ").\n# Run it: nnctl train " + out +
                       "/best.yaml\n" + emit_config(best);
    write_file_atomic(out + "/best.yaml", text);
    return out + "/best.yaml";
}

/// Whether process `pid` of this machine still runs (a zombie, killed but not yet collected, does
/// not), and its parent's process id (0 when unknown).
bool process_alive(int pid, int* parent = nullptr) {
    if (parent) *parent = 0;
    if (pid <= 0) return false;
    if (::kill(pid, 0) != 0 && errno != EPERM) return false;
    std::string stat;
    try {
        stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    } catch (const Error&) {  // (gone since, or no /proc: trust kill)
    }
    const size_t close = stat.rfind(')');  // "pid (name) S ppid ..."
    if (close == std::string::npos || close + 2 >= stat.size()) return true;
    if (parent) *parent = std::atoi(stat.c_str() + close + 4);
    return stat[close + 2] != 'Z';
}

/// A worker's heartbeat thread: every heartbeat_timeout / 4 seconds (at least 0.2) it marks the
/// trial in (idx, attempt) alive, while idx >= 0. Stopped and joined when it goes out of scope.
class Heartbeat {
public:
    Heartbeat(const std::string& db, const std::string& name, double timeout, std::atomic<int64_t>& idx,
              std::atomic<int>& attempt) {
        if (timeout <= 0) return;
        thread_ = std::thread([=, &idx, &attempt] {
            try {
                SearchStore hb(db, name);
                const auto period = std::chrono::duration<double>(std::max(0.2, timeout / 4));
                auto next = clock_type::now();
                while (!stop_) {
                    if (clock_type::now() >= next) {
                        const int64_t i = idx;
                        if (i >= 0) hb.beat(i, attempt);
                        next = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(period);
                    }
                    std::this_thread::sleep_for(std::chrono::milliseconds(50));
                }
            } catch (const std::exception&) {  // (the storage gave up: the trial's own writes will say so)
            }
        });
    }
    ~Heartbeat() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    Heartbeat(const Heartbeat&) = delete;
    Heartbeat& operator=(const Heartbeat&) = delete;

private:
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

void check_fingerprint(SearchStore& store, const std::string& fingerprint, const std::string& out) {
    const std::string old = store.meta("fingerprint");
    if (old == fingerprint) return;
    throw ConfigError(out + ": this sweep directory holds a search with a different config or space; resuming it "
                      "would mix results. Use another --out, or undo these changes:" +
                      join_lines_diff(old, fingerprint));
}

}  // namespace

SearchResult run_search(const SearchOptions& o, const SearchCallbacks& cb) {
    std::vector<std::string> sets = o.sets;
    if (!o.strategy.empty()) sets.push_back("search.strategy=" + o.strategy);
    const std::string config_text = read_config_text(o.config);  // read once: the base and every trial
    ExperimentConfig base = parse_config(config_text, o.config, sets, o.space_file);
    if (!base.search.present)
        throw ConfigError(o.config + ": no search section (add search: {space: ...} or give --space FILE)");
    const SearchConfig& s = base.search;
    const int64_t n = trial_count(s);
    const int64_t cap = o.max_trials > 0 ? o.max_trials : s.max_trials;
    if (n > cap)
        throw ConfigError(o.config + ": search.space: the " + s.strategy + " search has " + std::to_string(n) +
                          " trials, more than the cap of " + std::to_string(cap) + " (pass --max-trials " +
                          std::to_string(n) + " to run them all)");
    if (o.shards < 1 || o.shard < 0 || o.shard >= o.shards) throw ConfigError("--shard: expected i/N with 0 <= i < N");
    // Budgeted strategies decide from every trial's results, and tpe learns from them: one store.
    const bool budgeted = s.strategy == "halving" || s.strategy == "hyperband" || s.strategy == "asha";
    const bool adaptive = budgeted || s.strategy == "tpe";
    if (adaptive && o.shards > 1)
        throw ConfigError("--shard: strategy: " + s.strategy + " decides from the results of all trials, which shards "
                          "do not share; run one search (--jobs N) instead");
    const std::vector<Bracket> brackets = budgeted ? plan_brackets(s) : std::vector<Bracket>{};
    // The trials train to max_epochs at most (the top rung), and best.yaml trains that many.
    if (budgeted) sets.push_back("training.epochs=" + std::to_string(s.max_epochs));
    const bool minimize = minimize_objective(s.objective, s.direction);
    const std::string base_text = emit_config(base);
    std::string fingerprint = base_text + "--- search ---\n" + s.canonical + "\n";
    if (s.strategy == "grid" || s.strategy == "halving" || s.strategy == "hyperband")
        fingerprint += "trials: " + std::to_string(n) + "\n";

    // Every trial of this shard must give a valid config before anything runs. (tpe proposes its
    // trials as results come in: its random start and the space's bounds are checked here, and each
    // proposal when it is made.)
    std::vector<Trial> trials;
    for (int64_t i = o.shard; i < n; i += o.shards) trials.push_back(make_trial(s, i));
    std::map<int64_t, ExperimentConfig> configs;  // validated once here; workers inherit them
    // A trial is the config file with the user's overrides, then the trial's values, as `--set`s: so a
    // searched optimizer.type starts from that type's own defaults.
    auto trial_sets = [&](const Trial& t) {
        std::vector<std::string> all = sets;
        for (const auto& x : t.sets()) all.push_back(x);
        return all;
    };
    // A problem a trial's value causes is reported at its entry in the space, not as a --set.
    auto trial_labels = [&](const Trial& t) {
        std::vector<std::string> labels(sets.size());
        for (size_t k = 0; k < t.values.size(); ++k)
            labels.push_back(s.params[k].where + ": search.space: " + t.values[k].first + " = " + t.values[k].second);
        return labels;
    };
    auto validate = [&](const Trial& t) {
        try {  // (the search section itself was read and checked with the base config)
            return parse_config(config_text, o.config, trial_sets(t), "", false, trial_labels(t));
        } catch (const ConfigError& e) {
            std::string vals;
            for (const auto& [p, v] : t.values) vals += (vals.empty() ? "" : ", ") + p + "=" + v;
            throw ConfigError(o.config + ": search.space: trial " + std::to_string(t.index) + " (" + vals +
                              ") is not a valid config:\n" + e.what());
        }
    };
    for (const auto& t : trials)
        if (s.strategy != "tpe" || t.index < s.n_startup_trials) configs.emplace(t.index, validate(t));
    if (s.strategy != "grid" && !trials.empty())  // the space's bounds, not only the values drawn
        for (size_t k = 0; k < s.params.size(); ++k) {
            const auto& p = s.params[k];
            if (p.kind != "uniform" && p.kind != "log_uniform" && p.kind != "int_uniform") continue;
            for (double bound : {p.min, p.max}) {
                Trial t = trials.front();
                t.values[k].second = format_number(bound);
                validate(t);
            }
        }

    // The store: SQLite in the sweep directory, or a PostgreSQL search that other machines may be
    // running too (connected before anything is written here, so an unreachable server leaves no trace).
    const bool shared_store = !o.storage.empty();
    if (shared_store && !is_postgres_url(o.storage))
        throw ConfigError("--storage " + mask_url(o.storage) + ": expected a postgresql://user@host/database URL (the default "
                          "store, SQLite in the sweep directory, needs no --storage)");
    const std::string search_name = o.name.empty() ? base.name : o.name;
    const std::string db = shared_store ? o.storage : o.out + "/search.db";
    std::unique_ptr<SearchStore> store_own;
    bool existed = false;
    if (shared_store) {
        store_own = std::make_unique<SearchStore>(db, search_name);
        existed = !store_own->meta("fingerprint").empty();
        make_dirs(o.out);
    } else {
        make_dirs(o.out);
        existed = ::access(db.c_str(), F_OK) == 0;
        if (o.resume && !existed) throw ConfigError("--resume: " + o.out + " holds no search to resume");
        store_own = std::make_unique<SearchStore>(db);
    }
    if (o.resume && !existed) throw ConfigError("--resume: " + store_own->where() + " holds no search '" + search_name + "' to resume");
    SearchStore& store = *store_own;
    const std::string host = this_host();
    auto alive = [](int pid) { return process_alive(pid); };
    // A new search's description is written in one transaction, unless another process (another
    // worker starting at the same moment) wrote one first: then this one must be the same search.
    const bool created = store.init_meta({{"base_config", base_text},
                                          {"config_path", o.config},
                                          {"base_sets", sets_json(sets)},
                                          {"space_file", o.space_file},
                                          {"objective", s.objective},
                                          {"direction", minimize ? "minimize" : "maximize"},
                                          {"strategy", s.strategy},
                                          {"shard", std::to_string(o.shard) + "/" + std::to_string(o.shards)},
                                          {"created", utc_now()},
                                          {"fingerprint", fingerprint}});
    if (!created) {
        check_fingerprint(store, fingerprint, shared_store ? store.where() + " (search " + search_name + ")" : o.out);
        if (const std::string sh = store.meta("shard"); !sh.empty() && sh != std::to_string(o.shard) + "/" + std::to_string(o.shards))
            throw ConfigError(o.out + ": this sweep directory was run as shard " + sh);
    }
    std::vector<TrialRecord> rows;
    for (const auto& t : trials) {
        TrialRecord r;
        r.index = t.index;
        r.params = s.strategy == "tpe" ? "{}" : t.json();  // (tpe: set when the trial is claimed)
        r.sets = s.strategy == "tpe" ? "[]" : sets_json(t.sets());
        if (budgeted) r.budget = bracket_of(brackets, t.index).rungs.front().epochs;
        rows.push_back(r);
    }
    store.add_trials(rows);
    // Trials left running by processes of this machine that are gone (a killed search) run again;
    // those of other machines, once their heartbeats stop (the workers' claims see to that).
    if (size_t k = store.reap(host, s.heartbeat_timeout, false, 0, alive).size(); k > 0 && cb.on_message)
        cb.on_message("resuming: " + std::to_string(k) +
                      " interrupted trial(s) will run again, from their last checkpoints where they left one");

    std::set<int64_t> mine;
    for (const auto& t : trials) mine.insert(t.index);
    // Work left: pending trials, and paused ones that the scheduler may still promote.
    auto is_open = [](const TrialRecord& r) { return r.state == "pending" || r.state == "paused"; };
    int64_t pending = 0;
    for (const auto& r : store.all())
        if (mine.count(r.index) && is_open(r)) ++pending;
    if (cb.on_message && existed && pending < int64_t(trials.size()))
        cb.on_message("resuming: " + std::to_string(int64_t(trials.size()) - pending) + " of " +
                      std::to_string(trials.size()) + " trials already done");
    store.set_meta("stop", "");
    store.set_meta("heartbeat_timeout", format_number(s.heartbeat_timeout));  // (for search status)

    SearchResult res;
    res.out = o.out;
    res.objective = s.objective;
    res.direction = minimize ? "minimize" : "maximize";
    res.strategy = s.strategy;
    const int jobs = int(std::max<int64_t>(1, std::min<int64_t>(o.jobs, std::max<int64_t>(1, pending))));
    const int per_trial = std::max(1, o.threads / std::max(1, o.jobs));
    const auto t_start = clock_type::now();
    int64_t finished_here = 0;

    // Progress is tracked incrementally (a search may have many thousands of trials); the full
    // leaderboard files are refreshed from the store at most once a second, and at the end.
    SearchProgress progress;
    progress.total = int64_t(trials.size());
    auto note_best = [&](const TrialRecord& r) {
        if (r.state == "complete" && (!progress.has_best || (minimize ? r.mean < progress.best : r.mean > progress.best))) {
            progress.has_best = true;
            progress.best = r.mean;
            progress.best_params = describe(r);
        }
    };
    auto is_done = [](const TrialRecord& r) { return r.state == "complete" || r.state == "failed" || r.state == "pruned"; };
    for (const auto& r : store.all()) {
        if (!mine.count(r.index)) continue;
        if (is_done(r)) ++progress.done;
        if (r.state == "failed") ++progress.failed;
        if (r.state == "pruned") ++progress.pruned;
        note_best(r);
    }
    auto last_write = clock_type::now();
    auto finished = [&](const TrialRecord& r) {
        ++finished_here;
        ++progress.done;
        if (r.state == "pruned") ++progress.pruned;
        if (r.state == "failed") {
            ++progress.failed;
            if (cb.on_message) cb.on_message("trial " + std::to_string(r.index) + " failed: " + r.error);
            if (o.fail_fast && !res.failed_fast) {
                res.failed_fast = true;
                store.set_meta("stop", "1");  // workers finish their trial and claim no more
            }
        }
        note_best(r);
        const double el = std::chrono::duration<double>(clock_type::now() - t_start).count();
        progress.eta_seconds = el / double(finished_here) * double(progress.total - progress.done);
        if (cb.on_progress) cb.on_progress(progress);
        if (clock_type::now() - last_write > std::chrono::seconds(1)) {
            write_outputs(o.out, store, ranked(store.all(), minimize));
            last_write = clock_type::now();
        }
    };

    // A pool of `jobs` worker processes, started once: each claims the next pending trial from the
    // store, runs it, records the result, tells the coordinator its index through a pipe, and
    // claims again. A worker that dies takes only its current attempt down: the trial is put back
    // (search.retries times) to continue from its checkpoint, and a new worker takes its place.
    // Each worker has a pipe of its own: the end of its output is the sign that it ended.
    struct Worker {
        pid_t pid;
        int fd;
        std::string buf;
    };
    std::vector<Worker> workers;
    // The scheduler of the budgeted strategies, run inside each claim's transaction.
    auto planner = [&](const std::vector<TrialRecord>& rows) {
        std::vector<TrialRecord> out;
        if (!budgeted) return out;
        std::map<int64_t, const TrialRecord*> by_index;
        for (const auto& r : rows) by_index[r.index] = &r;
        for (const auto& d : halving_decisions(s, brackets, rows, minimize)) {
            TrialRecord r = *by_index.at(d.index);
            if (d.promote) {
                r.state = "pending";
                r.rung = d.rung;
                r.budget = d.epochs;
                r.error.clear();
            } else {
                r.state = "pruned";
                r.error = "pruned: " + d.reason;
            }
            out.push_back(std::move(r));
        }
        return out;
    };
    auto ck_dir = [&](int64_t idx) { return o.out + "/checkpoints/trial-" + std::to_string(idx); };
    auto start_worker = [&] {
        int fds[2];
        if (::pipe(fds) != 0) throw IoError(std::string("cannot create a pipe: ") + std::strerror(errno));
        pid_t pid = ::fork();
        if (pid < 0) {
            ::close(fds[0]);
            ::close(fds[1]);
            throw IoError(std::string("cannot start a trial worker: ") + std::strerror(errno));
        }
        if (pid > 0) {
            ::close(fds[1]);
            workers.push_back({pid, fds[0], {}});
            return;
        }
        ::close(fds[0]);
        for (const Worker& w : workers) ::close(w.fd);  // (the other workers' pipes are not this one's)
        int code = 0;
        auto tell = [&](const std::string& line) { return ::write(fds[1], line.data(), line.size()) >= 0; };
        try {
            set_num_threads(per_trial);
            const bool share = trials_share_data(s);
            std::optional<TrialData> shared;
            SearchStore st(db, search_name);
            const int self = int(::getpid());
            // Heartbeats for the trial this worker runs, from a thread with a connection of its own,
            // so that workers elsewhere can tell a live trial from one whose machine went away.
            std::atomic<int64_t> beat_idx{-1};
            std::atomic<int> beat_attempt{0};
            Heartbeat heartbeat(db, search_name, s.heartbeat_timeout, beat_idx, beat_attempt);
            std::vector<TrialRecord> changed;
            for (;;) {
                if ((cb.stop_requested && cb.stop_requested()) || st.meta("stop") == "1") break;
                // Trials whose worker is gone (here: its process; anywhere: its heartbeats) go back.
                // (A sibling that died is this coordinator's to collect and report: it is left to it.)
                auto alive_or_sibling = [](int pid) {
                    int parent = 0;
                    return process_alive(pid, &parent) || parent == int(::getppid());
                };
                for (const auto& [i, again] : st.reap(host, s.heartbeat_timeout, true, s.retries, alive_or_sibling)) {
                    if (!again && path_exists(ck_dir(i))) remove_tree(ck_dir(i));
                    tell(std::to_string(i) + "\n");
                }
                int64_t idx;
                int attempt;
                Claim got;
                if (o.shards > 1)
                    got = st.claim_next(o.shard, o.shards, self, idx, attempt, host) ? Claim::trial : Claim::done;
                else got = st.claim_planned(self, planner, idx, attempt, changed, host);
                // The scheduler's promotions and prunings: the coordinator reports them.
                for (const auto& c : changed) {
                    if (c.state == "pruned" && path_exists(ck_dir(c.index))) remove_tree(ck_dir(c.index));
                    if (!tell(std::to_string(c.index) + "\n")) break;
                }
                if (got == Claim::done) break;
                // Trials still run: a rung filling up makes the next work, and a trial whose worker
                // (here or on another machine) goes away comes back to be run again.
                if (got == Claim::wait) {
                    ::usleep(shared_store ? 500 * 1000 : 100 * 1000);
                    continue;
                }
                beat_attempt = attempt;
                beat_idx = idx;
                // Tell the coordinator the trial runs (it reports the state change).
                if (cb.on_trial && !tell("r " + std::to_string(idx) + " " + std::to_string(self) + "\n")) break;
                const auto t0 = clock_type::now();
                TrialRecord row = st.get(idx);
                auto elapsed = [&] { return row.duration + std::chrono::duration<double>(clock_type::now() - t0).count(); };
                TrialCheckpoints ck;
                ck.dir = ck_dir(idx);
                ck.every_seconds = s.checkpoint_seconds;
                ck.label = "trial " + std::to_string(idx);
                ck.on_message = [&](std::string m) {
                    std::replace(m.begin(), m.end(), '\n', ' ');
                    tell("m " + m.substr(0, 3000) + "\n");  // (one write below PIPE_BUF: never interleaved)
                };
                bool recorded = false, paused = false;
                TrialHooks hooks;
                hooks.budget = row.budget;
                const int top = budgeted ? int(bracket_of(brackets, idx).rungs.size()) - 1 : 0;
                hooks.keep_checkpoints = budgeted && row.rung < top;
                double best_reported = minimize ? INFINITY : -INFINITY;
                int best_unit = -1;
                if (s.pruner.type != "none")
                    hooks.on_epoch = [&](int unit, int epoch, double value) {
                        if (unit != best_unit) {  // each fold and repeat is judged on its own
                            best_unit = unit;
                            best_reported = minimize ? INFINITY : -INFINITY;
                        }
                        if (std::isfinite(value)) {
                            st.report(idx, unit, epoch, value);
                            best_reported = minimize ? std::min(best_reported, value) : std::max(best_reported, value);
                        }
                        int64_t completed = 0;
                        const std::vector<double> others = st.completed_reports(unit, epoch, completed);
                        const double mine_v = std::isfinite(best_reported) ? best_reported : NAN;
                        std::string why;
                        if (median_prune(s.pruner, epoch, mine_v, others, completed, minimize, why))
                            throw TrialPruned{epoch, mine_v, "pruned: " + why};
                    };
                try {
                    const ExperimentConfig* cfg = nullptr;
                    std::optional<ExperimentConfig> proposed;
                    if (s.strategy == "tpe") {
                        // Proposed now, from the results so far; a retry keeps the first proposal.
                        Trial t;
                        t.index = idx;
                        if (row.sets != "[]") {
                            for (const auto& x : sets_of(row))
                                t.values.emplace_back(x.substr(0, x.find('=')), x.substr(x.find('=') + 1));
                        } else {
                            t = tpe_trial(s, idx, tpe_observations(s, st.all()), minimize);
                            st.set_params(idx, attempt, t.json(), sets_json(t.sets()));
                        }
                        proposed = validate(t);
                        cfg = &*proposed;
                    } else if (auto it = configs.find(idx); it != configs.end()) {
                        cfg = &it->second;
                    } else {  // a trial another process added (a random search it runs with more trials)
                        proposed = validate(make_trial(s, idx));
                        cfg = &*proposed;
                    }
                    // Data shared by every trial is loaded once per worker (the first trial that
                    // needs it; a failed load is retried by the next).
                    if (share && !shared) shared = load_trial_data(*cfg, s);
                    std::vector<double> sc = evaluate_trial(*cfg, s, share ? &*shared : nullptr, &ck, &hooks);
                    double mean = 0, var = 0;
                    for (double x : sc) mean += x / double(sc.size());
                    for (double x : sc) var += (x - mean) * (x - mean) / double(sc.size());
                    paused = budgeted && row.rung < top;
                    recorded = st.finish_rung(idx, attempt, !paused, sc, mean, std::sqrt(var), elapsed(), hooks.epochs);
                } catch (const TrialPruned& p) {
                    recorded = st.prune(idx, attempt, p.reason, p.value, elapsed(), p.epoch);
                } catch (const Error& e) {
                    recorded = st.fail(idx, attempt, e.what(), elapsed());
                } catch (const std::bad_alloc&) {
                    recorded = st.fail(idx, attempt, "out of memory", elapsed());
                }
                // Recorded: its checkpoints are no longer needed (unless it waits for the next rung, or
                // this attempt was stale and another one owns them now).
                beat_idx = -1;
                if (recorded && !paused) remove_tree(ck.dir);
                if (!tell(std::to_string(idx) + "\n")) break;
            }
        } catch (...) {
            code = 3;
        }
        ::_exit(code);
    };
    auto stopping = [&] { return res.failed_fast || (cb.stop_requested && cb.stop_requested()); };
    auto pending_mine = [&] {
        int64_t k = 0;
        for (const auto& r : store.all())
            if (mine.count(r.index) && is_open(r)) ++k;
        return k;
    };
    const bool stop_at_start = cb.stop_requested && cb.stop_requested();
    for (int w = 0; w < jobs && pending > 0 && !stop_at_start; ++w) start_worker();
    std::map<int64_t, std::string> said;  // the last state reported per trial
    std::set<int64_t> counted;              // trials counted as done here
    auto handle = [&](const std::string& line) {
        if (line.rfind("m ", 0) == 0) {
            if (cb.on_message) cb.on_message(line.substr(2));
        } else if (line.rfind("r ", 0) == 0) {  // "r IDX PID": claimed
            long long idx = 0, pid = 0;
            if (std::sscanf(line.c_str(), "r %lld %lld", &idx, &pid) == 2 && cb.on_trial) {
                TrialRecord r = store.get(idx);  // (it may have finished already: report the claim)
                r.state = "running";
                r.scores.clear();
                r.error.clear();
                cb.on_trial(r, int(pid));
            }
        } else {  // a trial's new state: finished, paused at a rung, or promoted by the scheduler
            const TrialRecord r = store.get(std::stoll(line));
            // Two workers may tell the same change (one finished a rung, another's scheduler then
            // decided it before this line was read): each state is reported, and counted, once.
            std::string& last = said[r.index];
            const std::string now = r.state + " " + std::to_string(r.rung) + " " + std::to_string(r.attempt);
            if (now == last) return;
            last = now;
            if (cb.on_trial) cb.on_trial(r, 0);
            if (is_done(r) && counted.insert(r.index).second) finished(r);
        }
    };
    // A worker's pipe at its end: collect the worker; the trial it was running when it died runs
    // again (or is failed), and a new worker takes its place while trials wait.
    auto ended = [&](size_t k) {
        const pid_t pid = workers[k].pid;
        ::close(workers[k].fd);
        workers.erase(workers.begin() + std::ptrdiff_t(k));
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
        const std::string why = WIFSIGNALED(status) ? "the worker was killed by signal " + std::to_string(WTERMSIG(status))
                                                    : "the worker failed (exit " + std::to_string(WEXITSTATUS(status)) + ")";
        for (const auto& [idx, again] : store.worker_died(int(pid), why, s.retries, host)) {
            TrialRecord r = store.get(idx);
            if (again) {
                if (cb.on_message)
                    cb.on_message("trial " + std::to_string(idx) + ": " + why + "; it runs again, from its last checkpoint");
                r.error = why;
                if (cb.on_trial) cb.on_trial(r, 0);
                continue;
            }
            if (path_exists(ck_dir(idx))) remove_tree(ck_dir(idx));
            if (cb.on_trial) cb.on_trial(r, 0);
            if (counted.insert(r.index).second) finished(r);
        }
        if (!stopping() && int(workers.size()) < jobs && pending_mine() > 0) start_worker();
    };
    while (!workers.empty()) {
        std::vector<pollfd> polls;
        for (const Worker& w : workers) polls.push_back({w.fd, POLLIN, 0});
        if (::poll(polls.data(), polls.size(), -1) < 0) {
            if (errno == EINTR) continue;
            throw IoError(std::string("cannot wait for the trial workers: ") + std::strerror(errno));
        }
        for (size_t k = polls.size(); k-- > 0;) {  // (from the back: ended() removes entry k)
            if (!(polls[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char chunk[4096];
            const ssize_t got = ::read(workers[k].fd, chunk, sizeof chunk);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) {
                ended(k);
                continue;
            }
            std::string& buf = workers[k].buf;
            buf.append(chunk, size_t(got));
            for (size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
                const std::string line = buf.substr(0, nl);
                buf.erase(0, nl + 1);
                handle(line);
            }
        }
    }
    // Workers that died left trials behind? Run them with a fresh pool (same rules).
    if (!res.failed_fast && !(cb.stop_requested && cb.stop_requested())) {
        int64_t left = 0;
        for (const auto& r : store.all())
            if (mine.count(r.index) && is_open(r)) ++left;
        if (left > 0 && finished_here > 0) {
            SearchOptions again = o;
            again.resume = true;
            return run_search(again, cb);
        }
    }
    if (cb.stop_requested && cb.stop_requested()) res.interrupted = true;
    // A kill between a trial's record and the removal of its checkpoints leaves them behind: the
    // finished trials' go now.
    for (const auto& r : store.all())
        if (is_done(r) && path_exists(ck_dir(r.index))) remove_tree(ck_dir(r.index));
    ::rmdir((o.out + "/checkpoints").c_str());  // (only when no trial left one behind)
    auto all = ranked(store.all(), minimize);
    res.best_config = write_outputs(o.out, store, all);
    res.trials = all;
    res.strategy = s.strategy;
    const int64_t units = int64_t(std::max(1, s.cv)) * s.repeats;
    for (const auto& r : all) res.epochs += int64_t(r.epochs) * units;

    // The refit waits until every trial has finished (with workers on other machines, the last
    // process to see that does it, once).
    bool all_finished = true;
    for (const auto& r : all) all_finished = all_finished && is_done(r);
    if (s.refit && !res.best_config.empty() && !res.interrupted && !res.failed_fast && o.shards == 1 && all_finished &&
        (!shared_store || store.claim_meta("refit", host + " " + std::to_string(::getpid())))) {
        ExperimentConfig best = configs.count(all.front().index) ? configs.at(all.front().index)
                                                                 : load_config(res.best_config);
        if (s.cv > 0 && !best.training.early_stopping.enabled && !best.training.reduce_lr_on_plateau.enabled) {
            best.data.validation_split = 0.0;  // all training data: nothing is held out for scoring any more
            best.data.validation.reset();
        }
        set_num_threads(std::max(1, o.threads));
        if (cb.on_message) cb.on_message("refitting the best configuration (trial " + std::to_string(all.front().index) +
                                         ") on all training data");
        const std::string dir = o.out + "/best-model";
        Experiment ex = prepare_experiment(best);
        RunInfo info;
        info.command = o.command;
        info.started = utc_now();
        info.threads = std::max(1, o.threads);
        ExperimentResult er = run_experiment(ex);
        const std::string resolved = emit_config(best);
        save_run(dir, resolved, ex, er);
        info.status = "completed";
        info.finished = utc_now();
        write_run_info(dir, best, info);
        res.refit_dir = dir;
        res.refit_test = er.test_logs;
    }
    return res;
}

SearchResult merge_searches(const std::vector<std::string>& sources, const std::string& out, const std::string& name) {
    if (sources.empty()) throw ConfigError("search merge: give the sweep directories of the shards");
    std::string fingerprint, base, objective, direction, config_path, base_sets, space_file, strategy;
    std::map<int64_t, TrialRecord> merged;
    const bool from_storage = sources.size() == 1 && is_postgres_url(sources.front());
    for (const auto& d : sources) {
        std::unique_ptr<SearchStore> own;
        std::string label = d;
        if (is_postgres_url(d)) {
            own = std::make_unique<SearchStore>(d, name, true);
            label = own->where() + " (search " + name + ")";
            if (own->meta("fingerprint").empty()) throw DataError(label + ": no such search");
        } else {
            const std::string db = d + "/search.db";
            if (::access(db.c_str(), F_OK) != 0) throw DataError(db + ": not found (is " + d + " a sweep directory?)");
            own = std::make_unique<SearchStore>(db);
        }
        SearchStore& st = *own;
        const std::string fp = st.meta("fingerprint");
        if (fingerprint.empty()) {
            fingerprint = fp;
            base = st.meta("base_config");
            config_path = st.meta("config_path");
            base_sets = st.meta("base_sets");
            space_file = st.meta("space_file");
            objective = st.meta("objective");
            direction = st.meta("direction");
            strategy = st.meta("strategy");
        } else if (fp != fingerprint) {
            throw ConfigError(label + ": a different search from " + sources.front() + ":" + join_lines_diff(fingerprint, fp));
        }
        for (const auto& r : st.all()) {
            auto it = merged.find(r.index);
            if (it == merged.end() || (it->second.state != "complete" && r.state == "complete")) merged[r.index] = r;
        }
    }
    make_dirs(out);
    const std::string db = out + "/search.db";
    if (::access(db.c_str(), F_OK) == 0) ::unlink(db.c_str());
    SearchStore store(db);
    store.set_meta("fingerprint", fingerprint);
    store.set_meta("base_config", base);
    store.set_meta("config_path", config_path);
    store.set_meta("base_sets", base_sets);
    store.set_meta("space_file", space_file);
    store.set_meta("objective", objective);
    store.set_meta("direction", direction);
    store.set_meta("strategy", strategy);
    store.set_meta("shard", from_storage ? "0/1" : "merged");  // (an export can go on here as a local search)
    store.set_meta("created", utc_now());
    std::vector<TrialRecord> all;
    for (auto& [i, r] : merged) {
        store.put(r);
        all.push_back(r);
    }
    SearchResult res;
    res.out = out;
    res.objective = objective;
    res.direction = direction;
    res.strategy = strategy.empty() ? "grid" : strategy;
    res.trials = ranked(all, direction == "minimize");
    res.best_config = write_outputs(out, store, res.trials);
    return res;
}

SearchStatus search_status(const std::string& dir_or_url, const std::string& name) {
    std::unique_ptr<SearchStore> st;
    if (is_postgres_url(dir_or_url)) {
        st = std::make_unique<SearchStore>(dir_or_url, name, true);
    } else {
        const std::string db = dir_or_url + "/search.db";
        if (::access(db.c_str(), F_OK) != 0) throw DataError(db + ": not found (is " + dir_or_url + " a sweep directory?)");
        st = std::make_unique<SearchStore>(db);
    }
    SearchStatus r;
    r.where = st->where();
    r.name = name;
    if (st->meta("fingerprint").empty()) throw DataError(r.where + ": no search" + (name.empty() ? "" : " named '" + name + "'"));
    r.strategy = st->meta("strategy").empty() ? "grid" : st->meta("strategy");
    r.objective = st->meta("objective");
    r.direction = st->meta("direction");
    if (const std::string t = st->meta("heartbeat_timeout"); !t.empty()) r.heartbeat_timeout = std::strtod(t.c_str(), nullptr);
    r.trials = ranked(st->all(), r.direction == "minimize");
    const double now = st->now();
    for (const auto& t : r.trials) {
        ++r.states[t.state];
        if (t.state != "running") continue;
        const double silent = now - t.heartbeat;
        if (r.heartbeat_timeout > 0 && silent > r.heartbeat_timeout) {
            r.stale.push_back(t);
            continue;
        }
        r.workers.push_back({t.host, t.worker, t.index, now - t.started, silent});
    }
    return r;
}

}  // namespace nnctl
