#include "report/report.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>


#include "config/parse.hpp"
#include "core/error.hpp"
#include "core/fileio.hpp"
#include "core/json.hpp"
#include "core/json_value.hpp"
#include "search/runner.hpp"
#include "search/store.hpp"
#include "train/evaluate.hpp"
#include "train/experiment.hpp"
#include "train/summary.hpp"

namespace nnctl {

namespace {

// Okabe–Ito: distinguishable with every common colour-vision deficiency.
const char* kPalette[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"};

std::string esc(const std::string& s) {
    std::string o;
    for (char c : s) {
        switch (c) {
            case '&': o += "&amp;"; break;
            case '<': o += "&lt;"; break;
            case '>': o += "&gt;"; break;
            case '"': o += "&quot;"; break;
            default: o += c;
        }
    }
    return o;
}

std::string count(long long n);

std::string num(double v, int digits = 4) {
    if (!std::isfinite(v)) return "–";
    char b[48];
    const double a = std::fabs(v);
    if (a >= 1000 && a < 1e6 && v == std::floor(v)) return count((long long)v);  // 10,000
    if (a >= 1e6 && a < 1e15) std::snprintf(b, sizeof b, "%.3gM", v / 1e6);
    else if (a != 0 && (a < 1e-3 || a >= 1e15)) std::snprintf(b, sizeof b, "%.3g", v);
    else std::snprintf(b, sizeof b, "%.*g", digits, v);
    return b;
}

std::string fixed(double v, int decimals) {
    char b[48];
    std::snprintf(b, sizeof b, "%.*f", decimals, v);
    return b;
}

/// Thousands separators for counts.
std::string count(long long n) {
    std::string s = std::to_string(n);
    for (int i = int(s.size()) - 3; i > (n < 0 ? 1 : 0); i -= 3) s.insert(size_t(i), ",");
    return s;
}

/// Axis ticks at 1, 2 or 5 × 10^k steps covering [lo, hi].
std::vector<double> ticks(double lo, double hi, int want = 5, bool whole = false) {
    if (!(hi > lo)) return {lo};
    const double raw = (hi - lo) / want, p = std::pow(10.0, std::floor(std::log10(raw)));
    double step = p;
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (m * p >= raw) {
            step = m * p;
            break;
        }
    if (whole) step = std::max(step, 1.0);  // epochs, windows: no fractional ticks
    std::vector<double> t;
    for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) t.push_back(std::fabs(v) < step * 1e-9 ? 0 : v);
    return t;
}

struct Series {
    std::string name;
    std::vector<double> x, y;
    bool dashed = false;
};

/// At most `cap` points, keeping each bucket's lowest and highest y (so spikes stay visible).
void downsample(std::vector<double>& x, std::vector<double>& y, size_t cap = 1000) {
    if (x.size() <= cap) return;
    const size_t buckets = cap / 2;
    std::vector<double> nx, ny;
    for (size_t b = 0; b < buckets; ++b) {
        const size_t s = b * x.size() / buckets, e = (b + 1) * x.size() / buckets;
        size_t lo = s, hi = s;
        for (size_t i = s; i < e; ++i) {
            if (y[i] < y[lo]) lo = i;
            if (y[i] > y[hi]) hi = i;
        }
        for (size_t i : {std::min(lo, hi), std::max(lo, hi)}) {
            if (!nx.empty() && nx.back() == x[i]) continue;
            nx.push_back(x[i]);
            ny.push_back(y[i]);
        }
    }
    x = std::move(nx);
    y = std::move(ny);
}

/// A line chart (or scatter) in SVG with labelled axes, ticks, a legend and a title per point.
std::string chart(const std::string& title, const std::string& xlabel, const std::string& ylabel, std::vector<Series> series,
                  bool scatter = false, double marker_x = NAN, const std::string& marker = "", bool diagonal = false) {
    const int rows = int(std::min<size_t>(series.size(), 8) + 3) / 4;  // legend rows of 4, under the title
    const int W = 560, L = 64, R = 16, T = 30 + 14 * std::max(rows, 1), H = 266 + T, B = 44;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (auto& s : series) {
        if (!scatter) downsample(s.x, s.y);
        else if (s.x.size() > 3000) {  // a scatter keeps an even sample
            std::vector<double> nx, ny;
            for (size_t i = 0; i < s.x.size(); i += s.x.size() / 3000 + 1) nx.push_back(s.x[i]), ny.push_back(s.y[i]);
            s.x = nx, s.y = ny;
        }
        for (size_t i = 0; i < s.x.size(); ++i) {
            if (!std::isfinite(s.y[i]) || !std::isfinite(s.x[i])) continue;
            x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]), y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
        }
    }
    if (!std::isfinite(x0)) return "<p class=note>" + esc(title) + ": no values.</p>";
    if (diagonal) x0 = y0 = std::min(x0, y0), x1 = y1 = std::max(x1, y1);
    if (x1 == x0) x0 -= 0.5, x1 += 0.5;
    if (y1 == y0) {  // a constant: a band around it
        const double d = y0 != 0 ? std::fabs(y0) * 0.1 : 0.5;
        y0 -= d, y1 += d;
    }
    const double pad = (y1 - y0) * 0.05;
    y0 -= pad, y1 += pad;
    auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
    auto py = [&](double y) { return T + (y1 - y) / (y1 - y0) * (H - T - B); };
    std::ostringstream o;
    o.setf(std::ios::fixed);
    o.precision(1);
    o << "<figure><svg class=chart viewBox='0 0 " << W << " " << H << "' width=" << W << " height=" << H
      << " role=img aria-label='" << esc(title) << "'>";
    o << "<text class=title x=" << L << " y=18>" << esc(title) << "</text>";
    for (double t : ticks(y0, y1)) {
        o << "<line class=grid x1=" << L << " x2=" << W - R << " y1=" << py(t) << " y2=" << py(t) << " />";
        o << "<text class=tick x=" << L - 6 << " y=" << py(t) + 4 << " text-anchor=end>" << num(t, 3) << "</text>";
    }
    // A count axis (epochs, windows): whole-number ticks.
    bool whole = !scatter;
    for (const auto& s : series)
        for (double x : s.x) whole = whole && x == std::floor(x);
    std::vector<double> xt = ticks(x0, x1, 5, whole);
    for (double t : xt)
        o << "<text class=tick x=" << px(t) << " y=" << H - B + 16 << " text-anchor=middle>" << num(t, 4) << "</text>";
    o << "<line class=axis x1=" << L << " x2=" << W - R << " y1=" << H - B << " y2=" << H - B << " />";
    o << "<line class=axis x1=" << L << " x2=" << L << " y1=" << T << " y2=" << H - B << " />";
    o << "<text class=label x=" << (L + W - R) / 2 << " y=" << H - 8 << " text-anchor=middle>" << esc(xlabel) << "</text>";
    o << "<text class=label transform='translate(14 " << (T + H - B) / 2 << ") rotate(-90)' text-anchor=middle>" << esc(ylabel)
      << "</text>";
    if (diagonal) o << "<line class=ref x1=" << px(x0) << " y1=" << py(x0) << " x2=" << px(x1) << " y2=" << py(x1) << " />";
    if (std::isfinite(marker_x)) {
        o << "<line class=marker x1=" << px(marker_x) << " x2=" << px(marker_x) << " y1=" << T << " y2=" << H - B << " />";
        const bool right = px(marker_x) > W - R - 90;  // near the right edge: the label on the left
        o << "<text class=tick x=" << px(marker_x) + (right ? -4 : 4) << " y=" << T + 10
          << (right ? " text-anchor=end" : "") << ">" << esc(marker) << "</text>";
    }
    for (size_t k = 0; k < series.size(); ++k) {
        const Series& s = series[k];
        const char* c = kPalette[k % 8];
        if (!scatter) {
            o << "<polyline fill=none stroke='" << c << "' stroke-width=2" << (s.dashed ? " stroke-dasharray='6 4'" : "")
              << " points='";
            for (size_t i = 0; i < s.x.size(); ++i)
                if (std::isfinite(s.y[i])) o << px(s.x[i]) << "," << py(s.y[i]) << " ";
            o << "' />";
        }
        const bool dots = scatter || s.x.size() <= 60;
        for (size_t i = 0; dots && i < s.x.size(); ++i)
            if (std::isfinite(s.y[i]))
                o << "<circle cx=" << px(s.x[i]) << " cy=" << py(s.y[i]) << " r=" << (scatter ? 2.5 : 3) << " fill='" << c
                  << "'" << (scatter ? " fill-opacity=0.5" : "") << "><title>" << esc(s.name) << ": " << esc(xlabel) << " "
                  << num(s.x[i], 6) << ", " << num(s.y[i], 6) << "</title></circle>";
        // The legend: a row under the title, above the plot (never over a curve).
        const int lx = L + int(k % 4) * 120, ly = 32 + int(k / 4) * 14;
        if (k < 8) {
            o << "<line x1=" << lx << " x2=" << lx + 18 << " y1=" << ly << " y2=" << ly << " stroke='" << c
              << "' stroke-width=3" << (s.dashed ? " stroke-dasharray='4 3'" : "") << " />";
            o << "<text class=legend x=" << lx + 22 << " y=" << ly + 4 << ">" << esc(s.name.substr(0, 18)) << "</text>";
        }
    }
    o << "</svg></figure>";
    return o.str();
}

