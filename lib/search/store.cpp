#include "search/store.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "core/error.hpp"
#include "core/json_value.hpp"

namespace nnctl {

std::string this_host() {
    // NNCTL_HOSTNAME names the machine where hostnames do not tell machines apart (containers).
    if (const char* h = std::getenv("NNCTL_HOSTNAME"); h && *h) return h;
    char b[256] = {0};
    if (::gethostname(b, sizeof b - 1) != 0) return "localhost";
    return b;
}

namespace {
/// Numbers as a JSON array, each to the last bit (%.17g; not finite: null).
std::string scores_json(const std::vector<double>& v) {
    std::string out = "[";
    char b[40];
    for (size_t i = 0; i < v.size(); ++i) {
        if (std::isfinite(v[i])) std::snprintf(b, sizeof b, "%.17g", v[i]);
        else std::snprintf(b, sizeof b, "null");
        out += (i ? "," : "") + std::string(b);
    }
    return out + "]";
}

std::vector<double> numbers_of(const std::string& json) {
    std::vector<double> out;
    try {
        for (const auto& v : parse_json(json).items) out.push_back(v.number);
    } catch (const std::exception&) {
    }
    return out;
}

constexpr const char* kSelect =
    "SELECT idx, params, sets, state, attempt, scores, mean, std, duration, error, started, pid, deaths, rung, budget, "
    "rung_values, epochs, host, heartbeat FROM trials";
}  // namespace

namespace {
/// A write transaction around `f`, rolled back if it throws.
template <class F>
auto in_transaction(SqlBackend& db, F&& f) -> decltype(f()) {
    db.begin_write();
    try {
        auto r = f();
        db.commit();
        return r;
    } catch (...) {
        try {
            db.rollback();
        } catch (const Error&) {
        }
        throw;
    }
}
}  // namespace

SearchStore::SearchStore(const std::string& location, const std::string& name, bool existing)
    : db_(is_postgres_url(location) ? open_postgres(location, name, !existing) : open_sqlite(location)) {
    // An existing PostgreSQL search has every table and column (they came with PostgreSQL
    // support); SQLite stores from older versions may need the columns added below.
    if (existing && is_postgres_url(location)) return;
    // One schema for both databases (SQLite takes the standard type names), created in a write
    // transaction: workers that start together must not race on CREATE TABLE.
    retrying([&] {
        return in_transaction(*db_, [&] {
        db_->exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
        db_->exec(
            "CREATE TABLE IF NOT EXISTS trials (idx BIGINT PRIMARY KEY, params TEXT NOT NULL, sets TEXT NOT NULL, "
            "state TEXT NOT NULL, attempt BIGINT NOT NULL DEFAULT 0, scores TEXT NOT NULL DEFAULT '[]', "
            "mean DOUBLE PRECISION, std DOUBLE PRECISION, duration DOUBLE PRECISION, error TEXT NOT NULL DEFAULT '', "
            "pid BIGINT NOT NULL DEFAULT 0)");
        db_->exec("CREATE TABLE IF NOT EXISTS reports (idx BIGINT NOT NULL, unit BIGINT NOT NULL, epoch BIGINT NOT NULL, "
                  "value DOUBLE PRECISION, PRIMARY KEY (idx, unit, epoch))");
        // Columns added since the first stores (theirs are added on opening; old trials get the defaults).
        const std::pair<const char*, const char*> added[] = {
            {"started", "DOUBLE PRECISION NOT NULL DEFAULT 0"}, {"deaths", "BIGINT NOT NULL DEFAULT 0"},
            {"rung", "BIGINT NOT NULL DEFAULT 0"},              {"budget", "BIGINT NOT NULL DEFAULT 0"},
            {"rung_values", "TEXT NOT NULL DEFAULT '[]'"},       {"epochs", "BIGINT NOT NULL DEFAULT 0"},
            {"host", "TEXT NOT NULL DEFAULT ''"},                {"heartbeat", "DOUBLE PRECISION NOT NULL DEFAULT 0"}};
        for (const auto& [col, def] : added) db_->add_column("trials", col, def);
        return 0;
        });
    });
}

SearchStore::~SearchStore() = default;

std::string SearchStore::where() const { return db_->where(); }

double SearchStore::now() const {
    return retrying([&] {
        const auto r = db_->query("SELECT " + db_->now_sql());
        return r.empty() ? 0.0 : r[0][0].as_double();
    });
}

template <class F>
auto SearchStore::retrying(F&& f) const -> decltype(f()) {
    for (;;) {
        try {
            return f();
        } catch (const StorageLost&) {
            try {
                db_->rollback();
            } catch (const Error&) {
            }
            db_->reconnect();  // (throws when it gives up)
        }
    }
}


std::string SearchStore::meta(const std::string& key) const {
    return retrying([&] {
        const auto rows = db_->query("SELECT value FROM meta WHERE key = ?", {key});
        return rows.empty() ? std::string() : rows[0][0].as_text();
    });
}

void SearchStore::set_meta(const std::string& key, const std::string& value) {
    retrying([&] {
        return db_->exec("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                         {key, value});
    });
}

bool SearchStore::init_meta(const std::vector<std::pair<std::string, std::string>>& entries) {
    return retrying([&] {
        return in_transaction(*db_, [&] {
            if (!db_->query("SELECT value FROM meta WHERE key = 'fingerprint' AND value <> ''").empty()) return false;
            for (const auto& [k, v] : entries)
                db_->exec("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                          {k, v});
            return true;
        });
    });
}

bool SearchStore::claim_meta(const std::string& key, const std::string& value) {
    return retrying([&] {
        return db_->exec("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO NOTHING", {key, value}) == 1;
    });
}

void SearchStore::add_trials(const std::vector<TrialRecord>& trials) {
    retrying([&] {
        return in_transaction(*db_, [&] {
            for (const auto& t : trials)
                db_->exec("INSERT INTO trials(idx, params, sets, state, budget) VALUES(?, ?, ?, 'pending', ?) "
                          "ON CONFLICT(idx) DO NOTHING",
                          {t.index, t.params, t.sets, int64_t(t.budget)});
            return 0;
        });
    });
}

void SearchStore::read_rows(const std::vector<SqlRow>& rows, std::vector<TrialRecord>& out) const {
    for (const auto& s : rows) {
        TrialRecord r;
        r.index = s[0].as_i64();
        r.params = s[1].as_text();
        r.sets = s[2].as_text();
        r.state = s[3].as_text();
        r.attempt = int(s[4].as_i64());
        r.scores = numbers_of(s[5].as_text());
        r.mean = s[6].kind == SqlValue::null ? 0.0 : s[6].as_double();
        r.std = s[7].kind == SqlValue::null ? 0.0 : s[7].as_double();
        r.duration = s[8].kind == SqlValue::null ? 0.0 : s[8].as_double();
        r.error = s[9].as_text();
        r.started = s[10].as_double();
        r.worker = int(s[11].as_i64());
        r.deaths = int(s[12].as_i64());
        r.rung = int(s[13].as_i64());
        r.budget = int(s[14].as_i64());
        r.rung_values = numbers_of(s[15].as_text());
        r.epochs = int(s[16].as_i64());
        r.host = s[17].as_text();
        r.heartbeat = s[18].as_double();
        out.push_back(std::move(r));
    }
}

TrialRecord SearchStore::get(int64_t index) const {
    std::vector<TrialRecord> out;
    retrying([&] {
        out.clear();
        read_rows(db_->query(std::string(kSelect) + " WHERE idx = ?", {index}), out);
        return 0;
    });
    if (out.empty()) throw IoError(where() + ": trial " + std::to_string(index) + " is missing from the store");
    return out.front();
}

std::vector<TrialRecord> SearchStore::all() const {
    std::vector<TrialRecord> out;
    retrying([&] {
        out.clear();
        read_rows(db_->query(std::string(kSelect) + " ORDER BY idx"), out);
        return 0;
    });
    return out;
}

std::vector<std::pair<int64_t, bool>> SearchStore::reap(const std::string& host, double timeout, bool count_deaths, int retries,
                                                        const std::function<bool(int)>& alive) {
    return retrying([&] {
        return in_transaction(*db_, [&] {
            std::vector<std::pair<int64_t, bool>> out;
            std::vector<std::string> why;
            const auto rows = db_->query("SELECT idx, deaths, pid, host, " + db_->now_sql() +
                                         " - heartbeat FROM trials WHERE state = 'running'");
            for (const auto& r : rows) {
                const int pid = int(r[2].as_i64());
                const std::string h = r[3].as_text();
                const double silent = r[4].as_double();
                std::string reason;
                if (h == host && alive && !alive(pid))
                    reason = "its worker (process " + std::to_string(pid) + ") is gone";
                else if (timeout > 0 && silent > timeout)
                    reason = "its worker (process " + std::to_string(pid) + " on " + (h.empty() ? "?" : h) +
                             ") sent no heartbeat for " + std::to_string(int(silent)) + " s";
                if (reason.empty()) continue;
                out.emplace_back(r[0].as_i64(), !count_deaths || r[1].as_i64() < retries);
                why.push_back(reason);
            }
            for (size_t k = 0; k < out.size(); ++k) {
                const auto& [idx, again] = out[k];
                if (!count_deaths) db_->exec("UPDATE trials SET state = 'pending' WHERE idx = ?", {idx});
                else if (again)
                    db_->exec("UPDATE trials SET state = 'pending', deaths = deaths + 1, error = ? WHERE idx = ?", {why[k], idx});
                else
                    db_->exec("UPDATE trials SET state = 'failed', deaths = deaths + 1, error = ? WHERE idx = ?", {why[k], idx});
            }
            return out;
        });
    });
}

void SearchStore::beat(int64_t index, int attempt) {
    retrying([&] {
        return db_->exec("UPDATE trials SET heartbeat = " + db_->now_sql() + " WHERE idx = ? AND attempt = ? AND state = 'running'",
                         {index, int64_t(attempt)});
    });
}

namespace {
/// Mark `index` running for (pid, host) with a new attempt; returns the attempt.
int start_attempt(SqlBackend& db, int64_t index, int pid, const std::string& host) {
    db.exec("UPDATE trials SET state = 'running', attempt = attempt + 1, pid = ?, host = ?, started = " + db.now_sql() +
                ", heartbeat = " + db.now_sql() + " WHERE idx = ?",
            {int64_t(pid), host, index});
    const auto a = db.query("SELECT attempt FROM trials WHERE idx = ?", {index});
    return a.empty() ? 0 : int(a[0][0].as_i64());
}
}  // namespace

bool SearchStore::claim_next(int shard, int shards, int pid, int64_t& index, int& attempt, const std::string& host) {
    return retrying([&] {
        return in_transaction(*db_, [&] {
            const auto q = db_->query("SELECT idx FROM trials WHERE state = 'pending' AND idx % ? = ? ORDER BY idx LIMIT 1",
                                      {int64_t(shards), int64_t(shard)});
            if (q.empty()) return false;
            index = q[0][0].as_i64();
            attempt = start_attempt(*db_, index, pid, host);
            return true;
        });
    });
}

Claim SearchStore::claim_planned(int pid,
                                 const std::function<std::vector<TrialRecord>(const std::vector<TrialRecord>&)>& plan,
                                 int64_t& index, int& attempt, std::vector<TrialRecord>& changed, const std::string& host) {
    return retrying([&] {
        return in_transaction(*db_, [&] {
            changed.clear();
            std::vector<TrialRecord> rows;
            read_rows(db_->query(kSelect), rows);
            if (plan) changed = plan(rows);
            for (const auto& c : changed)
                db_->exec("UPDATE trials SET state = ?, rung = ?, budget = ?, error = ? WHERE idx = ?",
                          {c.state, int64_t(c.rung), int64_t(c.budget), c.error, c.index});
            const auto q = db_->query("SELECT idx FROM trials WHERE state = 'pending' ORDER BY rung DESC, idx LIMIT 1");
            if (q.empty()) {
                // (paused trials alone make no work: the plan has decided all it can about them)
                const auto busy = db_->query("SELECT COUNT(*) FROM trials WHERE state = 'running'");
                return !busy.empty() && busy[0][0].as_i64() > 0 ? Claim::wait : Claim::done;
            }
            index = q[0][0].as_i64();
            attempt = start_attempt(*db_, index, pid, host);
            return Claim::trial;
        });
    });
}

std::vector<std::pair<int64_t, bool>> SearchStore::worker_died(int pid, const std::string& error, int retries,
                                                               const std::string& host) {
    return retrying([&] {
        return in_transaction(*db_, [&] {
            std::vector<std::pair<int64_t, bool>> out;
            for (const auto& r : db_->query("SELECT idx, deaths FROM trials WHERE state = 'running' AND pid = ? AND host = ?",
                                            {int64_t(pid), host}))
                out.emplace_back(r[0].as_i64(), r[1].as_i64() < retries);
            for (const auto& [idx, again] : out) {
                if (again) db_->exec("UPDATE trials SET state = 'pending', deaths = deaths + 1 WHERE idx = ?", {idx});
                else db_->exec("UPDATE trials SET state = 'failed', deaths = deaths + 1, error = ? WHERE idx = ?", {error, idx});
            }
            return out;
        });
    });
}

bool SearchStore::fail(int64_t index, int attempt, const std::string& error, double duration) {
    return retrying([&] {
        return db_->exec("UPDATE trials SET state = 'failed', error = ?, duration = ? WHERE idx = ? AND attempt = ? AND "
                         "state = 'running'",
                         {error, duration, index, int64_t(attempt)}) == 1;
    });
}

bool SearchStore::finish_rung(int64_t index, int attempt, bool top, const std::vector<double>& scores, double mean,
                              double std, double duration, int epochs) {
    return retrying([&] {
        return in_transaction(*db_, [&] {
            const auto rv = db_->query("SELECT rung_values FROM trials WHERE idx = ?", {index});
            std::vector<double> values = rv.empty() ? std::vector<double>{} : numbers_of(rv[0][0].as_text());
            values.push_back(mean);
            return db_->exec("UPDATE trials SET state = ?, scores = ?, mean = ?, std = ?, duration = ?, error = '', "
                             "rung_values = ?, epochs = ? WHERE idx = ? AND attempt = ? AND state = 'running'",
                             {std::string(top ? "complete" : "paused"), scores_json(scores), mean, std, duration,
                              scores_json(values), int64_t(epochs), index, int64_t(attempt)}) == 1;
        });
    });
}

bool SearchStore::prune(int64_t index, int attempt, const std::string& reason, double value, double duration, int epochs) {
    return retrying([&] {
        return db_->exec("UPDATE trials SET state = 'pruned', error = ?, mean = ?, std = 0, duration = ?, epochs = ? "
                         "WHERE idx = ? AND attempt = ? AND state = 'running'",
                         {reason, value, duration, int64_t(epochs), index, int64_t(attempt)}) == 1;
    });
}

bool SearchStore::set_params(int64_t index, int attempt, const std::string& params, const std::string& sets) {
    return retrying([&] {
        return db_->exec("UPDATE trials SET params = ?, sets = ? WHERE idx = ? AND attempt = ? AND state = 'running'",
                         {params, sets, index, int64_t(attempt)}) == 1;
    });
}

void SearchStore::report(int64_t index, int unit, int epoch, double value) {
    retrying([&] {
        return db_->exec("INSERT INTO reports(idx, unit, epoch, value) VALUES(?, ?, ?, ?) "
                         "ON CONFLICT(idx, unit, epoch) DO UPDATE SET value = excluded.value",
                         {index, int64_t(unit), int64_t(epoch), value});
    });
}

std::vector<double> SearchStore::completed_reports(int unit, int epoch, int64_t& completed) const {
    return retrying([&] {
        const auto c = db_->query("SELECT COUNT(*) FROM trials WHERE state = 'complete'");
        completed = c.empty() ? 0 : c[0][0].as_i64();
        std::vector<double> out;
        for (const auto& r : db_->query("SELECT r.value FROM reports r JOIN trials t ON t.idx = r.idx WHERE t.state = "
                                        "'complete' AND r.unit = ? AND r.epoch = ? AND r.value IS NOT NULL ORDER BY r.idx",
                                        {int64_t(unit), int64_t(epoch)}))
            out.push_back(r[0].as_double());
        return out;
    });
}

void SearchStore::put(const TrialRecord& r) {
    retrying([&] {
        return db_->exec(
            "INSERT INTO trials(idx, params, sets, state, attempt, scores, mean, std, duration, error, started, pid, deaths, "
            "rung, budget, rung_values, epochs, host, heartbeat) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(idx) DO UPDATE SET params = excluded.params, sets = excluded.sets, state = excluded.state, "
            "attempt = excluded.attempt, scores = excluded.scores, mean = excluded.mean, std = excluded.std, "
            "duration = excluded.duration, error = excluded.error, started = excluded.started, pid = excluded.pid, "
            "deaths = excluded.deaths, rung = excluded.rung, budget = excluded.budget, rung_values = excluded.rung_values, "
            "epochs = excluded.epochs, host = excluded.host, heartbeat = excluded.heartbeat",
            {r.index, r.params, r.sets, r.state, int64_t(r.attempt), scores_json(r.scores), r.mean, r.std, r.duration,
             r.error, r.started, int64_t(r.worker), int64_t(r.deaths), int64_t(r.rung), int64_t(r.budget),
             scores_json(r.rung_values), int64_t(r.epochs), r.host, r.heartbeat});
    });
}

}  // namespace nnctl
