// The search store's operations, the same checks against SQLite (always) and PostgreSQL (when
// NNCTL_TEST_POSTGRES_URL names a server: tests/pg_test.sh starts one and sets it).
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "search/sql.hpp"
#include "search/store.hpp"

using namespace nnctl;

namespace {

/// Each backend the suite runs on: a fresh, empty search per call.
std::vector<std::pair<std::string, std::function<std::unique_ptr<SearchStore>()>>> backends(const std::string& tag) {
    std::vector<std::pair<std::string, std::function<std::unique_ptr<SearchStore>()>>> out;
    const std::string file = "/tmp/nnctl_store_" + tag + std::to_string(::getpid()) + ".db";
    for (const char* ext : {"", "-wal", "-shm"}) std::remove((file + ext).c_str());
    out.emplace_back("sqlite", [file] { return std::make_unique<SearchStore>(file); });
    if (const char* url = std::getenv("NNCTL_TEST_POSTGRES_URL"); url && *url) {
        const std::string u = url, name = tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(std::time(nullptr));
        out.emplace_back("postgresql", [u, name] { return std::make_unique<SearchStore>(u, name); });
    }
    return out;
}

std::vector<TrialRecord> pending(int n, int budget = 0) {
    std::vector<TrialRecord> v;
    for (int i = 0; i < n; ++i) {
        TrialRecord r;
        r.index = i;
        r.params = "{\"x\":" + std::to_string(i) + "}";
        r.sets = "[\"x=" + std::to_string(i) + "\"]";
        r.budget = budget;
        v.push_back(r);
    }
    return v;
}

}  // namespace

TEST_CASE("store (every backend): a new search's description is written once, whole") {
    for (auto& [kind, open] : backends("init")) {
        CAPTURE(kind);
        auto a = open();
        auto b = open();  // a second process on the same search
        CHECK(a->init_meta({{"objective", "val_loss"}, {"shard", "0/1"}, {"fingerprint", "F1"}}));
        // The second finds a search there and writes nothing of its own.
        CHECK(!b->init_meta({{"objective", "val_accuracy"}, {"shard", "1/2"}, {"fingerprint", "F2"}}));
        CHECK(b->meta("objective") == "val_loss");
        CHECK(b->meta("shard") == "0/1");
        CHECK(b->meta("fingerprint") == "F1");
    }
    if (const char* url = std::getenv("NNCTL_TEST_POSTGRES_URL"); url && *url) {
        // Reading a search that is not there creates nothing and says so.
        const std::string name = "absent_" + std::to_string(::getpid());
        CHECK_THROWS_AS(SearchStore(url, name, true), DataError);
        CHECK_THROWS_AS(SearchStore(url, name, true), DataError);  // (still absent: nothing was created)
        SearchStore made(url, name);
        CHECK(made.init_meta({{"fingerprint", "F"}}));
        SearchStore read(url, name, true);
        CHECK(read.meta("fingerprint") == "F");
    }
}

TEST_CASE("store (every backend): claims, attempts, exact results, meta") {
    for (auto& [kind, open] : backends("basic")) {
        CAPTURE(kind);
        auto s = open();
        CHECK(s->meta("fingerprint").empty());
        s->set_meta("fingerprint", "abc");
        s->set_meta("fingerprint", "def");
        CHECK(s->meta("fingerprint") == "def");
        CHECK(s->claim_meta("refit", "host-a 1"));
        CHECK(!s->claim_meta("refit", "host-b 2"));  // once, whoever asks
        CHECK(s->meta("refit") == "host-a 1");
        s->add_trials(pending(3));
        s->add_trials(pending(3));  // idempotent: several workers start together
        REQUIRE(s->all().size() == 3);
        int64_t idx = -1;
        int a = 0;
        REQUIRE(s->claim_next(0, 1, 42, idx, a, "host-a"));
        CHECK(idx == 0);
        CHECK(a == 1);
        const TrialRecord r = s->get(0);
        CHECK(r.state == "running");
        CHECK(r.worker == 42);
        CHECK(r.host == "host-a");
        CHECK(std::fabs(r.started - s->now()) < 5);
        CHECK(std::fabs(r.heartbeat - s->now()) < 5);
        // Doubles go in and come back to the last bit.
        const std::vector<double> sc = {0.1 + 0.2, 1.0 / 3.0, 2.5e-300, -0.0};
        CHECK(s->finish_rung(0, a, true, sc, 1.0 / 7.0, std::sqrt(2.0), 0.125, 10));
        CHECK(!s->finish_rung(0, a, true, sc, 0.5, 0, 0, 10));  // only once
        const TrialRecord c = s->get(0);
        CHECK(c.state == "complete");
        CHECK(c.scores == sc);
        CHECK(c.mean == 1.0 / 7.0);
        CHECK(c.std == std::sqrt(2.0));
        // A stale attempt cannot record: claim 1, reap it (its process is gone), claim again.
        REQUIRE(s->claim_next(0, 1, 43, idx, a, "host-a"));
        CHECK(idx == 1);
        const int stale = a;
        const auto reaped = s->reap("host-a", 0, false, 0, [](int pid) { return pid != 43; });
        REQUIRE(reaped.size() == 1);
        CHECK(reaped[0] == std::make_pair(int64_t(1), true));
        REQUIRE(s->claim_next(0, 1, 44, idx, a, "host-a"));
        CHECK(idx == 1);
        CHECK(a == stale + 1);
        CHECK(!s->fail(1, stale, "late", 1));
        CHECK(s->fail(1, a, "diverged", 1));
        CHECK(s->get(1).error == "diverged");
        // Sharded claims.
        REQUIRE(s->claim_next(1, 2, 45, idx, a, "host-a") == false);  // trial 1 (odd) is taken
        REQUIRE(s->claim_next(0, 2, 45, idx, a, "host-a"));
        CHECK(idx == 2);
    }
}

