#pragma once
#include <string>
#include <vector>

#include "core/json.hpp"
#include "core/tensor.hpp"
#include "data/dataset.hpp"
#include "data/schema.hpp"

namespace nnctl {

/// Point-forecast errors over a set of values, in the series' original units.
struct ForecastScores {
    double mae = 0.0, rmse = 0.0;
    double mape = 0.0;             ///< percent, over the values whose actual is not 0; NaN when every actual is 0
    double smape = 0.0;            ///< percent: mean of 2|y − ŷ| / (|y| + |ŷ|), a 0/0 term counting as 0
    long long values = 0;          ///< values scored (windows × steps × targets)
    long long mape_skipped = 0;    ///< zero actual values MAPE left out (it is undefined for them)
};

/// Scores of `pred` against `truth` (windows × horizon·targets) on the columns `cols` (empty: all).
/// Windows whose prediction holds a NaN in those columns (a seasonal baseline that does not reach
/// back far enough) are left out.
ForecastScores forecast_scores(const Matrix& truth, const Matrix& pred, const std::vector<Eigen::Index>& cols = {});

/// One forecaster's scores: over everything, and per target.
struct ForecastMethod {
    std::string name;                     ///< model | naive | seasonal_naive
    long long windows = 0;                ///< windows scored
    ForecastScores all;
    std::vector<ForecastScores> per_target;
};

/// The network against the naive (last value) and, with `season`, seasonal-naive baselines.
struct ForecastReport {
    std::vector<std::string> targets;
    int64_t horizon = 1, season = 0;
    long long windows = 0;
    std::vector<ForecastMethod> methods;  ///< model, naive, then seasonal_naive when the source has a season
};

/// Model outputs (scaled, windows × horizon·targets) in original units: each column by the
/// statistics of its target column.
Matrix unscale_forecast(const SeriesSchema& s, const Matrix& outputs);

/// Score `predictions` (original units) and the baselines of `ref` against ref.actual.
ForecastReport forecast_report(const SeriesSchema& s, const ForecastReference& ref, const Matrix& predictions);

/// {"targets", "horizon", "season", "windows", "model": {mae, rmse, mape, smape, ...}, "naive": ..,
/// "seasonal_naive": .., "per_target": {name: {model: .., ...}}}; NaN (MAPE over zeros only) as null.
void write_forecast_json(JsonWriter& j, const ForecastReport& r);

}  // namespace nnctl