struct History {
    std::vector<std::string> keys;  // columns after epoch
    std::vector<std::vector<double>> rows;
    std::vector<double> column(const std::string& k) const {
        std::vector<double> v;
        auto it = std::find(keys.begin(), keys.end(), k);
        if (it == keys.end()) return v;
        const size_t c = size_t(it - keys.begin());
        for (const auto& r : rows) v.push_back(c < r.size() ? r[c] : NAN);
        return v;
    }
    std::vector<double> epochs() const {
        std::vector<double> v;
        for (const auto& r : rows) v.push_back(r.empty() ? NAN : r[0]);
        return v;
    }
};

History read_history(const std::string& path) {
    History h;
    std::istringstream in(read_file(path));
    std::string line;
    bool first = true;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        std::vector<std::string> f;
        std::stringstream ls(line);
        for (std::string x; std::getline(ls, x, ',');) f.push_back(x);
        if (first) {
            h.keys = f;  // "epoch", ...
            first = false;
            continue;
        }
        std::vector<double> r;
        for (const auto& x : f) r.push_back(std::strtod(x.c_str(), nullptr));
        h.rows.push_back(std::move(r));
    }
    return h;
}

/// A run directory's files, read once.
struct RunFiles {
    std::string dir, name;
    History history;
    JsonValue metrics, info;
    std::string config;
};

RunFiles read_run(const std::string& dir) {
    RunFiles r;
    r.dir = dir;
    r.name = dir;
    while (r.name.size() > 1 && r.name.back() == '/') r.name.pop_back();
    if (auto s = r.name.rfind('/'); s != std::string::npos) r.name = r.name.substr(s + 1);
    auto json = [&](const char* f) {
        try {
            return parse_json(read_file(dir + "/" + f));
        } catch (const DataError&) {
            throw;
        } catch (const std::exception& e) {
            throw DataError(dir + "/" + f + ": " + e.what());
        }
    };
    r.history = read_history(dir + "/history.csv");
    // A run still going has no metrics.json yet (and no model): its report shows the epochs so far.
    if (path_exists(dir + "/metrics.json")) r.metrics = json("metrics.json");
    r.info = json("run.json");
    r.config = read_file(dir + "/config.yaml");
    return r;
}

/// The metric names of a history that have a training column (val_X is drawn with X).
std::vector<std::string> metric_names(const History& h) {
    std::vector<std::string> out;
    for (size_t i = 1; i < h.keys.size(); ++i) {
        const std::string& k = h.keys[i];
        if (k == "learning_rate" || k == "seconds" || k.rfind("val_", 0) == 0) continue;
        out.push_back(k);
    }
    for (size_t i = 1; i < h.keys.size(); ++i)  // a validation value without its training twin
        if (h.keys[i].rfind("val_", 0) == 0 &&
            std::find(h.keys.begin(), h.keys.end(), h.keys[i].substr(4)) == h.keys.end())
            out.push_back(h.keys[i]);
    return out;
}

