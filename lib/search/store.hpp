#pragma once
#include <cstdint>
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
};

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
    /// The worker `pid` died: each trial it was running is put back as pending (to continue from its
    /// checkpoint) while it has died no more than `retries` times, else marked failed with `error`.
    /// Returns the indices with true for those requeued.
    std::vector<std::pair<int64_t, bool>> worker_died(int pid, const std::string& error, int retries);
    /// Record a result; false (nothing written) unless `attempt` is the trial's current running attempt.
    bool complete(int64_t index, int attempt, const std::vector<double>& scores, double mean, double std, double duration);
    bool fail(int64_t index, int attempt, const std::string& error, double duration);
    /// Insert a finished record as is (merging shard stores).
    void put(const TrialRecord& r);

private:
    void exec(const std::string& sql) const;
    void read_rows(void* stmt, std::vector<TrialRecord>& out) const;
    void* db_ = nullptr;
    std::string path_;
};

}  // namespace nnctl
