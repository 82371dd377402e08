// nnctl search | grid-search | random-search CONFIG, and nnctl search merge DIR...
#include <cstdio>
#include <iostream>
#include <thread>

#include "commands.hpp"
#include "events.hpp"
#include "common.hpp"
#include "config/parse.hpp"
#include "core/error.hpp"
#include "core/json.hpp"
#include "search/runner.hpp"

namespace nnctl::cli {

namespace {

struct SearchCliOptions {
    std::string config;
    std::string out;
    std::string shard = "0/1";
    SearchOptions s;
    std::string events;  ///< --events FILE|-
    CommonOptions common;
    std::vector<std::string> merge_dirs;
    std::string status_dir;  ///< search status DIR
};

std::string fmt_eta(double s) {
    char b[32];
    if (s < 60) std::snprintf(b, sizeof b, "%.0fs", s);
    else if (s < 3600) std::snprintf(b, sizeof b, "%dm%02ds", int(s) / 60, int(s) % 60);
    else std::snprintf(b, sizeof b, "%dh%02dm", int(s) / 3600, int(s) / 60 % 60);
    return b;
}

void print_leaderboard(const SearchResult& r, int top) {
    auto& lg = log();
    lg.info("");
    lg.info("leaderboard ({}: {}, best first)", r.objective, r.direction);
    int rank = 0;
    char buf[96];
    for (const auto& t : r.trials) {
        if (t.state != "complete") continue;
        if (++rank > top) break;
        std::string params;
        try {
            for (const auto& m : parse_json(t.params).members)
                params += (params.empty() ? "" : "  ") + m.first + "=" +
                          (m.second.is_string() ? m.second.text : m.second.text.empty() ? (m.second.boolean ? "true" : "false")
                                                                                          : m.second.text);
        } catch (const std::exception&) {
        }
        std::snprintf(buf, sizeof buf, "%3d. trial %-4lld %.4f ± %.4f  %6.2fs  ", rank, static_cast<long long>(t.index),
                      t.mean, t.std, t.duration);
        lg.info("{}{}", buf, params);
    }
    long long failed = 0, unfinished = 0, pruned = 0;
    for (const auto& t : r.trials) {
        failed += t.state == "failed";
        pruned += t.state == "pruned";
        unfinished += t.state == "pending" || t.state == "running" || t.state == "paused";
    }
    if (pruned) lg.info("{} trial(s) stopped early by the {} (see leaderboard.csv)", pruned, r.strategy == "grid" ||
                        r.strategy == "random" || r.strategy == "tpe" ? "pruner" : r.strategy + " schedule");
    if (failed) lg.info("{} trial(s) failed (see leaderboard.csv)", failed);
    if (unfinished) lg.info("{} trial(s) not run yet: run the same command again to resume", unfinished);
}

void print_json(const SearchResult& r) {
    JsonWriter j;
    j.begin_object().key("out").value(r.out).key("objective").value(r.objective).key("direction").value(r.direction);
    j.key("strategy").value(r.strategy).key("interrupted").value(r.interrupted);
    j.key("epochs").value(static_cast<long long>(r.epochs));
    const TrialRecord* best = (!r.trials.empty() && r.trials.front().state == "complete") ? &r.trials.front() : nullptr;
    if (best) {
        j.key("best").begin_object().key("trial").value(static_cast<long long>(best->index)).key("params").raw(best->params);
        j.key("mean").value(best->mean).key("std").value(best->std).key("config").value(r.best_config).end_object();
    } else {
        j.key("best").null();
    }
    j.key("trials").begin_array();
    for (const auto& t : r.trials) {
        j.begin_object().key("trial").value(static_cast<long long>(t.index)).key("state").value(t.state);
        j.key("params").raw(t.params).key("scores").begin_array();
        for (double x : t.scores) j.value(x);
        j.end_array();
        if (t.state == "complete") j.key("mean").value(t.mean).key("std").value(t.std);
        if (t.state == "pruned") j.key("value").value(t.mean);
        if (t.epochs > 0) j.key("epochs").value(t.epochs);
        j.key("duration").value(t.duration);
        if (!t.error.empty()) j.key(t.state == "pruned" ? "reason" : "error").value(t.error);
        j.end_object();
    }
    j.end_array();
    if (!r.refit_dir.empty()) {
        j.key("refit").begin_object().key("out").value(r.refit_dir);
        if (!r.refit_test.empty()) {
            j.key("test").begin_object();
            for (const auto& [k, v] : r.refit_test) j.key(k).value(v);
            j.end_object();
        }
        j.end_object();
    }
    j.end_object();
    std::cout << j.str() << std::endl;
}

int run_search_cmd(SearchCliOptions& o, const std::string& strategy) {
    install_signal_handlers();
    apply_common_options(o.common);
    auto& lg = log();
    SearchOptions s = o.s;
    s.config = o.config;
    s.sets = o.common.sets;
    s.strategy = strategy;
    s.threads = effective_threads();
    s.command = command_line();
    if (std::sscanf(o.shard.c_str(), "%d/%d", &s.shard, &s.shards) != 2)
        throw ConfigError("--shard " + o.shard + ": expected i/N, e.g. 0/4");
    if (o.out.empty()) {
        ExperimentConfig c = load_config(o.config, o.common.sets, s.space_file);
        s.out = "sweeps/" + c.name + (s.shards > 1 ? "-shard" + std::to_string(s.shard) : "");
    } else {
        s.out = o.out;
    }
    if (o.events == "-" && o.common.json)
        throw ConfigError("--events - and --json both write to stdout: give --events a file, or leave out --json");
    EventStream events(o.events);
    const bool tty = stderr_is_tty() && !o.common.quiet;
    SearchCallbacks cb;
    if (events.on()) {
        JsonWriter j = events.begin("start");
        j.key("command").value(strategy.empty() ? "search" : strategy + "-search").key("config").value(o.config);
        j.key("out").value(s.out).key("jobs").value(s.jobs);
        events.emit(j);
        cb.on_trial = [&](const TrialRecord& t, int worker) {
            JsonWriter e = events.begin("trial");
            e.key("trial").value(static_cast<long long>(t.index)).key("state").value(t.state);
            e.key("attempt").value(t.attempt);
            if (worker > 0) e.key("worker").value(worker);
            e.key("params").raw(t.params.empty() ? "{}" : t.params);
            if (t.state == "complete") {
                e.key("score").value(t.mean).key("std").value(t.std).key("scores").begin_array();
                for (double v : t.scores) e.value(v);
                e.end_array();
            }
            if (t.budget > 0) e.key("rung").value(t.rung).key("budget").value(t.budget);  // halving, hyperband, asha
            if (t.state == "paused" || t.state == "pruned") e.key("value").value(t.mean);
            if (t.epochs > 0 && t.state != "running" && t.state != "pending") e.key("epochs").value(t.epochs);
            if (t.state == "complete" || t.state == "failed" || t.state == "pruned") e.key("seconds").value(t.duration);
            if (t.state == "failed") e.key("error").value(t.error);
            if (t.state == "pruned") e.key("reason").value(t.error);
            if (t.state == "pending" && !t.error.empty()) e.key("reason").value(t.error);  // its worker died: it runs again
            events.emit(e);
        };
    }
    cb.stop_requested = [] { return interrupted(); };
    cb.on_message = [&](const std::string& m) {
        if (tty) std::fprintf(stderr, "\r\033[K");
        lg.info("{}", m);
    };
    cb.on_progress = [&](const SearchProgress& p) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "[%lld/%lld] ", static_cast<long long>(p.done), static_cast<long long>(p.total));
        std::string line = buf;
        if (p.has_best) {
            std::snprintf(buf, sizeof buf, "best %.4f (%s)", p.best, p.best_params.c_str());
            line += buf;
        }
        if (p.pruned) line += "  pruned " + std::to_string(p.pruned);
        if (p.failed) line += "  failed " + std::to_string(p.failed);
        if (p.done < p.total && p.eta_seconds > 0) line += "  ETA " + fmt_eta(p.eta_seconds);
        if (tty) {
            std::fprintf(stderr, "\r\033[K%s", line.c_str());
            if (p.done == p.total) std::fprintf(stderr, "\n");
            std::fflush(stderr);
        } else {
            lg.info("{}", line);
        }
    };
    lg.debug("sweep directory {}, {} job(s), {} thread(s) per trial", s.out, s.jobs, std::max(1, s.threads / std::max(1, s.jobs)));
    if (s.jobs > s.threads)  // each trial needs at least one thread: more jobs than threads share cores
        lg.warn("warning: --jobs {} runs more trials at once than the {} thread(s) available (--threads, default: all "
                "cores): they will share cores, which is slower than --jobs {}",
                s.jobs, s.threads, s.threads);
    SearchResult r = run_search(s, cb);
    if (events.on()) {
        JsonWriter j = events.begin("end");
        j.key("status").value(r.interrupted ? "interrupted" : r.failed_fast ? "failed" : "completed");
        j.key("objective").value(r.objective).key("direction").value(r.direction);
        if (!r.trials.empty() && r.trials.front().state == "complete")
            j.key("best_trial").value(static_cast<long long>(r.trials.front().index)).key("best").value(r.trials.front().mean);
        if (!r.refit_dir.empty()) j.key("refit").value(r.refit_dir);
        events.emit(j);
    }
    print_leaderboard(r, 10);
    if (!r.best_config.empty()) lg.info("best config: {}", r.best_config);
    if (!r.refit_dir.empty()) {
        std::string t;
        char buf[64];
        for (const auto& [k, v] : r.refit_test) {
            std::snprintf(buf, sizeof buf, "  test %s: %.4f", k.c_str(), v);
            t += buf;
        }
        lg.info("refitted model: {}{}", r.refit_dir, t);
    }
    if (o.common.json) print_json(r);
    if (r.interrupted) return 130;
    if (r.failed_fast) {
        lg.error("a trial failed and --fail-fast stopped the search; run the same command to resume");
        return 1;
    }
    return 0;
}

