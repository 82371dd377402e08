// Whole training runs through the library: learning works, is reproducible, and fails safely.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>

#include "config/parse.hpp"
#include "core/error.hpp"
#include "core/fileio.hpp"
#include "train/experiment.hpp"

using namespace nnctl;

namespace {
const std::string kSrc = NNCTL_SOURCE_DIR;

ExperimentResult train_file(const std::string& rel, const std::vector<std::string>& sets, Experiment* keep = nullptr) {
    ExperimentConfig c = load_config(kSrc + "/" + rel, sets);
    Experiment ex = prepare_experiment(c);
    ExperimentResult r = run_experiment(ex);
    if (keep) *keep = std::move(ex);
    return r;
}
}  // namespace

TEST_CASE("XOR reaches 100% accuracy") {
    ExperimentResult r = train_file("configs/xor.yaml", {});
    CHECK(log_value(r.final_logs, "accuracy") == 1.0);
    CHECK(log_value(r.final_logs, "loss") < 0.1);
}

TEST_CASE("iris reaches at least 0.93 accuracy on the held-out split") {
    ExperimentResult r = train_file("configs/iris.yaml", {});
    REQUIRE(!r.test_logs.empty());
    CHECK(log_value(r.test_logs, "accuracy") >= 0.93);
}

TEST_CASE("the same seed gives byte-identical weight files; another seed does not") {
    auto weights = [](const std::vector<std::string>& sets) {
        Experiment ex;
        ExperimentResult r = train_file("configs/seed/keras_l2.yaml", sets, &ex);
        std::string dir = "/tmp/nnctl_det_" + std::to_string(::getpid());
        save_run(dir, "x", ex, r);
        return read_file(dir + "/model.safetensors");
    };
    std::vector<std::string> sets = {"training.epochs=2", "model.layers.0.kernel_regularizer={l2: 0.01}",
                                     "model.layers=[{type: dense, units: 32, activation: relu}, "
                                     "{type: dropout, rate: 0.3}, {type: dense, units: 10, activation: softmax}]"};
    std::string a = weights(sets), b = weights(sets);
    CHECK(a.size() > 1000);
    CHECK(a == b);
    sets.push_back("seed=43");
    CHECK(weights(sets) != a);
}

TEST_CASE("a diverging run stops with DivergedError naming epoch and batch") {
    try {
        train_file("configs/regression.yaml", {"optimizer={type: sgd, learning_rate: 1.0e+6}", "training.epochs=3"});
        FAIL("expected divergence");
    } catch (const DivergedError& e) {
        CHECK(std::string(e.what()).find("at epoch 1, batch") != std::string::npos);
        CHECK(e.exit_code() == 4);
    }
}

TEST_CASE("early stopping stops, and restores the best weights") {
    Experiment ex;
    ExperimentResult r = train_file(
        "configs/regression.yaml",
        {"training.epochs=200", "training.early_stopping={monitor: val_loss, patience: 2, restore_best_weights: true}",
         "optimizer={type: sgd, learning_rate: 0.05, momentum: 0.9}"},
        &ex);
    CHECK(r.train.stopped_early);
    CHECK(int(r.train.history.size()) < 200);
    CHECK(r.train.best_epoch == int(r.train.history.size()) - 2);
    // The restored model scores the best epoch's validation loss again.
    Trainer t(ex.model, ex.loss, *ex.optimizer, ex.cfg.metrics, ex.cfg.training, 1);
    double best = log_value(r.train.history[size_t(r.train.best_epoch - 1)].values, "val_loss");
    CHECK(log_value(t.evaluate(ex.data.validation), "loss") == doctest::Approx(best).epsilon(1e-5));
}

