#pragma once
#include <string>
#include <vector>

#include <Eigen/Core>

#include "config/config.hpp"
#include "data/dataset.hpp"
#include "data/schema.hpp"

namespace nnctl {

/// A time series read from CSV, in time order, after missing-value handling.
struct Series {
    Eigen::MatrixXd values;              ///< (rows × schema columns), original units
    std::vector<double> dates;           ///< per row: days since 1970-01-01 (iso, compact) or the number; empty without a date column
    std::vector<std::string> date_text;  ///< per row, as written
    std::vector<long long> lines;        ///< per row: its line in the file
    std::string file;                    ///< for messages
    Eigen::Index rows() const { return values.rows(); }
};

/// Parse one date cell. kind: "" (detect: YYYY-MM-DD → iso, 8 digits forming a valid date →
/// compact, else a number, years included) or the kind to expect. Returns false when `text` is
/// not of that kind. `value`: days since 1970-01-01 for iso and compact, else the number.
bool parse_date(const std::string& text, std::string& kind, double& value);
/// A date value written as `kind` writes it (iso: 2009-01-31, compact: 20090131, number: 2009).
std::string format_date(double value, const std::string& kind);

/// Fit a series' layout from its header and the source's keys: `columns`, `features` (default every
/// column but the date), `targets`, date column and window sizes. Unknown columns are ConfigErrors
/// naming the source's config location.
SeriesSchema fit_series_layout(const DataSourceConfig& src, const std::vector<std::string>& header,
                               const std::string& file);

/// Read `path` with `layout`'s columns (by header name; other columns are ignored): dates parsed
/// and strictly increasing (else DataError naming the line and both values), a missing cell an
/// error naming file:line:col under missing: error, linearly interpolated between its neighbours
/// (edges: the nearest value) under interpolate, or its row removed under drop. `need_date`: the
/// date column must be present (training); otherwise a file without it is read without dates.
/// `layout.date_kind` empty: detected from the first date (and stored).
Series read_series(const std::string& path, char delimiter, SeriesSchema& layout, const std::string& missing,
                   bool need_date = true);

/// First row of every window whose targets all exist and lie in rows [lo, hi): window i starts at
/// row i·sequence_stride (counted from row 0 of the series, so that the windows of the train,
/// validation and test stretches lie on one grid) and covers rows start + k·sampling_rate,
/// k < sequence_length; its targets are rows last + 1 ... last + horizon.
std::vector<Eigen::Index> window_starts(Eigen::Index rows, const SeriesSchema& s, Eigen::Index lo, Eigen::Index hi);

/// Per-column scaling fitted on rows [0, rows) of `series` (the training stretch), into s.offset / s.factor.
void fit_series_scaling(SeriesSchema& s, const Series& series, Eigen::Index rows);

/// The windows starting at `starts`, scaled: x (windows × sequence_length·features), shape
/// (sequence_length, features), y (windows × horizon·targets); and, when `ref` is given, their
/// true future values and the naive and seasonal-naive forecasts in original units.
Dataset make_windows(const Series& series, const SeriesSchema& s, const std::vector<Eigen::Index>& starts,
                     ForecastReference* ref = nullptr);

/// The inputs of the one window starting at row `start` (it needs no target rows), scaled:
/// (1 × sequence_length·features). For predict: the window ending at the series' last row.
Matrix window_inputs(const Series& series, const SeriesSchema& s, Eigen::Index start);

/// Load a timeseries training source and split it by time: train | validation | test, the last
/// `validation_split` and `test_split` of the rows. A validation or test window is one whose
/// targets all fall in its stretch; its inputs may reach back into the stretches before (the
/// history a forecaster has at that point), never forward, and a train window's targets never
/// reach the validation rows. Scaling is fitted on the training stretch's rows only. Separate
/// validation / test timeseries sources are read with the training layout and scaling, whole.
DataSplits load_timeseries_data(const DataConfig& cfg, bool want_classes);

/// Every window of a series read with a trained model's schema (evaluate --data), with `ref`.
Dataset load_series_windows(const DataSourceConfig& src, const DataSchema& schema, ForecastReference* ref);

}  // namespace nnctl
