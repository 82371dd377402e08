#include "search/store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/error.hpp"
#include "core/json.hpp"
#include "core/json_value.hpp"

namespace nnctl {

namespace {
sqlite3* h(void* p) { return static_cast<sqlite3*>(p); }

/// A prepared statement that finalizes itself.
class Stmt {
public:
    Stmt(void* db, const std::string& sql, const std::string& path) : db_(h(db)), path_(path) {
        if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s_, nullptr) != SQLITE_OK) fail("prepare");
    }
    ~Stmt() { sqlite3_finalize(s_); }
    Stmt& bind(int i, int64_t v) { return check(sqlite3_bind_int64(s_, i, v)); }
    Stmt& bind(int i, double v) { return check(sqlite3_bind_double(s_, i, v)); }
    Stmt& bind(int i, const std::string& v) { return check(sqlite3_bind_text(s_, i, v.c_str(), int(v.size()), SQLITE_TRANSIENT)); }
    bool step() {
        int rc = sqlite3_step(s_);
        if (rc == SQLITE_ROW) return true;
        if (rc != SQLITE_DONE) fail("step");
        return false;
    }
    int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
    double dbl(int c) const { return sqlite3_column_double(s_, c); }
    std::string text(int c) const {
        const unsigned char* t = sqlite3_column_text(s_, c);
        return t ? reinterpret_cast<const char*>(t) : "";
    }
    int changes() const { return sqlite3_changes(db_); }

private:
    Stmt& check(int rc) {
        if (rc != SQLITE_OK) fail("bind");
        return *this;
    }
    [[noreturn]] void fail(const char* what) {
        throw IoError(path_ + ": results store error (" + what + "): " + sqlite3_errmsg(db_));
    }
    sqlite3* db_;
    sqlite3_stmt* s_ = nullptr;
    std::string path_;
};

std::string scores_json(const std::vector<double>& v) {
    JsonWriter j;
    j.begin_array();
    for (double x : v) j.value(x);
    j.end_array();
    return j.str();
}
}  // namespace

SearchStore::SearchStore(const std::string& path) : path_(path) {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) !=
        SQLITE_OK) {
        std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
        sqlite3_close(db);
        throw IoError(path + ": cannot open the results store: " + msg);
    }
    db_ = db;
    sqlite3_busy_timeout(db, 60000);
    exec("PRAGMA journal_mode=WAL");
    // WAL + NORMAL: every commit survives a crash or kill -9 of any process; a power cut may lose
    // the last commits but never corrupts the store (those trials simply run again on resume).
    exec("PRAGMA synchronous=NORMAL");
    exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    exec("CREATE TABLE IF NOT EXISTS trials (idx INTEGER PRIMARY KEY, params TEXT NOT NULL, sets TEXT NOT NULL, "
         "state TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0, scores TEXT NOT NULL DEFAULT '[]', "
         "mean REAL, std REAL, duration REAL, error TEXT NOT NULL DEFAULT '', pid INTEGER NOT NULL DEFAULT 0, "
         "started REAL NOT NULL DEFAULT 0, deaths INTEGER NOT NULL DEFAULT 0, rung INTEGER NOT NULL DEFAULT 0, "
         "budget INTEGER NOT NULL DEFAULT 0, rung_values TEXT NOT NULL DEFAULT '[]', epochs INTEGER NOT NULL DEFAULT 0)");
    exec("CREATE TABLE IF NOT EXISTS reports (idx INTEGER NOT NULL, unit INTEGER NOT NULL, epoch INTEGER NOT NULL, "
         "value REAL, PRIMARY KEY (idx, unit, epoch))");
    // Stores written before these columns existed get them (their trials' start times are unknown: 0).
    std::vector<std::string> have;
    {
        Stmt s(db_, "PRAGMA table_info(trials)", path_);
        while (s.step()) have.push_back(s.text(1));
    }
    for (const char* c : {"started REAL NOT NULL DEFAULT 0", "deaths INTEGER NOT NULL DEFAULT 0",
                          "rung INTEGER NOT NULL DEFAULT 0", "budget INTEGER NOT NULL DEFAULT 0",
                          "rung_values TEXT NOT NULL DEFAULT '[]'", "epochs INTEGER NOT NULL DEFAULT 0"}) {
        const std::string col(c);
        if (std::find(have.begin(), have.end(), col.substr(0, col.find(' '))) != have.end()) continue;
        try {
            exec("ALTER TABLE trials ADD COLUMN " + col);
        } catch (const IoError& e) {  // another process added it first
            if (std::string(e.what()).find("duplicate column") == std::string::npos) throw;
        }
    }
}

