// Forecast scoring against baselines, and `predict` for forecasters (the next horizon values).
#include "train/forecast.hpp"

#include <chrono>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "data/timeseries.hpp"
#include "train/predict.hpp"

namespace nnctl {

ForecastScores forecast_scores(const Matrix& truth, const Matrix& pred, const std::vector<Eigen::Index>& cols_in) {
    std::vector<Eigen::Index> cols = cols_in;
    if (cols.empty())
        for (Eigen::Index c = 0; c < truth.cols(); ++c) cols.push_back(c);
    ForecastScores s;
    double abs_sum = 0.0, sq_sum = 0.0, ape_sum = 0.0, sape_sum = 0.0;
    long long ape_n = 0;
    for (Eigen::Index i = 0; i < truth.rows(); ++i) {
        bool defined = true;
        for (Eigen::Index c : cols) defined = defined && std::isfinite(pred(i, c));
        if (!defined) continue;
        for (Eigen::Index c : cols) {
            const double y = truth(i, c), p = pred(i, c), e = std::abs(y - p);
            abs_sum += e;
            sq_sum += e * e;
            if (y != 0.0) ape_sum += e / std::abs(y), ++ape_n;
            else ++s.mape_skipped;
            const double denom = std::abs(y) + std::abs(p);
            if (denom > 0) sape_sum += 2.0 * e / denom;  // 0/0 (both zero): a perfect forecast, 0
            ++s.values;
        }
    }
    if (s.values == 0) {
        const double nan = std::numeric_limits<double>::quiet_NaN();
        s.mae = s.rmse = s.mape = s.smape = nan;
        return s;
    }
    const double n = double(s.values);
    s.mae = abs_sum / n;
    s.rmse = std::sqrt(sq_sum / n);
    s.mape = ape_n > 0 ? 100.0 * ape_sum / double(ape_n) : std::numeric_limits<double>::quiet_NaN();
    s.smape = 100.0 * sape_sum / n;
    return s;
}

Matrix unscale_forecast(const SeriesSchema& s, const Matrix& outputs) {
    const Eigen::Index T = Eigen::Index(s.targets.size());
    if (outputs.cols() != s.horizon * T)
        throw DataError("the model outputs " + std::to_string(outputs.cols()) + " values per window; the forecast has " +
                        std::to_string(s.horizon * T) + " (horizon × targets)");
    Matrix out = outputs;
    for (Eigen::Index c = 0; c < out.cols(); ++c) {
        const int col = s.targets[size_t(c % T)];
        for (Eigen::Index i = 0; i < out.rows(); ++i) out(i, c) = float(s.unscale(col, double(outputs(i, c))));
    }
    return out;
}

ForecastReport forecast_report(const SeriesSchema& s, const ForecastReference& ref, const Matrix& predictions) {
    ForecastReport r;
    const Eigen::Index T = Eigen::Index(s.targets.size());
    for (int c : s.targets) r.targets.push_back(s.columns[size_t(c)]);
    r.horizon = s.horizon;
    r.season = s.season;
    r.windows = ref.actual.rows();
    auto method = [&](const char* name, const Matrix& pred) {
        ForecastMethod m;
        m.name = name;
        m.all = forecast_scores(ref.actual, pred);
        m.windows = T * r.horizon > 0 ? m.all.values / (T * r.horizon) : 0;
        for (Eigen::Index j = 0; j < T; ++j) {
            std::vector<Eigen::Index> cols;
            for (Eigen::Index h = 0; h < r.horizon; ++h) cols.push_back(h * T + j);
            m.per_target.push_back(forecast_scores(ref.actual, pred, cols));
        }
        r.methods.push_back(std::move(m));
    };
    method("model", predictions);
    method("naive", ref.naive);
    if (s.season > 0 && ref.seasonal.rows() == ref.actual.rows()) method("seasonal_naive", ref.seasonal);
    return r;
}

namespace {
void write_scores(JsonWriter& j, const ForecastScores& s) {
    j.begin_object();
    j.key("mae").value(s.mae).key("rmse").value(s.rmse).key("mape").value(s.mape).key("smape").value(s.smape);
    j.key("values").value(s.values).key("mape_skipped_zeros").value(s.mape_skipped);
    j.end_object();
}
}  // namespace

void write_forecast_json(JsonWriter& j, const ForecastReport& r) {
    j.begin_object();
    j.key("targets").begin_array();
    for (const auto& t : r.targets) j.value(t);
    j.end_array();
    j.key("horizon").value(static_cast<long long>(r.horizon));
    if (r.season > 0) j.key("season").value(static_cast<long long>(r.season));
    j.key("windows").value(r.windows);
    j.key("units").value(std::string("original"));
    for (const auto& m : r.methods) {
        j.key(m.name);
        write_scores(j, m.all);
    }
    j.key("windows_scored").begin_object();
    for (const auto& m : r.methods) j.key(m.name).value(m.windows);
    j.end_object();
    j.key("per_target").begin_object();
    for (size_t t = 0; t < r.targets.size(); ++t) {
        j.key(r.targets[t]).begin_object();
        for (const auto& m : r.methods) {
            j.key(m.name);
            write_scores(j, m.per_target[t]);
        }
        j.end_object();
    }
    j.end_object();
    j.end_object();
}

namespace {
std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string o = "\"";
    for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
    return o + "\"";
}
}  // namespace