std::string logs_table(const std::vector<std::pair<std::string, const JsonValue*>>& columns) {
    std::vector<std::string> keys;
    for (const auto& [n, v] : columns)
        if (v)
            for (const auto& [k, x] : v->members)
                if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    if (keys.empty()) return "";
    std::string o = "<table><tr><th></th>";
    for (const auto& [n, v] : columns) o += "<th>" + esc(n) + "</th>";
    o += "</tr>";
    for (const auto& k : keys) {
        o += "<tr><td>" + esc(k) + "</td>";
        for (const auto& [n, v] : columns) {
            const JsonValue* x = v ? v->find(k) : nullptr;
            o += "<td class=num>" + (x && x->is_number() ? num(x->number) : std::string("–")) + "</td>";
        }
        o += "</tr>";
    }
    return o + "</table>";
}

std::string confusion(const ClassificationReport& r) {
    const size_t n = r.classes.size();
    std::ostringstream o;
    if (n > 20) {  // too many cells to read: the most-confused pairs
        std::vector<std::tuple<long long, size_t, size_t>> pairs;
        for (size_t t = 0; t < n; ++t)
            for (size_t p = 0; p < n; ++p)
                if (t != p && r.confusion[t][p] > 0) pairs.emplace_back(r.confusion[t][p], t, p);
        std::sort(pairs.rbegin(), pairs.rend());
        o << "<p>" << n << " classes: the 20 most-confused pairs (true → predicted).</p><table><tr><th>true</th><th>predicted</th>"
          << "<th>count</th><th>share of the true class</th></tr>";
        for (size_t i = 0; i < std::min<size_t>(20, pairs.size()); ++i) {
            auto [c, t, p] = pairs[i];
            o << "<tr><td>" << esc(r.classes[t]) << "</td><td>" << esc(r.classes[p]) << "</td><td class=num>" << count(c)
              << "</td><td class=num>" << fixed(100.0 * double(c) / double(std::max<long long>(1, r.support[t])), 1)
              << "%</td></tr>";
        }
        o << "</table>";
        return o.str();
    }
    const int cell = n <= 10 ? 44 : 28, L = 110, T = 100;
    const int W = L + int(n) * cell + 10, H = T + int(n) * cell + 10;
    o << "<figure><svg class=heat viewBox='0 0 " << W << " " << H << "' width=" << W << " height=" << H
      << " role=img aria-label='confusion matrix'>";
    o << "<text class=label x=" << L + int(n) * cell / 2 << " y=14 text-anchor=middle>predicted class</text>";
    o << "<text class=label transform='translate(12 " << T + int(n) * cell / 2 << ") rotate(-90)' text-anchor=middle>true class</text>";
    for (size_t j = 0; j < n; ++j)
        o << "<text class=tick transform='translate(" << L + int(j) * cell + cell / 2 << " " << T - 6
          << ") rotate(-45)'>" << esc(r.classes[j]) << "</text>";
    for (size_t i = 0; i < n; ++i) {
        o << "<text class=tick x=" << L - 6 << " y=" << T + int(i) * cell + cell / 2 + 4 << " text-anchor=end>" << esc(r.classes[i])
          << "</text>";
        const double row = double(std::max<long long>(1, r.support[i]));
        for (size_t j = 0; j < n; ++j) {
            const double f = double(r.confusion[i][j]) / row;  // the share of the true class
            // White → dark blue; the text turns white on dark cells.
            const int c0 = int(255 - f * (255 - 8)), c1 = int(255 - f * (255 - 48)), c2 = int(255 - f * (255 - 107));
            char fill[16];
            std::snprintf(fill, sizeof fill, "#%02x%02x%02x", c0, c1, c2);
            o << "<rect x=" << L + int(j) * cell << " y=" << T + int(i) * cell << " width=" << cell - 1 << " height=" << cell - 1
              << " fill='" << fill << "'><title>true " << esc(r.classes[i]) << ", predicted " << esc(r.classes[j]) << ": "
              << count(r.confusion[i][j]) << " (" << fixed(100 * f, 1) << "% of " << esc(r.classes[i]) << ")</title></rect>";
            if (cell >= 28)
                o << "<text class=cell x=" << L + int(j) * cell + cell / 2 << " y=" << T + int(i) * cell + cell / 2 + 4
                  << " text-anchor=middle fill='" << (f > 0.5 ? "#fff" : "#222") << "'>" << count(r.confusion[i][j]) << "</text>";
        }
    }
    o << "</svg></figure>";
    return o.str();
}

std::string class_table(const ClassificationReport& r) {
    std::string o = "<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>";
    for (size_t c = 0; c < r.classes.size(); ++c)
        o += "<tr><td>" + esc(r.classes[c]) + "</td><td class=num>" + fixed(r.precision[c], 4) + "</td><td class=num>" +
             fixed(r.recall[c], 4) + "</td><td class=num>" + fixed(r.f1[c], 4) + "</td><td class=num>" + count(r.support[c]) +
             "</td></tr>";
    o += "<tr class=total><td>macro avg</td><td class=num>" + fixed(r.macro_precision, 4) + "</td><td class=num>" +
         fixed(r.macro_recall, 4) + "</td><td class=num>" + fixed(r.macro_f1, 4) + "</td><td></td></tr>";
    o += "<tr class=total><td>accuracy</td><td></td><td></td><td class=num>" + fixed(r.accuracy, 4) + "</td><td></td></tr>";
    return o + "</table>";
}

