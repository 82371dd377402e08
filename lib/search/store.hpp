#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace nnctl {

struct TrialRecord {
    int64_t index = 0;
    std::string params;         ///< JSON object path → value
    std::string sets;           ///< JSON array of "PATH=VALUE"
    std::string state;          ///< pending | running | complete | failed
    int attempt = 0;
    std::vector<double> scores; ///< one per fold × repeat
    double mean = 0.0, std = 0.0, duration = 0.0;
    std::string error;
    double started = 0.0;       ///< when the last attempt was claimed, seconds since 1970 (UTC); 0: never
    int worker = 0;             ///< the process id of the worker that claimed it last
    int deaths = 0;             ///< attempts whose worker died (killed, crashed)
    // Budgets (halving, hyperband, asha) and pruning:
    int rung = 0;               ///< the rung it trains toward or is paused at
    int budget = 0;             ///< epochs of that rung (0: the config's training.epochs)
    std::vector<double> rung_values;  ///< the objective at each rung reached
    int epochs = 0;             ///< epochs trained (per fold), when it stopped or paused
};

/// What a worker's request for work found.
enum class Claim { trial, wait, done };

/// The results of one search, in an SQLite database inside the sweep directory. Every change is a
/// transaction (WAL journal), so a kill at any moment leaves the last committed state: completed
/// trials stay completed. A worker may record a result only for the attempt it
/// claimed, so a stale worker left over from a crash cannot record a trial twice.
class SearchStore {
public:
    explicit SearchStore(const std::string& path);  ///< opens or creates; throws IoError
    ~SearchStore();
    SearchStore(const SearchStore&) = delete;
    SearchStore& operator=(const SearchStore&) = delete;

    std::string meta(const std::string& key) const;  ///< "" when absent
    void set_meta(const std::string& key, const std::string& value);
    /// Insert a pending row for each index not stored yet (one transaction).
    void add_trials(const std::vector<TrialRecord>& trials);
    std::vector<TrialRecord> all() const;
    /// One trial's record (index must exist).
    TrialRecord get(int64_t index) const;
    /// Running trials are requeued (after a crash): their next claim gets a new attempt number.
    int requeue_running();
    /// Claim the lowest pending trial with index ≡ shard (mod shards) for worker `pid`, atomically;
    /// false when none is left. Sets index and attempt.
    bool claim_next(int shard, int shards, int pid, int64_t& index, int& attempt);
    /// The scheduler's step and a claim in one transaction: `plan` sees every trial and returns the
    /// trials it promoted (pending again, at a higher rung and budget) or pruned (their error the
    /// reason); they are written, then the pending trial of the highest rung (lowest index first)
    /// is claimed. `wait`: none is pending, but a running or paused trial may still make work.
    /// `changed` receives the trials the plan changed, as written.
    Claim claim_planned(int pid, const std::function<std::vector<TrialRecord>(const std::vector<TrialRecord>&)>& plan,
                        int64_t& index, int& attempt, std::vector<TrialRecord>& changed);
    /// The worker `pid` died: each trial it was running is put back as pending (to continue from its
    /// checkpoint) while it has died no more than `retries` times, else marked failed with `error`.
    /// Returns the indices with true for those requeued.
    std::vector<std::pair<int64_t, bool>> worker_died(int pid, const std::string& error, int retries);
    /// Record a result; false (nothing written) unless `attempt` is the trial's current running attempt.
    bool complete(int64_t index, int attempt, const std::vector<double>& scores, double mean, double std, double duration);
    bool fail(int64_t index, int attempt, const std::string& error, double duration);
    /// A budgeted trial finished a rung below the top: its value is appended to rung_values and it
    /// waits (state paused) for the scheduler. With `top`, the rung was its last: complete.
    bool finish_rung(int64_t index, int attempt, bool top, const std::vector<double>& scores, double mean, double std,
                     double duration, int epochs);
    /// The pruner stopped it at `epochs`: state pruned, `value` its objective then, `reason` kept in error.
    bool prune(int64_t index, int attempt, const std::string& reason, double value, double duration, int epochs);
    /// Set a trial's values (tpe proposes them when the trial is claimed); only by the claimer.
    bool set_params(int64_t index, int attempt, const std::string& params, const std::string& sets);
    /// An intermediate objective value: fold/repeat `unit` of the trial at `epoch`.
    void report(int64_t index, int unit, int epoch, double value);
    /// The values completed trials reported for (unit, epoch), and how many trials have completed.
    std::vector<double> completed_reports(int unit, int epoch, int64_t& completed) const;
    /// Insert a finished record as is (merging shard stores).
    void put(const TrialRecord& r);

private:
    void exec(const std::string& sql) const;
    void read_rows(void* stmt, std::vector<TrialRecord>& out) const;
    void* db_ = nullptr;
    std::string path_;
};

}  // namespace nnctl
