#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "search/store.hpp"

namespace nnctl {

/// One rung of a successive-halving bracket: `size` trials trained to `epochs` epochs.
struct Rung {
    int epochs = 0;
    int64_t size = 0;
};

/// A bracket of successive halving: its trials are indices [first, first + rungs[0].size), and the
/// best size(k+1) of those with a result at rung k go on to rung k+1.
struct Bracket {
    int s = 0;  ///< Hyperband's bracket number (rungs.size() - 1); 0 for a plain halving bracket
    int64_t first = 0;
    std::vector<Rung> rungs;
};

/// The epochs of the rungs between min_epochs and max_epochs: max_epochs · η^(k-K) rounded, for
/// k = 0..K with K = ⌊log_η(max/min)⌋, so the top rung always trains the full max_epochs (Li et al.'s
/// r_i = R·η^(i-s) in epochs, with R = max/min).
std::vector<int> rung_epochs(int min_epochs, int max_epochs, int eta);

/// The brackets of `strategy: halving` (one bracket: `trials` trials at the lowest rung, ⌊n/η⌋ kept
/// at each, at least one) and `strategy: hyperband` (Li et al. 2018, Algorithm 1: s = s_max..0 with
/// n = ⌈(s_max+1)/(s+1) · η^s⌉ trials at r = R·η^-s epochs, `iterations` times over). `asha` has
/// one bracket whose rung sizes are open (size 0): trials move up as results arrive.
std::vector<Bracket> plan_brackets(const SearchConfig& s);
/// The number of trials the brackets hold (halving, hyperband), or `trials` (asha).
int64_t planned_trials(const std::vector<Bracket>& b, const SearchConfig& s);
/// How many trials the strategy defines: the grid's size, the brackets' trials (halving,
/// hyperband), or `trials` (random, asha, tpe).
int64_t trial_count(const SearchConfig& s);
/// The bracket that holds trial `index`.
const Bracket& bracket_of(const std::vector<Bracket>& b, int64_t index);

/// A decision the scheduler takes when a worker asks for work: a paused trial is promoted to the
/// next rung (it becomes pending and trains on from its checkpoint), or pruned (stopped for good).
struct Decision {
    int64_t index = 0;
    bool promote = false;
    int rung = 0;            ///< promote: the new rung
    int epochs = 0;          ///< promote: its budget in epochs
    std::string reason;      ///< prune: why
};

/// Successive halving's decisions over the trials as they stand. Synchronous (halving, hyperband):
/// a rung is decided once every trial of its bracket has a result there, failed or been stopped:
/// the best size(k+1) go on, the rest are pruned. Asynchronous (asha, Li et al. 2020): a paused
/// trial at rung k goes on as soon as it is among the best ⌊m/η⌋ of the m trials with a result at
/// rung k; when nothing is running or pending any more, the paused trials that cannot go on are
/// pruned. Ties rank by trial index.
std::vector<Decision> halving_decisions(const SearchConfig& s, const std::vector<Bracket>& brackets,
                                        const std::vector<TrialRecord>& trials, bool minimize);

/// The median pruner's rule (Optuna's MedianPruner): at an epoch past `warmup_epochs` (and on the
/// interval), a trial is pruned when its value is worse than the median of the values the
/// completed trials reported at the same epoch, once `startup_trials` trials have completed and at
/// least `min_trials` of them reported that epoch. `reason` says why.
bool median_prune(const PrunerConfig& p, int epoch, double value, const std::vector<double>& others,
                  int64_t completed, bool minimize, std::string& reason);

}  // namespace nnctl