int run_status(const SearchCliOptions& o) {
    const bool storage = !o.s.storage.empty();
    if (storage == !o.status_dir.empty())
        throw ConfigError("nnctl search status: give a sweep DIR, or --storage URL with --name NAME");
    if (storage && o.s.name.empty()) throw ConfigError("nnctl search status --storage: give the search's --name");
    const SearchStatus r = search_status(storage ? o.s.storage : o.status_dir, o.s.name);
    auto count = [&](const char* k) {
        auto it = r.states.find(k);
        return it == r.states.end() ? int64_t(0) : it->second;
    };
    const TrialRecord* best = !r.trials.empty() && r.trials.front().state == "complete" ? &r.trials.front() : nullptr;
    if (o.common.json) {
        JsonWriter j;
        j.begin_object().key("where").value(r.where).key("name").value(r.name).key("strategy").value(r.strategy);
        j.key("objective").value(r.objective).key("direction").value(r.direction);
        j.key("trials").value(static_cast<long long>(r.trials.size())).key("states").begin_object();
        for (const auto& [k, v] : r.states) j.key(k).value(static_cast<long long>(v));
        j.end_object().key("best");
        if (best) {
            j.begin_object().key("trial").value(static_cast<long long>(best->index)).key("params").raw(best->params);
            j.key("mean").value(best->mean).end_object();
        } else {
            j.null();
        }
        j.key("workers").begin_array();
        for (const auto& w : r.workers)
            j.begin_object().key("host").value(w.host).key("pid").value(w.pid).key("trial").value(static_cast<long long>(w.trial))
                .key("running_seconds").value(w.running).key("heartbeat_age").value(w.silent).end_object();
        j.end_array().key("stale").begin_array();
        for (const auto& t : r.stale)
            j.begin_object().key("trial").value(static_cast<long long>(t.index)).key("host").value(t.host).key("pid").value(t.worker).end_object();
        j.end_array().key("failed").begin_array();
        for (const auto& t : r.trials)
            if (t.state == "failed") j.begin_object().key("trial").value(static_cast<long long>(t.index)).key("error").value(t.error).end_object();
        j.end_array().end_object();
        std::cout << j.str() << std::endl;
        return 0;
    }
    auto& lg = log();
    lg.info("search {}{}: {}, {} ({})", r.name.empty() ? o.status_dir : r.name, storage ? " in " + r.where : "", r.strategy,
            r.objective, r.direction);
    lg.info("trials: {} ({} complete, {} pruned, {} failed, {} running, {} paused, {} pending)", r.trials.size(),
            count("complete"), count("pruned"), count("failed"), count("running"), count("paused"), count("pending"));
    if (best) lg.info("best: {} (trial {}: {})", format_number(best->mean), best->index, best->params);
    lg.info("workers alive: {}", r.workers.size());
    for (const auto& w : r.workers)
        lg.info("  {} process {}: trial {} for {:.0f} s (last heartbeat {:.0f} s ago)", w.host, w.pid, w.trial, w.running, w.silent);
    for (const auto& t : r.stale)
        lg.info("  trial {}: its worker ({} process {}) went quiet; the next worker to ask for work runs it again", t.index,
                t.host, t.worker);
    for (const auto& t : r.trials)
        if (t.state == "failed") lg.info("failed: trial {}: {}", t.index, t.error);
    return 0;
}

