// nnctl train CONFIG: train the model a config describes and save a run directory.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>

#include "commands.hpp"
#include "common.hpp"
#include "config/parse.hpp"
#include "core/json_value.hpp"
#include "core/error.hpp"
#include "core/fileio.hpp"
#include "core/json.hpp"
#include "dist/mpi.hpp"
#include "events.hpp"
#include "train/experiment.hpp"

namespace nnctl::cli {

namespace {

struct TrainOptions {
    std::string config;
    std::string out;
    long long seed = -1;
    std::string resume;    ///< --resume RUN_DIR
    std::string events;    ///< --events FILE|-
    int events_every = 0;  ///< --events-every N batches (0: epochs only)
    CommonOptions common;
};

std::string format_logs(const Logs& logs) {
    std::ostringstream s;
    s.setf(std::ios::fixed);
    s.precision(4);
    for (const auto& [k, v] : logs) s << "  " << k << ": " << v;
    return s.str();
}

std::string fmt_seconds(double s) {
    char buf[32];
    if (s < 0.01) std::snprintf(buf, sizeof buf, "%.2fms", s * 1000);
    else if (s < 1) std::snprintf(buf, sizeof buf, "%.0fms", s * 1000);
    else if (s < 120) std::snprintf(buf, sizeof buf, "%.1fs", s);
    else std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
    return buf;
}

int train_into(TrainOptions& o, const ExperimentConfig& cfg, const std::string& dir, const std::string& resolved,
               const std::function<void(const std::string&, const std::string&)>& finish, EventStream& events,
               bool resuming, Communicator* comm);

/// A resumed run must train the config it started with; only training.epochs may grow.
void check_resumable(const std::string& dir, const std::string& started, const std::string& now) {
    if (started.empty() || started == now) return;
    std::map<std::string, std::string> a = flatten_yaml(started), b = flatten_yaml(now);
    std::string diff;
    bool only_epochs = true;
    for (const auto& [k, v] : a)
        if (!b.count(k) || b[k] != v) {
            diff += "\n  " + k + ": " + v + " → " + (b.count(k) ? b[k] : std::string("(none)"));
            if (k != "training.epochs" || !b.count(k) || std::stol(b[k]) < std::stol(v)) only_epochs = false;
        }
    for (const auto& [k, v] : b)
        if (!a.count(k)) diff += "\n  " + k + ": (none) → " + v, only_epochs = false;
    if (!only_epochs)
        throw ConfigError(dir + ": the config differs from the one this run started with; continuing a run needs the "
                          "same config (only training.epochs may grow). To start afresh, remove the directory or give "
                          "another --out. Differences (started → now):" + diff);
}

/// The run directory holds a run that did not complete and left a checkpoint.
bool unfinished_run(const std::string& dir) {
    if (!path_exists(dir + "/checkpoint.safetensors") && !path_exists(dir + "/checkpoint.prev.safetensors")) return false;
    try {
        const JsonValue info = parse_json(read_file(dir + "/run.json"));
        const JsonValue* status = info.find("status");
        return !(status && status->is_string() && status->text == "completed");
    } catch (const std::exception&) {  // unreadable or damaged run.json: the checkpoint decides
        return true;
    }
}

void add_logs(JsonWriter& j, const Logs& logs) {
    for (const auto& [k, v] : logs) j.key(k).value(v);
}

int run_train(TrainOptions& o) {
    install_signal_handlers();  // first: a signal during set-up stops the run after its first batch
    // Under an MPI launcher (mpirun -np N, srun --mpi=pmix) the processes train one model together
    // (data parallelism); rank 0 alone logs, writes the run directory, --events and --json. MPI
    // starts first, so that an error met by any process below ends them all (MPI_Abort), under
    // mpirun and srun alike, instead of leaving the others waiting.
    Communicator* comm = nullptr;
    if (launched_by_mpi()) {
        Communicator& world = mpi_world();
        if (launcher_size() > 0 && world.size() != launcher_size())
            throw Error("launched as " + std::to_string(launcher_size()) + " processes but MPI (" + world.describe() +
                        ") sees " + std::to_string(world.size()) +
                        ": the launcher is not the one of the MPI nnctl was built with (use Open MPI's mpirun, or srun "
                        "--mpi=pmix)");
        if (world.size() > 1) comm = &world;
        if (world.rank() != 0) {
            o.common.quiet = true;
            o.common.json = false;
            o.events.clear();
        }
    }
    apply_common_options(o.common);
    if (o.events == "-" && o.common.json)
        throw ConfigError("--events - and --json both write to stdout: give --events a file, or leave out --json");
    EventStream events(o.events);
    std::vector<std::string> sets = o.common.sets;
    if (o.seed >= 0) sets.push_back("seed=" + std::to_string(o.seed));
    if (o.config.empty() == o.resume.empty())
        throw ConfigError(o.config.empty() ? "nnctl train: give a CONFIG, or --resume RUN_DIR"
                                           : "nnctl train: give a CONFIG or --resume RUN_DIR, not both (to continue a run "
                                             "with a config: nnctl train CONFIG --out RUN_DIR)");
    if (!o.resume.empty()) {
        if (!path_exists(o.resume + "/config.yaml")) throw DataError("--resume " + o.resume + ": not a run directory (no config.yaml)");
        if (!path_exists(o.resume + "/checkpoint.safetensors") && !path_exists(o.resume + "/checkpoint.prev.safetensors"))
            throw DataError("--resume " + o.resume + ": the run has no checkpoint to continue from (training.checkpoint.every: 0?)");
    }
    ExperimentConfig cfg = load_config(o.resume.empty() ? o.config : o.resume + "/config.yaml", sets);

    const bool root = !comm || comm->rank() == 0;
    // Rank 0 chooses (and makes) the run directory and whether the run continues; the others only
    // read it, for the checkpoint when it does.
    const std::string dir = !o.resume.empty() ? o.resume : !o.out.empty() ? o.out : root ? make_unique_dir("runs/" + cfg.name) : "";
    if (!o.out.empty() && root) make_dirs(dir);
    bool resuming = !o.resume.empty() || (!o.out.empty() && root && unfinished_run(dir));
    if (comm) {  // rank 0's answer, on every rank (a sum of its value and zeros)
        double r = root && resuming ? 1.0 : 0.0;
        comm->sum(&r, 1);
        resuming = r > 0.0;
    }
    const std::string resolved = emit_config(cfg);
    if (!root) return train_into(o, cfg, dir, resolved, [](const std::string&, const std::string&) {}, events, resuming, comm);
    std::string started;  // the config the run began with, when it is resumed
    if (resuming) {
        try {
            started = read_file(dir + "/config.yaml");
        } catch (const Error&) {
        }
        check_resumable(dir, started, resolved);
    }
    write_file_atomic(dir + "/config.yaml", resolved);
    RunInfo info;
    info.command = command_line();
    info.started = utc_now();
    info.threads = effective_threads();
    info.processes = comm ? comm->size() : 1;
    write_run_info(dir, cfg, info);
    if (events.on()) {
        JsonWriter j = events.begin("start");
        j.key("command").value("train").key("config").value(o.config).key("run").value(dir);
        j.key("seed").value(static_cast<long long>(cfg.seed)).key("epochs").value(cfg.training.epochs);
        j.key("threads").value(info.threads).key("processes").value(info.processes);
        events.emit(j);
    }
    auto finish = [&](const std::string& status, const std::string& message) {
        info.status = status;
        info.message = message;
        info.finished = utc_now();
        write_run_info(dir, cfg, info);
        if (events.on()) {
            JsonWriter j = events.begin("end");
            j.key("status").value(status);
            if (!message.empty()) j.key("message").value(message);
            j.key("run").value(dir);
            events.emit(j);
        }
    };
    try {
        return train_into(o, cfg, dir, resolved, finish, events, resuming, comm);
    } catch (const DivergedError& e) {
        finish("diverged", e.what());
        throw;
    } catch (const Error& e) {
        finish("failed", e.what());
        throw;
    }
}

int train_into(TrainOptions& o, const ExperimentConfig& cfg, const std::string& dir, const std::string& resolved,
               const std::function<void(const std::string&, const std::string&)>& finish, EventStream& events,
               bool resuming, Communicator* comm) {
    auto& lg = log();
    const bool root = !comm || comm->rank() == 0;
    Experiment ex = prepare_experiment(cfg);
    ex.comm = comm;
    if (comm)
        lg.info("data-parallel training: {} processes × {} thread(s), {}", comm->size(), effective_threads(),
                comm->describe());
    Checkpoint resume;
    if (resuming) {
        if (!read_checkpoint(dir, ex.model, resume)) throw DataError(dir + ": no checkpoint to continue from");
        lg.info("resuming {} after epoch {}", dir, resume.offset + resume.trainer.epochs_done);
    }
    lg.debug("data: {} training, {} validation, {} test samples; {} features; {}", ex.data.train.size(),
             ex.data.validation.size(), ex.data.test.size(), ex.data.train.x.cols(),
             ex.data.train.is_classification() ? std::to_string(ex.data.train.num_classes) + " classes"
                                               : "regression");
    lg.debug("model: {} layers, {} parameters; loss {}{}", ex.model.size(), ex.model.param_count(), ex.loss.type,
             ex.loss.from_logits && !cfg.loss.from_logits ? " (fused with the output activation)" : "");

    const bool tty = stderr_is_tty() && !o.common.quiet;
    using clock = std::chrono::steady_clock;
    auto epoch_start = clock::now();
    auto last_draw = epoch_start;
    int cur_epoch = 0, epochs = cfg.training.epochs;

    TrainCallbacks cb;
    cb.on_epoch_begin = [&](int e, int n) {
        cur_epoch = e;
        epochs = n;
        epoch_start = clock::now();
    };
    const int every = events.on() ? o.events_every : 0;
    if (tty || every > 0)
        cb.on_batch_end = [&](int b, int nb, double loss) {
            if (every > 0 && (b % every == 0 || b == nb)) {
                JsonWriter j = events.begin("batch");
                j.key("epoch").value(cur_epoch).key("batch").value(b).key("batches").value(nb).key("loss").value(loss);
                events.emit(j);
            }
            if (!tty) return;
            auto now = clock::now();
            if (b != nb && now - last_draw < std::chrono::milliseconds(100)) return;
            last_draw = now;
            double el = std::chrono::duration<double>(now - epoch_start).count();
            double eta = el / b * (nb - b);
            const int width = 30;
            int filled = int(double(width) * b / nb);
            std::string bar(size_t(filled), '=');
            if (filled < width) bar += '>' + std::string(size_t(width - filled - 1), ' ');
            std::fprintf(stderr, "\r\033[KEpoch %d/%d [%s] %d/%d  loss: %.4f  ETA %s", cur_epoch, epochs, bar.c_str(), b,
                         nb, loss, fmt_seconds(eta).c_str());
            std::fflush(stderr);
        };
    // history.csv grows as the run goes (atomically, each epoch), so that a report can be drawn mid-run.
    std::vector<EpochLog> so_far;
    if (resuming) {
        so_far = resume.earlier;
        for (EpochLog l : resume.trainer.history) l.epoch += resume.offset, so_far.push_back(std::move(l));
    }
    // (on every rank: which logs an epoch computes depends on it, and validation is shared work)
    cb.on_epoch_end = [&](const EpochLog& e) {
        if (!root) return;
        if (tty) std::fprintf(stderr, "\r\033[K");
        const std::string shared =
            comm ? fmt::format(" (collectives {:.0f}%)", 100.0 * e.comm_seconds / std::max(e.seconds, 1e-9)) : "";
        lg.info("Epoch {}/{}  {}{}{}", e.epoch, epochs, fmt_seconds(e.seconds), shared, format_logs(e.values));
        so_far.push_back(e);
        write_file_atomic(dir + "/history.csv", history_csv(so_far));
        if (events.on()) {
            JsonWriter j = events.begin("epoch");
            j.key("epoch").value(e.epoch).key("epochs").value(epochs).key("seconds").value(e.seconds);
            if (comm) j.key("comm_seconds").value(e.comm_seconds);
            j.key("learning_rate").value(e.learning_rate);
            add_logs(j, e.values);
            events.emit(j);
        }
    };
    cb.stop_requested = [] { return interrupted(); };
    cb.on_message = [&](const std::string& m) {
        lg.info("{}", m);
        if (events.on()) {
            JsonWriter j = events.begin("message");
            j.key("message").value(m);
            events.emit(j);
        }
    };

    // training.checkpoint: after every `every` epochs (and when early stopping ends the run).
    const int ck_every = cfg.training.checkpoint_every;
    std::function<void(const Checkpoint&)> on_checkpoint;
    if (ck_every > 0)
        on_checkpoint = [&](const Checkpoint& c) {
            if (!root) return;
            const int done = c.offset + c.trainer.epochs_done;
            if (done % ck_every != 0 && !c.trainer.stopped_early) return;
            Checkpoint w = c;
            w.config = resolved;
            write_checkpoint(dir, w, ex.model);
        };
    ExperimentResult res = run_experiment(ex, cb, resuming ? &resume : nullptr, on_checkpoint);
    if (!root) return res.train.interrupted ? 130 : 0;
    save_run(dir, resolved, ex, res);
    if (events.on() && !res.test_logs.empty()) {
        JsonWriter j = events.begin("test");
        add_logs(j, res.test_logs);
        events.emit(j);
    }
    finish(res.train.interrupted ? "interrupted" : "completed", res.train.interrupted ? "stopped by a signal" : "");
    if (!res.test_logs.empty()) lg.info("test:{}", format_logs(res.test_logs));
    if (res.forecast) {
        std::string line;
        for (const auto& m : res.forecast->methods) line += fmt::format("  {}: {:.4f}", m.name, m.all.mae);
        lg.info("test MAE in the series' units:{}", line);
    }
    lg.info("{} run saved to {}", res.train.interrupted ? "interrupted;" : "done;", dir);

    if (o.common.json) {
        JsonWriter j;
        j.begin_object();
        j.key("out").value(dir);
        j.key("epochs_run").value(int(res.train.history.size()));
        j.key("stopped_early").value(res.train.stopped_early);
        j.key("interrupted").value(res.train.interrupted);
        j.key("history").begin_array();
        for (const auto& e : res.train.history) {
            j.begin_object();
            j.key("epoch").value(e.epoch);
            for (const auto& [k, v] : e.values) j.key(k).value(v);
            j.key("learning_rate").value(e.learning_rate);
            j.key("seconds").value(e.seconds);
            if (comm) j.key("comm_seconds").value(e.comm_seconds);
            j.end_object();
        }
        j.end_array();
        write_result_logs(j, res);
        j.end_object();
        std::cout << j.str() << std::endl;
    }
    return res.train.interrupted ? 130 : 0;
}

}  // namespace

std::function<int()> register_train(CLI::App& app) {
    auto o = std::make_shared<TrainOptions>();
    CLI::App* cmd = app.add_subcommand("train", "Train the model a config file describes; save a run directory");
    cmd->add_option("config", o->config, "Experiment config (YAML)")->type_name("CONFIG");
    cmd->add_option("--resume", o->resume,
                    "Continue the run in RUN_DIR from its last checkpoint (its config.yaml; --set training.epochs=N "
                    "may give it more epochs)")
        ->type_name("RUN_DIR");
    cmd->add_option("--out", o->out, "Run directory to write (default: runs/NAME, or runs/NAME-2, ... if taken)")
        ->type_name("DIR");
    cmd->add_option("--seed", o->seed, "Override the config's seed")->check(CLI::NonNegativeNumber);
    cmd->add_option("--events", o->events,
                    "Append one JSON line per event (start, epoch, message, test, end) to FILE, or write them to "
                    "stdout (-), each as it happens")
        ->type_name("FILE|-");
    cmd->add_option("--events-every", o->events_every, "With --events: also a batch event every N batches")
        ->check(CLI::Range(0, 1 << 30))
        ->type_name("N");
    add_common_options(*cmd, o->common);
    cmd->footer(
        "\nThe run directory holds config.yaml (resolved), model.safetensors, model.json, history.csv,\n"
        "metrics.json and run.json (nnctl version, command line, seed, threads, status, SHA-256 of each\n"
        "data file). With --json, stdout gets {out, epochs_run, history, final, test}.\n"
        "After every epoch (training.checkpoint: {every: N}; 0: never) the run directory gets\n"
        "checkpoint.safetensors: weights, optimizer state, schedules, early stopping, random state. A run\n"
        "that stopped (killed, interrupted, crashed) continues with nnctl train --resume RUN_DIR, or with\n"
        "the same nnctl train CONFIG --out RUN_DIR; its weights end up as if it had never stopped.\n"
        "--events FILE appends JSON lines as training goes: {\"event\": \"start\"|\"batch\"|\"epoch\"|\"message\"|\n"
        "\"test\"|\"end\", \"time\", \"elapsed\", ...}; an epoch line holds every logged value, the end line the\n"
        "status (completed, interrupted, diverged, failed). Follow a run with tail -f FILE.\n"
        "Several processes train one model together under MPI (data parallelism; rank 0 writes):\n"
        "  mpirun -np 4 nnctl train CONFIG --out RUN   (or srun --mpi=pmix); see README, 'Training one\n"
        "  model on several processes'.\n"
        "Example: nnctl train configs/iris.yaml --set training.epochs=50 --json\n" +
        std::string(kExitCodes));
    return [o] { return run_train(*o); };
}

}  // namespace nnctl::cli
