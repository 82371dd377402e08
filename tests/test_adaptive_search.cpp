// Budgeted and adaptive search: halving / hyperband brackets, ASHA promotions, the median pruner,
// the TPE sampler, and the store operations they use.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "config/parse.hpp"
#include "core/error.hpp"
#include "core/json.hpp"
#include "core/rng.hpp"
#include "data/schema.hpp"
#include "search/schedule.hpp"
#include "search/space.hpp"
#include "search/store.hpp"
#include "search/tpe.hpp"

using namespace nnctl;

namespace {
SearchConfig budget(const std::string& strategy, int min_e, int max_e, int eta = 3) {
    SearchConfig s;
    s.strategy = strategy;
    s.min_epochs = min_e;
    s.max_epochs = max_e;
    s.reduction_factor = eta;
    SearchParam p;
    p.path = "optimizer.learning_rate";
    p.kind = "log_uniform";
    p.min = 1e-4;
    p.max = 1e-1;
    s.params = {p};
    return s;
}

/// A trial paused at `rung` with these values at rungs 0..rung.
TrialRecord at(int64_t index, const std::string& state, int rung, std::vector<double> values) {
    TrialRecord t;
    t.index = index;
    t.state = state;
    t.rung = rung;
    t.rung_values = std::move(values);
    return t;
}
}  // namespace

TEST_CASE("hyperband: the brackets of Li et al. (2018), Table 1 (R = 81, eta = 3)") {
    const auto b = plan_brackets(budget("hyperband", 1, 81));
    // s = 4..0; each row: (n_i, r_i) for i = 0..s
    const std::vector<std::vector<std::pair<int64_t, int>>> paper = {
        {{81, 1}, {27, 3}, {9, 9}, {3, 27}, {1, 81}},
        {{34, 3}, {11, 9}, {3, 27}, {1, 81}},
        {{15, 9}, {5, 27}, {1, 81}},
        {{8, 27}, {2, 81}},
        {{5, 81}},
    };
    REQUIRE(b.size() == paper.size());
    int64_t first = 0;
    for (size_t k = 0; k < b.size(); ++k) {
        CAPTURE(k);
        CHECK(b[k].s == int(4 - k));
        CHECK(b[k].first == first);
        REQUIRE(b[k].rungs.size() == paper[k].size());
        for (size_t i = 0; i < paper[k].size(); ++i) {
            CHECK(b[k].rungs[i].size == paper[k][i].first);
            CHECK(b[k].rungs[i].epochs == paper[k][i].second);
        }
        first += paper[k][0].first;
    }
    SearchConfig s = budget("hyperband", 1, 81);
    CHECK(trial_count(s) == 81 + 34 + 15 + 8 + 5);
    CHECK(bracket_of(b, 0).s == 4);
    CHECK(bracket_of(b, 80).s == 4);
    CHECK(bracket_of(b, 81).s == 3);
    CHECK(bracket_of(b, 142).s == 0);
    CHECK_THROWS(bracket_of(b, 143));
    // iterations repeat the whole set of brackets, with fresh trials.
    s.iterations = 2;
    CHECK(trial_count(s) == 2 * 143);
    CHECK(plan_brackets(s)[5].first == 143);
    // η = 2 with R = 8 (the paper's other worked example shape): s_max = 3.
    const auto b2 = plan_brackets(budget("hyperband", 1, 8, 2));
    REQUIRE(b2.size() == 4);
    CHECK(b2[0].rungs.front().size == 8);  // ⌈4/4 · 8⌉
    CHECK(b2[1].rungs.front().size == 6);  // ⌈4/3 · 4⌉
    CHECK(b2[2].rungs.front().size == 4);  // ⌈4/2 · 2⌉
    CHECK(b2[3].rungs.front().size == 4);
}

