#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "search/sql.hpp"

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
    std::string host;           ///< the machine of the worker that claimed it last
    double heartbeat = 0.0;     ///< its worker's last sign of life (the database's clock), seconds since 1970
};

/// This machine's name, as trials record their worker's host.
std::string this_host();

/// What a worker's request for work found.
enum class Claim { trial, wait, done };

/// The results of one search: in an SQLite file inside the sweep directory (the default), or in a
/// PostgreSQL database that workers on many machines share. Every change is a transaction, so a
/// kill at any moment leaves the last committed state: completed trials stay completed. A worker
/// may record a result only for the attempt it claimed, so a stale worker (left over from a crash,
/// or one whose trial was given to another after it stopped heartbeating) cannot record a trial
/// twice. With PostgreSQL, an operation that loses its connection waits for the server (backoff,
/// NNCTL_STORAGE_RETRY_SECONDS) and is done again.
class SearchStore {
public:
    /// `location`: an SQLite file (created when missing) or a postgresql:// URL; `name`: the
    /// search's name there (PostgreSQL keeps each search in a schema of its own). Throws ConfigError
    /// for a malformed URL, IoError when the store cannot be opened or reached. `existing`: only
    /// read a search that is there (status, export): on PostgreSQL nothing is created, and a
    /// search that does not exist is a DataError.
    explicit SearchStore(const std::string& location, const std::string& name = "", bool existing = false);
    ~SearchStore();
    SearchStore(const SearchStore&) = delete;
    SearchStore& operator=(const SearchStore&) = delete;

    /// Where it is, for messages: the file, or the URL with its password masked.
    std::string where() const;
    /// The database's clock, seconds since 1970 (what heartbeats are stamped with).
    double now() const;
    std::string meta(const std::string& key) const;  ///< "" when absent
    void set_meta(const std::string& key, const std::string& value);
    /// A new search's description, all keys in one transaction, unless the store already holds a
    /// search (a `fingerprint`): then nothing is written and the result is false.
    bool init_meta(const std::vector<std::pair<std::string, std::string>>& entries);
    /// Set `key` only if it is absent; true when this call set it (one process of many does a thing once).
    bool claim_meta(const std::string& key, const std::string& value);
    /// Insert a pending row for each index not stored yet (one transaction).
    void add_trials(const std::vector<TrialRecord>& trials);
    std::vector<TrialRecord> all() const;
    /// One trial's record (index must exist).
    TrialRecord get(int64_t index) const;
    /// Running trials whose worker is gone are put back as pending (to continue from their
    /// checkpoints): those of this host whose process no longer runs (`alive` says), and those
    /// whose heartbeat is older than `timeout` seconds (any host). With `count_deaths`, each is a
    /// death of its worker: past `retries` deaths the trial is failed with the reason instead.
    /// Returns the indices with true for those requeued.
    std::vector<std::pair<int64_t, bool>> reap(const std::string& host, double timeout, bool count_deaths, int retries,
                                               const std::function<bool(int pid)>& alive);
    /// A sign of life from the worker running (index, attempt).
    void beat(int64_t index, int attempt);
    /// Claim the lowest pending trial with index ≡ shard (mod shards) for worker `pid` on `host`,
    /// atomically; false when none is left. Sets index and attempt.
    bool claim_next(int shard, int shards, int pid, int64_t& index, int& attempt, const std::string& host = "");
    /// The scheduler's step and a claim in one transaction: `plan` sees every trial and returns the
    /// trials it promoted (pending again, at a higher rung and budget) or pruned (their error the
    /// reason); they are written, then the pending trial of the highest rung (lowest index first)
    /// is claimed. `wait`: none is pending, but a running or paused trial may still make work.
    /// `changed` receives the trials the plan changed, as written.
    Claim claim_planned(int pid, const std::function<std::vector<TrialRecord>(const std::vector<TrialRecord>&)>& plan,
                        int64_t& index, int& attempt, std::vector<TrialRecord>& changed, const std::string& host = "");
    /// The worker `pid` of `host` died: each trial it was running is put back as pending (to
    /// continue from its checkpoint) while it has died no more than `retries` times, else marked
    /// failed with `error`. Returns the indices with true for those requeued.
    std::vector<std::pair<int64_t, bool>> worker_died(int pid, const std::string& error, int retries,
                                                      const std::string& host = "");
    /// Record a failure; false (nothing written) unless `attempt` is the trial's current running
    /// attempt (as for every result below).
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
    /// Run `f`; when the connection is lost, reconnect (waiting) and run it again.
    template <class F>
    auto retrying(F&& f) const -> decltype(f());
    void read_rows(const std::vector<SqlRow>& rows, std::vector<TrialRecord>& out) const;
    std::unique_ptr<SqlBackend> db_;
};

}  // namespace nnctl
