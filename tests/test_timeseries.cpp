// Time series sources: windows against hand-built index lists, the split by time, scaling fitted on
// the training stretch, missing values, dates, baselines and forecast scores.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "core/error.hpp"
#include "data/timeseries.hpp"
#include "support/fixtures.hpp"
#include "train/forecast.hpp"

using namespace nnctl;

namespace {

/// A CSV "t,a,b" with n rows: a = 100 + i, b = 1000 + 10·i (the row index readable from every value).
std::string series_csv(int n) {
    std::string s = "t,a,b\n";
    for (int i = 0; i < n; ++i)
        s += std::to_string(i) + "," + std::to_string(100 + i) + "," + std::to_string(1000 + 10 * i) + "\n";
    return test::temp_file(s, ".csv");
}

DataSourceConfig ts_source(const std::string& path) {
    DataSourceConfig s;
    s.format = "timeseries";
    s.path = path;
    s.date_column = "t";
    s.target_columns = {"a"};
    s.sequence_length = 3;
    s.scale = "none";
    s.where = "cfg.yaml:4:10";
    return s;
}

DataConfig ts_data(const DataSourceConfig& src) {
    DataConfig c;
    c.train = src;
    return c;
}

}  // namespace

TEST_CASE("timeseries windows: stride, sampling_rate, horizon > 1, several targets, features other than targets") {
    auto p = series_csv(20);
    DataSourceConfig src = ts_source(p);
    src.feature_columns = {"b"};
    src.target_columns = {"a", "b"};
    src.sequence_length = 3;
    src.sequence_stride = 4;
    src.sampling_rate = 2;
    src.horizon = 2;
    DataSplits d = load_data(ts_data(src), false, 0);
    // Window i starts at 4i, covers rows 4i, 4i+2, 4i+4; targets rows 4i+5, 4i+6; last target < 20.
    const std::vector<std::vector<int>> inputs = {{0, 2, 4}, {4, 6, 8}, {8, 10, 12}, {12, 14, 16}};
    const std::vector<std::vector<int>> targets = {{5, 6}, {9, 10}, {13, 14}, {17, 18}};
    REQUIRE(d.train.size() == 4);
    CHECK(d.train.sample_shape() == Shape{3, 1});
    CHECK(d.train.y.cols() == 4);  // horizon 2 × 2 targets
    for (int i = 0; i < 4; ++i) {
        for (int t = 0; t < 3; ++t) CHECK(d.train.x(i, t) == float(1000 + 10 * inputs[size_t(i)][size_t(t)]));
        for (int h = 0; h < 2; ++h) {
            const int row = targets[size_t(i)][size_t(h)];
            CHECK(d.train.y(i, h * 2 + 0) == float(100 + row));         // y[h·T + j], j = 0: a
            CHECK(d.train.y(i, h * 2 + 1) == float(1000 + 10 * row));   // j = 1: b
        }
    }
    CHECK(d.schema.series.columns == std::vector<std::string>{"b", "a"});
    CHECK(d.schema.width == 3);
    CHECK(d.schema.outputs == 4);
    std::remove(p.c_str());
}

TEST_CASE("timeseries windows: default features are every column but the date; several features interleave") {
    auto p = series_csv(6);
    DataSplits d = load_data(ts_data(ts_source(p)), false, 0);
    REQUIRE(d.train.size() == 3);  // rows 0-2 → 3, 1-3 → 4, 2-4 → 5
    CHECK(d.train.sample_shape() == Shape{3, 2});
    CHECK(d.train.x(1, 0) == 101.0f);  // x[t·F + f]: row 1, a
    CHECK(d.train.x(1, 1) == 1010.0f); // row 1, b
    CHECK(d.train.x(1, 4) == 103.0f);  // row 3, a
    CHECK(d.train.y(2, 0) == 105.0f);
    std::remove(p.c_str());
}

