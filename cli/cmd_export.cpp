// nnctl export RUN_DIR --format onnx [--output FILE]: the trained model as a standard file.
#include <iostream>

#include "commands.hpp"
#include "common.hpp"
#include "core/fileio.hpp"
#include "core/json.hpp"
#include "model/onnx_export.hpp"
#include "train/experiment.hpp"

namespace nnctl::cli {

namespace {
struct ExportOptions {
    std::string run, format = "onnx", output;
    CommonOptions common;
};

int run_export(ExportOptions& o) {
    apply_common_options(o.common);
    SavedRun run = load_run(o.run);
    const std::string bytes = export_onnx(run);
    const std::string out = o.output.empty() ? o.run + "/model.onnx" : o.output;
    write_file_atomic(out, bytes);
    std::string outputs = "output 'output'";
    if (run.heads.size() > 1) {
        outputs = "outputs";
        for (size_t k = 0; k < run.heads.size(); ++k) outputs += (k ? ", '" : " '") + run.heads[k].name + "'";
    }
    log().info("exported {} ({} bytes, ONNX opset 13; input 'input' (batch, {}), {})", out, bytes.size(),
               shape_size(run.model.input_shape()), outputs);
    if (o.common.json) {
        JsonWriter j;
        j.begin_object().key("output").value(out).key("format").value(o.format).key("bytes").value(
            static_cast<long long>(bytes.size()));
        j.key("opset").value(13).end_object();
        std::cout << j.str() << std::endl;
    }
    return 0;
}
}  // namespace

std::function<int()> register_export(CLI::App& app) {
    auto o = std::make_shared<ExportOptions>();
    CLI::App* cmd = app.add_subcommand("export", "Write a trained run's model as an ONNX file");
    cmd->add_option("run", o->run, "Run directory written by nnctl train")->required()->type_name("RUN_DIR");
    cmd->add_option("--format", o->format, "Output format")->check(CLI::IsMember({"onnx"}));
    cmd->add_option("-o,--output", o->output, "Where to write it (default: RUN_DIR/model.onnx), atomically")
        ->type_name("FILE");
    add_common_options(*cmd, o->common);
    cmd->footer("\nThe ONNX graph takes the rows predict takes after decoding (batch x features, float; CSV one-hot\n"
                "columns expanded), applies the run's preprocessing, and outputs what predict outputs\n"
                "(probabilities or values). Checked with ONNX's checker before it is written. Every layer\n"
                "type is exported but masking and time_distributed; a text model's input is its token ids.\n"
                "Example: nnctl export runs/iris --output iris.onnx\n" +
                std::string(kExitCodes));
    return [o] { return run_export(*o); };
}

}  // namespace nnctl::cli
