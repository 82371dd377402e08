// Data sources: synthetic data identical to the reference generator, CSV parsing and its errors.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <unistd.h>

#include "core/error.hpp"
#include "data/dataset.hpp"
#include "support/fixtures.hpp"

using namespace nnctl;

namespace {
std::string temp_csv(const std::string& content) { return test::temp_file(content, ".csv"); }
DataSourceConfig csv_source(const std::string& path, const std::string& target) {
    return test::csv_source(path, target, "cfg.yaml:3:10");
}
std::string data_error(const DataSourceConfig& s, bool classes) {
    return test::error_of([&] { load_source(s, classes); });
}
}  // namespace

TEST_CASE("synthetic data matches the reference SplitMix64 generator bit for bit") {
    DataSourceConfig s;
    s.format = "synthetic";
    s.samples = 1000;
    s.features = 20;
    s.classes = 10;
    s.seed = 1;
    Dataset d = make_synthetic(s);
    // Values printed by the reference Python generator (X seed 1, y seed 2).
    CHECK(d.x(0, 0) == 0.5665615200996399f);
    CHECK(d.x(0, 1) == 0.7457817196846008f);
    CHECK(d.x(999, 19) == 0.5563222765922546f);
    CHECK(d.labels[0] == 5);
    CHECK(d.labels[1] == 7);
    CHECK(d.labels[4] == 3);
    CHECK(d.labels[999] == 3);
}

TEST_CASE("csv: header, target by name, string classes sorted, quoted fields, CRLF and BOM") {
    auto p = temp_csv("\xEF\xBB\xBF" "a,\"b, with comma\",label\r\n1,2,dog\r\n3,\"4\",cat\r\n\r\n5,6,dog\r\n");
    Dataset d = load_source(csv_source(p, "label"), true);
    CHECK(d.size() == 3);
    CHECK(d.x.cols() == 2);
    CHECK(d.feature_names[1] == "b, with comma");
    CHECK(d.class_names == std::vector<std::string>{"cat", "dog"});
    CHECK(d.labels == std::vector<int>{1, 0, 1});
    CHECK(d.x(1, 1) == 4.0f);
    std::remove(p.c_str());
}

TEST_CASE("csv: numeric target is regression unless the loss needs classes") {
    auto p = temp_csv("x,y\n1,0.5\n2,1.5\n");
    Dataset r = load_source(csv_source(p, "y"), false);
    CHECK(!r.is_classification());
    CHECK(r.y(1, 0) == 1.5f);
    Dataset c = load_source(csv_source(p, "y"), true);
    CHECK(c.num_classes == 2);
    std::remove(p.c_str());
}

TEST_CASE("csv errors name file, line and column") {
    auto p = temp_csv("a,b,y\n1,2,x\n3,oops,y\n5,6,x\n");
    CHECK(data_error(csv_source(p, "y"), true) == p + ":3:3: column 'b': not a finite number: 'oops' (the column is "
                                                     "otherwise numeric; list it under categorical: if it is a category)");
    auto q = temp_csv("a,b,y\n1,2,x\n3,4\n");
    CHECK(data_error(csv_source(q, "y"), true) == q + ":3: expected 3 fields, found 2");
    auto m = temp_csv("a,b,y\n1,,x\n");
    CHECK(data_error(csv_source(m, "y"), true) == m + ":2:3: column 'b': missing value");
    CHECK(data_error(csv_source(p, "nope"), true) ==
          "cfg.yaml:3:10: target column 'nope' is not in " + p + " (columns: a, b, y)");
    auto u = temp_csv("a,y\n\"1,x\n");
    CHECK(data_error(csv_source(u, "y"), true) == u + ":2:1: unterminated quoted field");
    auto n = temp_csv("a,y\ninf,1\n");
    CHECK(data_error(csv_source(n, "y"), true) == n + ":2:1: column 'a': not a finite number: 'inf'");
    CHECK(data_error(csv_source("/nonexistent/x.csv", "y"), true).rfind("/nonexistent/x.csv: cannot open", 0) == 0);
    for (auto& f : {p, q, m, u, n}) std::remove(f.c_str());
}

TEST_CASE("splits: validation and test fractions are disjoint, seeded and cover the data") {
    DataConfig c = test::synthetic_data(100, 3, 2);
    c.validation_split = 0.2;
    c.test_split = 0.1;
    DataSplits s = load_data(c, true, 9);
    CHECK(s.test.size() == 10);
    CHECK(s.validation.size() == 18);
    CHECK(s.train.size() == 72);
    DataSplits again = load_data(c, true, 9);
    CHECK(again.validation.x == s.validation.x);
}