TEST_CASE("timeseries split by time: no train target in validation; the first test window's target is the first test row") {
    auto p = series_csv(20);
    DataConfig c = ts_data(ts_source(p));
    c.validation_split = 0.2;  // rows 12..15
    c.test_split = 0.2;        // rows 16..19
    c.split_shuffle = true;    // ignored for a series
    DataSplits d = load_data(c, false, 0);
    // Train windows: targets rows 3..11 (a = 100 + row).
    REQUIRE(d.train.size() == 9);
    CHECK(d.train.y.maxCoeff() == 111.0f);
    // Validation: targets 12..15, inputs reaching back into the train rows (documented choice).
    REQUIRE(d.validation.size() == 4);
    CHECK(d.validation.y(0, 0) == 112.0f);
    CHECK(d.validation.x(0, 0) == 109.0f);  // its first input row is 9, a training row
    CHECK(d.validation.y.maxCoeff() == 115.0f);
    // Test: the first window's target is row 16, its inputs rows 13..15 (validation rows).
    REQUIRE(d.test.size() == 4);
    CHECK(d.test.y(0, 0) == 116.0f);
    CHECK(d.test.x(0, 0) == 113.0f);
    CHECK(d.test_reference.actual.rows() == 4);
    CHECK(d.test_reference.naive(0, 0) == 115.0f);
    std::remove(p.c_str());
}

TEST_CASE("timeseries split: horizon windows whose targets straddle a boundary belong to neither stretch") {
    auto p = series_csv(20);
    DataSourceConfig src = ts_source(p);
    src.horizon = 3;
    DataConfig c = ts_data(src);
    c.test_split = 0.25;  // rows 15..19
    DataSplits d = load_data(c, false, 0);
    for (Eigen::Index i = 0; i < d.train.size(); ++i) CHECK(d.train.y.row(i).maxCoeff() < 115.0f);
    CHECK(d.train.size() == 10);  // last targets 5..14 → starts 0..9
    REQUIRE(d.test.size() == 3);  // targets 15-17, 16-18, 17-19
    CHECK(d.test.y(0, 0) == 115.0f);
    std::remove(p.c_str());
}

TEST_CASE("timeseries scaling is fitted on the training stretch only") {
    std::string head = "t,a\n", tail1, tail2;
    for (int i = 0; i < 16; ++i) head += std::to_string(i) + "," + std::to_string(i % 4) + "\n";
    for (int i = 16; i < 20; ++i) {
        tail1 += std::to_string(i) + ",1\n";
        tail2 += std::to_string(i) + ",1000\n";
    }
    auto p1 = test::temp_file(head + tail1, ".csv"), p2 = test::temp_file(head + tail2, ".csv");
    DataSourceConfig src = ts_source(p1);
    src.scale = "standardize";
    DataConfig c = ts_data(src);
    c.test_split = 0.2;
    DataSplits a = load_data(c, false, 0);
    c.train.path = p2;
    DataSplits b = load_data(c, false, 0);
    CHECK(a.train.x == b.train.x);
    CHECK(a.train.y == b.train.y);
    CHECK(a.schema.series.offset == b.schema.series.offset);
    CHECK(a.schema.series.offset[0] == doctest::Approx(1.5));  // mean of 0,1,2,3 repeated
    CHECK(a.test.y != b.test.y);
    // minmax: (x − min) / (max − min) over the training rows.
    c.train.scale = "minmax";
    DataSplits m = load_data(c, false, 0);
    CHECK(m.train.x.minCoeff() == 0.0f);
    CHECK(m.train.x.maxCoeff() == 1.0f);
    // Outputs are unscaled with the target column's statistics.
    Matrix out(1, 1);
    out(0, 0) = 0.5f;
    CHECK(unscale_forecast(m.schema.series, out)(0, 0) == doctest::Approx(1.5));
    std::remove(p1.c_str());
    std::remove(p2.c_str());
}

