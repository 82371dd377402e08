// The search store's PostgreSQL connection (libpq): workers on many machines share one search.
#include <libpq-fe.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "search/sql.hpp"

namespace nnctl {

bool is_postgres_url(const std::string& location) {
    return location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0;
}

std::string mask_url(const std::string& url) {
    std::string out = url;
    const size_t scheme = out.find("://");
    if (scheme != std::string::npos) {
        // user:password@host — the password may hold an unescaped / ? or @ (a malformed URL, still
        // to be masked): it ends at the last @ before the first / that follows an @.
        const size_t start = scheme + 3;
        const size_t first_at = out.find('@', start);
        if (first_at != std::string::npos) {
            const size_t at = out.rfind('@', out.find('/', first_at));
            const size_t colon = out.find(':', start);
            if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
        }
    }
    // password=... among the query parameters
    for (size_t p = out.find("password="); p != std::string::npos; p = out.find("password=", p + 1)) {
        if (p > 0 && out[p - 1] != '?' && out[p - 1] != '&') continue;
        const size_t v = p + 9;
        size_t e = out.find('&', v);
        if (e == std::string::npos) e = out.size();
        out.replace(v, e - v, "***");
    }
    return out;
}

std::string mask_urls_in(const std::string& text) {
    std::string out;
    size_t i = 0;
    while (i < text.size()) {
        size_t a = text.find("postgres", i);
        if (a == std::string::npos) break;
        if (!is_postgres_url(text.substr(a, 14))) {
            out += text.substr(i, a + 8 - i);
            i = a + 8;
            continue;
        }
        size_t e = text.find_first_of(" \t\n\"'", a);
        if (e == std::string::npos) e = text.size();
        out += text.substr(i, a - i) + mask_url(text.substr(a, e - a));
        i = e;
    }
    return out + text.substr(std::min(i, text.size()));
}

namespace {

/// Replace every occurrence of `secret` in `text` (libpq's messages never should hold it; this
/// makes sure).
std::string scrub(std::string text, const std::string& secret) {
    if (secret.empty()) return text;
    for (size_t p = text.find(secret); p != std::string::npos; p = text.find(secret, p + 3)) text.replace(p, secret.size(), "***");
    return text;
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

/// The schema of a search: nnctl_ and the name's letters, digits and underscores, lower case.
std::string schema_of(const std::string& name) {
    std::string s = "nnctl_";
    for (char c : name) {
        if (c >= 'A' && c <= 'Z') s += char(c - 'A' + 'a');
        else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') s += c;
        else s += '_';
    }
    return s.substr(0, 63);
}

int64_t fnv1a(const std::string& s) {
    uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
    return int64_t(h);
}

class PostgresBackend : public SqlBackend {
public:
    PostgresBackend(const std::string& url, const std::string& name, bool create)
        : url_(url), masked_(mask_url(url)), schema_(schema_of(name)), lock_key_(fnv1a(schema_of(name))) {
        char* err = nullptr;
        PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
        if (!opts) {
            const std::string m = err ? trim(err) : "not a connection URL";
            PQfreemem(err);
            throw ConfigError("--storage " + masked_ + ": " + scrub(m, password_of(url)));
        }
        for (PQconninfoOption* o = opts; o->keyword; ++o) {
            const std::string k = o->keyword;
            if (k == "password" && o->val) password_ = o->val;
            if (k == "connect_timeout" && o->val) has_timeout_ = true;
        }
        PQconninfoFree(opts);
        connect();
        if (!create) {
            // Reading a search (status, export) creates nothing: a mistyped name must not leave an
            // empty schema behind. Its tables appear together (one transaction), so meta tells.
            std::vector<SqlRow> r;
            run("SELECT to_regclass(?) IS NOT NULL", {"\"" + schema_ + "\".meta"}, &r);
            if (r.empty() || r[0][0].as_text() != "t")
                throw DataError(masked_ + ": no search named '" + name + "' (schema " + schema_ + ")");
            use_schema();
            return;
        }
        // The search's tables live in its own schema, created once (an advisory lock keeps two
        // workers that start together from racing on CREATE SCHEMA).
        run("SELECT pg_advisory_lock(" + std::to_string(fnv1a("nnctl schemas")) + ")", {}, nullptr);
        try {
            run("CREATE SCHEMA IF NOT EXISTS \"" + schema_ + "\"", {}, nullptr);
        } catch (...) {
            run("SELECT pg_advisory_unlock(" + std::to_string(fnv1a("nnctl schemas")) + ")", {}, nullptr);
            throw;
        }
        run("SELECT pg_advisory_unlock(" + std::to_string(fnv1a("nnctl schemas")) + ")", {}, nullptr);
        use_schema();
    }

    std::vector<SqlRow> query(const std::string& sql, const std::vector<SqlValue>& params) override {
        std::vector<SqlRow> rows;
        run(sql, params, &rows);
        return rows;
    }
    int64_t exec(const std::string& sql, const std::vector<SqlValue>& params) override { return run(sql, params, nullptr); }
    void begin_write() override {
        run("BEGIN", {}, nullptr);
        run("SELECT pg_advisory_xact_lock(" + std::to_string(lock_key_) + ")", {}, nullptr);
    }
    void commit() override { run("COMMIT", {}, nullptr); }
    void rollback() override {
        if (PQstatus(conn_.get()) == CONNECTION_OK) run("ROLLBACK", {}, nullptr);
    }
    void add_column(const std::string& table, const std::string& name, const std::string& definition) override {
        run("ALTER TABLE " + table + " ADD COLUMN IF NOT EXISTS " + name + " " + definition, {}, nullptr);
    }
    std::string now_sql() const override { return "extract(epoch from clock_timestamp())::double precision"; }
    std::string where() const override { return masked_; }

    void reconnect() override {
        // Backoff 0.5 s doubling to 30 s, for NNCTL_STORAGE_RETRY_SECONDS in all (default 600):
        // a database restart or a failover is waited out; nothing committed is lost.
        const char* env = std::getenv("NNCTL_STORAGE_RETRY_SECONDS");
        const double limit = env ? std::atof(env) : 600.0;
        const auto t0 = std::chrono::steady_clock::now();
        double wait = 0.5;
        for (;;) {
            PQreset(conn_.get());
            if (PQstatus(conn_.get()) == CONNECTION_OK) {
                try {
                    use_schema();
                    return;
                } catch (const StorageLost&) {
                }
            }
            const double spent = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (spent + wait > limit)
                throw StorageLost(masked_ + ": the results storage is unreachable (" + scrub(trim(PQerrorMessage(conn_.get())), password_) +
                                  "); gave up after " + std::to_string(int(spent)) + " s");
            std::this_thread::sleep_for(std::chrono::duration<double>(wait));
            wait = std::min(30.0, wait * 2);
        }
    }

private:
    static std::string password_of(const std::string& url) {
        const size_t scheme = url.find("://");
        if (scheme == std::string::npos) return "";
        const size_t at = url.find('@', scheme + 3), colon = url.find(':', scheme + 3);
        return at != std::string::npos && colon != std::string::npos && colon < at ? url.substr(colon + 1, at - colon - 1) : "";
    }

    void connect() {
        std::vector<const char*> keys = {"dbname", "application_name"}, vals = {url_.c_str(), "nnctl"};
        if (!has_timeout_) {
            keys.push_back("connect_timeout");
            vals.push_back("10");
        }
        keys.push_back(nullptr);
        vals.push_back(nullptr);
        conn_.reset(PQconnectdbParams(keys.data(), vals.data(), 1));
        if (PQstatus(conn_.get()) != CONNECTION_OK)
            throw IoError(masked_ + ": cannot connect to the results storage: " +
                          scrub(trim(PQerrorMessage(conn_.get())), password_));
        PQsetNoticeProcessor(conn_.get(), [](void*, const char*) {}, nullptr);  // (NOTICEs of IF NOT EXISTS)
    }

    void use_schema() { run("SET search_path TO \"" + schema_ + "\"", {}, nullptr); }

    /// `?` placeholders become $1, $2, ... (no statement here has a ? inside a string literal).
    static std::string numbered(const std::string& sql) {
        std::string out;
        int n = 0;
        for (char c : sql) {
            if (c == '?') out += "$" + std::to_string(++n);
            else out += c;
        }
        return out;
    }

    int64_t run(const std::string& sql, const std::vector<SqlValue>& params, std::vector<SqlRow>* rows) {
        std::vector<std::string> text(params.size());
        std::vector<const char*> values(params.size(), nullptr);
        for (size_t k = 0; k < params.size(); ++k) {
            const SqlValue& v = params[k];
            if (v.kind == SqlValue::null) continue;
            if (v.kind == SqlValue::real) {
                char b[40];
                if (std::isnan(v.d)) std::snprintf(b, sizeof b, "NaN");
                else if (std::isinf(v.d)) std::snprintf(b, sizeof b, v.d > 0 ? "Infinity" : "-Infinity");
                else std::snprintf(b, sizeof b, "%.17g", v.d);
                text[k] = b;
            } else {
                text[k] = v.as_text();
            }
            values[k] = text[k].c_str();
        }
        PGresult* r = PQexecParams(conn_.get(), numbered(sql).c_str(), int(params.size()), nullptr, values.data(), nullptr, nullptr, 0);
        struct Clear {
            PGresult* r;
            ~Clear() { PQclear(r); }
        } guard{r};
        const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            const std::string msg = scrub(trim(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_.get())), password_);
            const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
            const std::string code = state ? state : "";
            // Connection exceptions (class 08) and a server shutting down or starting (57P0x).
            if (PQstatus(conn_.get()) != CONNECTION_OK || code.rfind("08", 0) == 0 || code.rfind("57P0", 0) == 0)
                throw StorageLost(masked_ + ": connection to the results storage lost: " + msg);
            throw IoError(masked_ + ": results store error: " + msg);
        }
        if (rows) {
            const int n = PQntuples(r), m = PQnfields(r);
            for (int i = 0; i < n; ++i) {
                SqlRow row;
                for (int c = 0; c < m; ++c) {
                    if (PQgetisnull(r, i, c)) row.emplace_back();
                    else row.emplace_back(std::string(PQgetvalue(r, i, c)));
                }
                rows->push_back(std::move(row));
            }
        }
        const char* changed = PQcmdTuples(r);
        return changed && *changed ? std::atoll(changed) : 0;
    }

    std::string url_, masked_, schema_, password_;
    int64_t lock_key_;
    bool has_timeout_ = false;
    std::unique_ptr<PGconn, void (*)(PGconn*)> conn_{nullptr, PQfinish};
};

}  // namespace

std::unique_ptr<SqlBackend> open_postgres(const std::string& url, const std::string& name, bool create) {
    return std::make_unique<PostgresBackend>(url, name, create);
}

}  // namespace nnctl
