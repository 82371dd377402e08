#pragma once
#include <string>
#include <vector>

namespace nnctl {

/// `nnctl report`: one self-contained HTML page (inline SVG and CSS; nothing fetched, no other file)
/// about one or several run (or sweep) directories.
/// - One run: its learning curves (every logged metric, training against validation, per epoch),
///   the learning rate, the epoch early stopping restored, the test results (a confusion matrix
///   heat map and per-class table for a classifier, predicted-vs-actual and residual plots for a
///   regressor; each output of a model with several), the model summary, the resolved config and
///   run.json's facts.
/// - Several runs: their curves overlaid on shared axes, their final and test metrics side by side,
///   and the config values that differ between them; then each run's own section.
/// - A forecaster: also its test stretch, actual against the model's and the baselines' forecasts.
/// - Sweep directories (a search.db inside): the leaderboard (sortable by a small inline script),
///   the objective against each parameter (log axes for log-uniform ones), every trial in parallel
///   coordinates, failed trials, and the refitted best model's run. Runs and sweeps are not mixed.
/// Charts stay readable from 1 to 100,000 epochs (curves are downsampled to at most 1,000 points
/// per series, keeping each bucket's extremes) and from 2 to 1,000 classes (past 20 classes the
/// confusion matrix becomes a table of the most-confused pairs). Hovering a point shows its value
/// (SVG titles). Throws DataError naming a run directory that cannot be read.
std::string report_html(const std::vector<std::string>& run_dirs);

}  // namespace nnctl