SearchStore::~SearchStore() { sqlite3_close(h(db_)); }

void SearchStore::exec(const std::string& sql) const {
    char* err = nullptr;
    if (sqlite3_exec(h(db_), sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        std::string m = err ? err : "unknown error";
        sqlite3_free(err);
        throw IoError(path_ + ": results store error: " + m);
    }
}

std::string SearchStore::meta(const std::string& key) const {
    Stmt s(db_, "SELECT value FROM meta WHERE key = ?", path_);
    s.bind(1, key);
    return s.step() ? s.text(0) : "";
}

void SearchStore::set_meta(const std::string& key, const std::string& value) {
    Stmt s(db_, "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", path_);
    s.bind(1, key).bind(2, value).step();
}

void SearchStore::add_trials(const std::vector<TrialRecord>& trials) {
    exec("BEGIN IMMEDIATE");
    try {
        for (const auto& t : trials) {
            Stmt one(db_, "INSERT OR IGNORE INTO trials(idx, params, sets, state, budget) VALUES(?, ?, ?, 'pending', ?)",
                     path_);
            one.bind(1, t.index).bind(2, t.params).bind(3, t.sets).bind(4, int64_t(t.budget)).step();
        }
        exec("COMMIT");
    } catch (...) {
        exec("ROLLBACK");
        throw;
    }
}

namespace {
constexpr const char* kSelect =
    "SELECT idx, params, sets, state, attempt, scores, mean, std, duration, error, started, pid, deaths, rung, budget, "
    "rung_values, epochs FROM trials";
}  // namespace

TrialRecord SearchStore::get(int64_t index) const {
    Stmt s(db_, std::string(kSelect) + " WHERE idx = ?", path_);
    s.bind(1, index);
    std::vector<TrialRecord> out;
    read_rows(&s, out);
    if (out.empty()) throw IoError(path_ + ": trial " + std::to_string(index) + " is missing from the store");
    return out.front();
}

std::vector<TrialRecord> SearchStore::all() const {
    std::vector<TrialRecord> out;
    Stmt s(db_, std::string(kSelect) + " ORDER BY idx", path_);
    read_rows(&s, out);
    return out;
}

void SearchStore::read_rows(void* stmt, std::vector<TrialRecord>& out) const {
    Stmt& s = *static_cast<Stmt*>(stmt);
    while (s.step()) {
        TrialRecord r;
        r.index = s.i64(0);
        r.params = s.text(1);
        r.sets = s.text(2);
        r.state = s.text(3);
        r.attempt = int(s.i64(4));
        try {
            for (const auto& v : parse_json(s.text(5)).items) r.scores.push_back(v.number);
        } catch (const std::exception&) {
        }
        r.mean = s.dbl(6);
        r.std = s.dbl(7);
        r.duration = s.dbl(8);
        r.error = s.text(9);
        r.started = s.dbl(10);
        r.worker = int(s.i64(11));
        r.deaths = int(s.i64(12));
        r.rung = int(s.i64(13));
        r.budget = int(s.i64(14));
        try {
            for (const auto& v : parse_json(s.text(15)).items) r.rung_values.push_back(v.number);
        } catch (const std::exception&) {
        }
        r.epochs = int(s.i64(16));
        out.push_back(std::move(r));
    }
}

int SearchStore::requeue_running() {
    Stmt s(db_, "UPDATE trials SET state = 'pending' WHERE state = 'running'", path_);
    s.step();
    return s.changes();
}

bool SearchStore::claim_next(int shard, int shards, int pid, int64_t& index, int& attempt) {
    exec("BEGIN IMMEDIATE");
    try {
        Stmt q(db_, "SELECT idx FROM trials WHERE state = 'pending' AND idx % ? = ? ORDER BY idx LIMIT 1", path_);
        q.bind(1, int64_t(shards)).bind(2, int64_t(shard));
        if (!q.step()) {
            exec("COMMIT");
            return false;
        }
        index = q.i64(0);
        const double now =
            std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
        Stmt u(db_, "UPDATE trials SET state = 'running', attempt = attempt + 1, pid = ?, started = ? WHERE idx = ?", path_);
        u.bind(1, int64_t(pid)).bind(2, now).bind(3, index).step();
        Stmt a(db_, "SELECT attempt FROM trials WHERE idx = ?", path_);
        a.bind(1, index);
        attempt = a.step() ? int(a.i64(0)) : 0;
        exec("COMMIT");
        return true;
    } catch (...) {
        exec("ROLLBACK");
        throw;
    }
}

Claim SearchStore::claim_planned(int pid,
                                 const std::function<std::vector<TrialRecord>(const std::vector<TrialRecord>&)>& plan,
                                 int64_t& index, int& attempt, std::vector<TrialRecord>& changed) {
    changed.clear();
    exec("BEGIN IMMEDIATE");
    try {
        std::vector<TrialRecord> rows;
        {
            Stmt q(db_, kSelect, path_);
            read_rows(&q, rows);
        }
        if (plan) changed = plan(rows);
        for (const auto& c : changed) {
            Stmt u(db_, "UPDATE trials SET state = ?, rung = ?, budget = ?, error = ? WHERE idx = ?", path_);
            u.bind(1, c.state).bind(2, int64_t(c.rung)).bind(3, int64_t(c.budget)).bind(4, c.error).bind(5, c.index).step();
        }
        Stmt q(db_, "SELECT idx FROM trials WHERE state = 'pending' ORDER BY rung DESC, idx LIMIT 1", path_);
        if (!q.step()) {
            // (paused trials alone make no work: the plan has decided all it can about them)
            Stmt busy(db_, "SELECT COUNT(*) FROM trials WHERE state = 'running'", path_);
            const bool wait = busy.step() && busy.i64(0) > 0;
            exec("COMMIT");
            return wait ? Claim::wait : Claim::done;
        }
        index = q.i64(0);
        const double now =
            std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
        Stmt u(db_, "UPDATE trials SET state = 'running', attempt = attempt + 1, pid = ?, started = ? WHERE idx = ?", path_);
        u.bind(1, int64_t(pid)).bind(2, now).bind(3, index).step();
        Stmt a(db_, "SELECT attempt FROM trials WHERE idx = ?", path_);
        a.bind(1, index);
        attempt = a.step() ? int(a.i64(0)) : 0;
        exec("COMMIT");
        return Claim::trial;
    } catch (...) {
        exec("ROLLBACK");
        throw;
    }
}

bool SearchStore::finish_rung(int64_t index, int attempt, bool top, const std::vector<double>& scores, double mean,
                              double std, double duration, int epochs) {
    TrialRecord r = get(index);
    r.rung_values.push_back(mean);
    Stmt s(db_,
           "UPDATE trials SET state = ?, scores = ?, mean = ?, std = ?, duration = ?, error = '', rung_values = ?, "
           "epochs = ? WHERE idx = ? AND attempt = ? AND state = 'running'",
           path_);
    s.bind(1, std::string(top ? "complete" : "paused")).bind(2, scores_json(scores)).bind(3, mean).bind(4, std);
    s.bind(5, duration).bind(6, scores_json(r.rung_values)).bind(7, int64_t(epochs)).bind(8, index).bind(9, int64_t(attempt));
    s.step();
    return s.changes() == 1;
}

bool SearchStore::prune(int64_t index, int attempt, const std::string& reason, double value, double duration, int epochs) {
    Stmt s(db_,
           "UPDATE trials SET state = 'pruned', error = ?, mean = ?, std = 0, duration = ?, epochs = ? "
           "WHERE idx = ? AND attempt = ? AND state = 'running'",
           path_);
    s.bind(1, reason).bind(2, value).bind(3, duration).bind(4, int64_t(epochs)).bind(5, index).bind(6, int64_t(attempt));
    s.step();
    return s.changes() == 1;
}

bool SearchStore::set_params(int64_t index, int attempt, const std::string& params, const std::string& sets) {
    Stmt s(db_, "UPDATE trials SET params = ?, sets = ? WHERE idx = ? AND attempt = ? AND state = 'running'", path_);
    s.bind(1, params).bind(2, sets).bind(3, index).bind(4, int64_t(attempt));
    s.step();
    return s.changes() == 1;
}

void SearchStore::report(int64_t index, int unit, int epoch, double value) {
    Stmt s(db_, "INSERT OR REPLACE INTO reports(idx, unit, epoch, value) VALUES(?, ?, ?, ?)", path_);
    s.bind(1, index).bind(2, int64_t(unit)).bind(3, int64_t(epoch)).bind(4, value).step();
}

std::vector<double> SearchStore::completed_reports(int unit, int epoch, int64_t& completed) const {
    {
        Stmt c(db_, "SELECT COUNT(*) FROM trials WHERE state = 'complete'", path_);
        completed = c.step() ? c.i64(0) : 0;
    }
    std::vector<double> out;
    Stmt s(db_,
           "SELECT r.value FROM reports r JOIN trials t ON t.idx = r.idx WHERE t.state = 'complete' AND r.unit = ? "
           "AND r.epoch = ? AND r.value IS NOT NULL ORDER BY r.idx",
           path_);
    s.bind(1, int64_t(unit)).bind(2, int64_t(epoch));
    while (s.step()) out.push_back(s.dbl(0));
    return out;
}

std::vector<std::pair<int64_t, bool>> SearchStore::worker_died(int pid, const std::string& error, int retries) {
    std::vector<std::pair<int64_t, bool>> out;
    exec("BEGIN IMMEDIATE");
    try {
        {
            Stmt q(db_, "SELECT idx, deaths FROM trials WHERE state = 'running' AND pid = ?", path_);
            q.bind(1, int64_t(pid));
            while (q.step()) out.emplace_back(q.i64(0), q.i64(1) < retries);
        }
        for (const auto& [idx, again] : out) {
            Stmt u(db_,
                   again ? "UPDATE trials SET state = 'pending', deaths = deaths + 1 WHERE idx = ?"
                         : "UPDATE trials SET state = 'failed', deaths = deaths + 1, error = ? WHERE idx = ?",
                   path_);
            if (again) u.bind(1, idx);
            else u.bind(1, error).bind(2, idx);
            u.step();
        }
        exec("COMMIT");
    } catch (...) {
        exec("ROLLBACK");
        throw;
    }
    return out;
}

bool SearchStore::complete(int64_t index, int attempt, const std::vector<double>& scores, double mean, double std,
                           double duration) {
    Stmt s(db_,
           "UPDATE trials SET state = 'complete', scores = ?, mean = ?, std = ?, duration = ?, error = '' "
           "WHERE idx = ? AND attempt = ? AND state = 'running'",
           path_);
    s.bind(1, scores_json(scores)).bind(2, mean).bind(3, std).bind(4, duration).bind(5, index).bind(6, int64_t(attempt));
    s.step();
    return s.changes() == 1;
}

bool SearchStore::fail(int64_t index, int attempt, const std::string& error, double duration) {
    Stmt s(db_,
           "UPDATE trials SET state = 'failed', error = ?, duration = ? WHERE idx = ? AND attempt = ? AND state = 'running'",
           path_);
    s.bind(1, error).bind(2, duration).bind(3, index).bind(4, int64_t(attempt));
    s.step();
    return s.changes() == 1;
}

void SearchStore::put(const TrialRecord& r) {
    Stmt s(db_,
           "INSERT OR REPLACE INTO trials(idx, params, sets, state, attempt, scores, mean, std, duration, error, started, "
           "pid, deaths, rung, budget, rung_values, epochs) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
           path_);
    s.bind(1, r.index).bind(2, r.params).bind(3, r.sets).bind(4, r.state).bind(5, int64_t(r.attempt));
    s.bind(6, scores_json(r.scores)).bind(7, r.mean).bind(8, r.std).bind(9, r.duration).bind(10, r.error);
    s.bind(11, r.started).bind(12, int64_t(r.worker)).bind(13, int64_t(r.deaths)).bind(14, int64_t(r.rung));
    s.bind(15, int64_t(r.budget)).bind(16, scores_json(r.rung_values)).bind(17, int64_t(r.epochs)).step();
}

}  // namespace nnctl