/// The test results of one output: its targets against its columns of the predictions.
std::string output_results(const Dataset& t, const Matrix& out, const std::string& what) {
    if (t.is_classification()) {
        const ClassificationReport r = classification_report(t.labels, predicted_classes(out), t.class_names);
        return "<h4>" + esc(what) + ": confusion matrix</h4>" + confusion(r) + class_table(r);
    }
    const RegressionReport rr = regression_report(t.y, out);
    std::string o = "<p>" + esc(what) + ": MSE " + num(rr.mse) + ", MAE " + num(rr.mae) + ", RMSE " + num(rr.rmse) + ", R² " +
                    num(rr.r2) + "</p><div class=row>";
    for (Eigen::Index c = 0; c < out.cols(); ++c) {
        Series pts{"test rows", {}, {}}, res{"residuals", {}, {}};
        for (Eigen::Index i = 0; i < out.rows(); ++i) {
            pts.x.push_back(t.y(i, c)), pts.y.push_back(out(i, c));
            res.x.push_back(out(i, c)), res.y.push_back(double(t.y(i, c)) - double(out(i, c)));
        }
        const std::string col = out.cols() > 1 ? " (target " + std::to_string(c) + ")" : "";
        o += chart("predicted against actual" + col, "actual", "predicted", {pts}, true, NAN, "", true);
        o += chart("residuals" + col, "predicted", "actual − predicted", {res}, true);
    }
    return o + "</div>";
}

/// A forecaster's test stretch: per target, the actual series with the model's and the baselines'
/// forecasts one step ahead (the first step of each window), in the series' units, and the scores.
std::string forecast_section(SavedRun& run) {
    ForecastReference ref;
    Dataset data = load_evaluation_data(run, "", &ref);
    const SeriesSchema& ss = run.schema.series;
    const Matrix pred = unscale_forecast(ss, predict_all(run.model, data.x));
    const ForecastReport rep = forecast_report(ss, ref, pred);
    std::string o = "<table><tr><th>forecast</th><th>windows</th><th>MAE</th><th>RMSE</th><th>MAPE %</th><th>sMAPE %</th></tr>";
    for (const auto& m : rep.methods)
        o += "<tr><td>" + esc(m.name) + "</td><td class=num>" + count(m.windows) + "</td><td class=num>" + num(m.all.mae) +
             "</td><td class=num>" + num(m.all.rmse) + "</td><td class=num>" + num(m.all.mape) + "</td><td class=num>" +
             num(m.all.smape) + "</td></tr>";
    o += "</table><div class=row>";
    const size_t T = rep.targets.size();
    for (size_t j = 0; j < T; ++j) {  // column h·targets + j; step 1 is column j
        std::vector<Series> s(3);
        s[0].name = "actual", s[1].name = "model", s[2].name = "naive", s[2].dashed = true;
        if (ref.seasonal.rows() > 0) s.push_back({"seasonal naive", {}, {}, true});
        for (Eigen::Index w = 0; w < ref.actual.rows(); ++w) {
            const double x = double(w + 1);
            s[0].x.push_back(x), s[0].y.push_back(ref.actual(w, Eigen::Index(j)));
            s[1].x.push_back(x), s[1].y.push_back(pred(w, Eigen::Index(j)));
            s[2].x.push_back(x), s[2].y.push_back(ref.naive(w, Eigen::Index(j)));
            if (s.size() > 3) s[3].x.push_back(x), s[3].y.push_back(ref.seasonal(w, Eigen::Index(j)));
        }
        o += chart(rep.targets[j] + ": test stretch, one step ahead", "test window", rep.targets[j], s);
    }
    return o + "</div>";
}

/// The run's test data scored again: confusion matrices or regression plots; a note when there is none.
std::string test_section(const std::string& dir) {
    try {
        SavedRun run = load_run(dir);
        if (!run.cfg.data.test && run.cfg.data.test_split <= 0.0) return "<p class=note>The run has no test data.</p>";
        if (run.schema.format == "timeseries") return forecast_section(run);
        Dataset data = load_evaluation_data(run, "");
        const Matrix out = predict_all(run.model, data.x);
        std::string o;
        if (data.targets.empty()) return output_results(data, out, "test data");
        for (size_t k = 0; k < run.heads.size(); ++k)
            o += output_results(data.targets[k], out.middleCols(run.heads[k].offset, run.heads[k].width),
                                "output " + run.heads[k].name);
        return o;
    } catch (const Error& e) {
        return "<p class=note>The test data could not be scored again: " + esc(e.what()) + "</p>";
    }
}

std::string summary_table(const std::string& dir) {
    try {
        SavedRun run = load_run(dir);
        const ModelSummary s = summarize(run.model, run.cfg, 0);
        std::string o = "<table><tr><th>layer (type)</th><th>output shape</th><th>parameters</th>" +
                        std::string(s.graph ? "<th>inputs</th>" : "") + "</tr>";
        for (const auto& l : s.layers) {
            std::string from;
            for (const auto& i : l.inputs) from += (from.empty() ? "" : ", ") + i;
            o += "<tr><td>" + esc(l.name + " (" + l.type + ")") + (l.trainable ? "" : " [frozen]") + "</td><td>" +
                 esc(shape_str(l.output)) + "</td><td class=num>" + count(l.params) + "</td>" +
                 (s.graph ? "<td>" + esc(from) + "</td>" : "") + "</tr>";
        }
        return o + "</table><p>" + count(s.total) + " parameters, " + count(s.trainable) + " trainable.</p>";
    } catch (const Error& e) {
        return "<p class=note>" + esc(e.what()) + "</p>";
    }
}

std::string facts(const RunFiles& r) {
    std::string o = "<table>";
    auto row = [&](const std::string& k, const std::string& v) { o += "<tr><td>" + esc(k) + "</td><td>" + esc(v) + "</td></tr>"; };
    const JsonValue& i = r.info;
    auto str = [&](const char* k) {
        const JsonValue* v = i.find(k);
        return !v ? std::string("–") : v->is_string() ? v->text : v->text.empty() ? std::string("–") : v->text;
    };
    row("nnctl version", str("nnctl_version"));
    std::string cmd;
    if (const JsonValue* c = i.find("command"))
        for (const auto& a : c->items) cmd += (cmd.empty() ? "" : " ") + a.text;
    row("command", cmd);
    row("seed", str("seed"));
    row("threads", str("threads"));
    row("status", str("status") + (i.find("message") ? ": " + str("message") : ""));
    row("started", str("started"));
    row("finished", str("finished"));
    if (const JsonValue* d = i.find("data_files"))
        for (const auto& f : d->items) {
            const JsonValue* p = f.find("path");
            const JsonValue* h = f.find("sha256");
            const JsonValue* b = f.find("bytes");
            row("data file", (p ? p->text : "") + " (" + (b ? count((long long)b->number) : "?") + " bytes, SHA-256 " +
                                 (h ? h->text : "?") + ")");
        }
    return o + "</table>";
}

