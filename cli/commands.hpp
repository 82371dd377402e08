#pragma once
#include <CLI/CLI.hpp>

#include <functional>

namespace nnctl::cli {

/// Each register_<cmd> adds a subcommand to `app` and returns the function that runs it
/// (returning the exit code) once the command line is parsed.
std::function<int()> register_train(CLI::App& app);
std::function<int()> register_evaluate(CLI::App& app);
std::function<int()> register_predict(CLI::App& app);
std::function<int()> register_validate(CLI::App& app);
std::function<int()> register_summary(CLI::App& app);
/// export RUN_DIR --format onnx.
std::function<int()> register_export(CLI::App& app);
/// report RUN_DIR...: an HTML page about runs.
std::function<int()> register_report(CLI::App& app);
/// layers [TYPE...]: the layer types and their options.
std::function<int()> register_layers(CLI::App& app);
/// grid-search, random-search and search (with `search merge`).
std::function<int()> register_search(CLI::App& app);

}  // namespace nnctl::cli