TEST_CASE("rungs: epochs between min and max, the top rung the full budget") {
    CHECK(rung_epochs(1, 81, 3) == std::vector<int>{1, 3, 9, 27, 81});
    CHECK(rung_epochs(1, 243, 3) == std::vector<int>{1, 3, 9, 27, 81, 243});  // (log 243 / log 3 = 4.999…)
    CHECK(rung_epochs(1, 10, 3) == std::vector<int>{1, 3, 10});
    CHECK(rung_epochs(2, 100, 3) == std::vector<int>{4, 11, 33, 100});
    CHECK(rung_epochs(5, 5, 3) == std::vector<int>{5});
    CHECK(rung_epochs(4, 10, 3) == std::vector<int>{10});     // 10/4 < η: one rung
    CHECK(rung_epochs(4, 12, 3) == std::vector<int>{4, 12});  // (12/3 = 4)
    CHECK(rung_epochs(3, 10, 3) == std::vector<int>{3, 10});  // never below min_epochs
    // Successive halving: `trials` at the bottom, ⌊n/η⌋ (at least one) kept at each rung.
    SearchConfig h = budget("halving", 1, 27);
    h.trials = 20;
    h.trials_given = true;
    auto b = plan_brackets(h);
    REQUIRE(b.size() == 1);
    REQUIRE(b[0].rungs.size() == 4);
    CHECK(b[0].rungs[0].size == 20);
    CHECK(b[0].rungs[1].size == 6);
    CHECK(b[0].rungs[2].size == 2);
    CHECK(b[0].rungs[3].size == 1);
    h.trials_given = false;  // default: η^K, one trial reaching the top
    CHECK(trial_count(h) == 27);
    SearchConfig a = budget("asha", 1, 27);
    a.trials = 50;
    CHECK(trial_count(a) == 50);
    CHECK(plan_brackets(a)[0].rungs.size() == 4);
}

TEST_CASE("synchronous halving: a rung is decided once all of its trials have a result there") {
    SearchConfig s = budget("halving", 1, 9);
    s.trials = 9;
    s.trials_given = true;
    const auto b = plan_brackets(s);  // 9 at 1 epoch, 3 at 3, 1 at 9
    std::vector<TrialRecord> t;
    const double v[9] = {0.5, 0.9, 0.7, 0.9, 0.1, 0.3, 0.8, 0.2, 0.6};
    for (int i = 0; i < 9; ++i) t.push_back(at(i, "paused", 0, {v[i]}));
    t[8] = at(8, "running", 0, {});
    CHECK(halving_decisions(s, b, t, false).empty());  // trial 8 still runs
    t[8] = at(8, "failed", 0, {});                      // a failure has no result but does not hold the rung up
    auto d = halving_decisions(s, b, t, false);
    REQUIRE(d.size() == 8);
    std::vector<int64_t> promoted, pruned;
    for (const auto& x : d) {
        (x.promote ? promoted : pruned).push_back(x.index);
        if (x.promote) {
            CHECK(x.rung == 1);
            CHECK(x.epochs == 3);
        } else {
            CHECK(x.reason.find("not among the best 3 of 8 at rung 0 (1 epochs; cut-off 0.8)") == 0);
        }
    }
    std::sort(promoted.begin(), promoted.end());
    CHECK(promoted == std::vector<int64_t>{1, 3, 6});  // 0.9 (1), 0.9 (3: tie, by index), 0.8 (6)
    CHECK(pruned.size() == 5);
    // Minimizing takes the other end.
    d = halving_decisions(s, b, t, true);
    promoted.clear();
    for (const auto& x : d)
        if (x.promote) promoted.push_back(x.index);
    std::sort(promoted.begin(), promoted.end());
    CHECK(promoted == std::vector<int64_t>{4, 5, 7});
    // Next rung: the three promoted have run; the best one goes to the top.
    std::vector<TrialRecord> u;
    u.push_back(at(1, "paused", 1, {0.9, 0.70}));
    u.push_back(at(3, "paused", 1, {0.9, 0.95}));
    u.push_back(at(6, "running", 1, {0.8}));
    for (int i : {0, 2, 4, 5, 7}) u.push_back(at(i, "pruned", 0, {v[i]}));
    u.push_back(at(8, "failed", 0, {}));
    CHECK(halving_decisions(s, b, u, false).empty());
    u[2] = at(6, "paused", 1, {0.8, 0.97});
    d = halving_decisions(s, b, u, false);
    REQUIRE(d.size() == 3);
    for (const auto& x : d) CHECK(x.promote == (x.index == 6));
}

