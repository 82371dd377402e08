// Search spaces, trial proposal and cross-validation folds.
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <ctime>

#include <map>
#include <set>

#include "config/parse.hpp"
#include "core/fileio.hpp"
#include "data/dataset.hpp"
#include "search/cv.hpp"
#include "search/schedule.hpp"
#include "search/space.hpp"
#include "search/store.hpp"

using namespace nnctl;

namespace {
SearchConfig grid() {
    SearchConfig s;
    s.strategy = "grid";
    SearchParam a;
    a.path = "training.batch_size";
    a.kind = "values";
    a.values = {"16", "32", "64"};
    SearchParam b;
    b.path = "training.epochs";
    b.kind = "range";
    b.min = 5;
    b.max = 15;
    b.step = 5;
    SearchParam c;
    c.path = "model.layers.0.kernel_regularizer.l2";
    c.kind = "values";
    c.values = {"0.0", "0.01", "0.1"};
    s.params = {a, b, c};
    return s;
}
}  // namespace

TEST_CASE("grid: every combination once, the last path fastest, deterministic") {
    SearchConfig s = grid();
    CHECK(grid_values(s.params[1]) == std::vector<std::string>{"5", "10", "15"});
    REQUIRE(trial_count(s) == 27);
    std::set<std::vector<std::string>> seen;
    for (int64_t i = 0; i < 27; ++i) {
        Trial t = make_trial(s, i);
        std::vector<std::string> v;
        for (auto& [p, x] : t.values) v.push_back(x);
        seen.insert(v);
        CHECK(t.sets() == make_trial(s, i).sets());
    }
    CHECK(seen.size() == 27);
    CHECK(make_trial(s, 0).sets() ==
          std::vector<std::string>{"training.batch_size=16", "training.epochs=5", "model.layers.0.kernel_regularizer.l2=0.0"});
    CHECK(make_trial(s, 1).values[2].second == "0.01");
    CHECK(make_trial(s, 3).values[1].second == "10");
    CHECK(make_trial(s, 26).sets().back() == "model.layers.0.kernel_regularizer.l2=0.1");
}

TEST_CASE("random: each trial depends only on (seed, index); draws stay in their bounds") {
    SearchConfig s;
    s.strategy = "random";
    s.seed = 5;
    s.trials = 2000;
    auto param = [](const char* path, const char* kind) {
        SearchParam p;
        p.path = path;
        p.kind = kind;
        return p;
    };
    SearchParam lr = param("optimizer.learning_rate", "log_uniform");
    lr.min = 1e-4;
    lr.max = 1e-1;
    SearchParam units = param("model.layers.0.units", "int_uniform");
    units.min = 8;
    units.max = 64;
    units.step = 8;
    SearchParam opt = param("optimizer.type", "choice");
    opt.values = {"adam", "sgd"};
    opt.weights = {3.0, 1.0};
    SearchParam n = param("x", "normal");
    n.mean = 10;
    n.std = 2;
    s.params = {lr, units, opt, n};
    std::map<std::string, int> picks;
    double sum_log = 0, sum_n = 0;
    std::set<std::string> unit_values;
    for (int64_t i = 0; i < 2000; ++i) {
        Trial t = make_trial(s, i);
        double v = std::stod(t.values[0].second);
        CHECK(v >= 1e-4);
        CHECK(v <= 1e-1);
        sum_log += std::log10(v);
        int u = std::stoi(t.values[1].second);
        CHECK(u % 8 == 0);
        unit_values.insert(t.values[1].second);
        picks[t.values[2].second]++;
        sum_n += std::stod(t.values[3].second);
    }
    CHECK(sum_log / 2000 == doctest::Approx(-2.5).epsilon(0.03));  // uniform in log10 over [-4, -1]
    CHECK(unit_values.size() == 8);                                  // 8, 16, ..., 64 all reached
    CHECK(double(picks["adam"]) / 2000 == doctest::Approx(0.75).epsilon(0.05));
    CHECK(sum_n / 2000 == doctest::Approx(10.0).epsilon(0.02));
    SearchConfig other = s;
    other.seed = 6;
    CHECK(make_trial(s, 7).sets() == make_trial(s, 7).sets());
    CHECK(make_trial(s, 7).sets() != make_trial(other, 7).sets());
}

TEST_CASE("k-fold: disjoint, covering, stratified, seeded") {
    Dataset d;
    d.x = Matrix::Zero(100, 1);
    d.num_classes = 3;
    for (int i = 0; i < 100; ++i) d.labels.push_back(i < 60 ? 0 : i < 90 ? 1 : 2);
    auto folds = kfold(d, 5, 11);
    REQUIRE(folds.size() == 5);
    std::set<int> all;
    for (const auto& f : folds) {
        CHECK(f.size() == 20);
        int c0 = 0, c1 = 0, c2 = 0;
        for (int i : f) {
            CHECK(all.insert(i).second);  // disjoint
            c0 += d.labels[size_t(i)] == 0, c1 += d.labels[size_t(i)] == 1, c2 += d.labels[size_t(i)] == 2;
        }
        CHECK(c0 == 12);  // 60 / 5
        CHECK(c1 == 6);
        CHECK(c2 == 2);
    }
    CHECK(all.size() == 100);  // covering
    CHECK(kfold(d, 5, 11) == folds);
    CHECK(kfold(d, 5, 12) != folds);
    Dataset r;
    r.x = Matrix::Zero(10, 1);
    r.y = Matrix::Zero(10, 1);
    auto rf = kfold(r, 3, 1);
    CHECK(rf[0].size() + rf[1].size() + rf[2].size() == 10);
}