void add_search_options(CLI::App* cmd, SearchCliOptions& o) {
    cmd->add_option("config", o.config, "Experiment config with a search: section (or give --space)")
        ->required()
        ->type_name("CONFIG");
    cmd->add_option("--space", o.s.space_file, "Search space from another YAML file (its space: mapping, or the file)")
        ->type_name("FILE");
    cmd->add_option("--out", o.out, "Sweep directory (default: sweeps/NAME); running the same command again resumes it")
        ->type_name("DIR");
    cmd->add_option("-j,--jobs", o.s.jobs, "Trials in parallel; the threads are shared out among them")
        ->check(CLI::Range(1, 1024));
    cmd->add_option("--max-trials", o.s.max_trials, "Allow a grid larger than search.max_trials (default 10000)")
        ->check(CLI::PositiveNumber);
    cmd->add_flag("--resume", o.s.resume, "Continue the search in --out (an error if there is none)");
    cmd->add_flag("--fail-fast", o.s.fail_fast, "Stop at the first failing trial (it stays resumable)");
    cmd->add_option("--shard", o.shard, "Run only trials with index = i (mod N), e.g. for a Slurm job array")
        ->type_name("i/N");
    cmd->add_option("--storage", o.s.storage,
                    "Keep the search in PostgreSQL: every worker on every machine started with the same config and "
                    "URL joins it (default: SQLite in --out). Put the password in PGPASSWORD or ~/.pgpass")
        ->type_name("postgresql://USER@HOST/DB");
    cmd->add_option("--name", o.s.name, "The search's name in --storage (default: the config's name)")->type_name("NAME");
    cmd->add_option("--events", o.events,
                    "Append one JSON line per trial state change (running, complete, failed), and start/end, to "
                    "FILE or stdout (-)")
        ->type_name("FILE|-");
    add_common_options(*cmd, o.common);
    cmd->footer(
        "\nTrials are validated before any runs, then run by a pool of --jobs worker processes; each is\n"
        "recorded in DIR/search.db as it finishes. DIR gets leaderboard.csv, trials.jsonl, best.yaml and, with\n"
        "refit (the default), best-model/ (a run directory for evaluate and predict). A running trial keeps\n"
        "checkpoints in DIR/checkpoints/ (search.checkpoint_seconds apart), so a trial interrupted by a kill or\n"
        "a dead worker continues where it stopped, to the same scores (search.retries: runs after a worker died).\n"
        "Example: nnctl grid-search configs/seed/grid_search.yaml --jobs 2\n" +
        std::string(kExitCodes));
}

}  // namespace