TEST_CASE("store (every backend): workers that died or went quiet, heartbeats") {
    for (auto& [kind, open] : backends("reap")) {
        CAPTURE(kind);
        auto s = open();
        s->add_trials(pending(4));
        int64_t idx = -1;
        int a = 0;
        REQUIRE(s->claim_next(0, 1, 10, idx, a, "host-a"));  // trial 0 on host-a
        REQUIRE(s->claim_next(0, 1, 20, idx, a, "host-b"));  // trial 1 on host-b
        REQUIRE(s->claim_next(0, 1, 30, idx, a, "host-b"));  // trial 2 on host-b, beating
        const int a2 = a;
        // Seen from host-a: host-b's process ids mean nothing here, only their heartbeats.
        auto none_alive = [](int) { return false; };
        auto r = s->reap("host-a", 0.3, true, 1, none_alive);
        REQUIRE(r.size() == 1);
        CHECK(r[0] == std::make_pair(int64_t(0), true));
        CHECK(s->get(0).state == "pending");
        CHECK(s->get(0).deaths == 1);
        CHECK(s->get(0).error.find("its worker (process 10) is gone") == 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(400));
        s->beat(2, a2);  // trial 2's worker is alive
        s->beat(1, 999);  // (a heartbeat of another attempt changes nothing)
        r = s->reap("host-a", 0.3, true, 1, none_alive);
        REQUIRE(r.size() == 1);  // trial 1: silent past the timeout
        CHECK(r[0].first == 1);
        CHECK(s->get(1).error.find("on host-b) sent no heartbeat for") != std::string::npos);
        CHECK(s->get(2).state == "running");
        // Past `retries` deaths a trial is failed with the reason.
        REQUIRE(s->claim_next(0, 1, 11, idx, a, "host-a"));
        CHECK(idx == 0);
        r = s->reap("host-a", 0, true, 1, none_alive);
        REQUIRE(r.size() == 1);
        CHECK(r[0] == std::make_pair(int64_t(0), false));
        CHECK(s->get(0).state == "failed");
        CHECK(s->get(0).deaths == 2);
        // worker_died: only that host's process.
        REQUIRE(s->claim_next(0, 1, 30, idx, a, "host-c"));
        CHECK(idx == 1);
        CHECK(s->worker_died(30, "killed", 5, "host-a").empty());
        CHECK(s->worker_died(30, "killed", 5, "host-c") == std::vector<std::pair<int64_t, bool>>{{1, true}});
    }
}

