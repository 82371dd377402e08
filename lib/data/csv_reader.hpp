#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/input.hpp"

namespace nnctl {

struct CsvField {
    std::string text;
    int col = 0;  ///< 1-based character column where the field starts
};
struct CsvRecord {
    std::vector<CsvField> fields;
    long long line = 0;  ///< 1-based line where the record starts
};

/// Streaming RFC 4180 reader: quoted fields may hold the delimiter, doubled quotes and newlines;
/// CRLF line ends and a UTF-8 BOM are accepted; blank lines are skipped; gzip input is unpacked.
/// Memory stays bounded by read_limits(): a record longer than line_bytes, a field longer than
/// field_bytes or more than `columns` fields is a DataError at its line (and column) as soon as
/// the limit is passed, and so is a NUL byte (a binary or damaged file).
class CsvReader {
public:
    CsvReader(const std::string& path, char delimiter);
    /// Read from an already opened input (e.g. standard input after peeking at it).
    CsvReader(std::unique_ptr<InputStream> in, char delimiter);
    /// The next record; false at the end of the input.
    bool next(CsvRecord& rec);
    std::string display() const { return in_->display(); }

private:
    int get();   // next byte or -1
    int peek();
    [[noreturn]] void fail(long long line, long long col, const std::string& what) const;
    void check_field(const CsvField& f, long long rec_line) const;
    std::unique_ptr<InputStream> in_;
    char delim_;
    std::vector<char> buf_;
    size_t pos_ = 0, len_ = 0;
    long long line_ = 1;
    int col_ = 1;
    bool started_ = false;
    uint64_t consumed_ = 0, record_start_ = 0;  // bytes read; where the current record began
};

}  // namespace nnctl
