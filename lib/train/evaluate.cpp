#include "train/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "config/parse.hpp"
#include "core/error.hpp"
#include "core/limits.hpp"
#include "core/rng.hpp"
#include "data/text.hpp"
#include "data/timeseries.hpp"
#include "train/experiment.hpp"

namespace nnctl {

Dataset load_evaluation_data(SavedRun& run, const std::string& spec, ForecastReference* ref) {
    const DataSchema& s = run.schema;
    if (spec.empty()) {
        const auto& dc = run.cfg.data;
        if (!dc.test && dc.test_split <= 0.0)
            throw ConfigError(run.dir + ": the run has no test data (no data.test or data.test_split); give --data");
        DataSplits splits = load_data(dc, run.cfg.loss.is_classification(), Rng::derive(run.cfg.seed, 5));
        if (ref) *ref = std::move(splits.test_reference);
        return std::move(splits.test);
    }
    if (s.format == "timeseries") {
        DataSourceConfig src = parse_source_spec(spec, "");
        if (src.format == "csv") {  // a plain series file: read with the training source's settings
            src.format = "timeseries";
            src.missing = s.missing;
            src.delimiter = s.delimiter;
            src.sequence_stride = src.sampling_rate = src.horizon = 0;
            src.scale.clear();
        } else if (src.format != "timeseries") {
            throw ConfigError(spec + ": the model forecasts a time series: give a CSV series or a YAML timeseries source");
        }
        ForecastReference local;
        return load_series_windows(src, s, ref ? ref : &local);
    }
    if (s.format == "text") {
        DataSourceConfig src;
        auto ends = [&](const char* x) { return spec.size() >= std::strlen(x) && spec.compare(spec.size() - std::strlen(x), std::strlen(x), x) == 0; };
        if (ends(".yaml") || ends(".yml")) {
            src = parse_source_spec(spec, "");
            if (src.format != "text") throw ConfigError(spec + ": the model reads text: give a text source (format: text)");
        } else {  // a file or folder read the way the training source was
            src.format = "text";
            src.path = spec;
            src.delimiter = ends(".tsv") ? '\t' : s.delimiter;
            src.header = s.header;
            src.missing = s.missing;
        }
        if (src.text_column.empty() || (src.text_column == "text" && !s.text.column.empty())) src.text_column = s.text.column;
        if (src.target.empty()) src.target = s.text.target;
        src.where = spec;
        return load_text_with_schema(src, s);
    }
    DataSourceConfig src = parse_source_spec(spec, s.target);
    Dataset d = load_source(src, s.is_classification(), src.format == "csv" && s.format == "csv" ? &s : nullptr);
    if (d.x.cols() != s.width)
        throw DataError(spec + ": " + std::to_string(d.x.cols()) + " features, the model takes " + std::to_string(s.width));
    if (!s.targets.empty()) {  // several outputs: read with the fitted schema's target columns and classes
        if (d.targets.size() != s.targets.size())
            throw DataError(spec + ": the model has " + std::to_string(s.targets.size()) + " outputs, each with its target "
                            "column: give a CSV file with the columns the model was trained on");
        apply_scaling(s.scaling, d.x);
        return d;
    }
    if (s.is_classification() != d.is_classification())
        throw DataError(spec + ": the model is a " + s.task + " model, the data has " +
                        (d.is_classification() ? "class labels" : "numeric targets"));
    if (d.is_classification() && d.class_names != s.class_names) {  // number labels by the model's class names
        for (auto& l : d.labels) {
            const std::string& name = d.class_names[size_t(l)];
            auto it = std::find(s.class_names.begin(), s.class_names.end(), name);
            if (it == s.class_names.end()) throw DataError(spec + ": class " + quote_input(name) + " is not one of the model's classes");
            l = int(it - s.class_names.begin());
        }
        d.class_names = s.class_names;
        d.num_classes = int(s.class_names.size());
    }
    apply_scaling(s.scaling, d.x);
    return d;
}

AccuracyKind accuracy_kind(const Loss& loss, int64_t outputs) {
    if (loss.sparse_targets()) return AccuracyKind::Sparse;
    if (loss.type == "binary_crossentropy" || outputs == 1) return AccuracyKind::Binary;
    return AccuracyKind::Categorical;
}

bool metrics_need_probabilities(const Sequential& model, const std::vector<std::unique_ptr<Metric>>& metrics,
                                size_t output) {
    const ActivationFn& a = model.output_activation(output);
    if (a.is_linear()) return false;
    for (const auto& m : metrics)
        if (m->needs_probabilities() || a.name != "softmax") return true;
    return false;
}

Logs evaluate_model(Sequential& model, const Loss& loss, const std::vector<MetricSpec>& metric_specs,
                    const Dataset& data, int batch_size) {
    return evaluate_model(model, single_head(model, loss, metric_specs), data, batch_size);
}

Logs evaluate_model(Sequential& model, std::vector<OutputHead> heads, const Dataset& data, int batch_size,
                    Communicator* comm) {
    const Matrix t = encode_heads(data, heads);
    HeadScores scores(model, heads, true);
    const Eigen::Index n = data.size();
    const bool shared = comm && comm->size() > 1;
    // Data-parallel: a chunk of batch_size rows per process at a time; each process computes the
    // outputs of its share of the chunk, and every process scores the gathered chunk in batches of
    // batch_size, as one process does (memory: one chunk's outputs, not the whole set's).
    const Eigen::Index chunk = shared ? Eigen::Index(batch_size) * comm->size() : Eigen::Index(batch_size);
    const Eigen::Index cols = heads.back().offset + heads.back().width;  // every output's columns
    Matrix mine, all;
    std::vector<float> gathered;
    double loss_sum = 0.0;
    auto score = [&](const Matrix& out, Eigen::Index s, Eigen::Index b) {
        loss_sum += scores.batch_loss(out, t.middleRows(s, b), nullptr) * double(b);
        scores.update_metrics(model, out, t.middleRows(s, b));
    };
    for (Eigen::Index c = 0; c < n; c += chunk) {
        const Eigen::Index m = std::min<Eigen::Index>(chunk, n - c);
        if (!shared) {
            score(model.forward(data.x.middleRows(c, m), ForwardContext{}), c, m);
            continue;
        }
        const Eigen::Index lo = shard_begin(m, comm->rank(), comm->size()), hi = shard_begin(m, comm->rank() + 1, comm->size());
        if (hi > lo) mine = model.forward(data.x.middleRows(c + lo, hi - lo), ForwardContext{});
        else mine.resize(0, cols);
        comm->gather(mine.data(), size_t(mine.size()), gathered);
        for (Eigen::Index s = 0; s < m; s += batch_size) {
            const Eigen::Index b = std::min<Eigen::Index>(batch_size, m - s);
            all = Eigen::Map<const Matrix>(gathered.data() + s * cols, b, cols);
            score(all, c + s, b);
        }
    }
    Logs logs{{"loss", loss_sum / double(n) + model.regularization_penalty()}};
    scores.append_logs(logs);
    return logs;
}

Matrix predict_all(Sequential& model, const Matrix& x, int batch_size) {
    Matrix out(x.rows(), shape_size(model.output_shape())), buf;
    for (Eigen::Index s = 0; s < x.rows(); s += batch_size) {
        const Eigen::Index b = std::min<Eigen::Index>(batch_size, x.rows() - s);
        model.predict(x.middleRows(s, b), buf);
        out.middleRows(s, b) = buf;
    }
    return out;
}

std::vector<int> predicted_classes(const Matrix& p) {
    std::vector<int> c(size_t(p.rows()));
    for (Eigen::Index i = 0; i < p.rows(); ++i) {
        if (p.cols() == 1) {
            c[size_t(i)] = p(i, 0) > 0.5f ? 1 : 0;
        } else {
            Eigen::Index j;
            p.row(i).maxCoeff(&j);
            c[size_t(i)] = int(j);
        }
    }
    return c;
}

ClassificationReport classification_report(const std::vector<int>& truth, const std::vector<int>& pred,
                                           const std::vector<std::string>& classes) {
    ClassificationReport r;
    const size_t k = classes.size();
    r.classes = classes;
    r.confusion.assign(k, std::vector<long long>(k, 0));
    long long correct = 0;
    for (size_t i = 0; i < truth.size(); ++i) {
        r.confusion[size_t(truth[i])][size_t(pred[i])]++;
        correct += truth[i] == pred[i];
    }
    r.accuracy = truth.empty() ? 0.0 : double(correct) / double(truth.size());
    const double total = double(truth.size());
    for (size_t c = 0; c < k; ++c) {
        long long tp = r.confusion[c][c], predicted = 0, actual = 0;
        for (size_t o = 0; o < k; ++o) predicted += r.confusion[o][c], actual += r.confusion[c][o];
        // Zero where undefined, as scikit-learn's zero_division default reports.
        double p = predicted ? double(tp) / double(predicted) : 0.0;
        double rec = actual ? double(tp) / double(actual) : 0.0;
        double f = p + rec > 0 ? 2 * p * rec / (p + rec) : 0.0;
        r.precision.push_back(p);
        r.recall.push_back(rec);
        r.f1.push_back(f);
        r.support.push_back(actual);
        r.macro_precision += p / double(k);
        r.macro_recall += rec / double(k);
        r.macro_f1 += f / double(k);
        if (total > 0) {
            r.weighted_precision += p * double(actual) / total;
            r.weighted_recall += rec * double(actual) / total;
            r.weighted_f1 += f * double(actual) / total;
        }
    }
    return r;
}

RegressionReport regression_report(const Matrix& truth, const Matrix& pred) {
    RegressionReport r;
    const double n = double(truth.rows());
    const Eigen::Index k = truth.cols();
    Eigen::MatrixXd e = (pred.cast<double>() - truth.cast<double>());
    r.mse = e.array().square().sum() / (n * double(k));
    r.mae = e.array().abs().sum() / (n * double(k));
    r.rmse = std::sqrt(r.mse);
    double r2 = 0.0;
    for (Eigen::Index j = 0; j < k; ++j) {
        Eigen::VectorXd t = truth.col(j).cast<double>();
        double ss_tot = (t.array() - t.mean()).square().sum();
        double ss_res = e.col(j).squaredNorm();
        // scikit-learn: a constant target scores 1 when predicted exactly, else 0.
        r2 += (ss_tot > 0 ? 1.0 - ss_res / ss_tot : (ss_res == 0 ? 1.0 : 0.0)) / double(k);
    }
    r.r2 = r2;
    return r;
}

}  // namespace nnctl
