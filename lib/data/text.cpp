#include "data/text.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <numeric>
#include <unordered_set>

#include "core/error.hpp"
#include "core/limits.hpp"
#include "core/json_value.hpp"
#include "core/rng.hpp"
#include "data/csv_reader.hpp"
#include "data/image_folder.hpp"
#include "data/input.hpp"

namespace nnctl {

// ---------------------------------------------------------------------------------------------
// UTF-8

size_t utf8_problem(const std::string& s, size_t from) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const size_t n = s.size();
    for (size_t i = from; i < n;) {
        const unsigned c = p[i];
        if (c >= 0x01 && c < 0x80) {
            ++i;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1Fu;
        else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0Fu;
        else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07u;
        else return i;  // NUL, a continuation byte without a lead, 0xC0/0xC1 (overlong) or past U+10FFFF
        if (i + len > n) return i;
        for (size_t k = 1; k < len; ++k) {
            if ((p[i + k] & 0xC0u) != 0x80u) return i;
            cp = (cp << 6) | (p[i + k] & 0x3Fu);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return i;
        i += len;
    }
    return std::string::npos;
}

void check_utf8(const std::string& s, const std::string& file, long long line, long long col) {
    const size_t at = utf8_problem(s);
    if (at == std::string::npos) return;
    const size_t nl = at == 0 ? std::string::npos : s.rfind('\n', at - 1);
    if (nl != std::string::npos) {
        line += std::count(s.begin(), s.begin() + long(nl) + 1, '\n');
        col = static_cast<long long>(at - nl);
    } else {
        col += static_cast<long long>(at);
    }
    const unsigned char b = static_cast<unsigned char>(s[at]);
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", b);
    const std::string pos = file + ":" + std::to_string(line) + ":" + std::to_string(col);
    if (b == 0) throw DataError(pos + ": NUL byte: a text file holds none (is this a binary or damaged file?)");
    throw DataError(pos + ": invalid UTF-8 (byte " + hex + "); text must be UTF-8 (convert it, e.g. iconv -f latin1 -t utf-8)");
}

namespace {

/// Decode the code point at s[i] (valid UTF-8 assumed; a bad byte is returned as itself) and advance i.
uint32_t next_cp(const std::string& s, size_t& i) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (i + len > s.size()) len = 1;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1Fu) : len == 3 ? (c & 0x0Fu) : (c & 0x07u);
    for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3Fu);
    i += len;
    return cp;
}

void put_cp(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    }
}

/// Lower case of the Latin-1, Latin Extended-A, Greek and Cyrillic capitals; other code points unchanged.
uint32_t lower_cp(uint32_t c) {
    if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
    if (c == 0x130) return 'i';
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c | 1u;  // capital even, small odd
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1u) ? c + 1 : c;  // capital odd
    if (c == 0x178) return 0xFF;
    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32;
    if (c >= 0x410 && c <= 0x42F) return c + 32;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    return c;
}

bool ascii_punct(unsigned char c) {
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
}
bool ascii_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

}  // namespace

std::string standardize_text(const std::string& s, const std::string& mode) {
    if (mode == "none") return s;
    const bool lower = mode != "strip_punctuation", strip = mode != "lower";
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            if (strip && ascii_punct(c)) continue;
            out += char(lower && c >= 'A' && c <= 'Z' ? c + 32 : c);
        } else {
            const uint32_t cp = next_cp(s, i);
            put_cp(out, lower ? lower_cp(cp) : cp);
        }
    }
    return out;
}

std::vector<std::string> split_text(const std::string& s, const std::string& mode) {
    std::vector<std::string> out;
    if (mode == "none") {
        out.push_back(s);
    } else if (mode == "character") {
        for (size_t i = 0; i < s.size();) {
            const size_t b = i;
            next_cp(s, i);
            out.emplace_back(s, b, i - b);
        }
    } else {
        size_t i = 0;
        while (i < s.size()) {
            while (i < s.size() && ascii_space(static_cast<unsigned char>(s[i]))) ++i;
            const size_t b = i;
            while (i < s.size() && !ascii_space(static_cast<unsigned char>(s[i]))) ++i;
            if (i > b) out.emplace_back(s, b, i - b);
        }
    }
    return out;
}

