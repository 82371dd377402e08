#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/error.hpp"
#include "core/limits.hpp"
#include "data/csv_encoder.hpp"
#include "data/dataset.hpp"

namespace nnctl {

namespace {
std::string loc(const std::string& file, const CsvRecord& r, const CsvField& f) {
    return file + ":" + std::to_string(r.line) + ":" + std::to_string(f.col);
}

bool all_digits(const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}
}  // namespace

CsvEncoder::CsvEncoder(const DataSchema& schema, const std::vector<std::string>& header, std::string display,
                       bool require_target)
    : s_(schema), display_(std::move(display)) {
    schema_targets_ = s_.target_fields();
    if (header.empty()) {
        for (const auto& c : s_.columns) pos_.push_back(c.index);
        targets_ = schema_targets_;
        expected_ = size_t(s_.input_columns);
        if (!require_target) {
            // Without a header a row may leave out the target column: accept both widths.
            expected_ = 0;
        }
        return;
    }
    expected_ = header.size();
    auto find = [&](const std::string& n) {
        auto it = std::find(header.begin(), header.end(), n);
        return it == header.end() ? -1 : int(it - header.begin());
    };
    std::vector<std::string> missing;
    for (const auto& c : s_.columns) {
        int p = find(c.name);
        if (p < 0) missing.push_back(c.name);
        pos_.push_back(p);
    }
    if (!missing.empty()) {
        std::string m;
        for (const auto& n : missing) m += (m.empty() ? "" : ", ") + n;
        throw DataError(display_ + ":1: missing column(s) the model was trained on: " + m);
    }
    std::vector<std::string> target_names;
    for (const auto& t : s_.targets) target_names.push_back(t.name);
    if (s_.targets.empty() && !s_.target.empty()) target_names.push_back(s_.target);
    for (const auto& n : target_names) {
        const int p = find(n);
        if (p >= 0) targets_.push_back(p);
        else if (require_target) throw DataError(display_ + ":1: missing the target column '" + n + "'");
    }
    if (targets_.size() != target_names.size()) targets_.clear();  // prediction input without (all) its targets
}

void CsvEncoder::check_fields(const CsvRecord& rec) const {
    if (expected_ > 0 && rec.fields.size() != expected_)
        throw DataError(display_ + ":" + std::to_string(rec.line) + ": expected " + std::to_string(expected_) +
                        " fields, found " + std::to_string(rec.fields.size()));
    if (expected_ == 0) {  // headerless prediction input: with or without the target column
        size_t with = size_t(s_.input_columns), without = size_t(s_.input_columns) - schema_targets_.size();
        if (rec.fields.size() != with && rec.fields.size() != without)
            throw DataError(display_ + ":" + std::to_string(rec.line) + ": expected " + std::to_string(without) +
                            (with != without ? " or " + std::to_string(with) : std::string()) + " fields, found " +
                            std::to_string(rec.fields.size()));
    }
}

bool CsvEncoder::has_missing(const CsvRecord& rec) const {
    for (int p : pos_)
        if (size_t(p) < rec.fields.size() && is_missing_token(rec.fields[size_t(p)].text)) return true;
    return false;
}

void CsvEncoder::encode(const CsvRecord& rec, float* out) const {
    check_fields(rec);
    // Headerless input without the target columns: positions after each target shift left by one.
    const bool shifted = expected_ == 0 && !schema_targets_.empty() &&
                         rec.fields.size() == size_t(s_.input_columns) - schema_targets_.size();
    size_t o = 0;
    for (size_t k = 0; k < s_.columns.size(); ++k) {
        const FeatureColumn& c = s_.columns[k];
        int p = pos_[k];
        if (shifted) p -= int(std::count_if(schema_targets_.begin(), schema_targets_.end(), [&](int t) { return t < pos_[k]; }));
        const CsvField& f = rec.fields[size_t(p)];
        const bool missing = is_missing_token(f.text);
        if (c.categorical) {
            std::fill(out + o, out + o + c.categories.size(), 0.0f);
            if (missing) {
                if (s_.missing != "mean")
                    throw DataError(loc(display_, rec, f) + ": column " + quote_input(c.name) + ": missing value (set data." +
                                    "train.missing to drop or mean)");
            } else {
                auto it = std::lower_bound(c.categories.begin(), c.categories.end(), f.text);
                if (it == c.categories.end() || *it != f.text)
                    throw DataError(loc(display_, rec, f) + ": column " + quote_input(c.name) + ": category " + quote_input(f.text) +
                                    " was not in the training data");
                out[o + size_t(it - c.categories.begin())] = 1.0f;
            }
            o += c.categories.size();
            continue;
        }
        double v;
        if (missing) {
            if (std::isnan(c.fill))
                throw DataError(loc(display_, rec, f) + ": column " + quote_input(c.name) + ": missing value");
            v = c.fill;
        } else if (!parse_number(f.text, v) || !std::isfinite(v)) {
            throw DataError(loc(display_, rec, f) + ": column " + quote_input(c.name) + ": not a finite number: " + quote_input(f.text));
        }
        out[o++] = float(v);
    }
}

namespace {

/// Resolve a column given by name, or by 0-based index (always allowed without a header).
int resolve_column(const std::string& spec, const std::vector<std::string>& names, bool header, const std::string& where,
                   const std::string& file, const char* what) {
    auto it = std::find(names.begin(), names.end(), spec);
    if (it != names.end()) return int(it - names.begin());
    if (all_digits(spec)) {
        long idx = std::stol(spec);
        if (idx < long(names.size())) return int(idx);
    }
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw ConfigError(where + ": " + what + " column '" + spec + "' is not in " + file + " (" +
                      (header ? "columns: " + list : std::to_string(names.size()) + " columns, by index from 0") + ")");
}

/// Target column `tf` of `rows` into d: class labels (d.labels, class_names, num_classes) or values
/// (d.y, one column). `fitted_task`: the fitted schema's task (null while fitting, when the loss's
/// want_classes and the column's contents decide); `fitted_classes`: its class names.
void decode_target(const std::vector<const CsvRecord*>& rows, int tf, const std::string& tname, const std::string& file,
                   bool want_classes, const std::string* fitted_task, const std::vector<std::string>* fitted_classes,
                   const std::vector<std::string>& src_class_names, Dataset& d, std::string& task) {
    std::vector<double> num(rows.size());
    bool all_numeric = true;
    for (size_t i = 0; i < rows.size(); ++i)
        if (!parse_number(rows[i]->fields[size_t(tf)].text, num[i]) || !std::isfinite(num[i])) all_numeric = false;
    const bool regression = fitted_task ? *fitted_task != "classification" : (!want_classes && all_numeric);
    task = regression ? "regression" : "classification";
    if (regression) {
        if (!all_numeric)
            for (size_t i = 0; i < rows.size(); ++i) {
                double v;
                const CsvField& f = rows[i]->fields[size_t(tf)];
                if (!parse_number(f.text, v) || !std::isfinite(v))
                    throw DataError(loc(file, *rows[i], f) + ": target '" + tname + "': not a finite number: " + quote_input(f.text));
            }
        d.y.resize(Eigen::Index(rows.size()), 1);
        for (size_t i = 0; i < rows.size(); ++i) d.y(Eigen::Index(i), 0) = float(num[i]);
        return;
    }
    std::vector<std::string> raw(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) raw[i] = rows[i]->fields[size_t(tf)].text;
    std::vector<std::string> classes;
    if (fitted_task) {
        classes = *fitted_classes;
    } else if (!src_class_names.empty() && all_numeric) {
        labels_from_integers(d, num, src_class_names, file + ": target '" + tname + "'");
        return;
    } else if (!src_class_names.empty()) {
        classes = src_class_names;
    } else {  // sorted, numerically when every label is a number (like scikit-learn's LabelEncoder)
        classes = raw;
        std::sort(classes.begin(), classes.end(), [&](const std::string& a, const std::string& b) {
            double x, y;
            if (all_numeric && parse_number(a, x) && parse_number(b, y)) return x < y;
            return a < b;
        });
        classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
    }
    std::map<std::string, int> index;
    for (size_t i = 0; i < classes.size(); ++i) index[classes[i]] = int(i);
    d.labels.resize(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
        auto it = index.find(raw[i]);
        if (it == index.end())
            throw DataError(loc(file, *rows[i], rows[i]->fields[size_t(tf)]) + ": class '" + raw[i] +
                            "' is not one of the model's classes");
        d.labels[i] = it->second;
    }
    d.class_names = classes;
    d.num_classes = int(classes.size());
}

}  // namespace

Dataset load_csv(const DataSourceConfig& src, bool want_classes, const DataSchema* fitted, DataSchema* fit_out) {
    CsvReader reader(src.path, src.delimiter);
    const std::string file = reader.display();
    std::vector<CsvRecord> recs;
    CsvRecord r;
    std::vector<std::string> header;
    if (src.header) {
        if (!reader.next(r)) throw DataError(file + ": empty CSV file (a header row is expected; header: false if none)");
        for (auto& f : r.fields) header.push_back(f.text);
    }
    // A row with the wrong number of fields is refused as it is read, not after the whole file.
    size_t ncols = src.header ? header.size() : 0;
    while (reader.next(r)) {
        if (ncols == 0) ncols = r.fields.size();
        if (r.fields.size() != ncols)
            throw DataError(file + ":" + std::to_string(r.line) + ": expected " + std::to_string(ncols) + " fields, found " +
                            std::to_string(r.fields.size()));
        recs.push_back(std::move(r));
    }
    if (recs.empty()) throw DataError(file + ": no data rows");
    std::vector<std::string> names = header;
    if (!src.header)
        for (size_t c = 0; c < ncols; ++c) names.push_back("column " + std::to_string(c));

    DataSchema local;
    if (!fitted) {
        // Fit: columns, their kinds and categories, fill values, classes.
        DataSchema& s = local;
        s.format = "csv";
        s.delimiter = src.delimiter;
        s.header = src.header;
        s.input_columns = int(ncols);
        s.missing = src.missing;
        std::vector<int> target_cols;
        if (src.target_list.empty()) {
            s.target_index = resolve_column(src.target, names, src.header, src.where, file, "target");
            s.target = src.header ? names[size_t(s.target_index)] : "";
            target_cols.push_back(s.target_index);
        } else {
            for (const auto& t : src.target_list) {
                TargetColumn tc;
                tc.index = resolve_column(t, names, src.header, src.where, file, "target");
                tc.name = names[size_t(tc.index)];
                if (std::find(target_cols.begin(), target_cols.end(), tc.index) != target_cols.end())
                    throw ConfigError(src.where + ": target column '" + tc.name + "' is listed twice");
                target_cols.push_back(tc.index);
                s.targets.push_back(tc);
            }
        }
        std::vector<int> feat;
        if (src.feature_columns.empty()) {
            for (int c = 0; c < int(ncols); ++c)
                if (std::find(target_cols.begin(), target_cols.end(), c) == target_cols.end()) feat.push_back(c);
        } else {
            for (const auto& n : src.feature_columns) feat.push_back(resolve_column(n, names, src.header, src.where, file, "feature"));
        }
        std::set<int> forced;
        for (const auto& n : src.categorical) forced.insert(resolve_column(n, names, src.header, src.where, file, "categorical"));
        if (feat.empty()) throw ConfigError(src.where + ": no feature columns left in " + file);
        for (int c : feat) {
            FeatureColumn col;
            col.name = names[size_t(c)];
            col.index = c;
            std::set<std::string> values;
            double sum = 0.0;
            long long count = 0, text = 0;
            const CsvRecord* first_text = nullptr;
            for (const auto& rec : recs) {
                const CsvField& f = rec.fields[size_t(c)];
                if (is_missing_token(f.text)) continue;
                double v;
                if (parse_number(f.text, v)) {
                    if (!std::isfinite(v) && !forced.count(c))
                        throw DataError(loc(file, rec, f) + ": column " + quote_input(names[size_t(c)]) +
                                        ": not a finite number: " + quote_input(f.text));
                    sum += v, ++count;
                } else if (text++ == 0) {
                    first_text = &rec;
                }
                values.insert(f.text);
            }
            // A text column is categorical; a mostly numeric column with a stray word is a typo.
            if (text > 0 && count > text && !forced.count(c)) {
                const CsvField& f = first_text->fields[size_t(c)];
                throw DataError(loc(file, *first_text, f) + ": column " + quote_input(names[size_t(c)]) + ": not a finite number: " +
                                quote_input(f.text) + " (the column is otherwise numeric; list it under categorical: if it is "
                                "a category)");
            }
            const bool numeric = text == 0;
            col.categorical = !numeric || forced.count(c);
            if (col.categorical) {
                col.categories.assign(values.begin(), values.end());
                if (col.categories.size() > 10000)
                    throw DataError(file + ": column " + quote_input(col.name) + " has " + std::to_string(col.categories.size()) +
                                    " distinct text values; it looks like an identifier, not a category (list the "
                                    "features to use with data.train.features)");
                for (const auto& v : col.categories) s.feature_names.push_back(col.name + "=" + v);
            } else {
                if (src.missing == "mean" && count > 0) col.fill = sum / double(count);
                s.feature_names.push_back(col.name);
            }
            s.columns.push_back(std::move(col));
        }
        s.width = int64_t(s.feature_names.size());
        fitted = &local;
    }
    const DataSchema& s = *fitted;
    CsvEncoder enc(s, header, file, true);
    const int tf = enc.target_field();
    const std::vector<int>& tfs = enc.target_fields();

    // Encode in file order, so the first problem reported is the first in the file; the drop policy
    // skips rows with a missing feature or target.
    Dataset d;
    d.feature_names = s.feature_names;
    d.x.resize(Eigen::Index(recs.size()), Eigen::Index(s.width));
    std::vector<const CsvRecord*> rows;
    for (const auto& rec : recs) {
        int missing_target = -1;
        for (int t : tfs)
            if (missing_target < 0 && is_missing_token(rec.fields[size_t(t)].text)) missing_target = t;
        if (s.missing == "drop" && (missing_target >= 0 || enc.has_missing(rec))) continue;
        enc.encode(rec, d.x.row(Eigen::Index(rows.size())).data());
        if (missing_target >= 0)
            throw DataError(loc(file, rec, rec.fields[size_t(missing_target)]) + ": target '" + names[size_t(missing_target)] +
                            "': missing value (rows without a target can be dropped with data.train.missing: drop)");
        rows.push_back(&rec);
    }
    if (rows.empty()) throw DataError(file + ": no rows left after dropping rows with missing values");
    d.x.conservativeResize(Eigen::Index(rows.size()), Eigen::NoChange);

    if (fit_out) *fit_out = s;
    if (s.targets.empty()) {
        std::string task;
        decode_target(rows, tf, names[size_t(tf)], file, want_classes, fitted != &local ? &s.task : nullptr,
                      &s.class_names, src.class_names, d, task);
        if (fit_out) {
            fit_out->task = task;
            if (task == "regression") fit_out->outputs = 1;
            else fit_out->class_names = d.class_names;
        }
        return d;
    }
    // Several outputs: one target column each (their losses say which want classes).
    for (size_t k = 0; k < s.targets.size(); ++k) {
        const TargetColumn& t = s.targets[k];
        const bool classes = k < src.target_classes.size() ? bool(src.target_classes[k]) : want_classes;
        Dataset part;
        std::string task;
        decode_target(rows, tfs[k], t.name, file, classes, fitted != &local ? &t.task : nullptr, &t.class_names,
                      src.class_names, part, task);
        if (fit_out) {
            fit_out->targets[k].task = task;
            fit_out->targets[k].class_names = part.class_names;
        }
        d.targets.push_back(std::move(part));
    }
    if (fit_out) {  // the first target also as the schema's own, for code that reads one
        fit_out->task = fit_out->targets[0].task;
        fit_out->class_names = fit_out->targets[0].class_names;
        fit_out->outputs = fit_out->targets[0].is_classification() ? 0 : 1;
    }
    return d;
}

}  // namespace nnctl
