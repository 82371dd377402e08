// nnctl report RUN_DIR...: a self-contained HTML page about one or several runs.
#include <cstdlib>
#include <iostream>

#include "commands.hpp"
#include "common.hpp"
#include "core/fileio.hpp"
#include "core/json.hpp"
#include "report/report.hpp"

namespace nnctl::cli {

namespace {

struct ReportOptions {
    std::vector<std::string> runs;
    std::string out;
    bool open = false;
    CommonOptions common;
};

int run_report(ReportOptions& o) {
    apply_common_options(o.common);
    const std::string html = report_html(o.runs);
    const std::string out = !o.out.empty() ? o.out : o.runs.size() == 1 ? o.runs[0] + "/report.html" : "report.html";
    write_file_atomic(out, html);
    log().info("wrote {} ({} bytes; one file, no network needed)", out, html.size());
    if (o.open) {
        const std::string cmd = "xdg-open '" + out + "' >/dev/null 2>&1 &";
        if (out.find('\'') != std::string::npos || std::system(cmd.c_str()) != 0)
            log().warn("--open: could not start a browser (xdg-open); open {} yourself", out);
    }
    if (o.common.json) {
        JsonWriter j;
        j.begin_object().key("output").value(out).key("bytes").value(static_cast<long long>(html.size())).end_object();
        std::cout << j.str() << std::endl;
    }
    return 0;
}

}  // namespace

std::function<int()> register_report(CLI::App& app) {
    auto o = std::make_shared<ReportOptions>();
    CLI::App* cmd = app.add_subcommand("report", "Write an HTML report of one or several runs: curves, results, model");
    cmd->add_option("runs", o->runs, "Run directories written by nnctl train, or sweep directories of a search")
        ->required()
        ->type_name("RUN_DIR...|SWEEP_DIR...");
    cmd->add_option("-o,--out", o->out,
                    "Where to write the page, atomically (default: RUN_DIR/report.html for one run, report.html for several)")
        ->type_name("FILE");
    cmd->add_flag("--open", o->open, "Open the page in the desktop's browser (xdg-open)");
    add_common_options(*cmd, o->common, false, "Print {output, bytes} as JSON on stdout");
    cmd->footer(
        "\nOne HTML file with inline SVG and CSS, no script and nothing fetched: it opens anywhere. For a run:\n"
        "learning curves (training and validation per metric, the learning rate, the epoch early stopping\n"
        "restored), the last epoch's and test results, the test data scored again (a confusion matrix heat\n"
        "map and per-class table, or predicted-vs-actual and residual plots; each output of a model with\n"
        "several), the model summary, run.json's facts and the resolved config. Several runs: their curves\n"
        "overlaid, their results side by side and the config values that differ, then each run. A sweep\n"
        "directory: its leaderboard (sortable), the objective against each parameter (log axes for\n"
        "log-uniform ones), every trial in parallel coordinates, failed trials and the refitted best model.\n"
        "Example: nnctl report runs/iris runs/iris-2 --out iris.html\n" +
        std::string(kExitCodes));
    return [o] { return run_report(*o); };
}

}  // namespace nnctl::cli
