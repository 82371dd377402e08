// nnctl predict RUN_DIR --input FILE|-: stream predictions of a trained model.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "commands.hpp"
#include "common.hpp"
#include "core/error.hpp"
#include "core/fileio.hpp"
#include "core/json.hpp"

#include <iostream>
#include "train/predict.hpp"

namespace nnctl::cli {

namespace {

struct PredictCliOptions {
    std::string run;
    std::string output = "-";
    PredictOptions p;
    CommonOptions common;
};

int run_predict(PredictCliOptions& o) {
    apply_common_options(o.common);
    if (o.common.json && o.output == "-")
        throw ConfigError("predict --json needs --output FILE: standard output carries the predictions");
    SavedRun run = load_run(o.run);
    // Inference only: batch normalization after a linear conv/dense layer becomes part of its
    // kernel and bias (evaluate keeps the layers as trained: its loss includes weight penalties).
    if (int n = run.model.fold_batch_norm()) log().debug("folded {} batch normalization layer(s) into the layer before", n);
    PredictStats stats;
    double seconds = 0.0;
    auto timed = [&](const std::function<void(const std::string&)>& write) {
        const auto t0 = std::chrono::steady_clock::now();
        stats = predict_stream(run, o.p, write);
        seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double n = double(std::max(1LL, stats.rows));
        log().debug("predicted {} rows in {:.6f} s: {:.3f} us per row end to end, {:.3f} us per row in the model "
                    "(batch size {})",
                    stats.rows, seconds, seconds * 1e6 / n, stats.model_seconds * 1e6 / n, o.p.batch_size);
        return stats.rows;
    };
    auto report = [&] {
        if (!o.common.json) return;
        JsonWriter j;
        j.begin_object().key("output").value(o.output).key("rows").value(stats.rows).key("seconds").value(seconds);
        j.key("model_seconds").value(stats.model_seconds).end_object();
        std::cout << j.str() << std::endl;
    };
    auto to_stream = [&](FILE* f, const std::string& name) {
        timed([&](const std::string& s) {
            if (std::fwrite(s.data(), 1, s.size(), f) != s.size())
                throw IoError("cannot write " + name + ": " + std::strerror(errno));
        });
        if (std::fflush(f) != 0) throw IoError("cannot write " + name + ": " + std::strerror(errno));
    };
    if (o.output == "-") {
        to_stream(stdout, "standard output");
        return 0;
    }
    // A regular file is written whole to a temporary name and renamed, so a failed run leaves no
    // partial file; anything else (/dev/null, a FIFO) is written in place, never replaced.
    struct stat st {};
    if (::stat(o.output.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
        FILE* f = std::fopen(o.output.c_str(), "wb");
        if (!f) throw IoError("cannot open '" + o.output + "': " + std::strerror(errno));
        to_stream(f, "'" + o.output + "'");
        if (std::fclose(f) != 0) throw IoError("cannot write '" + o.output + "': " + std::strerror(errno));
        report();
        return 0;
    }
    std::string text;
    const long long n = timed([&](const std::string& s) { text += s; });
    write_file_atomic(o.output, text);
    log().info("{} predictions written to {}", n, o.output);
    report();
    return 0;
}

}  // namespace

std::function<int()> register_predict(CLI::App& app) {
    auto o = std::make_shared<PredictCliOptions>();
    CLI::App* cmd = app.add_subcommand("predict", "Predict with a trained run: class names (or values) per input row");
    cmd->add_option("run", o->run, "Run directory written by nnctl train")->required()->type_name("RUN_DIR");
    cmd->add_option("-i,--input", o->p.input,
                    "What to predict: CSV (optionally .gz), JSON lines, .npy, IDX, an image file or a folder of "
                    "them, text (one a line), or - for stdin")
        ->required()
        ->type_name("FILE|-");
    cmd->add_option("-o,--output", o->output, "Where to write predictions (default: stdout)")->type_name("FILE|-");
    cmd->add_option("--format", o->p.output_format, "Output format")->check(CLI::IsMember({"csv", "jsonl"}));
    cmd->add_option("--input-format", o->p.input_format, "Input format (default: from the name, or sniffed on stdin)")
        ->check(CLI::IsMember({"auto", "csv", "jsonl", "npy", "idx", "images", "text"}));
    cmd->add_flag("--proba", o->p.proba, "Also write each class's probability, one column per class name");
    cmd->add_option("--batch-size", o->p.batch_size, "Rows per forward pass")->check(CLI::Range(1, 1 << 20));
    add_common_options(*cmd, o->common, false, "With --output FILE: a JSON summary (rows, seconds) on stdout");
    cmd->footer(
        "\nCSV input needs the columns the model was trained on (by header name; the target column may be\n"
        "left out). JSON lines hold one object per row ({\"column\": value, ...}) or an array of inputs.\n"
        "Input is streamed: memory stays bounded on inputs of any length.\n"
        "Image models (input (height, width, channels)) also take PNG/JPEG/BMP files: --input a file, a folder\n"
        "(and its class sub-folders), or --input-format images with one path a line (a file or - for stdin);\n"
        "each image is resized to the model's input and written with its path first. A CSV to an image or\n"
        "array model holds one sample's raw values a row (e.g. 784 pixels 0..255), header optional.\n"
        "Text models (format: text) read raw text, one text a line (a file or - for stdin), or the text\n"
        "column of a .csv/.tsv or the text key of a .json/.jsonl file (or --input-format csv|jsonl); the\n"
        "run's vocabulary is applied, unknown words map to [UNK]. Invalid UTF-8 is exit 3 naming the line.\n"
        "An .npy input to a text model holds token ids already vectorized (the model's input rows).\n"
        "A model with several outputs writes a group of columns per output (NAME, NAME:CLASS...).\n"
        "Example: nnctl predict runs/iris --input new_flowers.csv --proba\n"
        "         ls photos/*.png | nnctl predict runs/shapes --input - --input-format images\n"
        "         echo 'Great phone, works well' | nnctl predict runs/sentiment_bow --input - --proba\n" +
        std::string(kExitCodes));
    return [o] { return run_predict(*o); };
}

}  // namespace nnctl::cli
