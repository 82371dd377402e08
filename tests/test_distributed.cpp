// Data-parallel training (issue 15) on a group of threads: the same collectives as MPI's, so the
// trainer's sharding, gradient sums, synchronized batch normalization, per-sample random streams
// and shared evaluation are checked against one process without launching any.
#include <doctest/doctest.h>

#include <cstring>
#include <exception>
#include <thread>

#include "config/parse.hpp"
#include "core/error.hpp"
#include "dist/comm.hpp"
#include "train/experiment.hpp"

using namespace nnctl;

namespace {

struct RankResult {
    std::vector<Matrix> weights;
    Logs final_logs;
    std::vector<EpochLog> history;
};

/// Train the config on `ranks` threads as one data-parallel group; every rank's result.
std::vector<RankResult> train_group(const std::string& yaml, int ranks) {
    const ExperimentConfig c = parse_config(yaml, "dp.yaml");
    std::vector<Experiment> ex;
    for (int r = 0; r < ranks; ++r) ex.push_back(prepare_experiment(c));
    auto group = make_thread_group(ranks);
    std::vector<RankResult> out(static_cast<size_t>(ranks));
    std::vector<std::exception_ptr> errors(static_cast<size_t>(ranks));
    std::vector<std::thread> threads;
    for (int r = 0; r < ranks; ++r)
        threads.emplace_back([&, r] {
            try {
                Experiment& e = ex[size_t(r)];
                e.comm = ranks > 1 ? group[size_t(r)].get() : nullptr;
                ExperimentResult res = run_experiment(e);
                RankResult& o = out[size_t(r)];
                o.final_logs = res.final_logs;
                o.history = res.train.history;
                for (const auto& p : e.model.params()) o.weights.push_back(*p.value);
            } catch (...) {
                errors[size_t(r)] = std::current_exception();
            }
        });
    for (auto& t : threads) t.join();
    for (auto& e : errors)
        if (e) std::rethrow_exception(e);
    return out;
}

/// The largest relative difference of any tensor: max|a − b| / max|a|.
double max_relative(const std::vector<Matrix>& a, const std::vector<Matrix>& b) {
    REQUIRE(a.size() == b.size());
    double worst = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double scale = std::max(double(a[i].cwiseAbs().maxCoeff()), 1e-30);
        const double r = double((a[i] - b[i]).cwiseAbs().maxCoeff()) / scale;
        if (r > 1e-6) MESSAGE("tensor " << i << ": " << r);
        worst = std::max(worst, r);
    }
    return worst;
}

bool identical(const std::vector<Matrix>& a, const std::vector<Matrix>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (a[i].size() != b[i].size() || std::memcmp(a[i].data(), b[i].data(), size_t(a[i].size()) * sizeof(float)))
            return false;
    return true;
}

/// 43 training rows (after a 0.25 validation split of 57): batches of `batch` rows.
std::string config(const std::string& layers, const std::string& optimizer, int batch, int epochs) {
    return "seed: 7\n"
           "data: {train: {format: synthetic, samples: 57, features: 12, classes: 3}, validation_split: 0.25}\n"
           "model:\n  layers:\n" + layers +
           "loss: sparse_categorical_crossentropy\n"
           "optimizer: " + optimizer + "\n"
           "metrics: [accuracy]\n"
           "training: {epochs: " + std::to_string(epochs) + ", batch_size: " + std::to_string(batch) + "}\n";
}

// Batch normalization (synchronized), dropout: the couplings across a batch and its randomness.
const std::string kDense =
    "    - {type: dense, units: 16, use_bias: false}\n"  // (a bias before batch normalization has no gradient)
    "    - {type: batch_normalization}\n"
    "    - {type: activation, activation: relu}\n"
    "    - {type: dropout, rate: 0.3}\n"
    "    - {type: dense, units: 3, activation: softmax}\n";
// A recurrent layer with input and recurrent dropout.
const std::string kLstm =
    "    - {type: reshape, target_shape: [4, 3]}\n"
    "    - {type: lstm, units: 5, dropout: 0.2, recurrent_dropout: 0.2}\n"
    "    - {type: dense, units: 3, activation: softmax}\n";

}  // namespace

TEST_CASE("data-parallel: one step on 2 and 4 ranks equals the single-process gradient step of the whole batch") {
    // One batch of all 43 rows, plain SGD with learning rate 1: the weights move by minus the
    // batch's gradient, so equal weights mean equal gradients (shards of 22/21 and 10/11/11/11 rows).
    for (const std::string& layers : {kDense, kLstm}) {
        const std::string cfg = config(layers, "{type: sgd, learning_rate: 1.0}", 43, 1);
        const std::vector<RankResult> one = train_group(cfg, 1);
        for (int n : {2, 4}) {
            CAPTURE(n);
            const std::vector<RankResult> many = train_group(cfg, n);
            CHECK(max_relative(one[0].weights, many[0].weights) < 1e-6);
            for (int r = 1; r < n; ++r) CHECK(identical(many[0].weights, many[size_t(r)].weights));
            // The logged loss and accuracy are the whole batch's, as one process logs them.
            CHECK(log_value(many[0].final_logs, "loss") == doctest::Approx(log_value(one[0].final_logs, "loss")).epsilon(1e-6));
            CHECK(log_value(many[0].final_logs, "accuracy") == log_value(one[0].final_logs, "accuracy"));
            CHECK(log_value(many[0].final_logs, "val_loss") == doctest::Approx(log_value(one[0].final_logs, "val_loss")).epsilon(1e-6));
        }
    }
}

