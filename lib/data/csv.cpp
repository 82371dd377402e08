#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>

#include "core/error.hpp"
#include "core/fileio.hpp"
#include "data/dataset.hpp"

namespace nnctl {

namespace {

struct Field {
    std::string text;
    int col;  // 1-based character column where the field starts
};
struct Record {
    std::vector<Field> fields;
    int line;  // 1-based line where the record starts
};

/// RFC 4180 records: quoted fields may hold the delimiter, doubled quotes and newlines; CRLF and
/// a UTF-8 BOM are accepted.
std::vector<Record> parse_csv(const std::string& text, char delim, const std::string& path) {
    std::vector<Record> out;
    size_t i = 0;
    if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) i = 3;
    int line = 1, col = 1;
    while (i < text.size()) {
        Record rec{{}, line};
        bool end_of_record = false;
        while (!end_of_record) {
            Field f{"", col};
            if (i < text.size() && text[i] == '"') {
                int qline = line, qcol = col;
                ++i, ++col;
                for (;;) {
                    if (i >= text.size())
                        throw DataError(path + ":" + std::to_string(qline) + ":" + std::to_string(qcol) +
                                        ": unterminated quoted field");
                    char c = text[i];
                    if (c == '"') {
                        if (i + 1 < text.size() && text[i + 1] == '"') {
                            f.text += '"';
                            i += 2, col += 2;
                            continue;
                        }
                        ++i, ++col;
                        break;
                    }
                    if (c == '\n') ++line, col = 1;
                    else ++col;
                    f.text += c;
                    ++i;
                }
                if (i < text.size() && text[i] != delim && text[i] != '\n' && text[i] != '\r')
                    throw DataError(path + ":" + std::to_string(line) + ":" + std::to_string(col) +
                                    ": unexpected character after a closing quote");
            } else {
                while (i < text.size() && text[i] != delim && text[i] != '\n' && text[i] != '\r') {
                    f.text += text[i];
                    ++i, ++col;
                }
            }
            rec.fields.push_back(std::move(f));
            if (i < text.size() && text[i] == delim) {
                ++i, ++col;
                continue;
            }
            if (i < text.size() && text[i] == '\r') ++i;
            if (i < text.size() && text[i] == '\n') ++i;
            ++line, col = 1;
            end_of_record = true;
        }
        bool blank = rec.fields.size() == 1 && rec.fields[0].text.empty();
        if (!blank) out.push_back(std::move(rec));
    }
    return out;
}

bool parse_number(const std::string& s, double& v) {
    if (s.empty()) return false;
    const char* b = s.c_str();
    char* e = nullptr;
    errno = 0;
    v = std::strtod(b, &e);
    while (*e == ' ') ++e;
    return e != b && *e == '\0';
}

}  // namespace

Dataset load_csv(const DataSourceConfig& src, bool want_classes) {
    const std::string& path = src.path;
    std::vector<Record> recs = parse_csv(read_file(path), src.delimiter, path);
    if (recs.empty()) throw DataError(path + ": empty CSV file (a header row is required)");
    const Record& header = recs[0];
    std::vector<std::string> names;
    for (const auto& f : header.fields) names.push_back(f.text);
    auto find = [&](const std::string& n) -> int {
        auto it = std::find(names.begin(), names.end(), n);
        return it == names.end() ? -1 : int(it - names.begin());
    };
    auto list_names = [&]() {
        std::string s;
        for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
        return s;
    };
    int target = find(src.target);
    if (target < 0)
        throw ConfigError(src.where + ": target column '" + src.target + "' is not in " + path + " (columns: " +
                          list_names() + ")");
    std::vector<int> feat;
    if (src.feature_columns.empty()) {
        for (int c = 0; c < int(names.size()); ++c)
            if (c != target) feat.push_back(c);
    } else {
        for (const auto& n : src.feature_columns) {
            int c = find(n);
            if (c < 0)
                throw ConfigError(src.where + ": feature column '" + n + "' is not in " + path + " (columns: " +
                                  list_names() + ")");
            feat.push_back(c);
        }
    }
    if (feat.empty()) throw ConfigError(src.where + ": no feature columns left in " + path);

    const size_t n = recs.size() - 1;
    Dataset d;
    for (int c : feat) d.feature_names.push_back(names[size_t(c)]);
    d.x.resize(Eigen::Index(n), Eigen::Index(feat.size()));
    std::vector<std::string> raw_target(n);
    for (size_t r = 0; r < n; ++r) {
        const Record& rec = recs[r + 1];
        if (rec.fields.size() != names.size())
            throw DataError(path + ":" + std::to_string(rec.line) + ": expected " + std::to_string(names.size()) +
                            " fields, found " + std::to_string(rec.fields.size()));
        for (size_t j = 0; j < feat.size(); ++j) {
            const Field& f = rec.fields[size_t(feat[j])];
            double v;
            if (!parse_number(f.text, v) || !std::isfinite(v))
                throw DataError(path + ":" + std::to_string(rec.line) + ":" + std::to_string(f.col) + ": column '" +
                                names[size_t(feat[j])] + "': " +
                                (f.text.empty() ? std::string("missing value") : "not a finite number: '" + f.text + "'"));
            d.x(Eigen::Index(r), Eigen::Index(j)) = float(v);
        }
        raw_target[r] = rec.fields[size_t(target)].text;
    }

    bool all_numeric = true;
    std::vector<double> num(n);
    for (size_t r = 0; r < n; ++r)
        if (!parse_number(raw_target[r], num[r])) all_numeric = false;
    if (!want_classes && all_numeric) {
        d.y.resize(Eigen::Index(n), 1);
        for (size_t r = 0; r < n; ++r) {
            if (!std::isfinite(num[r]))
                throw DataError(path + ":" + std::to_string(recs[r + 1].line) + ": target '" + src.target +
                                "' is not finite");
            d.y(Eigen::Index(r), 0) = float(num[r]);
        }
        return d;
    }
    // Classes: sorted names (numerically when all numeric), like scikit-learn's LabelEncoder.
    std::vector<std::string> uniq = raw_target;
    for (size_t r = 0; r < n; ++r)
        if (raw_target[r].empty())
            throw DataError(path + ":" + std::to_string(recs[r + 1].line) + ":" +
                            std::to_string(recs[r + 1].fields[size_t(target)].col) + ": column '" + src.target +
                            "': missing value");
    std::sort(uniq.begin(), uniq.end(), [&](const std::string& a, const std::string& b) {
        double x, y;
        if (all_numeric && parse_number(a, x) && parse_number(b, y)) return x < y;
        return a < b;
    });
    uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
    std::map<std::string, int> index;
    for (size_t i = 0; i < uniq.size(); ++i) index[uniq[i]] = int(i);
    d.class_names = uniq;
    d.num_classes = int(uniq.size());
    d.labels.resize(n);
    for (size_t r = 0; r < n; ++r) d.labels[r] = index[raw_target[r]];
    return d;
}

}  // namespace nnctl
