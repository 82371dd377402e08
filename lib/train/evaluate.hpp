#pragma once
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "losses/loss.hpp"
#include "metrics/metric.hpp"
#include "model/sequential.hpp"
#include "train/trainer.hpp"

namespace nnctl {

struct SavedRun;

/// The data `nnctl evaluate` scores: `spec` (a CSV path, idx:IMAGES,LABELS, npy:X,Y or a YAML source
/// file) read with the run's schema and preprocessing, or — when `spec` is empty — the run's own
/// test data (a test source, or the test_split carved exactly as in training).
/// A forecaster (timeseries schema) scores windows of a series: the test stretch cut as in training,
/// or every window of `spec` (a CSV series or a YAML timeseries source); `ref` receives their actual
/// values and baseline forecasts in original units.
Dataset load_evaluation_data(SavedRun& run, const std::string& spec, ForecastReference* ref = nullptr);

/// What `accuracy` means for this loss and output width (Keras' rule).
AccuracyKind accuracy_kind(const Loss& loss, int64_t outputs);

/// Whether `metrics` must see probabilities rather than the training path's output: only when an
/// output activation was fused out and a metric is not argmax-based (argmax of softmax logits is
/// the argmax of the probabilities).
bool metrics_need_probabilities(const Sequential& model, const std::vector<std::unique_ptr<Metric>>& metrics,
                                size_t output = 0);

/// Loss (penalties included, as Keras reports it) and metrics over a whole data set, inference mode.
Logs evaluate_model(Sequential& model, const Loss& loss, const std::vector<MetricSpec>& metrics, const Dataset& data,
                    int batch_size = 1024);
/// The same for a model with a head per output: the total loss, each head's loss and metrics.
/// With `comm` (data-parallel training), each process computes the outputs of its share of the rows
/// and all score the gathered outputs: the same logs on every process, those of one process.
Logs evaluate_model(Sequential& model, std::vector<OutputHead> heads, const Dataset& data, int batch_size = 1024,
                    Communicator* comm = nullptr);

/// Model outputs after the output activation (probabilities or values) for every row of x.
Matrix predict_all(Sequential& model, const Matrix& x, int batch_size = 1024);

/// Predicted class per row: argmax, or probability > 0.5 for a single sigmoid output.
std::vector<int> predicted_classes(const Matrix& outputs);

/// Per-class precision, recall, F1 and support, like scikit-learn's classification_report.
struct ClassificationReport {
    std::vector<std::string> classes;
    std::vector<std::vector<long long>> confusion;  ///< [true][predicted]
    std::vector<double> precision, recall, f1;
    std::vector<long long> support;
    double accuracy = 0.0;
    double macro_precision = 0.0, macro_recall = 0.0, macro_f1 = 0.0;
    double weighted_precision = 0.0, weighted_recall = 0.0, weighted_f1 = 0.0;
};
ClassificationReport classification_report(const std::vector<int>& truth, const std::vector<int>& pred,
                                           const std::vector<std::string>& classes);

/// MSE, MAE, RMSE and R² (uniform average over outputs, like scikit-learn's r2_score).
struct RegressionReport {
    double mse = 0.0, mae = 0.0, rmse = 0.0, r2 = 0.0;
};
RegressionReport regression_report(const Matrix& truth, const Matrix& pred);

}  // namespace nnctl
