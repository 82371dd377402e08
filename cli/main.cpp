// nnctl: train neural networks from YAML configs. This file only wires subcommands and maps
// library errors to messages and exit codes.
#include <CLI/CLI.hpp>

#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "commands.hpp"
#include "common.hpp"
#include "core/error.hpp"
#include "core/json.hpp"
#include "dist/mpi.hpp"
#include "search/sql.hpp"

namespace {
bool json_requested(int argc, char** argv) {
    for (int i = 1; i < argc; ++i)
        if (std::string(argv[i]) == "--json") return true;
    return false;
}

/// A failure in an MPI job. Rank 0 reports it; rank r > 0 waits first, so that an error every
/// rank meets (a missing file, a bad layer) is printed once, by rank 0, whose exit ends the others
/// (mpirun kills them within about a second); an error of rank r alone is printed by it, prefixed
/// "rank r: ". Once MPI is up, MPI_Abort then ends every process of the job with `code` (none is
/// left waiting in a collective).
std::string job_prefix() {
    if (!nnctl::launched_by_mpi() || nnctl::launcher_rank() == 0) return "";
    std::this_thread::sleep_for(std::chrono::seconds(3));
    return "rank " + std::to_string(nnctl::launcher_rank()) + ": ";
}

int finish_job(int code) {
    if (nnctl::mpi_active()) {
        std::fflush(stdout);
        std::fflush(stderr);
        nnctl::mpi_abort(code);
    }
    return code;
}
}  // namespace

int main(int argc, char** argv) {
    // Keep large matrices on the heap instead of mmap: mmap'd blocks all start at the same offset
    // in a 4 KiB page, and when a product's operands and result share that offset Eigen's GEMM
    // runs at half speed (4K aliasing; measured 92 vs 180 GFLOP/s for 128x784 * 784x256).
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    nnctl::cli::set_command_line(argc, argv);
    CLI::App app{"nnctl " NNCTL_VERSION " - train, evaluate and tune neural networks from YAML config files"};
    app.set_version_flag("--version", std::string("nnctl ") + NNCTL_VERSION +
                                          (nnctl::built_with_mpi() ? " (MPI: " + nnctl::mpi_library_version() + ")"
                                                                   : " (without MPI)"));
    app.require_subcommand(1);
    app.footer(std::string("\nRun 'nnctl SUBCOMMAND --help' for a subcommand's options.\n") + nnctl::cli::kExitCodes);
    auto train = nnctl::cli::register_train(app);
    auto evaluate = nnctl::cli::register_evaluate(app);
    auto predict = nnctl::cli::register_predict(app);
    auto validate = nnctl::cli::register_validate(app);
    auto summary = nnctl::cli::register_summary(app);
    auto exporter = nnctl::cli::register_export(app);
    auto report = nnctl::cli::register_report(app);
    auto layers = nnctl::cli::register_layers(app);
    auto search = nnctl::cli::register_search(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        // (as CLI11 prints it, with any storage URL's password masked: the message may quote arguments)
        std::cerr << nnctl::mask_urls_in(e.what()) << "\nRun with --help for more information.\n";
        return 2;
    }
    try {
        if (app.got_subcommand("train")) {
            const int code = train();
            nnctl::mpi_finalize();  // every rank gets here together (an MPI job's ranks agree on how training ended)
            return code;
        }
        if (app.got_subcommand("evaluate")) return evaluate();
        if (app.got_subcommand("predict")) return predict();
        if (app.got_subcommand("validate")) return validate();
        if (app.got_subcommand("summary")) return summary();
        if (app.got_subcommand("export")) return exporter();
        if (app.got_subcommand("report")) return report();
        if (app.got_subcommand("layers")) return layers();
        if (app.got_subcommand("grid-search") || app.got_subcommand("random-search") || app.got_subcommand("search"))
            return search();
        return 2;
    } catch (const nnctl::Error& e) {
        const std::string rank = job_prefix();
        std::fflush(stdout);
        if (json_requested(argc, argv) && rank.empty()) {  // scripts asked for JSON: they get the error as JSON too
            nnctl::JsonWriter j;
            j.begin_object().key("error").begin_object().key("exit_code").value(e.exit_code());
            j.key("message").value(nnctl::mask_urls_in(e.what())).end_object().end_object();
            std::cout << j.str() << std::endl;
        }
        std::string msg = nnctl::mask_urls_in(e.what());  // one problem per line, each prefixed for grep
        size_t start = 0;
        while (start <= msg.size()) {
            size_t nl = msg.find('\n', start);
            std::cerr << rank << "error: " << msg.substr(start, nl - start) << "\n";
            if (nl == std::string::npos) break;
            start = nl + 1;
        }
        return finish_job(e.exit_code());
    } catch (const std::bad_alloc&) {
        std::cerr << job_prefix() << "error: out of memory\n";
        return finish_job(1);
    } catch (const std::exception& e) {
        std::cerr << job_prefix() << "error: " << nnctl::mask_urls_in(e.what()) << "\n";
        return finish_job(1);
    }
}
