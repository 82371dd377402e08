#pragma once
#include <functional>
#include <string>

#include "train/experiment.hpp"

namespace nnctl {

struct PredictOptions {
    std::string input;                  ///< a path, or "-" for standard input
    std::string input_format = "auto";  ///< auto | csv | jsonl | npy | idx | images | text
    std::string output_format = "csv";  ///< csv | jsonl
    bool proba = false;                 ///< also write class probabilities
    int batch_size = 1024;
};

/// Predict every input row with a saved model, streaming: rows are read, encoded with the run's
/// schema, preprocessed, predicted and written in batches, so memory stays bounded whatever the
/// input's length (CSV and JSON lines; .npy and IDX inputs are read whole). Output goes to `write`
/// in chunks. Returns the number of rows. Rows that do not fit the model are DataErrors naming the
/// input line.
struct PredictStats {
    long long rows = 0;
    double model_seconds = 0.0;  ///< time inside the model's forward passes (no input parsing or output)
};
PredictStats predict_stream(SavedRun& run, const PredictOptions& opt, const std::function<void(const std::string&)>& write);

/// A forecaster (timeseries schema): read the CSV series `opt.input` like the training series,
/// take the window ending at its last row and write the next `horizon` values of each target in
/// original units: CSV `step[,DATE],TARGET...` or JSON lines {"step": h, ...}, with forecast dates
/// when the series' dates step regularly. A series shorter than one window is a DataError saying
/// how many rows are needed. (lib/train/forecast.cpp)
PredictStats predict_forecast(SavedRun& run, const PredictOptions& opt, const std::function<void(const std::string&)>& write);

}  // namespace nnctl
