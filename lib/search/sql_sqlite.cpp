// The search store's SQLite connection: one file, WAL journal, a writer lock per transaction.
#include <sqlite3.h>

#include <cmath>
#include <cstdlib>

#include "search/sql.hpp"

namespace nnctl {

int64_t SqlValue::as_i64() const {
    switch (kind) {
        case integer: return i;
        case real: return int64_t(d);
        case text: return std::strtoll(s.c_str(), nullptr, 10);
        default: return 0;
    }
}

double SqlValue::as_double() const {
    switch (kind) {
        case integer: return double(i);
        case real: return d;
        case text: return std::strtod(s.c_str(), nullptr);
        default: return NAN;
    }
}

std::string SqlValue::as_text() const {
    switch (kind) {
        case integer: return std::to_string(i);
        case real: {
            char b[40];
            std::snprintf(b, sizeof b, "%.17g", d);
            return b;
        }
        case text: return s;
        default: return "";
    }
}

namespace {

class SqliteBackend : public SqlBackend {
public:
    explicit SqliteBackend(const std::string& path) : path_(path) {
        if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                            nullptr) != SQLITE_OK) {
            std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
            sqlite3_close(db_);
            db_ = nullptr;
            throw IoError(path + ": cannot open the results store: " + msg);
        }
        sqlite3_busy_timeout(db_, 60000);
        exec("PRAGMA journal_mode=WAL", {});
        // WAL + NORMAL: every commit survives a crash or kill -9 of any process; a power cut may lose
        // the last commits but never corrupts the store (those trials simply run again on resume).
        exec("PRAGMA synchronous=NORMAL", {});
    }
    ~SqliteBackend() override { sqlite3_close(db_); }

    std::vector<SqlRow> query(const std::string& sql, const std::vector<SqlValue>& params) override {
        std::vector<SqlRow> rows;
        run(sql, params, &rows);
        return rows;
    }
    int64_t exec(const std::string& sql, const std::vector<SqlValue>& params) override {
        run(sql, params, nullptr);
        return sqlite3_changes(db_);
    }
    void begin_write() override { exec("BEGIN IMMEDIATE", {}); }
    void commit() override { exec("COMMIT", {}); }
    void rollback() override { exec("ROLLBACK", {}); }
    void add_column(const std::string& table, const std::string& name, const std::string& definition) override {
        for (const auto& r : query("PRAGMA table_info(" + table + ")", {}))
            if (r.size() > 1 && r[1].as_text() == name) return;
        try {
            exec("ALTER TABLE " + table + " ADD COLUMN " + name + " " + definition, {});
        } catch (const IoError& e) {  // another process added it first
            if (std::string(e.what()).find("duplicate column") == std::string::npos) throw;
        }
    }
    std::string now_sql() const override { return "((julianday('now') - 2440587.5) * 86400.0)"; }
    std::string where() const override { return path_; }

private:
    void run(const std::string& sql, const std::vector<SqlValue>& params, std::vector<SqlRow>* rows) {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) fail("prepare");
        struct Finalize {
            sqlite3_stmt* s;
            ~Finalize() { sqlite3_finalize(s); }
        } guard{st};
        for (size_t k = 0; k < params.size(); ++k) {
            const SqlValue& v = params[k];
            const int i = int(k) + 1;
            int rc = SQLITE_OK;
            switch (v.kind) {
                case SqlValue::integer: rc = sqlite3_bind_int64(st, i, v.i); break;
                case SqlValue::real: rc = sqlite3_bind_double(st, i, v.d); break;
                case SqlValue::text: rc = sqlite3_bind_text(st, i, v.s.c_str(), int(v.s.size()), SQLITE_TRANSIENT); break;
                default: rc = sqlite3_bind_null(st, i);
            }
            if (rc != SQLITE_OK) fail("bind");
        }
        for (;;) {
            const int rc = sqlite3_step(st);
            if (rc == SQLITE_DONE) break;
            if (rc != SQLITE_ROW) fail("step");
            if (!rows) continue;
            SqlRow r;
            const int n = sqlite3_column_count(st);
            for (int c = 0; c < n; ++c) {
                switch (sqlite3_column_type(st, c)) {
                    case SQLITE_INTEGER: r.emplace_back(int64_t(sqlite3_column_int64(st, c))); break;
                    case SQLITE_FLOAT: r.emplace_back(sqlite3_column_double(st, c)); break;
                    case SQLITE_NULL: r.emplace_back(); break;
                    default: {
                        const unsigned char* t = sqlite3_column_text(st, c);
                        r.emplace_back(std::string(t ? reinterpret_cast<const char*>(t) : ""));
                    }
                }
            }
            rows->push_back(std::move(r));
        }
    }
    [[noreturn]] void fail(const char* what) {
        throw IoError(path_ + ": results store error (" + what + "): " + sqlite3_errmsg(db_));
    }
    sqlite3* db_ = nullptr;
    std::string path_;
};

}  // namespace

std::unique_ptr<SqlBackend> open_sqlite(const std::string& path) { return std::make_unique<SqliteBackend>(path); }

}  // namespace nnctl