TEST_CASE("ASHA: promote the best 1/eta of a rung as soon as they are known, from the top rung down") {
    SearchConfig s = budget("asha", 1, 9);
    s.trials = 20;
    const auto b = plan_brackets(s);  // rungs 1, 3, 9 epochs
    std::vector<TrialRecord> t;
    t.push_back(at(0, "paused", 0, {0.5}));
    t.push_back(at(1, "running", 0, {}));
    // One result at rung 0: ⌊1/3⌋ = 0 may go on.
    CHECK(halving_decisions(s, b, t, false).empty());
    t.push_back(at(2, "paused", 0, {0.7}));
    t.push_back(at(3, "paused", 0, {0.6}));
    auto d = halving_decisions(s, b, t, false);  // 3 results: the best one (trial 2) goes on
    REQUIRE(d.size() == 1);
    CHECK(d[0].index == 2);
    CHECK(d[0].promote);
    CHECK(d[0].rung == 1);
    CHECK(d[0].epochs == 3);
    // Once promoted it is not promoted again; the next best waits for more results.
    t[2] = at(2, "running", 1, {0.7});
    CHECK(halving_decisions(s, b, t, false).empty());
    // Six results at rung 0 (two may go on), and three at rung 1 whose best goes first.
    t[1] = at(1, "paused", 0, {0.65});
    t.push_back(at(4, "paused", 0, {0.1}));
    t.push_back(at(5, "paused", 0, {0.2}));
    t[2] = at(2, "paused", 1, {0.7, 0.8});
    t.push_back(at(6, "paused", 1, {0.9, 0.7}));  // (as if promoted earlier)
    t.push_back(at(7, "paused", 1, {0.95, 0.9}));
    d = halving_decisions(s, b, t, false);
    REQUIRE(d.size() == 1);
    CHECK(d[0].index == 7);  // rung 1 first
    CHECK(d[0].rung == 2);
    CHECK(d[0].epochs == 9);
    t[7] = at(7, "complete", 2, {0.95, 0.9, 0.92});
    // Rung 1: 3 results, trial 7 went on; rung 0: 8 results, the best two (7, 6) went on. Nobody
    // else qualifies, and while trial 1 runs, more results may still change that.
    t[1] = at(1, "running", 0, {});
    CHECK(halving_decisions(s, b, t, false).empty());
    // When nothing runs or waits to run, whoever is paused and cannot climb is pruned.
    t[1] = at(1, "paused", 0, {0.65});
    d = halving_decisions(s, b, t, false);
    std::vector<int64_t> pruned;
    for (const auto& x : d) {
        CHECK(!x.promote);
        CHECK(x.reason.find("not among the best 1/3 at rung") == 0);
        pruned.push_back(x.index);
    }
    std::sort(pruned.begin(), pruned.end());
    CHECK(pruned == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6});
}

