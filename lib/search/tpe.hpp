#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "search/space.hpp"
#include "search/store.hpp"

namespace nnctl {

/// One finished trial as the Tree-structured Parzen Estimator sees it: its values (YAML text, one
/// per searched path, in the space's order) and its objective.
struct TpeObservation {
    int64_t index = 0;
    std::vector<std::string> values;
    double value = 0.0;
    bool pruned = false;  ///< ranked after every completed trial (by epochs reached, then value)
    int epochs = 0;
};

/// The observations a proposal learns from: completed trials, then pruned ones; failed, running and
/// pending trials are left out, and so is a trial without a value for every path.
std::vector<TpeObservation> tpe_observations(const SearchConfig& s, const std::vector<TrialRecord>& trials);

/// Trial `index` of `strategy: tpe` (Bergstra et al. 2011, as Optuna's univariate TPESampler):
/// while fewer than n_startup_trials observations exist, the random search's trial `index`;
/// then, per path, the observations are split into the best γ(n) = min(⌈0.1·n⌉, 25) ("below") and
/// the rest, each side becomes a Parzen estimator (a truncated Gaussian per observation with the
/// neighbour-gap bandwidth, clipped to [(high−low)/min(100, n+2), high−low], plus a prior kernel of
/// weight 1 over the whole range; for choices, smoothed counts), n_ei_candidates values are drawn
/// from l(x) and the one with the largest log l(x) − log g(x) is taken. log_uniform works in log
/// space; int_uniform and ranges snap to their step; normal is bounded at mean ± 4·std; choices
/// (whole sub-trees included) are categories, their weights the prior. Deterministic: the same
/// seed, index and observations give the same trial.
Trial tpe_trial(const SearchConfig& s, int64_t index, const std::vector<TpeObservation>& obs, bool minimize);

}  // namespace nnctl