TEST_CASE("without full logs an epoch computes only what early stopping reads; the weights are the same") {
    ExperimentConfig c = load_config(kSrc + "/configs/iris.yaml",
                                     {"training.epochs=30", "training.early_stopping={monitor: val_loss, patience: 3}"});
    auto fit = [&](bool full) {
        Experiment ex = prepare_experiment(c);
        Trainer t(ex.model, ex.loss, *ex.optimizer, c.metrics, c.training, 7);
        t.set_full_logs(full);
        TrainResult r = t.fit(ex.data.train, &ex.data.validation);
        if (!full) {  // the same without anything monitoring the validation data: no validation pass
            TrainingConfig plain = c.training;
            plain.early_stopping.enabled = false;
            Experiment ex2 = prepare_experiment(c);
            Trainer t2(ex2.model, ex2.loss, *ex2.optimizer, c.metrics, plain, 7);
            t2.set_full_logs(false);
            TrainResult r2 = t2.fit(ex2.data.train, &ex2.data.validation);
            CHECK(std::isnan(log_value(r2.history.back().values, "val_loss")));
            CHECK(!std::isnan(log_value(r2.history.back().values, "loss")));
        }
        std::vector<Matrix> w;
        for (const auto& p : ex.model.params()) w.push_back(*p.value);
        return std::make_pair(r, w);
    };
    auto [full, wf] = fit(true);
    auto [lean, wl] = fit(false);
    REQUIRE(full.history.size() == lean.history.size());
    CHECK(full.best_epoch == lean.best_epoch);
    REQUIRE(wf.size() == wl.size());
    for (size_t i = 0; i < wf.size(); ++i) CHECK(wf[i] == wl[i]);
    const Logs& f = full.history.back().values;
    const Logs& l = lean.history.back().values;
    CHECK(!std::isnan(log_value(f, "accuracy")));
    CHECK(!std::isnan(log_value(f, "val_accuracy")));
    CHECK(std::isnan(log_value(l, "accuracy")));  // nobody reads it: not computed
    CHECK(log_value(l, "val_loss") == log_value(f, "val_loss"));
    CHECK(log_value(l, "loss") == log_value(f, "loss"));
}

TEST_CASE("reduce_lr_on_plateau lowers the learning rate") {
    ExperimentResult r = train_file("configs/regression.yaml",
                                    {"training.epochs=12", "optimizer={type: sgd, learning_rate: 0.5}",
                                     "training.reduce_lr_on_plateau={monitor: loss, factor: 0.5, patience: 0, "
                                     "min_delta: 1000}"});
    // The first epoch sets the reference; after it every epoch is a "plateau" (min_delta 1000), so the
    // rate halves at the end of each later epoch.
    CHECK(r.train.history[0].learning_rate == doctest::Approx(0.5));
    CHECK(r.train.history[1].learning_rate == doctest::Approx(0.25));
    CHECK(r.train.history[2].learning_rate == doctest::Approx(0.125));
}

TEST_CASE("the three Keras examples train and report loss with the L2 penalty included") {
    ExperimentResult a = train_file("configs/seed/keras_sgd.yaml", {"training.epochs=2"});
    ExperimentResult c = train_file("configs/seed/keras_l2.yaml", {"training.epochs=2"});
    ExperimentResult b = train_file("configs/seed/keras_adam_mse.yaml", {"training.epochs=2"});
    CHECK(a.train.history.size() == 2);
    CHECK(log_value(a.final_logs, "loss") > 2.0);  // ~ln(10) on random labels
    // Same data, weights and shuffles: the only difference is the penalty (0.01·Σw² ≈ 0.2 here).
    CHECK(log_value(c.final_logs, "loss") > log_value(a.final_logs, "loss") + 0.1);
    CHECK(log_value(b.final_logs, "loss") < 0.1);  // mse on one-hot targets
}

TEST_CASE("a mismatch between the last layer and the classes is a config error") {
    CHECK_THROWS_AS(train_file("configs/iris.yaml", {"model.layers.2.units=4"}), ConfigError);
}

#include "core/parallel.hpp"
#include "support/gradcheck.hpp"

TEST_CASE("threaded products equal plain products, bit for bit whatever the thread count") {
    Matrix a = nnctl::test::random_matrix(128, 300, 1), b = nnctl::test::random_matrix(300, 200, 2);
    Matrix bt = b.transpose(), at = a.transpose();
    Matrix ref = a * b;
    Matrix c1, c2, c3, c4;
    set_num_threads(1);
    matmul(a, b, c1);
    set_num_threads(2);
    matmul(a, b, c2);
    matmul_tn(at, b, c3);
    matmul_nt(a, bt, c4);
    set_num_threads(1);
    CHECK((c1 - ref).cwiseAbs().maxCoeff() < 1e-3f);
    CHECK(c1 == c2);
    CHECK((c3 - ref).cwiseAbs().maxCoeff() < 1e-3f);
    CHECK((c4 - ref).cwiseAbs().maxCoeff() < 1e-3f);
}
