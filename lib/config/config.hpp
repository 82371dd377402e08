#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/initializers.hpp"
#include "core/limits.hpp"
#include "layers/activations.hpp"
#include "layers/options.hpp"
#include "losses/loss.hpp"
#include "metrics/metric.hpp"
#include "optim/optimizer.hpp"
#include "regularizers/regularizer.hpp"

namespace nnctl {

/// Plain structs for a whole experiment, filled and validated by lib/config/parse.cpp.

struct LayerConfig {
    std::string type;      ///< a registered layer type (layers/registry.hpp)
    std::string name;      ///< unique; defaulted to type_N
    bool trainable = true;
    LayerOptions options;  ///< every key of the type's schema, defaults filled in
    std::string where;     ///< "file:line:col: model.layers.N" of the entry, for build-time messages
    /// `inputs`: names of earlier layers or model inputs (a graph, as Keras' functional API); empty:
    /// the layer before (the first layer: the model's input).
    std::vector<std::string> inputs;
};

/// One of `model.inputs`: a named input and its per-sample shape. Several inputs split each sample's
/// features in order (the first input takes the first prod(shape) values, and so on).
struct ModelInputConfig {
    std::string name;
    Shape shape;
};

struct DataSourceConfig {
    std::string format;  ///< synthetic | csv | idx | npy | image_folder | timeseries | text
    // synthetic
    int64_t samples = 1000;
    int64_t features = 20;
    int64_t classes = 10;     ///< classification when > 0
    int64_t outputs = 1;      ///< regression targets when task = regression
    std::string task = "classification";  ///< classification | regression
    uint64_t seed = 1;        ///< X from stream `seed`, y from stream `seed + 1`
    double noise = 0.1;       ///< regression noise stddev
    // csv
    std::string path;         ///< resolved path (csv)
    std::string target;       ///< target column: a name, or a 0-based index without a header
    /// csv `target: [a, b]`: one target column per model output, in model.outputs' order (then `target` is empty)
    std::vector<std::string> target_list;
    std::vector<char> target_classes;  ///< per target_list entry: its output's loss wants class labels (set by the parser)
    std::vector<std::string> feature_columns;  ///< names or indices; empty: all but the target
    std::vector<std::string> categorical;      ///< columns to one-hot even when they look numeric
    char delimiter = ',';
    bool header = true;
    std::string missing = "error";  ///< error | drop | mean
    // timeseries (path, feature_columns, delimiter and missing are shared with csv; missing takes
    // error | interpolate | drop). A validation or test source leaves the window keys at 0 / empty:
    // they come from the training source (and must match it when given).
    std::string date_column;                  ///< `date`: column of ISO, YYYYMMDD, year or number keys; empty: none
    std::vector<std::string> target_columns;  ///< `targets`: forecast columns (a name or a list)
    int64_t sequence_length = 0;              ///< rows per window (0: unset)
    int64_t sequence_stride = 1;              ///< rows between window starts
    int64_t sampling_rate = 1;                ///< rows between the steps of a window
    int64_t horizon = 1;                      ///< future values forecast per target
    int64_t season = 0;                       ///< > 0: score a seasonal-naive baseline of this period (rows)
    std::string scale = "standardize";        ///< none | standardize | minmax, per column, fitted on train
    // text (path, target, delimiter, header and missing are shared with csv; missing takes error | drop):
    // a CSV/TSV, JSON lines or JSON array file, or a folder of one sub-folder of .txt files per class
    std::string text_column = "text";  ///< `text`: the column or key holding the text
    std::string standardize = "lower_and_strip_punctuation";  ///< | lower | strip_punctuation | none
    std::string split = "whitespace";  ///< whitespace | character | none
    std::string output_mode = "int";   ///< int | multi_hot | count | tf_idf
    int64_t ngrams = 1;                ///< every n-gram up to this length
    int64_t max_tokens = 0;            ///< vocabulary cap, special tokens included; 0: no cap
    int64_t output_sequence_length = 0;  ///< int mode: ids per text; 0: the longest training text
    bool pad_to_max_tokens = false;
    bool deduplicate = false;          ///< keep only the first row of each distinct text (before splitting)
    // idx
    std::string images, labels;
    // image_folder (path: the folder of class sub-folders)
    int64_t image_height = 256, image_width = 256;  ///< image_size: every image is resized to it (bilinear)
    std::string color_mode = "rgb";                 ///< grayscale | rgb | rgba
    std::string on_error = "error";                 ///< error | skip (unreadable images)
    // npy
    std::string features_path, targets_path;
    // any source
    int64_t max_samples = 0;  ///< > 0: keep only the first N rows
    int64_t take = 0;         ///< > 0: keep a seeded random subset of N rows
    std::vector<std::string> class_names;  ///< names for integer labels 0..K−1 (idx, npy, csv)
    std::vector<std::string> keep_classes;  ///< keep only these classes (names or 0-based indices), renumbered in this order
    std::string where;        ///< "file:line:col" of this source in the config, for messages
};

struct DataConfig {
    DataSourceConfig train;
    std::optional<DataSourceConfig> validation;
    std::optional<DataSourceConfig> test;
    double validation_split = 0.0;  ///< taken from the training data when no validation source
    double test_split = 0.0;        ///< taken from the training data when no test source
    bool split_shuffle = true;      ///< shuffle (seeded) before splitting off validation/test
    std::string preprocess = "none";  ///< none | rescale | standardize | minmax (fitted on train)
    double rescale = 1.0;
    ReadLimits limits;              ///< data.limits: what a data file may hold before it is refused
};

struct EarlyStoppingConfig {
    bool enabled = false;
    std::string monitor = "val_loss";
    int patience = 0;
    double min_delta = 0.0;
    bool restore_best_weights = false;
    std::string mode = "auto";  ///< auto | min | max
    int start_from_epoch = 0;
};

struct ReduceLrConfig {
    bool enabled = false;
    std::string monitor = "val_loss";
    double factor = 0.1;
    int patience = 10;
    double min_delta = 1e-4;
    int cooldown = 0;
    double min_lr = 0.0;
    std::string mode = "auto";
};

/// One stage of `training.stages`: trained after the stages before it, with fresh optimizer state.
struct StageConfig {
    int epochs = 1;
    double learning_rate = 0.0;          ///< > 0: a constant rate for this stage; 0: the optimizer's own
    std::vector<std::string> unfreeze;   ///< layers made trainable before the stage
    std::vector<std::string> freeze;     ///< layers made untrainable before the stage
};

struct TrainingConfig {
    int epochs = 1;                  ///< with stages: their sum
    std::vector<StageConfig> stages;  ///< empty: one stage of `epochs`
    int batch_size = 32;
    bool shuffle = true;
    int checkpoint_every = 1;        ///< training.checkpoint.every: epochs between checkpoints (0: none)
    EarlyStoppingConfig early_stopping;
    ReduceLrConfig reduce_lr_on_plateau;
};

/// One searched value: a dotted path into the config and where its values come from.
struct SearchParam {
    std::string path;                 ///< e.g. optimizer.learning_rate, model.layers.hidden.units
    std::string kind;                 ///< values | range | uniform | log_uniform | int_uniform | choice | normal
    std::vector<std::string> values;  ///< values / choice: each as YAML flow text (any sub-tree)
    std::vector<double> weights;      ///< choice: relative weights (empty: equal)
    double min = 0.0, max = 0.0, step = 0.0;  ///< range, uniform, log_uniform, int_uniform (step 0: none)
    double mean = 0.0, std = 1.0;     ///< normal
    std::string where;                ///< file:line:col of the entry, for messages
};

/// `search.pruner`: stops unpromising trials while they train (with grid, random and tpe).
struct PrunerConfig {
    std::string type = "none";        ///< none | median
    int warmup_epochs = 0;            ///< no trial is pruned during its first warmup_epochs epochs
    int startup_trials = 5;           ///< nothing is pruned until this many trials have completed
    int min_trials = 1;               ///< completed trials that must have reported the epoch
    int interval = 1;                 ///< epochs between checks (after the warm-up)
};

/// The `search:` section (or a --space file).
struct SearchConfig {
    bool present = false;
    std::string strategy = "grid";    ///< grid | random | halving | hyperband | asha | tpe
    /// Budgets in epochs (halving, hyperband, asha): rungs from min_epochs to max_epochs (default:
    /// training.epochs), η = reduction_factor; hyperband runs its brackets `iterations` times.
    int min_epochs = 1, max_epochs = 0, reduction_factor = 3, iterations = 1;
    bool trials_given = false;        ///< `trials` was written (halving: else η^K trials)
    PrunerConfig pruner;
    int n_startup_trials = 10;        ///< tpe: random trials before the model proposes
    int n_ei_candidates = 24;         ///< tpe: candidates drawn from l(x) per proposal
    std::vector<SearchParam> params;
    int cv = 0;                       ///< k-fold cross-validation; 0: hold-out validation data
    std::string objective = "val_loss";
    std::string direction = "auto";   ///< auto | minimize | maximize
    int repeats = 1;                  ///< seeds per configuration
    bool refit = true;                ///< retrain the best configuration on all training data
    int64_t trials = 20;              ///< random search
    uint64_t seed = 0;                ///< default: the config's seed
    int64_t max_trials = 10000;       ///< a larger grid needs --max-trials
    int top = 10;                     ///< leaderboard rows shown
    /// A trial's checkpoints (training.checkpoint.every epochs) are written at most this often, in
    /// seconds; 0: at every one. A trial interrupted by a crash continues from its last one.
    double checkpoint_seconds = 30.0;
    int retries = 1;                  ///< times a trial whose worker died is run again before it is failed
    /// A running trial whose worker sent no heartbeat for this many seconds is given to another
    /// worker (a machine that went away); 0: never (only workers seen to die on this machine).
    double heartbeat_timeout = 60.0;
    std::string canonical;            ///< the section as text without `trials`, for resume checks
};

/// `model.init_from`: weights loaded by tensor name and shape before training.
struct InitFromConfig {
    std::string path;                 ///< a run directory or a .safetensors file; empty: none
    bool all = true;                  ///< every layer of the model, or only `layers`
    std::vector<std::string> layers;
    bool strict = true;               ///< a missing or mis-shaped tensor is an error (else a warning, skipped)
    bool present() const { return !path.empty(); }
};

/// One of `model.outputs` (several outputs, as Keras' functional API has them): the layer, its loss and
/// loss weight (the model's loss is Σ weight · loss), and its metrics (logged as LAYER_metric).
struct OutputConfig {
    std::string layer;
    Loss loss;
    double loss_weight = 1.0;
    std::vector<MetricSpec> metrics;
};

struct ExperimentConfig {
    std::string name = "experiment";
    uint64_t seed = 42;
    DataConfig data;
    std::vector<LayerConfig> layers;
    Shape input_shape;  ///< model.input_shape; empty: the data's per-sample shape
    /// model.inputs (named inputs with shapes); empty: one input called "input" (input_shape)
    std::vector<ModelInputConfig> model_inputs;
    InitFromConfig init_from;
    /// model.outputs with two or more layers; empty: one output, the last layer, with `loss` and `metrics`
    /// (then the first output's loss and metrics are copied there too, for code that reads one loss).
    std::vector<OutputConfig> outputs;
    Loss loss;
    OptimizerSpec optimizer;
    std::vector<MetricSpec> metrics;
    TrainingConfig training;
    SearchConfig search;
    std::string source_file;  ///< the config file it came from
};

}  // namespace nnctl
