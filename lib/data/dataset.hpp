#pragma once
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/tensor.hpp"
#include "data/schema.hpp"

namespace nnctl {

/// Features plus either class labels (classification) or target values (regression).
struct Dataset {
    Matrix x;                               ///< (n × features), preprocessing applied
    std::vector<int> labels;                ///< classification: n class indices
    Matrix y;                               ///< regression: (n × outputs)
    int num_classes = 0;                    ///< > 0 for classification
    std::vector<std::string> class_names;   ///< label index → name
    std::vector<std::string> feature_names;
    Shape shape;                            ///< per-sample shape, e.g. (28, 28, 1); empty: flat
    /// A model with several outputs: each output's targets (labels or y, class names; x unused), in
    /// output order. Empty: one output, whose targets are labels / y above.
    std::vector<Dataset> targets;

    /// The per-sample shape a model sees: `shape`, or (features) when the data is flat.
    Shape sample_shape() const { return shape.empty() ? Shape{x.cols()} : shape; }

    Eigen::Index size() const { return x.rows(); }
    bool is_classification() const { return num_classes > 0; }
    /// The rows `idx` of this data set, in that order.
    Dataset subset(const std::vector<int>& idx) const;
};

/// Load one source. With `fitted` null the source is the training data: its schema (CSV
/// categories, class names, fill values) is fitted and written to `fit_out`; otherwise the source
/// is read with `fitted`'s encoding, and unknown classes or categories are errors.
/// `want_classes`: the loss needs class labels. `seed` drives `take`. No scaling is applied here.
Dataset load_source(const DataSourceConfig& src, bool want_classes, const DataSchema* fitted = nullptr,
                    DataSchema* fit_out = nullptr, uint64_t seed = 0);

Dataset make_synthetic(const DataSourceConfig& src);
Dataset load_csv(const DataSourceConfig& src, bool want_classes, const DataSchema* fitted, DataSchema* fit_out);
Dataset load_idx(const DataSourceConfig& src, bool want_classes);
Dataset load_npy(const DataSourceConfig& src, bool want_classes);
/// Images under src.path/<class>/, decoded, resized to image_size and given color_mode's channels:
/// (n × h·w·c) floats 0..255, shape (h, w, c), classes from the folder names.
Dataset load_image_folder(const DataSourceConfig& src);

/// Inputs alone (for prediction): an .npy array (n, ...) or IDX images, as (n × features).
Matrix read_npy_features(const std::string& path);
Matrix read_idx_images(const std::string& path);

/// Keep only the rows of src.keep_classes (class names, or indices into the class names), their
/// labels renumbered in that order (applied before max_samples / take).
void keep_classes(Dataset& d, const DataSourceConfig& src);
/// Keep the first `max_samples` rows, or a seeded random subset of `take` rows.
void limit_rows(Dataset& d, const DataSourceConfig& src, uint64_t seed);
/// The rows of n that limit_rows keeps, in file order.
std::vector<int> kept_rows(int n, const DataSourceConfig& src, uint64_t seed);
/// Move `frac` of `rows` out (the last rows of a seeded shuffle, or the last in order) and return
/// them; `rows` keeps the rest in that order. ConfigError naming data.WHAT_split when nothing or
/// everything would move.
std::vector<int> split_off(std::vector<int>& rows, double frac, bool shuffle, uint64_t seed, const char* what);

/// A forecaster's reference values for a set of windows, in the series' original units (timeseries
/// sources only); one row per window, laid out as the targets: column h·targets + j.
struct ForecastReference {
    Matrix actual;    ///< the true future values
    Matrix naive;     ///< each target's last observed value in the window, repeated over the horizon
    Matrix seasonal;  ///< the value one season (or k seasons) back, at or before the window's end; NaN
                      ///< where the series does not reach back that far; empty without `season`
    bool empty() const { return actual.rows() == 0; }
};

/// The train / validation / test sets an experiment uses, and the fitted schema.
struct DataSplits {
    Dataset train;
    Dataset validation;  ///< empty (0 rows) when none
    Dataset test;        ///< empty when none
    DataSchema schema;
    ForecastReference test_reference;  ///< timeseries: the test windows' actual values and baselines
};

/// Load every configured source, carve validation/test fractions off the training data, fit the
/// preprocessing on the training rows only and apply it to all three.
DataSplits load_data(const DataConfig& cfg, bool want_classes, uint64_t seed);

/// Class labels from integer-valued targets: names given or "0".."K−1"; checks the range.
void labels_from_integers(Dataset& d, const std::vector<double>& values, const std::vector<std::string>& names,
                          const std::string& where);

}  // namespace nnctl