TEST_CASE("store (every backend): rungs, prunings, proposals and reports round-trip") {
    for (auto& [kind, open] : backends("rungs")) {
        CAPTURE(kind);
        auto s = open();
        s->add_trials(pending(2, 3));
        CHECK(s->get(1).budget == 3);
        int64_t idx = -1;
        int a = 0;
        std::vector<TrialRecord> changed;
        auto promote = [](const std::vector<TrialRecord>& all) {
            std::vector<TrialRecord> out;
            for (auto r : all)
                if (r.state == "paused") {
                    r.state = "pending";
                    r.rung = r.rung + 1;
                    r.budget = 9;
                    out.push_back(r);
                }
            return out;
        };
        REQUIRE(s->claim_planned(1, promote, idx, a, changed, "h") == Claim::trial);
        CHECK(idx == 0);
        CHECK(s->set_params(0, a, "{\"x\":7}", "[\"x=7\"]"));
        CHECK(s->finish_rung(0, a, false, {0.5}, 0.5, 0, 1.0, 3));
        REQUIRE(s->claim_planned(1, promote, idx, a, changed, "h") == Claim::trial);
        CHECK(idx == 0);  // promoted: the higher rung first
        REQUIRE(changed.size() == 1);
        CHECK(s->get(0).budget == 9);
        CHECK(s->finish_rung(0, a, true, {0.75}, 0.75, 0, 2.0, 9));
        REQUIRE(s->claim_planned(1, promote, idx, a, changed, "h") == Claim::trial);
        CHECK(idx == 1);
        CHECK(s->claim_planned(2, promote, idx, a, changed, "h") == Claim::wait);  // trial 1 runs
        CHECK(!s->prune(1, a + 1, "pruned: slow", 0.25, 0.5, 2));  // (another attempt's)
        CHECK(s->prune(1, a, "pruned: slow", 0.25, 0.5, 2));
        CHECK(s->claim_planned(2, promote, idx, a, changed, "h") == Claim::done);
        const TrialRecord t0 = s->get(0), t1 = s->get(1);
        CHECK(t0.state == "complete");
        CHECK(t0.params == "{\"x\":7}");
        CHECK(t0.rung_values == std::vector<double>{0.5, 0.75});
        CHECK(t0.epochs == 9);
        CHECK(t1.state == "pruned");
        CHECK(t1.mean == 0.25);
        CHECK(t1.error == "pruned: slow");
        s->report(0, 0, 1, 0.3);
        s->report(0, 0, 1, 0.35);  // (reported again after a resume: the last value)
        s->report(1, 0, 1, 0.9);
        int64_t completed = 0;
        CHECK(s->completed_reports(0, 1, completed) == std::vector<double>{0.35});
        CHECK(completed == 1);
        // put() copies a record as it is (merging, exporting).
        TrialRecord copy = t0;
        copy.index = 5;
        copy.deaths = 2;
        copy.host = "elsewhere";
        s->put(copy);
        s->put(copy);
        const TrialRecord back = s->get(5);
        CHECK(back.rung_values == t0.rung_values);
        CHECK(back.scores == t0.scores);
        CHECK(back.deaths == 2);
        CHECK(back.host == "elsewhere");
        CHECK(back.started == t0.started);
    }
}

TEST_CASE("storage URLs: passwords masked, malformed and unreachable ones refused clearly") {
    CHECK(mask_url("postgresql://ann:pa55@db.example:5432/nnctl") == "postgresql://ann:***@db.example:5432/nnctl");
    CHECK(mask_url("postgres://ann@db/nnctl") == "postgres://ann@db/nnctl");
    CHECK(mask_url("postgresql://ann:pa/ss?w@rd@db/nnctl") == "postgresql://ann:***@db/nnctl");  // unescaped
    CHECK(mask_url("postgresql://db/nnctl?options=a@b") == "postgresql://db/nnctl?options=a@b");
    CHECK(mask_url("postgresql://ann:p%40ss@db/x?sslmode=require") == "postgresql://ann:***@db/x?sslmode=require");
    CHECK(mask_url("postgresql:///nnctl?host=/tmp&password=hunter2&user=u") == "postgresql:///nnctl?host=/tmp&password=***&user=u");
    CHECK(mask_urls_in("error: postgresql://a:b@h/d failed, postgres://c:d@e/f too") ==
          "error: postgresql://a:***@h/d failed, postgres://c:***@e/f too");
    CHECK(mask_urls_in("postgres is not a URL") == "postgres is not a URL");
    CHECK(is_postgres_url("postgresql://x"));
    CHECK(!is_postgres_url("sweeps/a/search.db"));
    try {
        SearchStore s("postgresql://ann:hunter2@db/x?nosuchoption=1");
        FAIL("expected a ConfigError");
    } catch (const ConfigError& e) {
        const std::string m = e.what();
        CHECK(m.find("hunter2") == std::string::npos);
        CHECK(m.find("postgresql://ann:***@db/x") != std::string::npos);
    }
    try {
        SearchStore s("postgresql://ann:hunter2@/x?host=/nonexistent-nnctl&connect_timeout=2");
        FAIL("expected an IoError");
    } catch (const ConfigError&) {
        FAIL("not a config error");
    } catch (const IoError& e) {
        const std::string m = e.what();
        CHECK(m.find("hunter2") == std::string::npos);
        CHECK(m.find("cannot connect to the results storage") != std::string::npos);
        CHECK(e.exit_code() == 5);
    }
}