TEST_CASE("median pruner: Optuna's MedianPruner decisions on hand-made curves") {
    PrunerConfig p;
    p.type = "median";
    p.startup_trials = 2;
    std::string why;
    const std::vector<double> others = {0.4, 0.6, 0.8};  // median 0.6
    CHECK(!median_prune(p, 3, 0.5, others, 1, false, why));  // fewer completed trials than startup_trials
    CHECK(median_prune(p, 3, 0.5, others, 3, false, why));    // maximize: 0.5 < 0.6
    CHECK(why == "at epoch 3 its best 0.5 is worse than the median 0.6 of 3 completed trials");
    CHECK(!median_prune(p, 3, 0.6, others, 3, false, why));  // equal to the median: kept (strict)
    CHECK(!median_prune(p, 3, 0.7, others, 3, false, why));
    CHECK(!median_prune(p, 3, 0.5, others, 3, true, why));   // minimize: 0.5 < 0.6 is better
    CHECK(median_prune(p, 3, 0.7, others, 3, true, why));
    CHECK(median_prune(p, 3, 0.45, {0.4, 0.5, 0.6, 0.8}, 4, false, why));  // even count: mean of the middle two (0.55)
    CHECK(why.find("median 0.55 of 4") != std::string::npos);
    CHECK(!median_prune(p, 3, 0.1, {}, 3, false, why));  // nobody reported this epoch
    p.min_trials = 4;
    CHECK(!median_prune(p, 3, 0.1, others, 3, false, why));
    p.min_trials = 1;
    p.warmup_epochs = 3;  // epochs 1..3 are never pruned
    CHECK(!median_prune(p, 3, 0.1, others, 3, false, why));
    CHECK(median_prune(p, 4, 0.1, others, 3, false, why));
    p.interval = 2;  // then every second epoch: 4, 6, ...
    CHECK(median_prune(p, 4, 0.1, others, 3, false, why));
    CHECK(!median_prune(p, 5, 0.1, others, 3, false, why));
    CHECK(median_prune(p, 6, 0.1, others, 3, false, why));
    CHECK(median_prune(p, 6, NAN, others, 3, false, why));  // a trial that reported nothing usable
    p.type = "none";
    CHECK(!median_prune(p, 6, 0.1, others, 3, false, why));
}

namespace {
SearchConfig one_param(const std::string& kind, double lo, double hi, double step = 0) {
    SearchConfig s;
    s.strategy = "tpe";
    s.seed = 11;
    SearchParam p;
    p.path = "x";
    p.kind = kind;
    p.min = lo;
    p.max = hi;
    p.step = step;
    s.params = {p};
    return s;
}

double value_of(const Trial& t) {
    double x = 0;
    REQUIRE(parse_number(t.values[0].second, x));
    return x;
}

/// A search of n trials minimizing f, TPE (or random when `random`), as the runner feeds it.
std::vector<double> run_tpe(const SearchConfig& s, int n, double (*f)(double), bool random = false) {
    std::vector<TpeObservation> obs;
    std::vector<double> xs;
    for (int i = 0; i < n; ++i) {
        const Trial t = random ? make_trial(s, i) : tpe_trial(s, i, obs, true);
        const double x = value_of(t);
        xs.push_back(x);
        TpeObservation o;
        o.index = i;
        o.values = {t.values[0].second};
        o.value = f(x);
        obs.push_back(o);
    }
    return xs;
}

double quadratic(double x) { return (x - 0.3) * (x - 0.3); }
}  // namespace

