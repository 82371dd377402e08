#include "data/csv_reader.hpp"

#include "core/error.hpp"
#include "core/limits.hpp"

namespace nnctl {

CsvReader::CsvReader(const std::string& path, char delimiter)
    : CsvReader(std::make_unique<InputStream>(path), delimiter) {}

CsvReader::CsvReader(std::unique_ptr<InputStream> in, char delimiter)
    : in_(std::move(in)), delim_(delimiter), buf_(1 << 16) {}

int CsvReader::peek() {
    if (pos_ == len_) {
        len_ = in_->read(buf_.data(), buf_.size());
        pos_ = 0;
        if (len_ == 0) return -1;
    }
    return static_cast<unsigned char>(buf_[pos_]);
}

int CsvReader::get() {
    int c = peek();
    if (c >= 0) ++pos_, ++consumed_;
    return c;
}

void CsvReader::fail(long long line, long long col, const std::string& what) const {
    throw DataError(display() + ":" + std::to_string(line) + (col > 0 ? ":" + std::to_string(col) : std::string()) + ": " + what);
}

// The limits, checked as each byte is taken, so that no record or field grows past them.
void CsvReader::check_field(const CsvField& f, long long rec_line) const {
    const ReadLimits& l = read_limits();
    if (int64_t(f.text.size()) > l.field_bytes)
        fail(rec_line, f.col, "a field longer than " + thousands(l.field_bytes) +
                                  " bytes (data.limits.field_bytes; is this a CSV file, or a quote left open?)");
    if (int64_t(consumed_ - record_start_) > l.line_bytes)
        fail(rec_line, 0, "a record longer than " + thousands(l.line_bytes) + " bytes (data.limits.line_bytes; is this a CSV file?)");
}

bool CsvReader::next(CsvRecord& rec) {
    if (!started_) {
        started_ = true;
        if (peek() == 0xEF) {  // UTF-8 byte order mark
            get();
            if (get() != 0xBB || get() != 0xBF)
                throw DataError(display() + ":1:1: invalid byte at the start of the file");
        }
    }
    for (;;) {
        rec.fields.clear();
        rec.line = line_;
        record_start_ = consumed_;
        if (peek() < 0) return false;
        bool end_of_record = false;
        while (!end_of_record) {
            CsvField f;
            f.col = col_;
            if (peek() == '"') {
                const long long qline = line_;
                const int qcol = col_;
                get();
                ++col_;
                for (;;) {
                    int c = get();
                    if (c < 0)
                        throw DataError(display() + ":" + std::to_string(qline) + ":" + std::to_string(qcol) +
                                        ": unterminated quoted field");
                    if (c == '"') {
                        if (peek() == '"') {
                            get();
                            f.text += '"';
                            col_ += 2;
                            continue;
                        }
                        ++col_;
                        break;
                    }
                    if (c == 0) fail(line_, col_, "a NUL byte: a CSV file holds none (is this a binary or damaged file?)");
                    if (c == '\n') ++line_, col_ = 1;
                    else ++col_;
                    f.text += char(c);
                    if ((f.text.size() & 4095) == 0) check_field(f, rec.line);
                }
                int c = peek();
                if (c >= 0 && c != delim_ && c != '\n' && c != '\r')
                    throw DataError(display() + ":" + std::to_string(line_) + ":" + std::to_string(col_) +
                                    ": unexpected character after a closing quote");
            } else {
                for (int c = peek(); c >= 0 && c != delim_ && c != '\n' && c != '\r'; c = peek()) {
                    if (c == 0) fail(line_, col_, "a NUL byte: a CSV file holds none (is this a binary or damaged file?)");
                    f.text += char(get());
                    ++col_;
                    if ((f.text.size() & 4095) == 0) check_field(f, rec.line);
                }
            }
            check_field(f, rec.line);
            rec.fields.push_back(std::move(f));
            if (int64_t(rec.fields.size()) > read_limits().columns)
                fail(rec.line, 0, "more than " + thousands(read_limits().columns) + " fields (data.limits.columns)");
            int c = peek();
            if (c == delim_) {
                get();
                ++col_;
                continue;
            }
            if (c == '\r') get();
            if (peek() == '\n') get();
            ++line_;
            col_ = 1;
            end_of_record = true;
        }
        bool blank = rec.fields.size() == 1 && rec.fields[0].text.empty();
        if (!blank) return true;
    }
}

}  // namespace nnctl
