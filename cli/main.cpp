// nnctl: train neural networks from YAML configs. This file only wires subcommands and maps
// library errors to messages and exit codes.
#include <CLI/CLI.hpp>

#include <malloc.h>

#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "common.hpp"
#include "core/error.hpp"

int main(int argc, char** argv) {
    // Keep large matrices on the heap instead of mmap: mmap'd blocks all start at the same offset
    // in a 4 KiB page, and when a product's operands and result share that offset Eigen's GEMM
    // runs at half speed (4K aliasing; measured 92 vs 180 GFLOP/s for 128x784 * 784x256).
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    CLI::App app{"nnctl " NNCTL_VERSION " - train, evaluate and tune neural networks from YAML config files"};
    app.set_version_flag("--version", std::string("nnctl ") + NNCTL_VERSION);
    app.require_subcommand(1);
    app.footer(std::string("\nRun 'nnctl SUBCOMMAND --help' for a subcommand's options.\n") + nnctl::cli::kExitCodes);
    auto train = nnctl::cli::register_train(app);
    auto evaluate = nnctl::cli::register_evaluate(app);
    auto predict = nnctl::cli::register_predict(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return 2;
    }
    try {
        if (app.got_subcommand("train")) return train();
        if (app.got_subcommand("evaluate")) return evaluate();
        if (app.got_subcommand("predict")) return predict();
        return 2;
    } catch (const nnctl::Error& e) {
        std::fflush(stdout);
        std::string msg = e.what();  // one problem per line, each prefixed for grep
        size_t start = 0;
        while (start <= msg.size()) {
            size_t nl = msg.find('\n', start);
            std::cerr << "error: " << msg.substr(start, nl - start) << "\n";
            if (nl == std::string::npos) break;
            start = nl + 1;
        }
        return e.exit_code();
    } catch (const std::bad_alloc&) {
        std::cerr << "error: out of memory\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
}