TEST_CASE("data-parallel: a few epochs of Adam end within 1e-5 of one process for 2 and 4 ranks; the same N is byte-identical") {
    // Batches of 8: uneven shards (8 rows on 3 ranks would be 2/3/3; here 4/4 and 2/2/2/2), and a
    // last batch of 3 rows, fewer than 4 ranks, which every rank computes whole.
    for (const std::string& layers : {kDense, kLstm}) {
        const std::string cfg = config(layers, "{type: adam, learning_rate: 0.01}", 8, 3);
        const std::vector<RankResult> one = train_group(cfg, 1);
        for (int n : {2, 3, 4}) {
            CAPTURE(n);
            const std::vector<RankResult> a = train_group(cfg, n), b = train_group(cfg, n);
            CHECK(max_relative(one[0].weights, a[0].weights) < 1e-5);
            CHECK(identical(a[0].weights, b[0].weights));
            for (int r = 1; r < n; ++r) CHECK(identical(a[0].weights, a[size_t(r)].weights));
            REQUIRE(a[0].history.size() == 3);
            for (size_t e = 0; e < 3; ++e)
                CHECK(log_value(a[0].history[e].values, "val_accuracy") == log_value(one[0].history[e].values, "val_accuracy"));
        }
    }
}

TEST_CASE("thread group collectives: sums in rank order, gathers in rank order") {
    auto group = make_thread_group(3);
    std::vector<std::vector<float>> sums(3), gathers(3);
    std::vector<double> dsum(3);
    std::vector<std::thread> th;
    for (int r = 0; r < 3; ++r)
        th.emplace_back([&, r] {
            Communicator& c = *group[size_t(r)];
            std::vector<float> v = {float(r), 1.0f, float(10 * r)};
            c.sum(v.data(), v.size());
            sums[size_t(r)] = v;
            double d = r == 0 ? 0.5 : 0.0;  // rank 0's value on every rank: how nnctl broadcasts a decision
            c.sum(&d, 1);
            dsum[size_t(r)] = d;
            std::vector<float> mine(static_cast<size_t>(r), static_cast<float>(r));  // rank r sends r copies of r
            c.gather(mine.data(), mine.size(), gathers[size_t(r)]);
        });
    for (auto& t : th) t.join();
    for (int r = 0; r < 3; ++r) {
        CHECK(sums[size_t(r)] == std::vector<float>{3.0f, 3.0f, 30.0f});
        CHECK(dsum[size_t(r)] == 0.5);
        CHECK(gathers[size_t(r)] == std::vector<float>{1.0f, 2.0f, 2.0f});
    }
    CHECK(shard_begin(10, 0, 4) == 0);
    CHECK(shard_begin(10, 1, 4) == 2);
    CHECK(shard_begin(10, 2, 4) == 5);
    CHECK(shard_begin(10, 4, 4) == 10);
}

TEST_CASE("data-parallel: processes that do not train the same thing stop with an error before the first step") {
    // Rank 1 reads 50 rows, rank 0 57: their batch counts differ, and the collectives would mismatch.
    const std::string a = config(kDense, "{type: sgd, learning_rate: 0.1}", 8, 1), b = [&] {
        std::string s = a;
        s.replace(s.find("samples: 57"), 11, "samples: 50");
        return s;
    }();
    std::vector<Experiment> ex;
    ex.push_back(prepare_experiment(parse_config(a, "a.yaml")));
    ex.push_back(prepare_experiment(parse_config(b, "b.yaml")));
    auto group = make_thread_group(2);
    std::vector<std::string> errors(2);
    std::vector<std::thread> th;
    for (int r = 0; r < 2; ++r)
        th.emplace_back([&, r] {
            ex[size_t(r)].comm = group[size_t(r)].get();
            try {
                run_experiment(ex[size_t(r)]);
            } catch (const Error& e) {
                errors[size_t(r)] = e.what();
            }
        });
    for (auto& t : th) t.join();
    CHECK(errors[0].find("process 0 does not train what the others do (its training rows") != std::string::npos);
    CHECK(errors[1].find("process 1 does not train what the others do (its training rows, features, targets, "
                         "parameters, batch size, epochs, resumed epoch: 38,") != std::string::npos);
}
