// nnctl summary CONFIG|RUN_DIR: a Keras-like table of the model, with parameter counts and memory.
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "common.hpp"
#include "config/parse.hpp"
#include "core/json.hpp"
#include "train/experiment.hpp"
#include "train/summary.hpp"

namespace nnctl::cli {

namespace {
struct SummaryOptions {
    std::string target;
    CommonOptions common;
};

std::string human_bytes(double b) {
    char buf[32];
    if (b >= 1e9) std::snprintf(buf, sizeof buf, "%.2f GB", b / 1e9);
    else if (b >= 1e6) std::snprintf(buf, sizeof buf, "%.2f MB", b / 1e6);
    else std::snprintf(buf, sizeof buf, "%.1f KB", b / 1e3);
    return buf;
}

std::string with_commas(long long v) {
    std::string s = std::to_string(v), out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (i && (s.size() - i) % 3 == 0) out += ',';
        out += s[i];
    }
    return out;
}

int run_summary(SummaryOptions& o) {
    apply_common_options(o.common);
    struct stat st {};
    const bool is_run = ::stat(o.target.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    ModelSummary s;
    if (is_run) {
        SavedRun run = load_run(o.target);
        s = summarize(run.model, run.cfg, 0);
    } else {
        Experiment ex = prepare_experiment(load_config(o.target, o.common.sets));
        s = summarize(ex.model, ex.cfg, ex.data.train.size());
    }
    auto& lg = log();
    lg.info("Model: \"{}\"   input: {}", s.name, shape_str(s.input));
    // Keras' layout; a graph gets its "Connected to" column. Names longer than the column push the
    // rest of their row right rather than being cut.
    size_t w = 32;
    for (const auto& l : s.layers) w = std::max(w, l.name.size() + l.type.size() + (l.trainable ? 3 : 12) + 1);
    for (const auto& [name, shape] : s.inputs) w = std::max(w, name.size() + 9);
    auto row = [&](const std::string& a, const std::string& b, const std::string& c, const std::string& d) {
        char buf[512];
        std::snprintf(buf, sizeof buf, "%-*s %-20s %14s", int(w), a.c_str(), b.c_str(), c.c_str());
        lg.info("{}{}", buf, s.graph ? "  " + d : "");
    };
    const size_t width = w + 36 + (s.graph ? 30 : 0);
    row("Layer (type)", "Output Shape", "Param #", "Connected to");
    lg.info("{}", std::string(width, '-'));
    for (const auto& [name, shape] : s.inputs) row(name + " (input)", shape_str(shape), "0", "-");
    for (const auto& l : s.layers) {
        std::string from;
        for (const auto& i : l.inputs) from += (from.empty() ? "" : ", ") + i;
        row(l.name + " (" + l.type + ")" + (l.trainable ? "" : " [frozen]"), shape_str(l.output), with_commas(l.params), from);
    }
    lg.info("{}", std::string(width, '-'));
    if (!s.outputs.empty()) {
        std::string outs;
        for (size_t k = 0; k < s.outputs.size(); ++k)
            outs += (k ? ", " : "") + s.outputs[k] + " (" + s.output_losses[k] + ")";
        lg.info("Outputs: {}", outs);
    }
    lg.info("Total params: {} ({})", with_commas(s.total), human_bytes(4.0 * double(s.total)));
    lg.info("Trainable params: {}", with_commas(s.trainable));
    lg.info("Non-trainable params: {}", with_commas(s.non_trainable));
    lg.info("Estimated training memory at batch size {}: {} (weights, gradients and {} optimizer state tensor(s) "
            "per weight: {}; activations: {}{})",
            s.batch_size, human_bytes(s.total_bytes()), s.optimizer_slots, human_bytes(s.weights_bytes),
            human_bytes(s.activations_bytes), s.data_bytes > 0 ? "; training data: " + human_bytes(s.data_bytes) : "");
    if (o.common.json) {
        JsonWriter j;
        j.begin_object().key("name").value(s.name).key("input_shape").begin_array();
        for (auto d : s.input) j.value(static_cast<long long>(d));
        j.end_array().key("layers").begin_array();
        for (const auto& l : s.layers) {
            j.begin_object().key("name").value(l.name).key("type").value(l.type).key("output_shape").begin_array();
            for (auto d : l.output) j.value(static_cast<long long>(d));
            j.end_array().key("params").value(static_cast<long long>(l.params)).key("trainable").value(l.trainable);
            j.key("inputs").begin_array();
            for (const auto& i : l.inputs) j.value(i);
            j.end_array();
            j.end_object();
        }
        j.end_array();
        if (!s.outputs.empty()) {
            j.key("outputs").begin_array();
            for (const auto& n : s.outputs) j.value(n);
            j.end_array();
        }
        j.key("total_params").value(static_cast<long long>(s.total));
        j.key("trainable_params").value(static_cast<long long>(s.trainable));
        j.key("non_trainable_params").value(static_cast<long long>(s.non_trainable));
        j.key("batch_size").value(s.batch_size);
        j.key("memory_bytes").begin_object().key("weights_gradients_optimizer").value(s.weights_bytes)
            .key("activations").value(s.activations_bytes).key("training_data").value(s.data_bytes)
            .key("total").value(s.total_bytes()).end_object();
        j.end_object();
        std::cout << j.str() << std::endl;
    }
    return 0;
}
}  // namespace

std::function<int()> register_summary(CLI::App& app) {
    auto o = std::make_shared<SummaryOptions>();
    CLI::App* cmd = app.add_subcommand("summary", "Show the model's layers, output shapes, parameters and memory");
    cmd->add_option("target", o->target, "A config file (its training data is read for the input size) or a run dir")
        ->required()
        ->type_name("CONFIG|RUN_DIR");
    add_common_options(*cmd, o->common);
    cmd->footer("\nExample: nnctl summary configs/fashion_mnist_mlp.yaml\n" + std::string(kExitCodes));
    return [o] { return run_summary(*o); };
}

}  // namespace nnctl::cli