std::function<int()> register_search(CLI::App& app) {
    auto g = std::make_shared<SearchCliOptions>();
    auto r = std::make_shared<SearchCliOptions>();
    auto s = std::make_shared<SearchCliOptions>();
    auto m = std::make_shared<SearchCliOptions>();
    CLI::App* grid = app.add_subcommand("grid-search", "Hyperparameter grid search (k-fold cross-validation, parallel, "
                                                       "resumable)");
    add_search_options(grid, *g);
    CLI::App* random = app.add_subcommand("random-search", "Hyperparameter random search (seeded; same trials on any "
                                                           "machine)");
    add_search_options(random, *r);
    CLI::App* search = app.add_subcommand("search", "Hyperparameter search with the strategy the config gives");
    search->require_subcommand(0, 1);
    auto st = std::make_shared<SearchCliOptions>();
    auto ex = std::make_shared<SearchCliOptions>();
    CLI::App* status = search->add_subcommand("status", "Where a search stands: trials by state, the best, workers alive, failures");
    status->add_option("dir", st->status_dir, "A sweep directory (or give --storage and --name)")->type_name("DIR");
    status->add_option("--storage", st->s.storage, "The PostgreSQL storage of a shared search")->type_name("postgresql://USER@HOST/DB");
    status->add_option("--name", st->s.name, "The search's name in --storage")->type_name("NAME");
    status->add_flag("--json", st->common.json, "Print the status as JSON on stdout");
    status->add_flag("-q,--quiet", st->common.quiet, "Only errors on stderr");
    status->footer("\nExample: nnctl search status --storage postgresql://nnctl@db.example/nnctl --name fmnist-hb\n" +
                   std::string(kExitCodes));
    CLI::App* exporter = search->add_subcommand(
        "export", "Write a shared search's results (search.db, leaderboard.csv, trials.jsonl, best.yaml) to a directory");
    exporter->add_option("--storage", ex->s.storage, "The PostgreSQL storage of the search")
        ->required()
        ->type_name("postgresql://USER@HOST/DB");
    exporter->add_option("--name", ex->s.name, "The search's name in --storage")->required()->type_name("NAME");
    exporter->add_option("--out", ex->out, "Directory to write (default: sweeps/NAME); nnctl report reads it")->type_name("DIR");
    exporter->add_flag("--json", ex->common.json, "Print the leaderboard as JSON on stdout");
    exporter->add_flag("-q,--quiet", ex->common.quiet, "Only errors on stderr");
    exporter->footer("\n" + std::string(kExitCodes));
    CLI::App* merge = search->add_subcommand("merge", "Combine sweep directories of shards into one leaderboard");
    merge->add_option("dirs", m->merge_dirs, "Sweep directories of the shards")->required()->type_name("DIR...");
    merge->add_option("--out", m->out, "Directory for the merged results (default: FIRST_DIR-merged)")->type_name("DIR");
    merge->add_flag("--json", m->common.json, "Print the merged summary as JSON on stdout");
    merge->add_flag("-q,--quiet", m->common.quiet, "Only errors on stderr");
    // `search CONFIG` takes the same options; CONFIG is optional here only so that `search merge` parses.
    search->add_option("config", s->config, "Experiment config with a search: section")->type_name("CONFIG");
    search->add_option("--space", s->s.space_file, "Search space from another YAML file")->type_name("FILE");
    search->add_option("--out", s->out, "Sweep directory (default: sweeps/NAME)")->type_name("DIR");
    search->add_option("-j,--jobs", s->s.jobs, "Trials in parallel")->check(CLI::Range(1, 1024));
    search->add_option("--max-trials", s->s.max_trials, "Allow a grid larger than search.max_trials")
        ->check(CLI::PositiveNumber);
    search->add_flag("--resume", s->s.resume, "Continue the search in --out");
    search->add_flag("--fail-fast", s->s.fail_fast, "Stop at the first failing trial");
    search->add_option("--shard", s->shard, "Run only trials with index = i (mod N)")->type_name("i/N");
    search->add_option("--storage", s->s.storage,
                       "Keep the search in PostgreSQL, shared by workers on many machines (default: SQLite in --out)")
        ->type_name("postgresql://USER@HOST/DB");
    search->add_option("--name", s->s.name, "The search's name in --storage (default: the config's name)")->type_name("NAME");
    search->add_option("--events", s->events, "Append one JSON line per trial state change to FILE or stdout (-)")
        ->type_name("FILE|-");
    add_common_options(*search, s->common);
    search->footer("\nnnctl search CONFIG runs the strategy in search.strategy: grid, random, halving, hyperband\n"
                   "(Li et al. 2018), asha (asynchronous successive halving) or tpe (Tree-structured Parzen\n"
                   "Estimator). halving, hyperband and asha give trials budgets of min_epochs..max_epochs and\n"
                   "promote the best 1/reduction_factor of each rung, which continue from their checkpoints;\n"
                   "search.pruner: median stops trials early in grid, random and tpe searches.\n"
                   "Example: nnctl search configs/fashion_mnist_hyperband.yaml --jobs 2\n"
                   "With --storage postgresql://..., every nnctl search started with the same config and URL, on\n"
                   "any machine, joins the same search; nnctl search status shows it, nnctl search export copies it.\n"
                   "nnctl search merge DIR... combines the sweep directories of --shard runs.\n" +
                   std::string(kExitCodes));
    return [=, &app]() -> int {
        if (app.got_subcommand("grid-search")) return run_search_cmd(*g, "grid");
        if (app.got_subcommand("random-search")) return run_search_cmd(*r, "random");
        if (merge->parsed()) {
            apply_common_options(m->common);
            std::string out = m->out.empty() ? m->merge_dirs.front() + "-merged" : m->out;
            SearchResult res = merge_searches(m->merge_dirs, out);
            print_leaderboard(res, 10);
            if (!res.best_config.empty()) log().info("best config: {}", res.best_config);
            if (m->common.json) print_json(res);
            return 0;
        }
        if (status->parsed()) {
            apply_common_options(st->common);
            return run_status(*st);
        }
        if (exporter->parsed()) {
            apply_common_options(ex->common);
            SearchResult res = merge_searches({ex->s.storage}, ex->out.empty() ? "sweeps/" + ex->s.name : ex->out, ex->s.name);
            print_leaderboard(res, 10);
            if (!res.best_config.empty()) log().info("best config: {}", res.best_config);
            if (ex->common.json) print_json(res);
            return 0;
        }
        if (s->config.empty())
            throw ConfigError("nnctl search: give a CONFIG (or: nnctl search status|export|merge ...)");
        return run_search_cmd(*s, "");
    };
}

}  // namespace nnctl::cli