PredictStats predict_forecast(SavedRun& run, const PredictOptions& opt,
                              const std::function<void(const std::string&)>& write) {
    if (opt.input_format != "auto" && opt.input_format != "csv")
        throw ConfigError("a forecaster reads a CSV series (--input-format csv), not " + opt.input_format);
    const DataSchema& sc = run.schema;
    SeriesSchema layout = sc.series;
    // The same reading as in training: columns by name, dates strictly increasing, missing values
    // handled by the training source's policy; the date column is optional here.
    const Series series = read_series(opt.input, sc.delimiter, layout, sc.missing, false);
    const Eigen::Index need = layout.span(), n = series.rows();
    if (n < need)
        throw DataError(series.file + ": " + std::to_string(n) + " row" + (n == 1 ? "" : "s") +
                        (sc.missing == "drop" ? " (after dropping rows with missing values)" : "") +
                        "; the model needs the last " + std::to_string(need) + " (sequence_length " +
                        std::to_string(layout.sequence_length) + ", sampling_rate " + std::to_string(layout.sampling_rate) +
                        ": (sequence_length − 1) · sampling_rate + 1)");
    // The window ending at the series' last row: rows n − need, n − need + rate, ..., n − 1.
    const Eigen::Index start = n - need;
    const Matrix x = window_inputs(series, layout, start);
    PredictStats stats;
    Matrix out;
    const auto t0 = std::chrono::steady_clock::now();
    run.model.predict(x, out);
    stats.model_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const Matrix f = unscale_forecast(layout, out);

    // Forecast dates when the dates step regularly (constant days, or a constant number).
    std::vector<std::string> dates;
    if (series.dates.size() >= 2) {
        const double step = series.dates[1] - series.dates[0];
        bool regular = step > 0;
        for (size_t i = 2; regular && i < series.dates.size(); ++i)
            regular = std::abs((series.dates[i] - series.dates[i - 1]) - step) <= 1e-9 * std::max(1.0, std::abs(step));
        if (regular)
            for (int64_t h = 1; h <= layout.horizon; ++h)
                dates.push_back(format_date(series.dates.back() + double(h) * step, layout.date_kind));
    }
    const Eigen::Index T = Eigen::Index(layout.targets.size());
    std::string text;
    if (opt.output_format == "csv") {
        text = "step";
        if (!dates.empty()) text += "," + csv_field(layout.date);
        for (int c : layout.targets) text += "," + csv_field(layout.columns[size_t(c)]);
        text += "\n";
    }
    for (Eigen::Index h = 0; h < layout.horizon; ++h) {
        if (opt.output_format == "csv") {
            text += std::to_string(h + 1);
            if (!dates.empty()) text += "," + dates[size_t(h)];
            for (Eigen::Index j = 0; j < T; ++j) text += "," + format_number(f(0, h * T + j));
            text += "\n";
        } else {
            text += "{\"step\":" + std::to_string(h + 1);
            if (!dates.empty()) text += "," + json_quote(layout.date) + ":" + json_quote(dates[size_t(h)]);
            for (Eigen::Index j = 0; j < T; ++j)
                text += "," + json_quote(layout.columns[size_t(layout.targets[size_t(j)])]) + ":" +
                        format_number(f(0, h * T + j));
            text += "}\n";
        }
    }
    write(text);
    stats.rows = layout.horizon;
    return stats;
}

}  // namespace nnctl