/// Every scalar of a YAML document as path → value, for comparing configs.
const char* kStyle =
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1180px;color:#1a1a1a;"
    "padding:0 16px}h1{font-size:24px}h2{font-size:20px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:36px}"
    "h3{font-size:17px}h4{font-size:15px;margin:18px 0 6px}table{border-collapse:collapse;margin:8px 0 16px}"
    "td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}th{background:#f4f6f8}td.num{text-align:right;"
    "font-variant-numeric:tabular-nums}tr.total td{background:#fafafa}pre{background:#f6f8fa;padding:10px;overflow:auto;"
    "font-size:13px;max-height:420px}.row{display:flex;flex-wrap:wrap;gap:8px}figure{margin:4px}"
    "svg text{font-family:inherit}.title{font-size:14px;font-weight:600}.tick{font-size:11px;fill:#444}"
    ".label{font-size:12px;fill:#222}.legend{font-size:11px}.cell{font-size:11px}.grid{stroke:#e5e5e5}"
    ".axis{stroke:#333}.ref{stroke:#999;stroke-dasharray:4 4}.marker{stroke:#D55E00;stroke-dasharray:5 3}"
    ".note{color:#555;font-style:italic}code{background:#f1f1f1;padding:0 3px}";

std::string curves(const std::vector<const RunFiles*>& runs, bool overlay) {
    std::vector<std::string> names;
    for (const RunFiles* r : runs)
        for (const auto& m : metric_names(r->history))
            if (std::find(names.begin(), names.end(), m) == names.end()) names.push_back(m);
    std::string o = "<div class=row>";
    for (const auto& m : names) {
        std::vector<Series> s;
        double marker = NAN;
        for (const RunFiles* r : runs) {
            const std::string who = overlay ? r->name + " " : "";
            std::vector<double> x = r->history.epochs();
            std::vector<double> y = r->history.column(m);
            if (!y.empty()) s.push_back({who + (m.rfind("val_", 0) == 0 ? "validation" : "training"), x, y, false});
            std::vector<double> v = r->history.column("val_" + m);
            if (!v.empty()) s.push_back({who + "validation", x, v, true});
            if (!overlay)
                if (const JsonValue* b = r->metrics.find("best_epoch")) marker = b->number;
        }
        o += chart(m, "epoch", m, s, false, marker, std::isfinite(marker) ? "best epoch " + num(marker) : "");
    }
    std::vector<Series> lr;
    for (const RunFiles* r : runs) {
        std::vector<double> y = r->history.column("learning_rate");
        if (!y.empty()) lr.push_back({overlay ? r->name : "learning rate", r->history.epochs(), y, false});
    }
    if (!lr.empty()) o += chart("learning rate (end of each epoch)", "epoch", "learning rate", lr);
    return o + "</div>";
}

std::string run_section(const RunFiles& r) {
    std::string o = "<h2 id='" + esc(r.name) + "'>Run " + esc(r.name) + "</h2>";
    const JsonValue* e = r.metrics.find("epochs_run");
    const JsonValue* status = r.info.find("status");
    const bool going = !e;
    const double n = e ? e->number : double(r.history.rows.size());
    o += "<p>" + esc(r.dir) + ": " + num(n) + (n == 1 ? " epoch" : " epochs") +
         (going ? std::string(" so far (status: ") + (status ? status->text : "?") + "; draw the report again for more)" : "");
    if (const JsonValue* s = r.metrics.find("stopped_early"); s && s->boolean) o += ", stopped early";
    if (const JsonValue* b = r.metrics.find("best_epoch")) o += ", best epoch " + num(b->number);
    o += ".</p><h3>Learning curves</h3>" + curves({&r}, false);
    o += "<h3>Results</h3>" + logs_table({{"last epoch", r.metrics.find("final")}, {"test", r.metrics.find("test")}});
    if (!going) o += "<h3>Test data</h3>" + test_section(r.dir);
    o += "<h3>Model</h3>" + (going ? "<p class=note>Not saved yet.</p>" : summary_table(r.dir));
    o += "<h3>Run facts</h3>" + facts(r);
    o += "<h3>Resolved config</h3><pre>" + esc(r.config) + "</pre>";
    return o;
}

