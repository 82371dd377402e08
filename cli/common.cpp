#include "common.hpp"
#include "dist/mpi.hpp"
#include "search/sql.hpp"

#include "core/error.hpp"
#include "core/fileio.hpp"
#include "core/parallel.hpp"

#include <Eigen/Core>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace nnctl::cli {

namespace {
std::shared_ptr<spdlog::logger> g_log;
std::atomic<bool> g_interrupted{false};
std::vector<std::string> g_argv;
int g_threads = 1;

void on_signal(int) {
    if (g_interrupted.exchange(true)) {  // second signal: leave now (files are atomic)
        remove_pending_temp_file();
        std::_Exit(130);
    }
}
}  // namespace

void add_common_options(CLI::App& cmd, CommonOptions& o, bool with_set, const std::string& json_help) {
    if (with_set)
        cmd.add_option("--set", o.sets, "Override a config value: PATH=VALUE, e.g. optimizer.learning_rate=0.01 "
                                        "or model.layers.0.units=128 (repeatable)")
            ->type_name("PATH=VALUE");
    cmd.add_option("--threads", o.threads, "Threads for matrix products (default: all cores)")
        ->check(CLI::Range(1, 1024));
    cmd.add_flag("--json", o.json, json_help);
    cmd.add_flag("-q,--quiet", o.quiet, "Only errors on stderr");
    cmd.add_flag("-v,--verbose", o.verbose, "More detail on stderr");
}

bool stderr_is_tty() { return ::isatty(STDERR_FILENO) == 1; }

void apply_common_options(const CommonOptions& o) {
    auto mode = (std::getenv("NO_COLOR") && *std::getenv("NO_COLOR")) ? spdlog::color_mode::never
                                                                        : spdlog::color_mode::automatic;
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(mode);
    sink->set_color(spdlog::level::info, sink->reset);  // plain epoch lines; colour warnings/errors only
    g_log = std::make_shared<spdlog::logger>("nnctl", sink);
    g_log->set_pattern("%^%v%$");
    g_log->set_level(o.quiet ? spdlog::level::err : o.verbose ? spdlog::level::debug : spdlog::level::info);
    // By default every core this process may run on (its CPU affinity: a Slurm task's
    // --cpus-per-task, a core mpirun bound it to), shared with the other processes of an MPI job
    // on this machine when they all may use every core.
    int threads = o.threads;
    if (threads <= 0) {
        const int machine = int(std::max(1u, std::thread::hardware_concurrency()));
        int allowed = machine;
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof set, &set) == 0) allowed = std::max(1, CPU_COUNT(&set));
        threads = allowed < machine ? allowed : std::max(1, machine / launcher_local_size());
    }
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    set_num_threads(threads);
    g_threads = threads;
    nnctl::set_warning_handler([](const std::string& m) { g_log->warn("warning: {}", m); });
}

spdlog::logger& log() {
    if (!g_log) apply_common_options(CommonOptions{});
    return *g_log;
}

bool interrupted() { return g_interrupted.load(); }

void set_command_line(int argc, char** argv) {
    // Kept for run.json and reports: a storage URL's password never goes there.
    g_argv.clear();
    for (int i = 0; i < argc; ++i) {
        const std::string a = argv[i];
        const size_t eq = a.find('=');
        if (nnctl::is_postgres_url(a)) g_argv.push_back(nnctl::mask_url(a));
        else if (eq != std::string::npos && nnctl::is_postgres_url(a.substr(eq + 1)))
            g_argv.push_back(a.substr(0, eq + 1) + nnctl::mask_url(a.substr(eq + 1)));
        else g_argv.push_back(a);
    }
}
const std::vector<std::string>& command_line() { return g_argv; }
int effective_threads() { return g_threads; }

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace nnctl::cli