TEST_CASE("timeseries missing values: error names line and column, interpolate, drop") {
    auto p = test::temp_file("t,a\n1,1\n2,\n3,NA\n4,7\n5,9\n6,\n", ".csv");
    DataSourceConfig src = ts_source(p);
    src.sequence_length = 1;
    src.target_columns = {"a"};
    std::string e = test::error_of([&] { load_data(ts_data(src), false, 0); });
    CHECK(e.find(":3:3: column 'a': missing value") != std::string::npos);
    CHECK(test::error_of([&] { load_data(ts_data(src), false, 0); }).find(p) != std::string::npos);
    src.missing = "interpolate";
    SeriesSchema layout;
    layout.columns = {"a"};
    layout.date = "t";
    Series s = read_series(p, ',', layout, "interpolate");
    REQUIRE(s.rows() == 6);
    CHECK(s.values(1, 0) == doctest::Approx(3.0));  // 1 → 7 over three steps
    CHECK(s.values(2, 0) == doctest::Approx(5.0));
    CHECK(s.values(5, 0) == doctest::Approx(9.0));  // trailing edge: the nearest value
    auto lead = test::temp_file("t,a\n1,\n2,4\n", ".csv");
    CHECK(read_series(lead, ',', layout, "interpolate").values(0, 0) == 4.0);
    Series dropped = read_series(p, ',', layout, "drop");
    REQUIRE(dropped.rows() == 3);
    CHECK(dropped.lines == std::vector<long long>{2, 5, 6});
    CHECK(dropped.date_text[1] == "4");
    std::remove(p.c_str());
    std::remove(lead.c_str());
}

TEST_CASE("timeseries dates: ISO, YYYYMMDD, years; a non-increasing date is a DataError naming the line and both values") {
    std::string kind;
    double v = 0;
    CHECK(parse_date("1970-01-02", kind, v));
    CHECK(kind == "iso");
    CHECK(v == 1.0);
    kind.clear();
    CHECK(parse_date("19580329", kind, v));
    CHECK(kind == "compact");
    CHECK(format_date(v + 7, "compact") == "19580405");
    kind.clear();
    CHECK(parse_date("1700", kind, v));
    CHECK(kind == "number");
    kind = "iso";
    CHECK(!parse_date("2021-02-30", kind, v));
    auto p = test::temp_file("day,a\n2020-01-01,1\n2020-01-02,2\n2020-01-02,3\n", ".csv");
    SeriesSchema layout;
    layout.columns = {"a"};
    layout.date = "day";
    try {
        read_series(p, ',', layout, "error");
        FAIL("no error");
    } catch (const DataError& e) {
        CHECK(std::string(e.what()) == p + ":4: date '2020-01-02' is not after '2020-01-02' (line 3): the series "
                                           "must be in strictly increasing time order");
    }
    auto q = test::temp_file("day,a\n2020-01-01,1\n20200102,2\n", ".csv");
    layout.date_kind.clear();
    CHECK(test::error_of([&] { read_series(q, ',', layout, "error"); }).find(":3:1: date column 'day'") != std::string::npos);
    std::remove(p.c_str());
    std::remove(q.c_str());
}

TEST_CASE("timeseries config errors: unknown column names the key; too short a training stretch") {
    auto p = series_csv(5);
    DataSourceConfig src = ts_source(p);
    src.target_columns = {"nope"};
    CHECK(test::error_of([&] { load_data(ts_data(src), false, 0); }) ==
          "cfg.yaml:4:10: data.train.targets: column 'nope' is not in " + p + " (columns: t, a, b)");
    src.target_columns = {"a"};
    CHECK(test::error_of([&] { load_data(ts_data(src), true, 0); }).find("use a regression loss") != std::string::npos);
    src.sequence_length = 5;
    CHECK(test::error_of([&] { load_data(ts_data(src), false, 0); }).find("holds no complete window; one needs 6 rows") !=
          std::string::npos);
    std::remove(p.c_str());
}