/// A parallel-coordinates plot: one vertical axis per numeric parameter and one for the objective,
/// a line per completed trial, the best trials darkest.
std::string parallel(const std::vector<std::string>& names, const std::vector<std::vector<double>>& rows,
                     const std::vector<double>& objective, bool minimize) {
    const size_t A = names.size() + 1;
    size_t longest = 9;  // "objective"
    for (const auto& n : names) longest = std::max(longest, n.size());
    const int gap = std::max(120, int(longest) * 7 + 16);  // room for each axis' label (about 7 px a character)
    const int L = std::max(60, int(names.empty() ? 0 : names[0].size()) * 7 / 2 + 8), R = 60;
    const int W = std::max(560, L + R + int(A - 1) * gap), H = 320, T = 40, B = 40;
    std::vector<double> lo(A, INFINITY), hi(A, -INFINITY);
    auto val = [&](size_t t, size_t a) { return a + 1 == A ? objective[t] : rows[t][a]; };
    for (size_t t = 0; t < objective.size(); ++t)
        for (size_t a = 0; a < A; ++a) lo[a] = std::min(lo[a], val(t, a)), hi[a] = std::max(hi[a], val(t, a));
    std::vector<size_t> order(objective.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return minimize ? objective[a] > objective[b] : objective[a] < objective[b]; });
    std::ostringstream o;
    o.setf(std::ios::fixed);
    o.precision(1);
    o << "<figure><svg class=chart viewBox='0 0 " << W << " " << H << "' width=" << W << " height=" << H
      << " role=img aria-label='parallel coordinates'><text class=title x=" << L << " y=18>every trial (darker: better)</text>";
    auto ax = [&](size_t a) { return L + double(a) * double(W - L - R) / double(std::max<size_t>(1, A - 1)); };
    auto ay = [&](size_t a, double v) { return hi[a] > lo[a] ? T + (hi[a] - v) / (hi[a] - lo[a]) * (H - T - B) : (T + H - B) / 2.0; };
    for (size_t r = 0; r < order.size(); ++r) {  // worst first, so the best are drawn on top
        const size_t t = order[r];
        const double shade = order.size() > 1 ? double(r) / double(order.size() - 1) : 1.0;
        o << "<polyline fill=none stroke='#0072B2' stroke-opacity=" << 0.15 + 0.85 * shade << " stroke-width=1.5 points='";
        for (size_t a = 0; a < A; ++a) o << ax(a) << "," << ay(a, val(t, a)) << " ";
        o << "' />";
    }
    for (size_t a = 0; a < A; ++a) {
        o << "<line class=axis x1=" << ax(a) << " x2=" << ax(a) << " y1=" << T << " y2=" << H - B << " />";
        o << "<text class=label x=" << ax(a) << " y=" << H - 12 << " text-anchor=middle>"
          << esc(a + 1 == A ? std::string("objective") : names[a]) << "</text>";
        o << "<text class=tick x=" << ax(a) + 4 << " y=" << T + 4 << ">" << num(hi[a]) << "</text>";
        o << "<text class=tick x=" << ax(a) + 4 << " y=" << H - B << ">" << num(lo[a]) << "</text>";
    }
    o << "</svg></figure>";
    return o.str();
}

/// Trials over time, a lane per worker: each trial's last attempt as a bar from its start, its
/// length the trial's duration (a running one reaches to the latest time the store knows). Shows
/// idle workers, stragglers and where failures cluster.
std::string timeline(const std::vector<TrialRecord>& trials) {
    std::vector<const TrialRecord*> ts;
    for (const auto& t : trials)
        if (t.started > 0 && t.state != "pending") ts.push_back(&t);
    if (ts.empty()) return "<p class=note>Trials over time: the store has no start times (a sweep from an older nnctl).</p>";
    std::sort(ts.begin(), ts.end(), [](const TrialRecord* a, const TrialRecord* b) { return a->started < b->started; });
    const double t0 = ts.front()->started;
    double t1 = t0;
    for (const TrialRecord* t : ts) t1 = std::max(t1, t->started + (t->state == "running" ? 0.0 : t->duration));
    std::vector<int> lanes;  // workers in the order they first started a trial
    for (const TrialRecord* t : ts)
        if (std::find(lanes.begin(), lanes.end(), t->worker) == lanes.end()) lanes.push_back(t->worker);
    const double span = std::max(t1 - t0, 1e-3);
    const double unit = span >= 36000 ? 3600 : span >= 600 ? 60 : 1;
    const std::string uname = unit == 3600 ? "hours" : unit == 60 ? "minutes" : "seconds";
    const int lane_h = std::max(3, std::min(24, 320 / int(lanes.size()))), gap = lane_h >= 8 ? 3 : 0;
    const int W = 640, L = 110, R = 16, T = 46, B = 44, H = T + int(lanes.size()) * lane_h + B;
    auto px = [&](double t) { return L + (t - t0) / span * (W - L - R); };
    std::ostringstream o;
    o.setf(std::ios::fixed);
    o.precision(1);
    o << "<figure><svg class=chart viewBox='0 0 " << W << " " << H << "' width=" << W << " height=" << H
      << " role=img aria-label='trials over time per worker'><text class=title x=" << L << " y=18>trials over time, by worker</text>";
    const std::pair<const char*, const char*> states[] = {
        {"complete", kPalette[0]}, {"pruned", kPalette[2]}, {"failed", kPalette[3]}, {"running", kPalette[1]}};
    for (size_t k = 0; k < 4; ++k) {
        const int lx = L + int(k) * 110;
        o << "<rect x=" << lx << " y=28 width=14 height=9 fill='" << states[k].second << "' /><text class=legend x=" << lx + 18
          << " y=37>" << states[k].first << "</text>";
    }
    for (double v : ticks(0, span / unit)) {
        const double x = px(t0 + v * unit);
        o << "<line class=grid x1=" << x << " x2=" << x << " y1=" << T << " y2=" << H - B << " />";
        o << "<text class=tick x=" << x << " y=" << H - B + 16 << " text-anchor=middle>" << num(v, 4) << "</text>";
    }
    const size_t label_every = size_t(std::max(1, 12 / lane_h));  // thin lanes: label some of them
    for (size_t w = 0; w < lanes.size(); ++w)
        if (w % label_every == 0)
            o << "<text class=tick x=" << L - 6 << " y=" << T + int(w) * lane_h + lane_h / 2 + 4 << " text-anchor=end>worker "
              << lanes[w] << "</text>";
    for (const TrialRecord* t : ts) {
        const size_t w = size_t(std::find(lanes.begin(), lanes.end(), t->worker) - lanes.begin());
        const double end = t->state == "running" ? t1 : t->started + t->duration;
        const char* c = t->state == "complete" ? kPalette[0] : t->state == "failed" ? kPalette[3]
                      : t->state == "pruned"                ? kPalette[2]
                                                            : kPalette[1];
        o << "<rect x=" << px(t->started) << " y=" << T + int(w) * lane_h + gap / 2 << " width=" << std::max(0.8, px(end) - px(t->started))
          << " height=" << lane_h - gap << " fill='" << c << "'><title>trial " << t->index << " (" << t->state
          << (t->state == "complete" ? ", " + num(t->mean, 6) : std::string()) << "): " << num(t->duration, 4) << " s"
          << (t->deaths > 0 ? ", after " + std::to_string(t->deaths) + " worker death" + (t->deaths > 1 ? "s" : "") : std::string())
          << "</title></rect>";
    }
    o << "<line class=axis x1=" << L << " x2=" << W - R << " y1=" << H - B << " y2=" << H - B << " />";
    o << "<text class=label x=" << (L + W - R) / 2 << " y=" << H - 8 << " text-anchor=middle>" << uname
      << " since the first trial started</text></svg></figure>";
    return o.str();
}