TEST_CASE("store: a trial whose worker died runs again, search.retries times, then fails") {
    std::string db = "/tmp/nnctl_store_d" + std::to_string(::getpid()) + ".db";
    std::remove(db.c_str());
    {
        SearchStore s(db);
        TrialRecord r;
        r.params = "{}";
        r.sets = "[]";
        r.index = 0;
        TrialRecord r1 = r;
        r1.index = 1;
        s.add_trials({r, r1});
        int64_t idx = -1;
        int a = 0;
        const double before = double(std::time(nullptr)) - 1;
        REQUIRE(s.claim_next(0, 1, 200, idx, a));
        CHECK(idx == 0);
        REQUIRE(s.claim_next(0, 1, 201, idx, a));  // another worker's
        CHECK(s.get(0).worker == 200);
        CHECK(s.get(0).started >= before);
        CHECK(s.get(0).started <= double(std::time(nullptr)) + 1);
        auto died = s.worker_died(200, "killed", 2);  // first death of 2 allowed: back to pending
        REQUIRE(died.size() == 1);
        CHECK(died[0] == std::make_pair(int64_t(0), true));
        CHECK(s.get(0).state == "pending");
        CHECK(s.get(0).deaths == 1);
        CHECK(s.get(1).state == "running");  // the other worker's trial is untouched
        REQUIRE(s.claim_next(0, 1, 202, idx, a));
        CHECK(idx == 0);
        CHECK(s.worker_died(202, "killed", 2) == std::vector<std::pair<int64_t, bool>>{{0, true}});
        REQUIRE(s.claim_next(0, 1, 203, idx, a));
        CHECK(s.worker_died(203, "killed by signal 9", 2) == std::vector<std::pair<int64_t, bool>>{{0, false}});
        const TrialRecord t = s.get(0);
        CHECK(t.state == "failed");
        CHECK(t.deaths == 3);
        CHECK(t.error == "killed by signal 9");
        CHECK(s.worker_died(999, "x", 2).empty());
    }
    std::remove(db.c_str());
}

