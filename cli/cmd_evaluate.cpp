// nnctl evaluate RUN_DIR: score a trained model on its test data or on other data.
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "common.hpp"
#include "core/json.hpp"
#include "train/evaluate.hpp"
#include "train/forecast.hpp"
#include "train/experiment.hpp"

namespace nnctl::cli {

namespace {

struct EvaluateOptions {
    std::string run;
    std::string data;
    int batch_size = 1024;
    CommonOptions common;
};

std::string pad(const std::string& s, size_t w) { return s.size() >= w ? s : std::string(w - s.size(), ' ') + s; }

void print_classification(const ClassificationReport& r) {
    auto& lg = log();
    size_t w = 12;
    for (const auto& c : r.classes) w = std::max(w, c.size() + 2);
    char buf[160];
    lg.info("{}  precision     recall   f1-score    support", pad("", w));
    for (size_t c = 0; c < r.classes.size(); ++c) {
        std::snprintf(buf, sizeof buf, "%10.4f %10.4f %10.4f %10lld", r.precision[c], r.recall[c], r.f1[c], r.support[c]);
        lg.info("{}  {}", pad(r.classes[c], w), buf);
    }
    long long total = 0;
    for (auto s : r.support) total += s;
    std::snprintf(buf, sizeof buf, "%10s %10s %10.4f %10lld", "", "", r.accuracy, total);
    lg.info("{}  {}", pad("accuracy", w), buf);
    std::snprintf(buf, sizeof buf, "%10.4f %10.4f %10.4f %10lld", r.macro_precision, r.macro_recall, r.macro_f1, total);
    lg.info("{}  {}", pad("macro avg", w), buf);
    std::snprintf(buf, sizeof buf, "%10.4f %10.4f %10.4f %10lld", r.weighted_precision, r.weighted_recall,
                  r.weighted_f1, total);
    lg.info("{}  {}", pad("weighted avg", w), buf);
    lg.info("");
    lg.info("confusion matrix (rows: true class, columns: predicted)");
    size_t cw = 6;
    for (const auto& c : r.classes) cw = std::max(cw, c.size() + 1);
    std::string head = pad("", w);
    for (const auto& c : r.classes) head += pad(c, cw + 1);
    lg.info("{}", head);
    for (size_t i = 0; i < r.classes.size(); ++i) {
        std::string row = pad(r.classes[i], w);
        for (auto v : r.confusion[i]) row += pad(std::to_string(v), cw + 1);
        lg.info("{}", row);
    }
}

/// One table per forecast: a row per forecaster (the model, then its baselines), original units.
void print_forecast(const ForecastReport& r) {
    auto& lg = log();
    std::string targets;
    for (const auto& t : r.targets) targets += (targets.empty() ? "" : ", ") + t;
    lg.info("forecast of {} ({} step{} ahead), {} windows, in the series' units", targets, r.horizon,
            r.horizon == 1 ? "" : "s", r.windows);
    auto table = [&](const char* title, auto&& scores_of) {
        if (title) lg.info("{}", title);
        lg.info("{}  {:>12} {:>12} {:>10} {:>10}", pad("", 20), "MAE", "RMSE", "MAPE %", "sMAPE %");
        for (const auto& m : r.methods) {
            const ForecastScores& s = scores_of(m);
            std::string name = m.name == "seasonal_naive" ? "seasonal naive (" + std::to_string(r.season) + ")" : m.name;
            if (m.windows != r.windows) name += " *";
            char buf[128];
            std::snprintf(buf, sizeof buf, "%12.4f %12.4f %10.2f %10.2f", s.mae, s.rmse, s.mape, s.smape);
            lg.info("{:<20}  {}", name, buf);
        }
    };
    table(nullptr, [](const ForecastMethod& m) -> const ForecastScores& { return m.all; });
    if (r.targets.size() > 1)
        for (size_t t = 0; t < r.targets.size(); ++t)
            table(("target " + r.targets[t]).c_str(),
                  [t](const ForecastMethod& m) -> const ForecastScores& { return m.per_target[t]; });
    for (const auto& m : r.methods)
        if (m.windows != r.windows)
            lg.info("* {}: scored on the {} windows whose series reaches back far enough", m.name, m.windows);
    if (!r.methods.empty() && r.methods[0].all.mape_skipped > 0)
        lg.info("MAPE leaves out {} zero actual value(s), where it is undefined", r.methods[0].all.mape_skipped);
}

int run_evaluate(EvaluateOptions& o) {
    apply_common_options(o.common);
    auto& lg = log();
    SavedRun run = load_run(o.run);
    ForecastReference ref;
    Dataset data = load_evaluation_data(run, o.data, &ref);
    Logs logs = evaluate_model(run.model, run.heads, data, o.batch_size);
    const Matrix outputs = predict_all(run.model, data.x, o.batch_size);

    std::string line;
    char buf[64];
    for (const auto& [k, v] : logs) {
        std::snprintf(buf, sizeof buf, "%s: %.4f  ", k.c_str(), v);
        line += buf;
    }
    const bool forecaster = run.schema.format == "timeseries";
    lg.info("{} {}  {}{}", data.size(), forecaster ? "windows" : "samples", line, forecaster ? "(loss on scaled values)" : "");
    lg.info("");

    JsonWriter j;
    j.begin_object();
    j.key("run").value(o.run);
    j.key("data").value(o.data.empty() ? std::string("test split") : o.data);
    j.key("samples").value(static_cast<long long>(data.size()));
    for (const auto& [k, v] : logs) j.key(k).value(v);
    // The report of one output: its targets (`t`) against its columns of the model's outputs.
    auto report = [&](const Dataset& t, const Matrix& out) {
        if (t.is_classification()) {
            ClassificationReport r = classification_report(t.labels, predicted_classes(out), t.class_names);
            print_classification(r);
            j.key("classification_report").begin_object();
            for (size_t c = 0; c < r.classes.size(); ++c) {
                j.key(r.classes[c]).begin_object();
                j.key("precision").value(r.precision[c]).key("recall").value(r.recall[c]).key("f1").value(r.f1[c]);
                j.key("support").value(static_cast<long long>(r.support[c]));
                j.end_object();
            }
            j.key("accuracy").value(r.accuracy);
            j.key("macro_avg").begin_object().key("precision").value(r.macro_precision).key("recall").value(r.macro_recall)
                .key("f1").value(r.macro_f1).end_object();
            j.key("weighted_avg").begin_object().key("precision").value(r.weighted_precision).key("recall")
                .value(r.weighted_recall).key("f1").value(r.weighted_f1).end_object();
            j.end_object();
            j.key("confusion_matrix").begin_object().key("labels").begin_array();
            for (const auto& c : r.classes) j.value(c);
            j.end_array().key("matrix").begin_array();
            for (const auto& row : r.confusion) {
                j.begin_array();
                for (auto v : row) j.value(static_cast<long long>(v));
                j.end_array();
            }
            j.end_array().end_object();
        } else {
            RegressionReport r = regression_report(t.y, out);
            std::snprintf(buf, sizeof buf, "%.6g", r.mse);
            lg.info("mse: {}  mae: {:.6g}  rmse: {:.6g}  r2: {:.6g}", buf, r.mae, r.rmse, r.r2);
            j.key("regression").begin_object().key("mse").value(r.mse).key("mae").value(r.mae).key("rmse").value(r.rmse)
                .key("r2").value(r.r2).end_object();
        }
    };
    if (!data.targets.empty()) {  // several outputs: a report each, under "outputs" in the JSON
        j.key("outputs").begin_object();
        for (size_t k = 0; k < run.heads.size(); ++k) {
            const OutputHead& h = run.heads[k];
            lg.info("output {}:", h.name);
            j.key(h.name).begin_object();
            report(data.targets[k], outputs.middleCols(h.offset, h.width));
            j.end_object();
            if (k + 1 < run.heads.size()) lg.info("");
        }
        j.end_object();
    } else if (forecaster) {
        ForecastReport r = forecast_report(run.schema.series, ref, unscale_forecast(run.schema.series, outputs));
        print_forecast(r);
        j.key("forecast");
        write_forecast_json(j, r);
    } else {
        report(data, outputs);
    }
    j.end_object();
    if (o.common.json) std::cout << j.str() << std::endl;
    return 0;
}

}  // namespace

std::function<int()> register_evaluate(CLI::App& app) {
    auto o = std::make_shared<EvaluateOptions>();
    CLI::App* cmd = app.add_subcommand("evaluate", "Score a trained run on its test data, or on --data");
    cmd->add_option("run", o->run, "Run directory written by nnctl train")->required()->type_name("RUN_DIR");
    cmd->add_option("--data", o->data,
                    "Data to score instead of the run's test split: FILE.csv, idx:IMAGES,LABELS, npy:X.npy,Y.npy, "
                    "or a YAML file with one data source")
        ->type_name("SOURCE");
    cmd->add_option("--batch-size", o->batch_size, "Rows per forward pass")->check(CLI::Range(1, 1 << 20));
    add_common_options(*cmd, o->common, false, "Print one JSON document on stdout; the report goes to stderr");
    cmd->footer(
        "\nPrints the loss and every configured metric; for classifiers also per-class precision, recall,\n"
        "F1 and support and the confusion matrix; for regression MSE, MAE, RMSE and R²; for forecasters\n"
        "(timeseries) MAE, RMSE, MAPE and sMAPE in the series' units next to the naive (last value) and,\n"
        "with a season, seasonal-naive baselines. MAPE leaves out zero actual values.\n"
        "Example: nnctl evaluate runs/iris --json\n" +
        std::string(kExitCodes));
    return [o] { return run_evaluate(*o); };
}

}  // namespace nnctl::cli