TEST_CASE("TPE: proposals on a 1-D quadratic concentrate near the optimum; random search's do not") {
    const SearchConfig s = one_param("uniform", -2.0, 2.0);
    const auto tpe = run_tpe(s, 100, quadratic), rnd = run_tpe(s, 100, quadratic, true);
    auto median_distance = [](std::vector<double> v) {
        std::vector<double> d;
        for (size_t i = 50; i < v.size(); ++i) d.push_back(std::fabs(v[i] - 0.3));
        std::sort(d.begin(), d.end());
        return d[d.size() / 2];
    };
    auto best = [](const std::vector<double>& v) {
        double b = INFINITY;
        for (double x : v) b = std::min(b, quadratic(x));
        return b;
    };
    // Uniform proposals sit about 1.0 away (median); TPE's last 50 about 0.2 (its kernels are no
    // narrower than (high − low) / min(100, n + 2), Optuna's "magic clip", so it keeps exploring),
    // and its best is much closer than the random search's.
    CHECK(median_distance(rnd) > 0.6);
    CHECK(median_distance(tpe) < 0.35);
    CHECK(best(tpe) < 1e-4);
    auto within = [](const std::vector<double>& v) {  // of the last 50, how many within 0.1 of the optimum
        int k = 0;
        for (size_t i = 50; i < v.size(); ++i) k += std::fabs(v[i] - 0.3) < 0.1;
        return k;
    };
    CHECK(within(tpe) >= 8);
    CHECK(within(tpe) > 2 * within(rnd));  // (uniform: 2.5 expected)
    for (double x : tpe) {
        CHECK(x >= -2.0);
        CHECK(x <= 2.0);
    }
    // The first n_startup_trials are the random search's trials.
    for (int i = 0; i < s.n_startup_trials; ++i) CHECK(tpe[size_t(i)] == rnd[size_t(i)]);
    // Deterministic: the same seed and results give the same proposals; another seed others.
    CHECK(run_tpe(s, 30, quadratic) == run_tpe(s, 30, quadratic));
    SearchConfig other = s;
    other.seed = 12;
    CHECK(run_tpe(other, 30, quadratic) != run_tpe(s, 30, quadratic));
}

TEST_CASE("TPE: every distribution of the space, bounds and steps kept") {
    // log_uniform: the optimum at 1e-3 of [1e-5, 1]; steps and bounds kept for int and ranges.
    SearchConfig lg = one_param("log_uniform", 1e-5, 1.0);
    auto lx = run_tpe(lg, 60, [](double x) { return std::pow(std::log10(x) + 3, 2); });
    double near = 0;
    for (size_t i = 30; i < lx.size(); ++i) near += std::fabs(std::log10(lx[i]) + 3) < 0.5;
    CHECK(near >= 15);  // of 30 (uniform in log space: 6)
    for (double x : lx) CHECK((x >= 1e-5 && x <= 1.0));
    SearchConfig in = one_param("int_uniform", 4, 64, 4);
    for (double x : run_tpe(in, 40, [](double x) { return std::fabs(x - 24); })) {
        CHECK(std::fmod(x, 4.0) == 0.0);
        CHECK((x >= 4 && x <= 64));
    }
    SearchConfig rg = one_param("range", 0.1, 0.5, 0.1);
    for (double x : run_tpe(rg, 30, [](double x) { return x; })) {
        CHECK((x >= 0.1 - 1e-9 && x <= 0.5 + 1e-9));
        CHECK(std::fabs(std::round(x * 10) - x * 10) < 1e-6);
    }
    SearchConfig nm = one_param("normal", 0, 0);
    nm.params[0].mean = 1.0;
    nm.params[0].std = 0.5;
    for (double x : run_tpe(nm, 30, [](double x) { return std::fabs(x - 1.5); })) CHECK((x >= -1.0 && x <= 3.0));
    // Choices, sub-trees included: the best one is proposed most once the model takes over.
    SearchConfig ch;
    ch.strategy = "tpe";
    ch.seed = 3;
    SearchParam c;
    c.path = "optimizer";
    c.kind = "choice";
    c.values = {"{type: sgd}", "{type: adam}", "{type: rmsprop}", "{type: adagrad}", "{type: nadam}"};
    ch.params = {c};
    std::vector<TpeObservation> obs;
    int adam = 0;
    for (int i = 0; i < 60; ++i) {
        const Trial t = tpe_trial(ch, i, obs, true);
        const std::string& v = t.values[0].second;
        REQUIRE(std::find(c.values.begin(), c.values.end(), v) != c.values.end());
        if (i >= 30) adam += v == "{type: adam}";
        TpeObservation o;
        o.index = i;
        o.values = {v};
        o.value = v == "{type: adam}" ? 0.1 : 1.0;
        obs.push_back(o);
    }
    CHECK(adam >= 15);  // of 30 (uniform: 6)
}

