#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "core/json.hpp"
#include "core/json_value.hpp"
#include "core/tensor.hpp"

namespace nnctl {

/// One input column of a CSV source as the model sees it.
struct FeatureColumn {
    std::string name;     ///< header name, or "column N" (1-based) without a header
    int index = -1;       ///< position in the input row
    bool categorical = false;
    std::vector<std::string> categories;  ///< one-hot order (sorted), fitted on the training data
    double fill = NAN;    ///< replaces missing values under `missing: mean` (the training mean)
};

/// Per-feature affine preprocessing, fitted on the training data: x' = (x − offset) · scale.
struct Scaling {
    std::string kind = "none";  ///< none | rescale | standardize | minmax
    double rescale = 1.0;       ///< rescale's factor
    std::vector<float> offset, scale;
    bool active() const { return kind != "none"; }
};

/// A time series source's layout, windowing and per-column scaling (format timeseries). Model inputs
/// are windows (sequence_length × features), x[t·F + f]; outputs the next `horizon` values of each
/// target, y[h·T + j], both scaled; outputs are turned back into original units with `unscale`.
struct SeriesSchema {
    std::vector<std::string> columns;  ///< the columns used: features in order, then targets not among them
    std::vector<int> features;         ///< positions in `columns` of the model's input features
    std::vector<int> targets;          ///< positions in `columns` of the forecast targets
    std::string date;                  ///< date column name; empty: none
    std::string date_kind;             ///< iso (YYYY-MM-DD) | compact (YYYYMMDD) | number (years too)
    int64_t sequence_length = 0, sequence_stride = 1, sampling_rate = 1, horizon = 1, season = 0;
    std::string scale = "none";        ///< none | standardize | minmax
    std::vector<double> offset, factor;  ///< per column: scaled = (value − offset) · factor

    /// Rows one window's inputs cover: (sequence_length − 1) · sampling_rate + 1.
    int64_t span() const { return (sequence_length - 1) * sampling_rate + 1; }
    /// Scaled model value of column c back in original units.
    double unscale(int c, double v) const { return factor.empty() ? v : v / factor[size_t(c)] + offset[size_t(c)]; }
    double scaled(int c, double v) const { return factor.empty() ? v : (v - offset[size_t(c)]) * factor[size_t(c)]; }
};

/// A text source's reader settings and its fitted TextVectorization (format text), as Keras'
/// TextVectorization defines them: standardize, split, n-grams, then a vocabulary lookup.
struct TextSchema {
    std::string column = "text";   ///< the text column (CSV header name) or key (JSON); folder: unused
    std::string target;            ///< the target column or key; folder: the class sub-folder
    std::string standardize = "lower_and_strip_punctuation";  ///< | lower | strip_punctuation | none
    std::string split = "whitespace";  ///< whitespace | character | none
    int ngrams = 1;                    ///< 1: single tokens; N: every 1..N-gram, joined by a space
    std::string output_mode = "int";   ///< int | multi_hot | count | tf_idf
    int64_t output_sequence_length = 0;  ///< int mode: ids per text (pad with 0 / truncate at the end)
    int64_t max_tokens = 0;            ///< vocabulary size cap, special tokens included; 0: none
    bool pad_to_max_tokens = false;    ///< non-int modes: output max_tokens wide even if the vocabulary is smaller
    bool integer_labels = false;       ///< targets were integers 0..K−1 named by class_names
    /// Keras' get_vocabulary(): int mode "", "[UNK]", then tokens by count (ties: reverse byte order);
    /// other modes "[UNK]" then tokens.
    std::vector<std::string> vocabulary;
    std::vector<double> idf;           ///< tf_idf: weight per output index (OOV: the mean of the tokens')
};

/// One target column of a model with several outputs (csv `target: [a, b]`), for output k of the model.
struct TargetColumn {
    std::string name;                      ///< header name, or "column N" without a header
    int index = -1;                        ///< position in the input row
    std::string task = "classification";   ///< classification | regression
    std::vector<std::string> class_names;  ///< classification: label index → name
    bool is_classification() const { return task == "classification"; }
};

/// Everything needed to turn raw input rows into model inputs, and outputs into labels; saved with
/// the model so that evaluate and predict apply exactly what training applied.
struct DataSchema {
    std::string format;                     ///< csv | idx | npy | synthetic | image_folder | timeseries | text
    char delimiter = ',';
    bool header = true;
    int input_columns = 0;                  ///< columns in a CSV row
    std::vector<FeatureColumn> columns;     ///< CSV feature columns in model order
    std::string target;                     ///< CSV target column name (empty when none)
    int target_index = -1;
    std::vector<TargetColumn> targets;      ///< several outputs: one target column each, in output order (csv)
    std::string missing = "error";          ///< error | drop | mean (timeseries: error | interpolate | drop)
    int64_t width = 0;                      ///< features after encoding
    std::vector<std::string> feature_names; ///< after encoding (one-hot columns as name=value)
    std::string task = "classification";    ///< classification | regression
    std::vector<std::string> class_names;
    int64_t outputs = 0;                    ///< regression target columns
    Scaling scaling;                        ///< timeseries: none (its scaling is in `series`)
    SeriesSchema series;                    ///< timeseries only
    TextSchema text;                        ///< text only

    bool is_classification() const { return task == "classification"; }
    /// Positions of the target columns in a CSV row (one, several, or none).
    std::vector<int> target_fields() const;
    void write_json(JsonWriter& j) const;
    static DataSchema from_json(const JsonValue& v);  ///< throws DataError on a malformed schema
};

/// Fit `s` (its kind and rescale already set) on x's columns.
void fit_scaling(Scaling& s, const Matrix& x);
/// Apply fitted scaling to every row of x.
void apply_scaling(const Scaling& s, Matrix& x);

/// Whether a CSV cell counts as missing (empty, NA, NaN, N/A, null, ?, like pandas' defaults).
bool is_missing_token(const std::string& s);
/// Strict number parse (whole field, surrounding spaces allowed).
bool parse_number(const std::string& s, double& v);

}  // namespace nnctl