/// The parameters a sweep drew log-uniformly (their axes are logarithmic), from the search section
/// stored with it (the store's fingerprint: the config, then "--- search ---" and the section).
std::set<std::string> log_params(const SearchStore& store) {
    std::set<std::string> out;
    const std::string f = store.meta("fingerprint");
    const size_t at = f.find("--- search ---\n");
    if (at == std::string::npos) return out;
    try {
        const YAML::Node s = YAML::Load(f.substr(at + 15));
        if (const YAML::Node space = s["space"]; space && space.IsMap())
            for (const auto& kv : space)
                if (kv.second.IsMap() && kv.second["distribution"] && kv.second["distribution"].as<std::string>() == "log_uniform")
                    out.insert(kv.first.as<std::string>());
    } catch (const YAML::Exception&) {
    }
    return out;
}

/// A sweep directory (nnctl grid-search / random-search): the leaderboard, the objective against
/// each searched parameter, every trial in parallel coordinates, the failed trials, and the
/// refitted best model's run.
std::string sweep_section(const std::string& dir, const std::string& name) {
    SearchStore store(dir + "/search.db");
    const std::string objective = store.meta("objective");
    const bool minimize = minimize_objective(objective, store.meta("direction").empty() ? "auto" : store.meta("direction"));
    std::vector<TrialRecord> trials = store.all();
    const std::set<std::string> logs = log_params(store);
    std::vector<const TrialRecord*> done, failed;
    long long pruned = 0;
    for (const auto& t : trials) {
        if (t.state == "complete") done.push_back(&t);
        if (t.state == "failed") failed.push_back(&t);
        pruned += t.state == "pruned";
    }
    std::sort(done.begin(), done.end(), [&](const TrialRecord* a, const TrialRecord* b) { return minimize ? a->mean < b->mean : a->mean > b->mean; });
    std::string o = "<h2 id='" + esc(name) + "'>Sweep " + esc(name) + "</h2><p>" + esc(dir) + ": objective <b>" + esc(objective) +
                    "</b> (" + (minimize ? "lower" : "higher") + " is better); " + count(static_cast<long long>(trials.size())) + " trials, " +
                    count(static_cast<long long>(done.size())) + " complete, " +
                    (pruned > 0 ? count(pruned) + " stopped early (pruned), " : std::string()) +
                    count(static_cast<long long>(failed.size())) + " failed.</p>";
    // The searched parameters, from the trials' params.
    std::vector<std::string> pnames;
    std::vector<std::map<std::string, const JsonValue*>> params;
    std::vector<JsonValue> parsed;
    parsed.reserve(done.size());
    for (const TrialRecord* t : done) {
        parsed.push_back(parse_json(t->params.empty() ? "{}" : t->params));
        std::map<std::string, const JsonValue*> m;
        for (const auto& [k, v] : parsed.back().members) {
            m[k] = &v;
            if (std::find(pnames.begin(), pnames.end(), k) == pnames.end()) pnames.push_back(k);
        }
        params.push_back(m);
    }
    auto text_of = [](const JsonValue* v) { return !v ? std::string("–") : v->is_string() ? v->text : v->text.empty() ? (v->boolean ? "true" : "false") : v->text; };
    o += "<h3>Leaderboard</h3><p class=note>Best first" + (done.size() > 50 ? "; the top 50 of " + count(static_cast<long long>(done.size())) : std::string()) +
         ". Click a column to sort.</p><table class=sortable><tr><th>rank</th><th>trial</th><th>" + esc(objective) + "</th><th>±</th><th>seconds</th>";
    for (const auto& p : pnames) o += "<th>" + esc(p) + "</th>";
    o += "</tr>";
    for (size_t r = 0; r < std::min<size_t>(50, done.size()); ++r) {
        const TrialRecord& t = *done[r];
        o += "<tr><td class=num>" + std::to_string(r + 1) + "</td><td class=num>" + std::to_string(t.index) + "</td><td class=num>" +
             num(t.mean, 5) + "</td><td class=num>" + num(t.std, 3) + "</td><td class=num>" + num(t.duration, 3) + "</td>";
        for (const auto& p : pnames) {
            auto it = params[r].find(p);
            o += "<td>" + esc(text_of(it == params[r].end() ? nullptr : it->second)) + "</td>";
        }
        o += "</tr>";
    }
    o += "</table>";
    // The objective against each numeric parameter (a log10 axis for a log-uniform one);
    // a categorical one as its values' mean objective.
    std::vector<std::string> numeric;
    std::vector<std::vector<double>> coords(done.size());
    std::vector<double> obj;
    for (const TrialRecord* t : done) obj.push_back(t->mean);
    o += "<h3>The objective against each parameter</h3><div class=row>";
    for (const auto& p : pnames) {
        bool is_num = true;
        std::vector<double> xs;
        for (const auto& m : params) {
            auto it = m.find(p);
            is_num = is_num && it != m.end() && it->second->is_number();
            xs.push_back(is_num ? it->second->number : NAN);
        }
        if (is_num && !xs.empty()) {
            const double mn = *std::min_element(xs.begin(), xs.end()), mx = *std::max_element(xs.begin(), xs.end());
            const bool logx = mn > 0 && (logs.count(p) || mx / mn >= 1000);
            Series pts{"trials", {}, obj};
            for (double x : xs) pts.x.push_back(logx ? std::log10(x) : x);
            o += chart(p, logx ? "log10 " + p : p, objective, {pts}, true);
            numeric.push_back(p);
            for (size_t i = 0; i < xs.size(); ++i) coords[i].push_back(xs[i]);
        } else {
            std::map<std::string, std::pair<double, int>> by;
            for (size_t i = 0; i < params.size(); ++i) {
                auto it = params[i].find(p);
                auto& e = by[text_of(it == params[i].end() ? nullptr : it->second)];
                e.first += obj[i], ++e.second;
            }
            std::string t = "<table><tr><th>" + esc(p) + "</th><th>trials</th><th>mean " + esc(objective) + "</th></tr>";
            for (const auto& [v, e] : by) t += "<tr><td>" + esc(v) + "</td><td class=num>" + std::to_string(e.second) + "</td><td class=num>" + num(e.first / e.second) + "</td></tr>";
            o += "<div>" + t + "</table></div>";
        }
    }
    o += "</div>";
    if (!numeric.empty() && done.size() > 1) o += "<h3>Every trial</h3>" + parallel(numeric, coords, obj, minimize);
    o += "<h3>Trials over time</h3>" + timeline(trials);
    if (!failed.empty()) {
        o += "<h3>Failed trials</h3><table><tr><th>trial</th><th>params</th><th>error</th></tr>";
        for (const TrialRecord* t : failed)
            o += "<tr><td class=num>" + std::to_string(t->index) + "</td><td>" + esc(t->params) + "</td><td>" + esc(t->error) + "</td></tr>";
        o += "</table>";
    }
    if (path_exists(dir + "/best-model/history.csv")) {
        RunFiles best = read_run(dir + "/best-model");
        best.name = name + "/best-model";
        o += "<p>The best configuration, refitted on all training data: below.</p>" + run_section(best);
    }
    return o;
}