TEST_CASE("TPE: observations are the completed and pruned trials with every value") {
    SearchConfig s = one_param("uniform", 0, 1);
    auto rec = [](int64_t i, const std::string& state, double mean, const std::string& sets) {
        TrialRecord r;
        r.index = i;
        r.state = state;
        r.mean = mean;
        r.sets = sets;
        return r;
    };
    const auto obs = tpe_observations(s, {rec(0, "complete", 0.5, "[\"x=0.25\"]"), rec(1, "failed", 0, "[\"x=0.5\"]"),
                                           rec(2, "pruned", 0.9, "[\"x=0.75\"]"), rec(3, "running", 0, "[\"x=0.1\"]"),
                                           rec(4, "complete", 0.1, "[\"y=1\"]"), rec(5, "pending", 0, "[]")});
    REQUIRE(obs.size() == 2);
    CHECK(obs[0].index == 0);
    CHECK(obs[0].values == std::vector<std::string>{"0.25"});
    CHECK(obs[1].pruned);
}

TEST_CASE("store: planned claims, rungs, prunings and intermediate reports") {
    const std::string db = "/tmp/nnctl_store_plan" + std::to_string(::getpid()) + ".db";
    std::remove(db.c_str());
    {
        SearchStore s(db);
        std::vector<TrialRecord> rows;
        for (int i = 0; i < 3; ++i) {
            TrialRecord r;
            r.index = i;
            r.params = "{}";
            r.sets = "[]";
            r.budget = 1;
            rows.push_back(r);
        }
        s.add_trials(rows);
        CHECK(s.get(2).budget == 1);
        int64_t idx = -1;
        int a = 0;
        std::vector<TrialRecord> changed;
        auto none = [](const std::vector<TrialRecord>&) { return std::vector<TrialRecord>{}; };
        REQUIRE(s.claim_planned(7, none, idx, a, changed) == Claim::trial);
        CHECK(idx == 0);
        CHECK(s.finish_rung(0, a, false, {0.5, 0.7}, 0.6, 0.1, 1.5, 1));
        CHECK(!s.finish_rung(0, a, false, {0.5}, 0.5, 0, 1, 1));  // only the running attempt records
        TrialRecord r = s.get(0);
        CHECK(r.state == "paused");
        CHECK(r.rung_values == std::vector<double>{0.6});
        CHECK(r.epochs == 1);
        REQUIRE(s.claim_planned(7, none, idx, a, changed) == Claim::trial);
        CHECK(idx == 1);
        CHECK(s.prune(1, a, "pruned: slow", 0.2, 0.5, 3));
        CHECK(s.get(1).state == "pruned");
        CHECK(s.get(1).error == "pruned: slow");
        CHECK(s.get(1).epochs == 3);
        REQUIRE(s.claim_planned(7, none, idx, a, changed) == Claim::trial);
        CHECK(idx == 2);
        // Nothing pending, one running: wait. A plan that promotes trial 0 makes work at its rung.
        CHECK(s.claim_planned(8, none, idx, a, changed) == Claim::wait);
        auto promote = [](const std::vector<TrialRecord>& all) {
            std::vector<TrialRecord> out;
            for (auto r : all)
                if (r.state == "paused") {
                    r.state = "pending";
                    r.rung = 1;
                    r.budget = 3;
                    out.push_back(r);
                }
            return out;
        };
        REQUIRE(s.claim_planned(8, promote, idx, a, changed) == Claim::trial);
        CHECK(idx == 0);
        REQUIRE(changed.size() == 1);
        CHECK(s.get(0).rung == 1);
        CHECK(s.get(0).budget == 3);
        CHECK(s.get(0).attempt == 2);
        CHECK(s.finish_rung(0, a, true, {0.8, 0.8}, 0.8, 0, 3.0, 3));
        CHECK(s.get(0).state == "complete");
        CHECK(s.get(0).rung_values == std::vector<double>{0.6, 0.8});
        CHECK(s.finish_rung(2, 1, true, {0.4}, 0.4, 0, 1, 1));
        CHECK(s.claim_planned(8, none, idx, a, changed) == Claim::done);
        // Intermediate values: only completed trials' count toward the median.
        s.report(0, 0, 1, 0.6);
        s.report(1, 0, 1, 0.1);  // pruned
        s.report(2, 0, 1, 0.4);
        s.report(2, 1, 1, 0.9);  // another fold
        int64_t completed = 0;
        CHECK(s.completed_reports(0, 1, completed) == std::vector<double>{0.6, 0.4});
        CHECK(completed == 2);
        CHECK(s.completed_reports(0, 2, completed).empty());
        CHECK(s.set_params(2, 1, "{\"x\":1}", "[\"x=1\"]") == false);  // not running any more
    }
    std::remove(db.c_str());
    std::remove((db + "-wal").c_str());
    std::remove((db + "-shm").c_str());
}

