#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "core/json.hpp"
#include "data/dataset.hpp"
#include "model/safetensors.hpp"
#include "model/sequential.hpp"
#include "optim/optimizer.hpp"
#include "train/forecast.hpp"
#include "train/trainer.hpp"

namespace nnctl {

/// Everything a run needs, loaded and built from a config.
struct Experiment {
    ExperimentConfig cfg;
    DataSplits data;
    Sequential model;
    Loss loss;  ///< as used in training (from_logits when the output activation was fused); the first head's
    std::vector<OutputHead> heads;  ///< one per model output (one, unnamed, for a single output)
    std::unique_ptr<Optimizer> optimizer;
    Communicator* comm = nullptr;  ///< data-parallel training with these processes (null: alone)
};

struct ExperimentResult {
    TrainResult train;
    Logs final_logs;  ///< the last epoch's logs (train and validation)
    Logs test_logs;   ///< empty without test data
    std::optional<ForecastReport> forecast;  ///< timeseries with test data: model vs baselines, original units
};

/// Load the data and build the model, loss and optimizer a config describes.
Experiment prepare_experiment(const ExperimentConfig& cfg);

/// The per-sample input shape of the model: model.input_shape when given (it must hold as many values
/// as the data has features), else the training data's own shape (IDX images: (rows, cols, 1)).
Shape model_input_shape(const ExperimentConfig& cfg, const Dataset& train);

/// Fuse a final softmax/sigmoid into the matching cross-entropy (stable gradients, same
/// predictions), or give a logits-output model the activation its predictions need.
void fuse_output(Sequential& model, Loss& loss, size_t output = 0);
/// The model's heads as the config gives them (each output's loss fused with its activation as
/// fuse_output does; one unnamed head for a single output).
std::vector<OutputHead> model_heads(Sequential& model, const ExperimentConfig& cfg);

/// A trained model read back from a run directory, ready for evaluate and predict.
struct SavedRun {
    std::string dir;
    ExperimentConfig cfg;
    DataSchema schema;
    Sequential model;
    Loss loss;  ///< as used in training (the first head's)
    std::vector<OutputHead> heads;
};
/// Read config.yaml, model.json and model.safetensors of a run directory. Errors are DataErrors
/// (exit 3) naming the file; weights whose names or shapes do not match list the first mismatches.
SavedRun load_run(const std::string& dir);
/// Copy tensors into the model's parameters by name; throws DataError listing mismatches.
void load_weights(Sequential& model, const std::vector<LoadedTensor>& tensors, const std::string& what);
/// model.init_from: copy the chosen layers' weights (all, or f.layers) from a run directory's
/// model.safetensors or a .safetensors file, by tensor name and shape. A missing or mis-shaped
/// tensor is a DataError naming it under strict, else a warning and the tensor keeps its
/// initialization; other tensors in the file are ignored.
void init_weights_from(Sequential& model, const InitFromConfig& f);
/// Train, then evaluate on the test split when there is one.
/// Where a training run stands after an epoch (training.checkpoint): the stage running, the finished
/// stages' history, the running fit's snapshot and the optimizer's state; the weights go beside it.
struct Checkpoint {
    int stage = 0;                      ///< index into training.stages (0 without stages)
    int offset = 0;                     ///< epochs of the stages before it (epochs are numbered across stages)
    std::vector<EpochLog> earlier;      ///< the finished stages' history, global epoch numbers
    TrainerSnapshot trainer;            ///< the running stage's fit
    const Optimizer* optimizer = nullptr;               ///< writing: the live optimizer
    std::map<std::string, Matrix> optimizer_tensors;   ///< read back: its slot tensors
    std::map<std::string, double> optimizer_scalars;   ///< read back: its scalars
    std::string config;                 ///< the resolved config the run was started with
};

/// What fit_model leaves behind: the last stage's optimizer and trainer (for evaluate).
struct FitState {
    std::unique_ptr<Optimizer> optimizer;  ///< in: used for a config without stages when set
    std::unique_ptr<Trainer> trainer;
    bool full_logs = true;                 ///< Trainer::set_full_logs
    const Checkpoint* resume = nullptr;    ///< in: continue from this (the model's weights already restored)
    std::function<void(const Checkpoint&)> on_checkpoint;  ///< in: called after every epoch when set
    Communicator* comm = nullptr;          ///< in: data-parallel training (Trainer::set_communicator)
};

/// Train `model` as cfg.training says: one fit of `epochs`, or each of training.stages in turn
/// (freeze/unfreeze its layers, a fresh optimizer with the stage's learning rate and fresh
/// early stopping, as a new Keras compile() + fit() would; epochs counted on across stages, one
/// history). `seed` is the config's seed (the trainer's streams derive from it).
TrainResult fit_model(Sequential& model, const std::vector<OutputHead>& heads, const ExperimentConfig& cfg, const Dataset& train,
                      const Dataset* validation, uint64_t seed, const TrainCallbacks& cb, FitState& st);

/// `resume` / `on_checkpoint` as in FitState.
ExperimentResult run_experiment(Experiment& ex, const TrainCallbacks& cb = {}, const Checkpoint* resume = nullptr,
                                const std::function<void(const Checkpoint&)>& on_checkpoint = {});

/// training.checkpoint: write DIR/checkpoint.safetensors atomically (the weights, the optimizer's
/// slots and early stopping's restore point as tensors; the rest as JSON metadata, doubles exact),
/// the previous one kept as checkpoint.prev.safetensors.
void write_checkpoint(const std::string& dir, const Checkpoint& c, Sequential& model);
/// Read DIR's checkpoint into `model` (its weights) and return the state; a damaged or truncated
/// newest file falls back to the previous one with a warning. False when there is none.
bool read_checkpoint(const std::string& dir, Sequential& model, Checkpoint& out);

/// Write the run directory: config.yaml (the resolved config), model.safetensors, model.json,
/// history.csv, metrics.json — each atomically. `save_model` false for runs whose weights must
/// not be kept (diverged).
void save_run(const std::string& dir, const std::string& resolved_config_yaml, Experiment& ex,
              const ExperimentResult& res, bool save_model = true);

/// Logs as one JSON object {"loss": .., "accuracy": .., ...}.
void write_logs(JsonWriter& j, const Logs& logs);
/// The keys "final" (the last epoch's logs) and, with test data, "test", as in metrics.json.
void write_result_logs(JsonWriter& j, const ExperimentResult& res);

/// How a run came about, for reproducing it: written to run.json (atomically) when a run starts and
/// again when it ends.
struct RunInfo {
    std::vector<std::string> command;  ///< argv
    std::string status = "running";    ///< running | completed | interrupted | diverged | failed
    std::string message;               ///< why it ended, when not completed
    std::string started, finished;     ///< UTC, ISO 8601
    int threads = 1;
    int processes = 1;  ///< data-parallel training: the MPI job's size
};
/// run.json: nnctl version, command, seed, threads, status, times, and each data file's size and SHA-256.
void write_run_info(const std::string& dir, const ExperimentConfig& cfg, const RunInfo& info);
/// Every data file a config reads.
std::vector<std::string> data_files(const DataConfig& d);
/// Current UTC time as ISO 8601.
std::string utc_now();
/// A time in seconds since 1970 as ISO 8601 UTC with milliseconds.
std::string utc_time(double seconds);

/// history.csv text: epoch, every logged value, learning_rate, seconds.
std::string history_csv(const std::vector<EpochLog>& history);

}  // namespace nnctl
