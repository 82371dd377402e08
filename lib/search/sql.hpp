#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace nnctl {

/// One SQL parameter or result cell. PostgreSQL answers in text; the accessors convert, so the store
/// reads SQLite's typed cells and PostgreSQL's text the same way (doubles round-trip exactly: SQLite
/// keeps them binary, PostgreSQL prints the shortest exact text).
struct SqlValue {
    enum Kind { null, integer, real, text } kind = null;
    int64_t i = 0;
    double d = 0.0;
    std::string s;
    SqlValue() = default;
    SqlValue(int64_t v) : kind(integer), i(v) {}
    SqlValue(int v) : kind(integer), i(v) {}
    SqlValue(double v) : kind(real), d(v) {}
    SqlValue(std::string v) : kind(text), s(std::move(v)) {}
    SqlValue(const char* v) : kind(text), s(v) {}
    int64_t as_i64() const;
    double as_double() const;  ///< NULL: NaN
    std::string as_text() const;
};
using SqlRow = std::vector<SqlValue>;

/// The store's storage cannot be reached (connection lost, server restarting): the operation may
/// be tried again once reconnect() succeeds.
struct StorageLost : IoError {
    using IoError::IoError;
};

/// A connection to the database that holds a search: SQLite (a file, the default) or PostgreSQL
/// (a server that workers on many machines share). SQL is written once, with `?` placeholders and
/// the syntax both understand (UPSERT, DOUBLE PRECISION, BIGINT).
class SqlBackend {
public:
    virtual ~SqlBackend() = default;
    /// Rows of a statement (SELECT, or anything RETURNING).
    virtual std::vector<SqlRow> query(const std::string& sql, const std::vector<SqlValue>& params = {}) = 0;
    /// A statement's count of changed rows.
    virtual int64_t exec(const std::string& sql, const std::vector<SqlValue>& params = {}) = 0;
    /// A transaction in which this connection is the search's only writer until commit/rollback.
    virtual void begin_write() = 0;
    virtual void commit() = 0;
    virtual void rollback() = 0;
    /// Add a column to `table` unless it is there (stores written by an older nnctl).
    virtual void add_column(const std::string& table, const std::string& name, const std::string& definition) = 0;
    /// An SQL expression for the current time, seconds since 1970 (UTC), on the database's clock.
    virtual std::string now_sql() const = 0;
    /// Where the data lives, for messages (a path, or the URL with its password masked).
    virtual std::string where() const = 0;
    /// After StorageLost: connect again, waiting with backoff; throws StorageLost when it gives up.
    virtual void reconnect() {}
};

/// An SQLite file (created when missing), WAL-journaled: every commit survives a kill of any process.
std::unique_ptr<SqlBackend> open_sqlite(const std::string& path);
/// A PostgreSQL database (postgresql://user@host/db; password from the URL, PGPASSWORD or ~/.pgpass
/// as libpq reads them), its tables in the schema of the search `name`. Throws ConfigError for a
/// malformed URL and IoError (its password masked) when the server cannot be reached. Without
/// `create`, the search must exist (DataError otherwise) and nothing is created.
std::unique_ptr<SqlBackend> open_postgres(const std::string& url, const std::string& name, bool create = true);

/// Whether a storage location is a PostgreSQL URL (postgresql:// or postgres://).
bool is_postgres_url(const std::string& location);
/// The URL with any password replaced by ***, for every message, log and file.
std::string mask_url(const std::string& url);
/// `text` with every postgresql:// URL in it masked (a safety net for messages that quote arguments).
std::string mask_urls_in(const std::string& text);

}  // namespace nnctl