TEST_CASE("search section: budgets, pruner and tpe settings checked") {
    const std::string base = R"(name: s
data: {train: {format: synthetic, samples: 50, features: 4, classes: 2}}
model: {layers: [{type: dense, units: 2, activation: softmax}]}
loss: categorical_crossentropy
training: {epochs: 27}
)";
    ExperimentConfig c = parse_config(base + "search: {strategy: hyperband, reduction_factor: 3, space: {"
                                             "optimizer.learning_rate: {distribution: log_uniform, min: 1.0e-4, max: 0.1}}}\n",
                                      "cfg.yaml");
    CHECK(c.search.max_epochs == 27);
    CHECK(c.search.min_epochs == 1);
    CHECK(c.training.epochs == 27);
    c = parse_config(base + "search: {strategy: asha, max_epochs: 9, trials: 5, space: {training.batch_size: [8, 16]}}\n",
                     "cfg.yaml");
    CHECK(c.search.max_epochs == 9);
    CHECK(c.training.epochs == 27);  // (the search trains its trials to max_epochs; nnctl train as written)
    CHECK(c.search.params[0].kind == "choice");
    c = parse_config(base + "search: {strategy: random, pruner: {type: median, warmup_epochs: 2}, space: {"
                            "training.batch_size: [8, 16]}}\n",
                     "cfg.yaml");
    CHECK(c.search.pruner.type == "median");
    CHECK(c.search.pruner.warmup_epochs == 2);
    CHECK(c.search.pruner.startup_trials == 5);
    c = parse_config(base + "search: {strategy: tpe, pruner: median, n_startup_trials: 4, space: {x: [1, 2]}}\n", "cfg.yaml");
    CHECK(c.search.n_startup_trials == 4);
    CHECK(c.search.pruner.type == "median");
    auto error_of = [&](const std::string& search) {
        try {
            parse_config(base + search, "cfg.yaml");
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    // Another strategy's settings are ignored with a warning (a hyperband config run as random search).
    std::vector<std::string> warned;
    set_warning_handler([&](const std::string& m) { warned.push_back(m); });
    CHECK(error_of("search: {strategy: random, min_epochs: 3, n_ei_candidates: 3, space: {x: [1]}}\n") == "no error");
    set_warning_handler(nullptr);
    REQUIRE(warned.size() == 2);
    CHECK(warned[0] == "cfg.yaml:6:40: search.min_epochs is a setting of strategy: halving, hyperband and asha; strategy: "
                       "random ignores it");
    CHECK(warned[1].find("search.n_ei_candidates is a setting of strategy: tpe; strategy: random ignores it") !=
          std::string::npos);
    CHECK(error_of("search: {strategy: hyperband, pruner: median, space: {x: [1]}}\n")
              .find("search.pruner: strategy: hyperband stops trials itself at its rungs") != std::string::npos);
    CHECK(error_of("search: {strategy: halving, space: {training.epochs: [1, 2]}}\n")
              .find("search.space.training.epochs: strategy: halving sets the epochs itself") != std::string::npos);
    CHECK(error_of("search: {strategy: halving, min_epochs: 30, space: {x: [1]}}\n")
              .find("search.min_epochs: min_epochs 30 is above max_epochs 27 (training.epochs)") != std::string::npos);
    CHECK(error_of("search: {strategy: asha, reduction_factor: 1, space: {x: [1]}}\n").find("search.reduction_factor") !=
          std::string::npos);
    CHECK(error_of("search: {strategy: tpe, pruner: {type: mean}, space: {x: [1]}}\n").find("search.pruner.type") !=
          std::string::npos);
    CHECK(error_of("search: {strategy: hyperbnd, space: {x: [1]}}\n").find("hyperband") != std::string::npos);
}

#include "core/fileio.hpp"
#include "search/runner.hpp"

TEST_CASE("a promoted trial continues from its rung's checkpoints to the same scores as one fit") {
    // 3-fold cross-validation with shuffled batches: rung 1 (3 epochs), then rung 2 (7 epochs)
    // continued from rung 1's checkpoints, equals 7 epochs in one go, to the last bit.
    ExperimentConfig c = load_config(std::string(NNCTL_SOURCE_DIR) + "/configs/seed/grid_search.yaml",
                                     {"training.epochs=7", "data.preprocess=standardize"});
    const TrialData td = load_trial_data(c, c.search);
    const std::vector<double> whole = evaluate_trial(c, c.search, &td);
    const std::string dir = "/tmp/nnctl_rungs" + std::to_string(::getpid());
    remove_tree(dir);
    TrialCheckpoints ck;
    ck.dir = dir;
    ck.every_seconds = 1e9;  // only the rung ends are written
    std::vector<std::string> said;
    ck.on_message = [&](const std::string& m) { said.push_back(m); };
    TrialHooks h1;
    h1.budget = 3;
    h1.keep_checkpoints = true;
    const std::vector<double> r1 = evaluate_trial(c, c.search, &td, &ck, &h1);
    CHECK(h1.epochs == 3);
    for (int u = 0; u < 3; ++u) CHECK(path_exists(dir + "/unit-" + std::to_string(u) + "/checkpoint.safetensors"));
    ExperimentConfig c3 = c;
    c3.training.epochs = 3;
    CHECK(r1 == evaluate_trial(c3, c.search, &td));  // the rung's scores are those of a 3-epoch fit
    CHECK(said.empty());
    TrialHooks h2;
    h2.budget = 7;
    const std::vector<double> r2 = evaluate_trial(c, c.search, &td, &ck, &h2);
    CHECK(r2 == whole);
    CHECK(h2.epochs == 7);
    REQUIRE(said.size() == 3);  // every fold went on from epoch 3
    CHECK(said[0] == ": fold 1/3 continues from its checkpoint after epoch 3");
    CHECK(said[2] == ": fold 3/3 continues from its checkpoint after epoch 3");
    // The epoch hook sees the objective of every epoch of every fold; a pruner's exception stops it.
    TrialHooks h3;
    std::vector<std::pair<int, int>> seen;
    h3.on_epoch = [&](int unit, int epoch, double value) {
        CHECK(std::isfinite(value));
        seen.emplace_back(unit, epoch);
        if (unit == 1 && epoch == 2) throw TrialPruned{epoch, value, "pruned: test"};
    };
    CHECK_THROWS_AS(evaluate_trial(c, c.search, &td, nullptr, &h3), TrialPruned);
    CHECK(seen.size() == 7 + 2);
    CHECK(seen.back() == std::make_pair(1, 2));
    remove_tree(dir);
}
