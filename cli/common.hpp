#pragma once
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <vector>

namespace nnctl::cli {

/// Options every subcommand that reads a config shares.
struct CommonOptions {
    std::vector<std::string> sets;
    int threads = 0;  ///< 0: all cores
    bool json = false;
    bool quiet = false;
    bool verbose = false;
};

/// --set (when `with_set`), --threads, --json (with its help text), -q, -v.
void add_common_options(CLI::App& cmd, CommonOptions& o, bool with_set = true,
                        const std::string& json_help = "Print one JSON document on stdout; human output goes to stderr");
/// Set up the stderr logger (colours only on a terminal, never with NO_COLOR) and threads.
void apply_common_options(const CommonOptions& o);
/// The process-wide human-output logger (stderr).
spdlog::logger& log();
bool stderr_is_tty();

/// The command line, recorded in run directories.
void set_command_line(int argc, char** argv);
const std::vector<std::string>& command_line();
/// Threads in effect after apply_common_options.
int effective_threads();

/// Set by SIGINT/SIGTERM; a second signal exits at once with 130.
bool interrupted();
void install_signal_handlers();

/// Exit codes, as documented in --help and the README.
inline constexpr const char* kExitCodes =
    "Exit codes: 0 success, 1 runtime failure, 2 usage or config error, 3 data error,\n"
    "            4 training diverged (non-finite loss), 5 I/O error, 130 interrupted.";

}  // namespace nnctl::cli