// A click on a header of a .sortable table sorts its rows by that column (numbers as numbers).
const char* kSortScript =
    "<script>document.querySelectorAll('table.sortable th').forEach(function(h,i){h.style.cursor='pointer';"
    "h.onclick=function(){var t=h.closest('table'),rows=[].slice.call(t.rows,1),d=h.dataset.d=h.dataset.d=='1'?'-1':'1';"
    "rows.sort(function(a,b){var x=a.cells[i].textContent,y=b.cells[i].textContent,p=parseFloat(x),q=parseFloat(y);"
    "return (isNaN(p)||isNaN(q)?x.localeCompare(y):p-q)*d;});rows.forEach(function(r){t.tBodies[0].appendChild(r);});};});"
    "</script>";

}  // namespace

std::string report_html(const std::vector<std::string>& run_dirs) {
    if (run_dirs.empty()) throw ConfigError("report: give at least one run directory");
    std::vector<RunFiles> runs;
    std::vector<std::string> sweeps;
    for (const auto& d : run_dirs) {
        if (path_exists(d + "/search.db")) sweeps.push_back(d);
        else if (!path_exists(d + "/history.csv") && !path_exists(d))
            throw DataError(d + ": no such run or sweep directory");
        else runs.push_back(read_run(d));
    }
    if (runs.empty()) {  // only sweeps
        std::string o = "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>nnctl sweep</title><style>" +
                        std::string(kStyle) + "</style></head><body><h1>nnctl sweep" + (sweeps.size() > 1 ? "s" : "") + "</h1>";
        o += "<p class=note>Written by nnctl " NNCTL_VERSION " on " + utc_now() + ". Hover a point for its value.</p>";
        for (const auto& d : sweeps) {
            std::string n = d;
            while (n.size() > 1 && n.back() == '/') n.pop_back();
            if (auto sl = n.rfind('/'); sl != std::string::npos) n = n.substr(sl + 1);
            o += sweep_section(d, n);
        }
        return o + kSortScript + "</body></html>\n";
    }
    if (!sweeps.empty()) throw ConfigError("report: give run directories or sweep directories, not both in one page");
    std::string title = runs.size() == 1 ? "nnctl run " + runs[0].name : "nnctl: " + std::to_string(runs.size()) + " runs";
    std::string o = "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><meta name=viewport "
                    "content='width=device-width,initial-scale=1'><title>" + esc(title) + "</title><style>" + kStyle +
                    "</style></head><body><h1>" + esc(title) + "</h1>";
    o += "<p class=note>Written by nnctl " NNCTL_VERSION " on " + utc_now() + ". Hover a point or a cell for its value.</p>";
    if (runs.size() > 1) {
        std::vector<const RunFiles*> all;
        for (const auto& r : runs) all.push_back(&r);
        o += "<h2>Runs compared</h2><ul>";
        for (const auto& r : runs) o += "<li><a href='#" + esc(r.name) + "'>" + esc(r.name) + "</a> (" + esc(r.dir) + ")</li>";
        o += "</ul><h3>Learning curves</h3>" + curves(all, true);
        std::vector<std::pair<std::string, const JsonValue*>> fin, test;
        for (const auto& r : runs) fin.emplace_back(r.name, r.metrics.find("final")), test.emplace_back(r.name, r.metrics.find("test"));
        o += "<h3>Last epoch</h3>" + logs_table(fin) + "<h3>Test</h3>" + logs_table(test);
        // The config values that differ.
        std::vector<std::map<std::string, std::string>> flat(runs.size());
        std::set<std::string> paths;
        for (size_t i = 0; i < runs.size(); ++i) {
            try {
                flat[i] = flatten_yaml(runs[i].config);
            } catch (const YAML::Exception&) {
            }
            for (const auto& [p, v] : flat[i]) paths.insert(p);
        }
        std::string diff;
        for (const auto& p : paths) {
            bool same = true;
            for (size_t i = 1; i < runs.size(); ++i) same = same && flat[i].count(p) == flat[0].count(p) && (!flat[0].count(p) || flat[i][p] == flat[0][p]);
            if (same) continue;
            diff += "<tr><td>" + esc(p) + "</td>";
            for (size_t i = 0; i < runs.size(); ++i) diff += "<td>" + (flat[i].count(p) ? esc(flat[i][p]) : std::string("–")) + "</td>";
            diff += "</tr>";
        }
        o += "<h3>Config differences</h3>";
        if (diff.empty()) o += "<p>The resolved configs are the same.</p>";
        else {
            o += "<table><tr><th>key</th>";
            for (const auto& r : runs) o += "<th>" + esc(r.name) + "</th>";
            o += "</tr>" + diff + "</table>";
        }
    }
    for (const auto& r : runs) o += run_section(r);
    return o + "</body></html>\n";
}

}  // namespace nnctl
