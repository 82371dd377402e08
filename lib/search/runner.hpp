#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "search/space.hpp"
#include "search/store.hpp"
#include "train/trainer.hpp"

namespace nnctl {

struct SearchOptions {
    std::string config;                ///< the base config file
    std::vector<std::string> sets;     ///< --set overrides of the base
    std::string space_file;            ///< --space
    std::string strategy;              ///< "" (from the config), grid or random
    std::string out;                   ///< sweep directory
    std::string storage;               ///< "" (SQLite in the sweep directory) or a postgresql:// URL
    std::string name;                  ///< the search's name in the storage ("": the config's name)
    int jobs = 1;                      ///< trials in parallel
    int threads = 1;                   ///< total threads; each trial gets threads / jobs
    int64_t max_trials = -1;           ///< > 0: override the grid cap
    bool fail_fast = false;
    bool resume = false;               ///< require an existing store
    int shard = 0, shards = 1;         ///< run trials with index ≡ shard (mod shards)
    std::vector<std::string> command;  ///< argv, for run.json of the refit
};

struct SearchProgress {
    int64_t done = 0, total = 0, failed = 0, pruned = 0;
    double best = 0.0;
    bool has_best = false;
    std::string best_params;
    double eta_seconds = 0.0;
};

struct SearchCallbacks {
    std::function<void(const SearchProgress&)> on_progress;
    std::function<void(const std::string&)> on_message;
    std::function<bool()> stop_requested;
    /// A trial changed state: running (claimed by worker `worker`, a process id), complete or failed.
    std::function<void(const TrialRecord&, int worker)> on_trial;
};

struct SearchResult {
    std::string out;
    std::string objective, direction;
    std::string strategy;
    int64_t epochs = 0;               ///< epochs trained over all trials and folds (the search's cost)
    std::vector<TrialRecord> trials;  ///< ranked: complete ones best first, then failed and unfinished
    bool interrupted = false, failed_fast = false;
    std::string best_config;          ///< path of best.yaml ("" when no trial completed)
    std::string refit_dir;            ///< run directory of the refitted best model ("" when none)
    Logs refit_test;                  ///< its test metrics (when the data has a test split)
};

/// The data a trial trains and scores on, unscaled (scaling is fitted per fold, on its training
/// rows), and the folds as (training rows, held-out rows) of data.train when cv > 0.
struct TrialData {
    DataSplits data;
    std::vector<std::pair<std::vector<int>, std::vector<int>>> folds;
};
TrialData load_trial_data(const ExperimentConfig& cfg, const SearchConfig& s);

/// True when no searched path can change the data or its folds (nothing under `data` or the
/// config's `seed`): every trial can then share one TrialData.
bool trials_share_data(const SearchConfig& s);

/// Where a trial keeps its checkpoints, so that an attempt after a crash continues it: DIR/progress.json
/// (the scores of its finished folds and repeats) and DIR/unit-U/ (the running one's training
/// checkpoint, as training.checkpoint writes it, every `every_seconds` at most).
struct TrialCheckpoints {
    std::string dir;
    double every_seconds = 30.0;
    std::string label;                                  ///< "trial 3", for messages
    std::function<void(const std::string&)> on_message;  ///< "trial 3: fold 2 continues after epoch 7"
};

/// What a budgeted or pruned trial adds to evaluate_trial: the epochs to train to (a rung's budget;
/// 0: the config's), whether the units' checkpoints stay for the next rung, and a hook called with
/// the objective on the held-out data after every epoch of every unit (it may throw TrialPruned).
struct TrialHooks {
    int budget = 0;
    bool keep_checkpoints = false;
    std::function<void(int unit, int epoch, double value)> on_epoch;
    int epochs = 0;  ///< out: the epochs the units reached (the largest)
};

/// Thrown by a pruner from TrialHooks::on_epoch: the trial stops here for good.
struct TrialPruned {
    int epoch = 0;
    double value = 0.0;  ///< its objective then (the best it reported)
    std::string reason;
};

/// Scores of one trial: the objective on each held-out fold (cv: k) or on the validation data,
/// for each repeat. Throws on a failing trial (config, data, divergence). `data`: this trial's
/// TrialData when already loaded (see trials_share_data), else it is loaded here. With `ck`, the
/// trial continues from the checkpoints an earlier attempt left, and leaves its own; the scores
/// are the same bytes as an uninterrupted attempt's.
std::vector<double> evaluate_trial(const ExperimentConfig& cfg, const SearchConfig& s, const TrialData* data = nullptr,
                                   const TrialCheckpoints* ck = nullptr, TrialHooks* hooks = nullptr);

/// Run (or resume) a search: validate every trial's config first, run pending trials in worker
/// processes (`jobs` at a time), record each in the store, then write leaderboard.csv,
/// trials.jsonl and best.yaml, and refit the best configuration when asked.
SearchResult run_search(const SearchOptions& o, const SearchCallbacks& cb);

/// Combine shard stores (same config and space) into `out`: one leaderboard of all their trials.
/// A source may also be a postgresql:// URL (with the search `name`): then `out` gets the search as
/// a local copy (search.db, leaderboard.csv, trials.jsonl, best.yaml), which nnctl report reads.
SearchResult merge_searches(const std::vector<std::string>& sources, const std::string& out, const std::string& name = "");

/// Where a search stands, for `nnctl search status`.
struct SearchStatus {
    std::string where, name, strategy, objective, direction;
    std::vector<TrialRecord> trials;  ///< ranked as the leaderboard
    std::map<std::string, int64_t> states;  ///< count per state
    struct Worker {
        std::string host;
        int pid = 0;
        int64_t trial = 0;
        double running = 0.0, silent = 0.0;  ///< seconds since the trial started / since its last heartbeat
    };
    std::vector<Worker> workers;      ///< running trials' workers with a heartbeat within the timeout
    std::vector<TrialRecord> stale;   ///< running trials whose worker went quiet (to be given to another)
    double heartbeat_timeout = 60.0;
};
/// The status of the search in a sweep directory (SQLite) or a PostgreSQL storage (`name`).
SearchStatus search_status(const std::string& dir_or_url, const std::string& name);

/// Whether a smaller objective value is better.
bool minimize_objective(const std::string& objective, const std::string& direction);

}  // namespace nnctl