std::vector<std::string> text_tokens(const std::string& s, const TextSchema& t) {
    std::vector<std::string> words = split_text(standardize_text(s, t.standardize), t.split);
    if (t.ngrams <= 1) return words;
    std::vector<std::string> out = words;
    for (int w = 2; w <= t.ngrams; ++w)
        for (size_t i = 0; i + size_t(w) <= words.size(); ++i) {
            std::string g = words[i];
            for (int k = 1; k < w; ++k) g += ' ' + words[i + size_t(k)];
            out.push_back(std::move(g));
        }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Vocabulary

void fit_vocabulary(TextSchema& t, const std::vector<std::string>& texts) {
    const bool int_mode = t.output_mode == "int";
    std::unordered_map<std::string, std::pair<long long, long long>> counts;  // token → (count, documents)
    size_t longest = 0;
    std::vector<std::string> seen;
    for (const auto& text : texts) {
        std::vector<std::string> toks = text_tokens(text, t);
        longest = std::max(longest, toks.size());
        for (const auto& k : toks) ++counts[k].first;
        if (t.output_mode == "tf_idf") {
            std::sort(toks.begin(), toks.end());
            toks.erase(std::unique(toks.begin(), toks.end()), toks.end());
            for (const auto& k : toks) ++counts[k].second;
        }
    }
    counts.erase("");  // the special tokens are never learned
    counts.erase("[UNK]");
    std::vector<std::pair<std::string, std::pair<long long, long long>>> order(counts.begin(), counts.end());
    std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
        if (a.second.first != b.second.first) return a.second.first > b.second.first;
        return a.first > b.first;  // as Keras: ties in reverse order of the tokens' bytes
    });
    const size_t start = int_mode ? 2 : 1;
    if (t.max_tokens > 0 && order.size() > size_t(t.max_tokens) - start) order.resize(size_t(t.max_tokens) - start);
    t.vocabulary.clear();
    if (int_mode) t.vocabulary.push_back("");
    t.vocabulary.push_back("[UNK]");
    for (const auto& o : order) t.vocabulary.push_back(o.first);
    t.idf.clear();
    if (t.output_mode == "tf_idf") {
        const double docs = double(texts.size());
        double sum = 0.0;
        std::vector<double> w;
        for (const auto& o : order) {
            w.push_back(std::log(1.0 + docs / (1.0 + double(o.second.second))));
            sum += w.back();
        }
        t.idf.push_back(w.empty() ? 0.0 : sum / double(w.size()));  // OOV: the mean, as Keras
        t.idf.insert(t.idf.end(), w.begin(), w.end());
        if (t.pad_to_max_tokens && t.max_tokens > 0) t.idf.resize(size_t(t.max_tokens), 0.0);
    }
    if (int_mode && t.output_sequence_length == 0) t.output_sequence_length = int64_t(std::max<size_t>(longest, 1));
}

TextVectorizer::TextVectorizer(const TextSchema& t) : t_(t) {
    index_.reserve(t.vocabulary.size());
    for (size_t i = 0; i < t.vocabulary.size(); ++i) index_.emplace(t.vocabulary[i], int64_t(i));
    if (t.output_mode == "int") width_ = t.output_sequence_length;
    else width_ = t.pad_to_max_tokens && t.max_tokens > 0 ? t.max_tokens : int64_t(t.vocabulary.size());
}

int64_t TextVectorizer::lookup(const std::string& token) const {
    const bool int_mode = t_.output_mode == "int";
    if (int_mode && token.empty()) return 0;
    auto it = index_.find(token);
    if (it == index_.end() || (int_mode && it->second == 0)) return int_mode ? 1 : 0;
    return it->second;
}