TEST_CASE("store: a store from before start times and deaths were kept opens, with them added") {
    std::string db = "/tmp/nnctl_store_old" + std::to_string(::getpid()) + ".db";
    std::remove(db.c_str());
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
    const char* old =
        "CREATE TABLE trials (idx INTEGER PRIMARY KEY, params TEXT NOT NULL, sets TEXT NOT NULL, "
        "state TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0, scores TEXT NOT NULL DEFAULT '[]', "
        "mean REAL, std REAL, duration REAL, error TEXT NOT NULL DEFAULT '', pid INTEGER NOT NULL DEFAULT 0);"
        "INSERT INTO trials(idx, params, sets, state, scores, mean, std, duration) "
        "VALUES(4, '{}', '[]', 'complete', '[0.25]', 0.25, 0, 1.5);";
    REQUIRE(sqlite3_exec(h, old, nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(h);
    {
        SearchStore s(db);
        const TrialRecord t = s.get(4);
        CHECK(t.state == "complete");
        CHECK(t.mean == 0.25);
        CHECK(t.started == 0.0);  // unknown
        CHECK(t.deaths == 0);
        SearchStore again(db);  // a second opening finds the columns there
        CHECK(again.get(4).scores == std::vector<double>{0.25});
    }
    std::remove(db.c_str());
}

TEST_CASE("store: a stale attempt cannot record a result") {
    std::string db = "/tmp/nnctl_store_" + std::to_string(::getpid()) + ".db";
    std::remove(db.c_str());
    {
        SearchStore s(db);
        TrialRecord r;
        r.index = 3;
        r.params = "{}";
        r.sets = "[]";
        s.add_trials({r});
        int64_t idx = -1;
        int a1 = 0, a2 = 0;
        REQUIRE(s.claim_next(0, 1, 100, idx, a1));
        CHECK(idx == 3);
        CHECK(s.reap("", 0, false, 0, [](int) { return false; }).size() == 1);  // a crash, then resume
        REQUIRE(s.claim_next(0, 1, 101, idx, a2));
        CHECK(a2 == a1 + 1);
        CHECK(!s.claim_next(0, 1, 102, idx, a2 /* nothing left */));
        a2 = a1 + 1;
        CHECK(!s.finish_rung(3, a1, true, {0.5}, 0.5, 0.0, 1.0, 10));  // the stale worker's result is refused
        CHECK(s.finish_rung(3, a2, true, {0.7}, 0.7, 0.0, 1.0, 10));
        CHECK(!s.finish_rung(3, a2, true, {0.9}, 0.9, 0.0, 1.0, 10));  // and nothing records twice
        auto all = s.all();
        REQUIRE(all.size() == 1);
        CHECK(all[0].state == "complete");
        CHECK(all[0].mean == 0.7);
    }
    std::remove(db.c_str());
}

TEST_CASE("search section: parsed, and strategy-specific values checked") {
    const char* base = R"(name: s
data: {train: {format: synthetic, samples: 50, features: 4, classes: 2}}
model: {layers: [{type: dense, units: 2, activation: softmax}]}
loss: categorical_crossentropy
)";
    ExperimentConfig c = parse_config(std::string(base) + "search: {strategy: random, trials: 7, cv: 3, space: {"
                                                          "optimizer.learning_rate: {distribution: log_uniform, min: "
                                                          "1.0e-4, max: 0.1}}}\n",
                                      "cfg.yaml");
    CHECK(c.search.present);
    CHECK(c.search.trials == 7);
    CHECK(c.search.params[0].kind == "log_uniform");
    try {
        parse_config(std::string(base) + "search: {space: {a: {distribution: uniform, min: 0, max: 1}}}\n", "cfg.yaml");
        FAIL("expected an error");
    } catch (const std::exception& e) {
        CHECK(std::string(e.what()).find("search.space.a: a grid search takes lists of values or ranges") !=
              std::string::npos);
    }
}

#include "search/runner.hpp"

TEST_CASE("trials share one load of the data only when nothing searched can change it") {
    SearchConfig s = grid();
    CHECK(trials_share_data(s));
    for (const char* path : {"seed", "data", "data.preprocess", "data.train.max_samples"}) {
        SearchConfig t = s;
        t.params.back().path = path;
        CHECK_FALSE(trials_share_data(t));
    }
    SearchConfig t = s;
    t.params.back().path = "dataset_notes";  // not under data
    CHECK(trials_share_data(t));

    // Scores with the shared TrialData equal those loading it afresh, fold for fold.
    ExperimentConfig c = load_config(std::string(NNCTL_SOURCE_DIR) + "/configs/seed/grid_search.yaml",
                                     {"training.epochs=2", "data.preprocess=standardize"});
    const TrialData td = load_trial_data(c, c.search);
    REQUIRE(td.folds.size() == 3);
    size_t covered = 0;
    for (const auto& [tr, held] : td.folds) {
        CHECK(tr.size() + held.size() == td.data.train.size());
        covered += held.size();
    }
    CHECK(covered == td.data.train.size());
    const std::vector<double> a = evaluate_trial(c, c.search), b = evaluate_trial(c, c.search, &td);
    CHECK(a.size() == 3);
    CHECK(a == b);

    // What an earlier attempt left that cannot be used is set aside: the scores stay the same.
    const std::string dir = "/tmp/nnctl_trial_ck" + std::to_string(::getpid());
    remove_tree(dir);
    TrialCheckpoints ck;
    ck.dir = dir;
    ck.every_seconds = 0;
    ck.label = "trial 7";
    std::vector<std::string> said;
    ck.on_message = [&](const std::string& m) { said.push_back(m); };
    make_dirs(dir + "/unit-0");
    write_file_atomic(dir + "/unit-0/checkpoint.safetensors", "not a checkpoint");  // damaged
    CHECK(evaluate_trial(c, c.search, &td, &ck) == a);
    REQUIRE(said.size() == 1);
    CHECK(said[0].find("trial 7: its checkpoint is unusable") == 0);
    // The finished folds' scores are kept as it goes (here: the first two, exactly); the last
    // fold's checkpoint stays until the worker records the trial.
    const std::string progress = read_file(dir + "/progress.json");
    CHECK(progress.find("\"scores\":[\"") != std::string::npos);
    CHECK(!path_exists(dir + "/unit-0"));
    CHECK(!path_exists(dir + "/unit-1"));
    CHECK(path_exists(dir + "/unit-2/checkpoint.safetensors"));
    // A later attempt continues from them: fold 3 from its checkpoint, folds 1 and 2 not rerun.
    said.clear();
    CHECK(evaluate_trial(c, c.search, &td, &ck) == a);
    REQUIRE(said.size() == 1);
    CHECK(said[0] == "trial 7: fold 3/3 continues from its checkpoint after epoch 2");
    // Another config's (or another rung's) progress is not taken: the file goes, and every fold is
    // scored again; fold 3's checkpoint, which belongs to this config, is still continued.
    said.clear();
    write_file_atomic(dir + "/progress.json", "{\"config\": \"another\", \"scores\": [\"0x1p+0\", \"0x1p+0\"]}");
    CHECK(evaluate_trial(c, c.search, &td, &ck) == a);
    REQUIRE(said.size() == 1);
    CHECK(said[0] == "trial 7: fold 3/3 continues from its checkpoint after epoch 2");
    CHECK(read_file(dir + "/progress.json").find("another") == std::string::npos);
    remove_tree(dir);
}
