// nnctl validate CONFIG: check a config (with overrides) and print it fully resolved.
#include <iostream>

#include "commands.hpp"
#include "common.hpp"
#include "config/parse.hpp"
#include "config/registry.hpp"

namespace nnctl::cli {

namespace {
struct ValidateOptions {
    std::string config;
    CommonOptions common;
};

int run_validate(ValidateOptions& o) {
    apply_common_options(o.common);
    const ExperimentConfig cfg = load_config(o.config, o.common.sets);
    // With the input shape known without reading data, every layer's shape is checked as well.
    if (!cfg.input_shape.empty()) build_model(cfg.layers, cfg.input_shape, cfg.seed, {}, cfg.outputs);
    if (!cfg.model_inputs.empty()) {
        int64_t total = 0;
        for (const auto& mi : cfg.model_inputs) total += shape_size(mi.shape);
        build_model(cfg.layers, Shape{total}, cfg.seed, cfg.model_inputs, cfg.outputs);
    }
    const std::string resolved = emit_config(cfg);
    if (o.common.json) std::cout << "{\"valid\":true,\"config\":" << yaml_to_json(resolved) << "}" << std::endl;
    else std::cout << resolved;
    log().info("{}: valid", o.config);
    return 0;
}
}  // namespace

std::function<int()> register_validate(CLI::App& app) {
    auto o = std::make_shared<ValidateOptions>();
    CLI::App* cmd = app.add_subcommand("validate", "Check a config and print it fully resolved (defaults filled in)");
    cmd->add_option("config", o->config, "Experiment config (YAML)")->required()->type_name("CONFIG");
    add_common_options(*cmd, o->common);
    cmd->footer("\nExit 0 and the resolved config on stdout, or every problem found (file:line:col: key: problem) and\n"
                "exit 2. Nothing is trained and no data is read; with model.input_shape given, every layer's\n"
                "shapes are checked too (the data's shape is otherwise known only at train or summary time).\n"
                "Example: nnctl validate configs/iris.yaml --set optimizer.learning_rate=0.1\n" +
                std::string(kExitCodes));
    return [o] { return run_validate(*o); };
}

}  // namespace nnctl::cli
