#include "data/csv_reader.hpp"

#include "core/error.hpp"

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
    if (c >= 0) ++pos_;
    return c;
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
                    if (c == '\n') ++line_, col_ = 1;
                    else ++col_;
                    f.text += char(c);
                }
                int c = peek();
                if (c >= 0 && c != delim_ && c != '\n' && c != '\r')
                    throw DataError(display() + ":" + std::to_string(line_) + ":" + std::to_string(col_) +
                                    ": unexpected character after a closing quote");
            } else {
                for (int c = peek(); c >= 0 && c != delim_ && c != '\n' && c != '\r'; c = peek()) {
                    f.text += char(get());
                    ++col_;
                }
            }
            rec.fields.push_back(std::move(f));
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
