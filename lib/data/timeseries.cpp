// Time series sources (Keras' timeseries_dataset_from_array, plus a split by time): reading a
// series from CSV, dates, missing values, windows, per-column scaling and the baselines' forecasts.
#include "data/timeseries.hpp"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <tuple>

#include "core/error.hpp"
#include "core/limits.hpp"
#include "core/json.hpp"
#include "data/csv_reader.hpp"

namespace nnctl {

namespace {

std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
    return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

bool digits(const std::string& s, size_t b, size_t n) {
    for (size_t i = b; i < b + n; ++i)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

/// Days since 1970-01-01 of a real calendar date (timegm normalizes 2021-02-30 to March: refused).
bool civil_days(int y, int m, int d, double& days) {
    if (m < 1 || m > 12 || d < 1 || d > 31) return false;
    struct tm t {};
    t.tm_year = y - 1900, t.tm_mon = m - 1, t.tm_mday = d, t.tm_hour = 12;
    const time_t secs = timegm(&t);
    struct tm back {};
    if (!gmtime_r(&secs, &back) || back.tm_year != y - 1900 || back.tm_mon != m - 1 || back.tm_mday != d) return false;
    days = std::floor(double(secs) / 86400.0);
    return true;
}

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
}

std::vector<std::string> read_header(const std::string& path, char delimiter, std::string& file) {
    CsvReader reader(path, delimiter);
    file = reader.display();
    CsvRecord rec;
    if (!reader.next(rec)) throw DataError(file + ": empty file (a header row naming the columns is expected)");
    std::vector<std::string> h;
    for (const auto& f : rec.fields) h.push_back(trim(f.text));
    return h;
}

void keep_first_rows(Series& s, Eigen::Index n) {
    if (n <= 0 || n >= s.rows()) return;
    s.values.conservativeResize(n, Eigen::NoChange);
    s.lines.resize(size_t(n));
    if (!s.dates.empty()) s.dates.resize(size_t(n)), s.date_text.resize(size_t(n));
}

std::string window_needs(const SeriesSchema& s) {
    return std::to_string(s.span() + s.horizon) + " rows (sequence_length " + std::to_string(s.sequence_length) +
           ", sampling_rate " + std::to_string(s.sampling_rate) + ": " + std::to_string(s.span()) +
           " rows of inputs, then horizon " + std::to_string(s.horizon) + ")";
}

}  // namespace

bool parse_date(const std::string& text, std::string& kind, double& value) {
    const std::string t = trim(text);
    auto iso = [&] {
        return t.size() == 10 && t[4] == '-' && t[7] == '-' && digits(t, 0, 4) && digits(t, 5, 2) && digits(t, 8, 2) &&
               civil_days(std::stoi(t.substr(0, 4)), std::stoi(t.substr(5, 2)), std::stoi(t.substr(8, 2)), value);
    };
    auto compact = [&] {
        return t.size() == 8 && digits(t, 0, 8) &&
               civil_days(std::stoi(t.substr(0, 4)), std::stoi(t.substr(4, 2)), std::stoi(t.substr(6, 2)), value);
    };
    auto number = [&] { return parse_number(t, value) && std::isfinite(value); };
    if (kind.empty()) {
        if (iso()) kind = "iso";
        else if (compact()) kind = "compact";
        else if (number()) kind = "number";
        else return false;
        return true;
    }
    if (kind == "iso") return iso();
    if (kind == "compact") return compact();
    return number();
}

std::string format_date(double value, const std::string& kind) {
    if (kind != "iso" && kind != "compact") return format_number(value);
    const time_t secs = time_t(value) * 86400 + 43200;
    struct tm t {};
    gmtime_r(&secs, &t);
    char buf[32];
    std::snprintf(buf, sizeof buf, kind == "iso" ? "%04d-%02d-%02d" : "%04d%02d%02d", t.tm_year + 1900, t.tm_mon + 1,
                  t.tm_mday);
    return buf;
}

SeriesSchema fit_series_layout(const DataSourceConfig& src, const std::vector<std::string>& header,
                               const std::string& file) {
    const std::string at = src.where + ": data.train.";
    auto has = [&](const std::string& n) { return std::find(header.begin(), header.end(), n) != header.end(); };
    auto need = [&](const std::string& n, const char* key) {
        if (!has(n))
            throw ConfigError(at + key + ": column '" + n + "' is not in " + file + " (columns: " + join(header) + ")");
    };
    SeriesSchema s;
    s.date = src.date_column;
    if (!s.date.empty()) need(s.date, "date");
    std::vector<std::string> features = src.feature_columns;
    if (features.empty())
        for (const auto& h : header)
            if (h != s.date) features.push_back(h);
    if (features.empty()) throw ConfigError(at + "features: " + file + " has no column besides the date");
    for (const auto& f : features) {
        need(f, "features");
        if (std::count(features.begin(), features.end(), f) > 1)
            throw ConfigError(at + "features: column '" + f + "' is listed twice");
    }
    s.columns = features;
    for (size_t i = 0; i < features.size(); ++i) s.features.push_back(int(i));
    for (const auto& t : src.target_columns) {
        need(t, "targets");
        auto it = std::find(s.columns.begin(), s.columns.end(), t);
        const int pos = int(it - s.columns.begin());
        if (std::find(s.targets.begin(), s.targets.end(), pos) != s.targets.end())
            throw ConfigError(at + "targets: column '" + t + "' is listed twice");
        if (it == s.columns.end()) s.columns.push_back(t);
        s.targets.push_back(pos);
    }
    if (s.targets.empty()) throw ConfigError(at + "targets: no target column (the column or list of columns to forecast)");
    s.sequence_length = src.sequence_length;
    s.sequence_stride = src.sequence_stride;
    s.sampling_rate = src.sampling_rate;
    s.horizon = src.horizon;
    s.season = src.season;
    s.scale = src.scale.empty() ? "standardize" : src.scale;
    return s;
}

Series read_series(const std::string& path, char delimiter, SeriesSchema& layout, const std::string& missing,
                   bool need_date) {
    CsvReader reader(path, delimiter);
    Series out;
    out.file = reader.display();
    const std::string& file = out.file;
    CsvRecord rec;
    if (!reader.next(rec)) throw DataError(file + ": empty file (a header row naming the columns is expected)");
    std::vector<std::string> header;
    for (const auto& f : rec.fields) header.push_back(trim(f.text));
    auto find = [&](const std::string& n) {
        auto it = std::find(header.begin(), header.end(), n);
        return it == header.end() ? -1 : int(it - header.begin());
    };
    std::vector<int> pos;
    std::vector<std::string> absent;
    for (const auto& c : layout.columns) {
        pos.push_back(find(c));
        if (pos.back() < 0) absent.push_back(c);
    }
    const int date_pos = layout.date.empty() ? -1 : find(layout.date);
    if (date_pos < 0 && need_date && !layout.date.empty()) absent.push_back(layout.date);
    if (!absent.empty())
        throw DataError(file + ":" + std::to_string(rec.line) + ": missing column(s) " + join(absent) +
                        " (the header has: " + join(header) + ")");
    const size_t ncols = layout.columns.size();
    std::vector<double> flat;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    bool any_missing = false;
    while (reader.next(rec)) {
        const std::string line = file + ":" + std::to_string(rec.line);
        if (rec.fields.size() != header.size())
            throw DataError(line + ": expected " + std::to_string(header.size()) + " fields, found " +
                            std::to_string(rec.fields.size()));
        if (date_pos >= 0) {
            const CsvField& f = rec.fields[size_t(date_pos)];
            const std::string at = line + ":" + std::to_string(f.col) + ": date column " + quote_input(layout.date) + ": ";
            if (is_missing_token(f.text)) throw DataError(at + "missing date (every row needs one)");
            double v;
            const std::string first_kind = layout.date_kind;
            if (!parse_date(f.text, layout.date_kind, v))
                throw DataError(at + quote_input(f.text) + " is not " +
                                (first_kind == "iso"       ? "a YYYY-MM-DD date like the rows before"
                                 : first_kind == "compact" ? "a YYYYMMDD date like the rows before"
                                 : first_kind == "number"  ? "a number (year) like the rows before"
                                                           : "a date (YYYY-MM-DD, YYYYMMDD, a year or a number)"));
            if (!out.dates.empty() && !(v > out.dates.back()))
                throw DataError(line + ": date " + quote_input(trim(f.text)) + " is not after " + quote_input(out.date_text.back()) +
                                " (line " + std::to_string(out.lines.back()) +
                                "): the series must be in strictly increasing time order");
            out.dates.push_back(v);
            out.date_text.push_back(trim(f.text));
        }
        for (size_t c = 0; c < ncols; ++c) {
            const CsvField& f = rec.fields[size_t(pos[c])];
            const std::string at = line + ":" + std::to_string(f.col) + ": column " + quote_input(layout.columns[c]) + ": ";
            double v;
            if (is_missing_token(f.text)) {
                if (missing == "error")
                    throw DataError(at + "missing value (set missing: interpolate or drop on the source)");
                v = nan;
                any_missing = true;
            } else if (!parse_number(f.text, v) || !std::isfinite(v)) {
                throw DataError(at + "not a finite number: " + quote_input(f.text));
            }
            flat.push_back(v);
        }
        out.lines.push_back(rec.line);
    }
    const Eigen::Index n = Eigen::Index(out.lines.size());
    if (n == 0) throw DataError(file + ": no data rows");
    out.values.resize(n, Eigen::Index(ncols));
    for (Eigen::Index i = 0; i < n; ++i)
        for (size_t c = 0; c < ncols; ++c) out.values(i, Eigen::Index(c)) = flat[size_t(i) * ncols + c];
    if (!any_missing) return out;
    if (missing == "drop") {
        Series kept;
        kept.file = out.file;
        std::vector<Eigen::Index> rows;
        for (Eigen::Index i = 0; i < n; ++i)
            if (out.values.row(i).allFinite()) rows.push_back(i);
        if (rows.empty()) throw DataError(file + ": no rows left after dropping rows with missing values");
        kept.values.resize(Eigen::Index(rows.size()), Eigen::Index(ncols));
        for (size_t k = 0; k < rows.size(); ++k) {
            kept.values.row(Eigen::Index(k)) = out.values.row(rows[k]);
            kept.lines.push_back(out.lines[size_t(rows[k])]);
            if (!out.dates.empty()) {
                kept.dates.push_back(out.dates[size_t(rows[k])]);
                kept.date_text.push_back(out.date_text[size_t(rows[k])]);
            }
        }
        return kept;
    }
    // interpolate: linear in the row index between the nearest known values before and after
    // (pandas' interpolate()), the first and last known values carried to the edges.
    for (Eigen::Index c = 0; c < Eigen::Index(ncols); ++c) {
        auto col = out.values.col(c);
        Eigen::Index prev = -1;
        for (Eigen::Index i = 0; i <= n; ++i) {
            if (i < n && !std::isfinite(col(i))) continue;
            if (i == n && prev < 0)
                throw DataError(file + ": column " + quote_input(layout.columns[size_t(c)]) + " has no values to interpolate from");
            for (Eigen::Index k = prev + 1; k < i; ++k) {
                if (prev < 0) col(k) = col(i);
                else if (i == n) col(k) = col(prev);
                else col(k) = col(prev) + (col(i) - col(prev)) * double(k - prev) / double(i - prev);
            }
            prev = i;
        }
    }
    return out;
}

std::vector<Eigen::Index> window_starts(Eigen::Index rows, const SeriesSchema& s, Eigen::Index lo, Eigen::Index hi) {
    std::vector<Eigen::Index> out;
    hi = std::min(hi, rows);
    for (Eigen::Index start = 0;; start += s.sequence_stride) {
        const Eigen::Index last = start + s.span() - 1;
        if (last + s.horizon >= hi) break;  // the window's last target row
        if (last + 1 >= lo) out.push_back(start);
    }
    return out;
}

void fit_series_scaling(SeriesSchema& s, const Series& series, Eigen::Index rows) {
    s.offset.clear(), s.factor.clear();
    if (s.scale == "none") return;
    // Stored as float values: model.json keeps float precision, so a reloaded run scales alike.
    for (Eigen::Index c = 0; c < series.values.cols(); ++c) {
        auto col = series.values.col(c).head(rows);
        double off, fac;
        if (s.scale == "standardize") {
            off = col.mean();
            const double var = (col.array() - off).square().mean();
            fac = var > 1e-24 ? 1.0 / std::sqrt(var) : 1.0;  // a constant column: shifted only
        } else {  // minmax
            off = col.minCoeff();
            const double range = col.maxCoeff() - off;
            fac = range > 0 ? 1.0 / range : 1.0;
        }
        s.offset.push_back(double(float(off)));
        s.factor.push_back(double(float(fac)));
    }
}

Dataset make_windows(const Series& series, const SeriesSchema& s, const std::vector<Eigen::Index>& starts,
                     ForecastReference* ref) {
    const Eigen::Index n = Eigen::Index(starts.size()), L = s.sequence_length, R = s.sampling_rate, H = s.horizon;
    const Eigen::Index F = Eigen::Index(s.features.size()), T = Eigen::Index(s.targets.size());
    const Eigen::MatrixXd& v = series.values;
    Dataset d;
    d.shape = {L, F};
    for (Eigen::Index t = 0; t < L; ++t)
        for (Eigen::Index f = 0; f < F; ++f)
            d.feature_names.push_back(s.columns[size_t(s.features[size_t(f)])] + "[t" +
                                      (t == L - 1 ? std::string() : "-" + std::to_string((L - 1 - t) * R)) + "]");
    d.x.resize(n, L * F);
    d.y.resize(n, H * T);
    if (ref) {
        ref->actual.resize(n, H * T);
        ref->naive.resize(n, H * T);
        if (s.season > 0) ref->seasonal.resize(n, H * T);
        else ref->seasonal.resize(0, 0);
    }
    for (Eigen::Index i = 0; i < n; ++i) {
        const Eigen::Index start = starts[size_t(i)], last = start + (L - 1) * R;
        for (Eigen::Index t = 0; t < L; ++t)
            for (Eigen::Index f = 0; f < F; ++f) {
                const int c = s.features[size_t(f)];
                d.x(i, t * F + f) = float(s.scaled(c, v(start + t * R, c)));
            }
        for (Eigen::Index h = 0; h < H; ++h)
            for (Eigen::Index j = 0; j < T; ++j) {
                const int c = s.targets[size_t(j)];
                const Eigen::Index row = last + 1 + h;
                d.y(i, h * T + j) = float(s.scaled(c, v(row, c)));
                if (!ref) continue;
                ref->actual(i, h * T + j) = float(v(row, c));
                ref->naive(i, h * T + j) = float(v(last, c));
                if (s.season > 0) {
                    // The newest value a whole number of seasons before the target row that the
                    // forecaster has seen (at or before `last`): k = ceil((h + 1) / season).
                    const Eigen::Index k = (h + 1 + s.season - 1) / s.season, back = row - k * s.season;
                    ref->seasonal(i, h * T + j) = back >= 0 ? float(v(back, c)) : std::numeric_limits<float>::quiet_NaN();
                }
            }
    }
    return d;
}

Matrix window_inputs(const Series& series, const SeriesSchema& s, Eigen::Index start) {
    const Eigen::Index L = s.sequence_length, F = Eigen::Index(s.features.size());
    if (start < 0 || start + s.span() > series.rows()) throw DataError(series.file + ": the window runs past the series");
    Matrix x(1, L * F);
    for (Eigen::Index t = 0; t < L; ++t)
        for (Eigen::Index f = 0; f < F; ++f) {
            const int c = s.features[size_t(f)];
            x(0, t * F + f) = float(s.scaled(c, series.values(start + t * s.sampling_rate, c)));
        }
    return x;
}

namespace {

/// A validation or test source is cut like the training series: its own window keys, when given,
/// must agree with the training source's.
void check_like_training(const DataSourceConfig& src, const SeriesSchema& t, const std::string& key) {
    auto differs = [&](const char* name, int64_t mine, int64_t theirs) {
        if (mine > 0 && mine != theirs)
            throw ConfigError(src.where + ": " + key + "." + name + ": " + std::to_string(mine) +
                              " differs from the training source's " + std::to_string(theirs) +
                              " (leave it out: the series is cut like the training series)");
    };
    differs("sequence_length", src.sequence_length, t.sequence_length);
    differs("sequence_stride", src.sequence_stride, t.sequence_stride);
    differs("sampling_rate", src.sampling_rate, t.sampling_rate);
    differs("horizon", src.horizon, t.horizon);
    differs("season", src.season, t.season);
    std::vector<std::string> targets;
    for (int c : t.targets) targets.push_back(t.columns[size_t(c)]);
    std::vector<std::string> features;
    for (int c : t.features) features.push_back(t.columns[size_t(c)]);
    auto list_differs = [&](const char* name, const std::vector<std::string>& mine, const std::vector<std::string>& theirs) {
        if (!mine.empty() && mine != theirs)
            throw ConfigError(src.where + ": " + key + "." + name + ": [" + join(mine) +
                              "] differs from the training source's [" + join(theirs) + "] (leave it out)");
    };
    list_differs("targets", src.target_columns, targets);
    list_differs("features", src.feature_columns, features);
    if (!src.date_column.empty() && src.date_column != t.date)
        throw ConfigError(src.where + ": " + key + ".date: '" + src.date_column + "' differs from the training source's '" +
                          t.date + "' (leave it out)");
    if (!src.scale.empty() && src.scale != t.scale)
        throw ConfigError(src.where + ": " + key + ".scale: " + src.scale + " differs from the training source's " +
                          t.scale + " (the training stretch's statistics scale every split)");
}

Dataset other_source(const DataSourceConfig& src, const DataSchema& schema, ForecastReference* ref,
                     const std::string& key) {
    check_like_training(src, schema.series, key);
    SeriesSchema layout = schema.series;
    Series series = read_series(src.path, src.delimiter, layout, src.missing, false);
    keep_first_rows(series, Eigen::Index(src.max_samples));
    const std::vector<Eigen::Index> starts = window_starts(series.rows(), layout, 0, series.rows());
    if (starts.empty())
        throw DataError(series.file + ": " + std::to_string(series.rows()) + " rows hold no complete window; one needs " +
                        window_needs(layout));
    return make_windows(series, layout, starts, ref);
}

}  // namespace

DataSplits load_timeseries_data(const DataConfig& cfg, bool want_classes) {
    const DataSourceConfig& src = cfg.train;
    if (want_classes)
        throw ConfigError(src.where + ": data.train: a timeseries source forecasts values: use a regression loss "
                          "(mean_squared_error, mean_absolute_error or huber)");
    DataSplits out;
    DataSchema& sc = out.schema;
    sc.format = "timeseries";
    sc.delimiter = src.delimiter;
    sc.missing = src.missing;
    sc.task = "regression";
    std::string file;
    sc.series = fit_series_layout(src, read_header(src.path, src.delimiter, file), file);
    SeriesSchema& s = sc.series;
    Series series = read_series(src.path, src.delimiter, s, src.missing, true);
    keep_first_rows(series, Eigen::Index(src.max_samples));
    const Eigen::Index n = series.rows();
    // Stretches in time order: train [0, a) | validation [a, b) | test [b, n).
    const Eigen::Index n_test = cfg.test ? 0 : Eigen::Index(std::floor(double(n) * cfg.test_split));
    const Eigen::Index n_val = cfg.validation ? 0 : Eigen::Index(std::floor(double(n) * cfg.validation_split));
    auto rows_text = [&](Eigen::Index lo, Eigen::Index hi) {
        return "lines " + std::to_string(series.lines[size_t(lo)]) + "–" + std::to_string(series.lines[size_t(hi - 1)]);
    };
    for (auto [k, frac, what] : {std::make_tuple(n_test, cfg.test ? 0.0 : cfg.test_split, "test"),
                                 std::make_tuple(n_val, cfg.validation ? 0.0 : cfg.validation_split, "validation")})
        if (frac > 0 && k == 0)
            throw ConfigError(std::string("data.") + what + "_split " + format_number(frac) + " of the series' " +
                              std::to_string(n) + " rows leaves no row for " + what);
    const Eigen::Index a = n - n_test - n_val, b = n - n_test;
    const std::vector<Eigen::Index> train = window_starts(n, s, 0, a);
    if (train.empty())
        throw DataError(series.file + ": the training stretch (" + std::to_string(a) + " rows" +
                        (a > 0 ? ", " + rows_text(0, a) : std::string()) + ") holds no complete window; one needs " +
                        window_needs(s));
    fit_series_scaling(s, series, a);
    out.train = make_windows(series, s, train);
    if (n_val > 0) {
        const std::vector<Eigen::Index> starts = window_starts(n, s, a, b);
        if (starts.empty())
            throw DataError(series.file + ": the validation stretch (" + rows_text(a, b) +
                            ") holds the targets of no window (horizon " + std::to_string(s.horizon) + ", stride " +
                            std::to_string(s.sequence_stride) + "); raise data.validation_split");
        out.validation = make_windows(series, s, starts);
    }
    if (n_test > 0) {
        const std::vector<Eigen::Index> starts = window_starts(n, s, b, n);
        if (starts.empty())
            throw DataError(series.file + ": the test stretch (" + rows_text(b, n) +
                            ") holds the targets of no window (horizon " + std::to_string(s.horizon) + ", stride " +
                            std::to_string(s.sequence_stride) + "); raise data.test_split");
        out.test = make_windows(series, s, starts, &out.test_reference);
    }
    sc.width = out.train.x.cols();
    sc.outputs = out.train.y.cols();
    sc.feature_names = out.train.feature_names;
    sc.scaling.kind = "none";
    if (cfg.validation) out.validation = other_source(*cfg.validation, sc, nullptr, "data.validation");
    if (cfg.test) out.test = other_source(*cfg.test, sc, &out.test_reference, "data.test");
    return out;
}

Dataset load_series_windows(const DataSourceConfig& src, const DataSchema& schema, ForecastReference* ref) {
    return other_source(src, schema, ref, "data");
}

}  // namespace nnctl