TEST_CASE("baselines on a hand-computed series: naive and seasonal naive (h > season reaches k seasons back)") {
    // values 10, 20, 30, 40, 50, 60, 70; window 2 rows, horizon 3, season 2.
    auto p = test::temp_file("t,a\n0,10\n1,20\n2,30\n3,40\n4,50\n5,60\n6,70\n", ".csv");
    DataSourceConfig src = ts_source(p);
    src.sequence_length = 2;
    src.horizon = 3;
    src.season = 2;
    SeriesSchema layout = fit_series_layout(src, {"t", "a"}, p);
    Series s = read_series(p, ',', layout, "error");
    ForecastReference ref;
    Dataset d = make_windows(s, layout, window_starts(s.rows(), layout, 0, s.rows()), &ref);
    REQUIRE(d.size() == 3);  // last = 1, 2, 3
    // Window 0: last row 1 (20); targets rows 2, 3, 4 = 30, 40, 50.
    CHECK(ref.actual.row(0) == (RowVector(3) << 30, 40, 50).finished());
    CHECK(ref.naive.row(0) == (RowVector(3) << 20, 20, 20).finished());
    // Seasonal (2): row 2 ← row 0, row 3 ← row 1, row 4 ← row 0 (k = 2: the newest seen value).
    CHECK(ref.seasonal.row(0) == (RowVector(3) << 10, 20, 10).finished());
    CHECK(ref.seasonal.row(2) == (RowVector(3) << 30, 40, 30).finished());
    ForecastReport r = forecast_report(layout, ref, ref.naive);
    REQUIRE(r.methods.size() == 3);
    // Naive errors: window 0: 10, 20, 30; every window alike → MAE 20, RMSE sqrt((100+400+900)/3).
    CHECK(r.methods[1].all.mae == doctest::Approx(20.0));
    CHECK(r.methods[1].all.rmse == doctest::Approx(std::sqrt(1400.0 / 3.0)));
    // Seasonal errors are 20, 20, 40 in every window.
    CHECK(r.methods[2].all.mae == doctest::Approx(80.0 / 3.0));
    CHECK(r.methods[2].windows == 3);
    CHECK(r.methods[0].all.mae == r.methods[1].all.mae);  // the "model" here is the naive forecast
    // A season longer than the history leaves early windows unscored (NaN), not wrongly scored.
    layout.season = 3;
    ForecastReference ref3;
    make_windows(s, layout, window_starts(s.rows(), layout, 0, s.rows()), &ref3);
    CHECK(std::isnan(ref3.seasonal(0, 0)));
    CHECK(forecast_report(layout, ref3, ref3.naive).methods[2].windows == 2);
    std::remove(p.c_str());
}

TEST_CASE("MAPE skips zero actuals; sMAPE counts 0/0 as 0") {
    Matrix y(1, 4), p(1, 4);
    y << 0, 0, 10, -20;
    p << 0, 5, 5, -10;
    ForecastScores s = forecast_scores(y, p);
    CHECK(s.values == 4);
    CHECK(s.mape_skipped == 2);
    CHECK(s.mape == doctest::Approx(50.0));  // (5/10 + 10/20) / 2
    // sMAPE terms: 0 (0/0), 2·5/5 = 2, 2·5/15, 2·10/30 → mean × 100.
    CHECK(s.smape == doctest::Approx(100.0 * (0 + 2 + 10.0 / 15 + 20.0 / 30) / 4));
    CHECK(s.mae == doctest::Approx(5.0));
    Matrix z = Matrix::Zero(2, 1);
    ForecastScores all_zero = forecast_scores(z, z);
    CHECK(std::isnan(all_zero.mape));
    CHECK(all_zero.smape == 0.0);
}

TEST_CASE("predict tail: the window ending at the series' last row, sampled every sampling_rate rows") {
    auto p = series_csv(10);
    DataSourceConfig src = ts_source(p);
    src.feature_columns = {"a"};
    src.sequence_length = 3;
    src.sampling_rate = 2;
    SeriesSchema layout = fit_series_layout(src, {"t", "a", "b"}, p);
    Series s = read_series(p, ',', layout, "error");
    const Eigen::Index start = s.rows() - layout.span();  // 10 − 5
    Matrix x = window_inputs(s, layout, start);
    CHECK(x == (RowVector(3) << 105, 107, 109).finished());
    CHECK_THROWS_AS(window_inputs(s, layout, 6), DataError);
    std::remove(p.c_str());
}