void TextVectorizer::encode(const std::string& text, float* out) const {
    std::fill(out, out + width_, 0.0f);
    const std::vector<std::string> toks = text_tokens(text, t_);
    if (t_.output_mode == "int") {
        const size_t n = std::min(toks.size(), size_t(width_));
        for (size_t i = 0; i < n; ++i) out[i] = float(lookup(toks[i]));
        return;
    }
    for (const auto& k : toks) {
        const int64_t i = lookup(k);
        if (t_.output_mode == "multi_hot") out[i] = 1.0f;
        else out[i] += 1.0f;
    }
    if (t_.output_mode == "tf_idf")
        for (int64_t i = 0; i < width_; ++i)
            if (out[i] != 0.0f) out[i] = float(double(out[i]) * t_.idf[size_t(i)]);
}

// ---------------------------------------------------------------------------------------------
// Reading

namespace {

bool ends_with(const std::string& s, const char* x) {
    const size_t n = std::strlen(x);
    return s.size() >= n && s.compare(s.size() - n, n, x) == 0;
}

std::string strip_bom(std::string s) {
    if (s.size() >= 3 && s.compare(0, 3, "\xEF\xBB\xBF") == 0) s.erase(0, 3);
    return s;
}

/// Offsets of the top-level elements of the JSON array in `s` (already known to parse), for line numbers.
std::vector<size_t> array_element_offsets(const std::string& s) {
    std::vector<size_t> out;
    int depth = 0;
    bool in_str = false, esc = false, want = false;
    for (size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (in_str) {
            if (esc) esc = false;
            else if (c == '\\') esc = true;
            else if (c == '"') in_str = false;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
        if (depth == 1 && want && c != ']') {
            out.push_back(i);
            want = false;
        }
        if (c == '"') in_str = true;
        else if (c == '[' || c == '{') {
            if (++depth == 1) want = true;
        } else if (c == ']' || c == '}') --depth;
        else if (c == ',' && depth == 1) want = true;
    }
    return out;
}

/// What a JSON value says as text: a string, a number's source text, true/false; null: nothing.
bool json_text(const JsonValue& v, std::string& out, const std::string& where, const std::string& key) {
    switch (v.type) {
    case JsonValue::Type::Null: return false;
    case JsonValue::Type::String: out = v.text; return true;
    case JsonValue::Type::Number: out = v.text; return true;
    case JsonValue::Type::Bool: out = v.boolean ? "true" : "false"; return true;
    default: throw DataError(where + ": \"" + key + "\" must be a string, number or null, not a list or object");
    }
}

std::string key_list(const JsonValue& o) {
    std::string k;
    for (const auto& m : o.members) k += (k.empty() ? "" : ", ") + m.first;
    return k.empty() ? "none" : k;
}

struct Reader {
    const DataSourceConfig& src;
    bool need_target;
    std::vector<TextRow>& rows;
    std::unordered_set<std::string> seen;
    long long missing = 0, duplicates = 0;

    /// Keep a row read at `where` unless missing: drop or deduplicate says otherwise.
    void add(bool has_text, std::string text, bool has_target, std::string target, const std::string& where) {
        if (!has_text || (need_target && !has_target)) {
            if (src.missing != "drop")
                throw DataError(where + ": missing " + (!has_text ? "text" : "target") + " (null, empty or NA; set " +
                                "missing: drop on the source to skip such rows)");
            ++missing;
            return;
        }
        if (src.deduplicate && !seen.insert(text).second) {
            ++duplicates;
            return;
        }
        rows.push_back({std::move(text), std::move(target), has_target, where});
    }

    void json_record(const JsonValue& v, const std::string& where) {
        if (!v.is_object())
            throw DataError(where + ": expected a JSON object with \"" + src.text_column + "\"" +
                            (need_target && !src.target.empty() ? " and \"" + src.target + "\"" : std::string()) + " keys");
        const JsonValue* t = v.find(src.text_column);
        if (!t) throw DataError(where + ": no key \"" + src.text_column + "\" (its keys: " + key_list(v) + ")");
        std::string text, target;
        const bool has_text = json_text(*t, text, where, src.text_column);
        bool has_target = false;
        if (need_target) {
            const JsonValue* g = v.find(src.target);
            if (!g) throw DataError(where + ": no key \"" + src.target + "\" (its keys: " + key_list(v) + ")");
            has_target = json_text(*g, target, where, src.target) && !target.empty();
        }
        add(has_text, std::move(text), has_target, std::move(target), where);
    }

    void json_file(const std::string& file) {
        const std::string text = strip_bom(read_input(src.path));
        check_utf8(text, file, 1);
        const size_t first = text.find_first_not_of(" \t\r\n");
        if (first != std::string::npos && text[first] == '[') {  // one JSON array of objects
            JsonValue doc;
            try {
                doc = parse_json(text);
            } catch (const std::exception& e) {
                throw DataError(file + ": " + e.what());
            }
            const std::vector<size_t> at = array_element_offsets(text);
            for (size_t i = 0; i < doc.items.size(); ++i) {
                const long long line =
                    i < at.size() ? 1 + std::count(text.begin(), text.begin() + long(at[i]), '\n') : 0;
                json_record(doc.items[i], file + ":" + std::to_string(line) + " (record " + std::to_string(i + 1) + ")");
            }
            return;
        }
        long long line = 0;
        for (size_t b = 0; b < text.size();) {  // JSON lines
            size_t e = text.find('\n', b);
            if (e == std::string::npos) e = text.size();
            ++line;
            const std::string one = text.substr(b, e - b);
            b = e + 1;
            if (one.find_first_not_of(" \t\r") == std::string::npos) continue;
            const std::string where = file + ":" + std::to_string(line);
            JsonValue v;
            try {
                v = parse_json(one);
            } catch (const std::exception& ex) {
                throw DataError(where + ": " + ex.what());
            }
            json_record(v, where);
        }
    }

    int column(const std::string& spec, const std::vector<std::string>& names, const std::string& file,
               const char* what) const {
        auto it = std::find(names.begin(), names.end(), spec);
        if (it != names.end()) return int(it - names.begin());
        if (!spec.empty() && std::all_of(spec.begin(), spec.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
            std::stol(spec) < long(names.size()))
            return int(std::stol(spec));
        std::string list;
        for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
        throw ConfigError(src.where + ": " + what + " column '" + spec + "' is not in " + file + " (" +
                          (src.header ? "columns: " + list : std::to_string(names.size()) + " columns, by index from 0") +
                          ")");
    }

    void csv_file() {
        CsvReader reader(src.path, src.delimiter);
        const std::string file = reader.display();
        CsvRecord rec;
        std::vector<std::string> names;
        bool have = reader.next(rec);
        if (!have) throw DataError(file + ": empty file");
        if (src.header) {
            for (const auto& f : rec.fields) {
                check_utf8(f.text, file, rec.line, f.col);
                names.push_back(f.text);
            }
            have = reader.next(rec);
        } else {
            for (size_t c = 0; c < rec.fields.size(); ++c) names.push_back("column " + std::to_string(c));
        }
        const int tc = column(src.text_column, names, file, "text");
        const int gc = need_target ? column(src.target, names, file, "target") : -1;
        for (; have; have = reader.next(rec)) {
            const std::string where = file + ":" + std::to_string(rec.line);
            if (rec.fields.size() != names.size())
                throw DataError(where + ": expected " + std::to_string(names.size()) + " fields, found " +
                                std::to_string(rec.fields.size()));
            const CsvField& t = rec.fields[size_t(tc)];
            check_utf8(t.text, file, rec.line, t.col);
            bool has_target = false;
            std::string target;
            if (gc >= 0) {
                const CsvField& g = rec.fields[size_t(gc)];
                check_utf8(g.text, file, rec.line, g.col);
                target = g.text;
                has_target = !is_missing_token(target);
            }
            add(true, t.text, has_target, std::move(target), where);
        }
    }

    void folder(std::vector<std::string>* classes) {
        std::vector<std::string> names;
        for (const auto& n : folder_entries(src.path))
            if (is_directory(src.path + "/" + n)) names.push_back(n);
        if (names.empty())
            throw DataError(src.path + ": no class sub-folders (expected " + src.path + "/<class name>/<text files>.txt)");
        for (const auto& c : names)
            for (const auto& f : folder_entries(src.path + "/" + c)) {
                const std::string p = src.path + "/" + c + "/" + f;
                if (!ends_with(f, ".txt") || is_directory(p)) continue;
                std::string text = strip_bom(read_input(p));
                check_utf8(text, p, 1);
                add(true, std::move(text), true, c, p);
            }
        if (classes) *classes = names;
    }
};

}  // namespace

std::vector<TextRow> read_text_rows(const DataSourceConfig& src, bool need_target, std::vector<std::string>* classes,
                                    const std::string& kind) {
    std::vector<TextRow> rows;
    Reader r{src, need_target, rows, {}, 0, 0};
    struct stat st {};
    if (::stat(src.path.c_str(), &st) != 0 && src.path != "-")
        throw DataError(src.path + ": no such file or folder (" + src.where + ")");
    const std::string file = src.path == "-" ? "<stdin>" : src.path;
    if (kind == "json") r.json_file(file);
    else if (kind == "csv") r.csv_file();
    else if (is_directory(src.path)) r.folder(classes);
    else if (ends_with(src.path, ".json") || ends_with(src.path, ".jsonl") || ends_with(src.path, ".ndjson") ||
             ends_with(src.path, ".json.gz") || ends_with(src.path, ".jsonl.gz"))
        r.json_file(file);
    else r.csv_file();
    if (rows.empty())
        throw DataError(file + ": no texts" +
                        (r.missing || r.duplicates ? " left after dropping " + std::to_string(r.missing) +
                                                         " with a missing value and " + std::to_string(r.duplicates) +
                                                         " duplicates"
                                                   : std::string()));
    return rows;
}

// ---------------------------------------------------------------------------------------------
// Data sets

namespace {

/// Fit the targets' encoding into `s` (task, class names) from the training rows.
void fit_targets(const std::vector<TextRow>& rows, const std::vector<int>& idx, const DataSourceConfig& src,
                 bool want_classes, const std::vector<std::string>& folder_classes, DataSchema& s) {
    if (!folder_classes.empty()) {
        s.task = "classification";
        s.class_names = folder_classes;
        return;
    }
    bool numeric = true, integers = true;
    for (int i : idx) {
        double v;
        if (!parse_number(rows[size_t(i)].target, v) || !std::isfinite(v)) numeric = integers = false;
        else if (v < 0 || v != std::floor(v) || v > 1e6) integers = false;
    }
    if (!want_classes && numeric) {
        s.task = "regression";
        s.outputs = 1;
        return;
    }
    s.task = "classification";
    if (!src.class_names.empty()) {
        s.class_names = src.class_names;
        s.text.integer_labels = integers;
        return;
    }
    std::vector<std::string> classes;
    for (int i : idx) classes.push_back(rows[size_t(i)].target);
    std::sort(classes.begin(), classes.end(), [&](const std::string& a, const std::string& b) {
        double x, y;
        if (numeric && parse_number(a, x) && parse_number(b, y)) return x < y;
        return a < b;
    });
    classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
    if (numeric)  // "1" and "1.0" are one class
        classes.erase(std::unique(classes.begin(), classes.end(),
                                  [](const std::string& a, const std::string& b) {
                                      double x, y;
                                      return parse_number(a, x) && parse_number(b, y) && x == y;
                                  }),
                      classes.end());
    s.class_names = classes;
}

int class_index(const DataSchema& s, const TextRow& r) {
    if (s.text.integer_labels) {
        double v;
        if (parse_number(r.target, v) && v >= 0 && v == std::floor(v) && v < double(s.class_names.size())) return int(v);
        throw DataError(r.where + ": label " + quote_input(r.target) + " is not a class index 0.." +
                        std::to_string(s.class_names.size() - 1) + " (class_names has " +
                        std::to_string(s.class_names.size()) + ")");
    }
    auto it = std::find(s.class_names.begin(), s.class_names.end(), r.target);
    if (it != s.class_names.end()) return int(it - s.class_names.begin());
    double v, w;
    if (parse_number(r.target, v))  // 1.0 for class "1"
        for (size_t k = 0; k < s.class_names.size(); ++k)
            if (parse_number(s.class_names[k], w) && v == w) return int(k);
    std::string list;
    for (size_t k = 0; k < s.class_names.size() && k < 20; ++k) list += (k ? ", " : "") + s.class_names[k];
    throw DataError(r.where + ": class " + quote_input(r.target) + " is not one of the model's classes (" + list +
                    (s.class_names.size() > 20 ? ", ..." : "") + ")");
}

Dataset vectorize(const std::vector<TextRow>& rows, const std::vector<int>& idx, const DataSchema& s) {
    TextVectorizer v(s.text);
    Dataset d;
    d.x.resize(Eigen::Index(idx.size()), Eigen::Index(v.width()));
    for (size_t i = 0; i < idx.size(); ++i) v.encode(rows[size_t(idx[i])].text, d.x.row(Eigen::Index(i)).data());
    if (s.is_classification()) {
        d.class_names = s.class_names;
        d.num_classes = int(s.class_names.size());
        d.labels.resize(idx.size());
        for (size_t i = 0; i < idx.size(); ++i) d.labels[i] = class_index(s, rows[size_t(idx[i])]);
    } else {
        d.y.resize(Eigen::Index(idx.size()), 1);
        for (size_t i = 0; i < idx.size(); ++i) {
            const TextRow& r = rows[size_t(idx[i])];
            double y;
            if (!parse_number(r.target, y) || !std::isfinite(y))
                throw DataError(r.where + ": target " + quote_input(r.target) + " is not a finite number");
            d.y(Eigen::Index(i), 0) = float(y);
        }
    }
    return d;
}

}  // namespace

DataSplits load_text_data(const DataConfig& cfg, bool want_classes, uint64_t seed) {
    const DataSourceConfig& src = cfg.train;
    std::vector<std::string> folder_classes;
    const std::vector<TextRow> rows = read_text_rows(src, true, &folder_classes);
    std::vector<int> train = kept_rows(int(rows.size()), src, Rng::derive(seed, 11)), test, validation;
    if (!cfg.test && cfg.test_split > 0.0) test = split_off(train, cfg.test_split, cfg.split_shuffle, Rng::derive(seed, 7), "test");
    if (!cfg.validation && cfg.validation_split > 0.0)
        validation = split_off(train, cfg.validation_split, cfg.split_shuffle, Rng::derive(seed, 8), "validation");

    DataSplits s;
    DataSchema& sc = s.schema;
    sc.format = "text";
    sc.delimiter = src.delimiter;
    sc.header = src.header;
    sc.missing = src.missing;
    TextSchema& t = sc.text;
    t.column = src.text_column;
    t.target = folder_classes.empty() ? src.target : "";
    t.standardize = src.standardize;
    t.split = src.split;
    t.ngrams = int(src.ngrams);
    t.output_mode = src.output_mode;
    t.output_sequence_length = src.output_sequence_length;
    t.max_tokens = src.max_tokens;
    t.pad_to_max_tokens = src.pad_to_max_tokens;
    fit_targets(rows, train, src, want_classes, folder_classes, sc);
    std::vector<std::string> texts;  // the vocabulary sees the training rows only
    texts.reserve(train.size());
    for (int i : train) texts.push_back(rows[size_t(i)].text);
    fit_vocabulary(t, texts);
    sc.width = TextVectorizer(t).width();

    s.train = vectorize(rows, train, sc);
    if (!test.empty()) s.test = vectorize(rows, test, sc);
    if (!validation.empty()) s.validation = vectorize(rows, validation, sc);
    if (cfg.test) s.test = load_text_with_schema(*cfg.test, sc);
    if (cfg.validation) s.validation = load_text_with_schema(*cfg.validation, sc);
    return s;
}

Dataset load_text_with_schema(const DataSourceConfig& src, const DataSchema& schema) {
    const std::vector<TextRow> rows = read_text_rows(src, true);
    return vectorize(rows, kept_rows(int(rows.size()), src, 0), schema);
}

}  // namespace nnctl
