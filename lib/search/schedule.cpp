#include "search/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.hpp"
#include "core/json.hpp"
#include "search/space.hpp"

namespace nnctl {

namespace {
/// ⌊log_η(ratio)⌋ by integer steps (log(243)/log(3) is 4.999… in floating point).
int floor_log(double ratio, int eta) {
    int k = 0;
    double p = eta;
    while (p <= ratio * (1 + 1e-12)) {
        ++k;
        p *= eta;
    }
    return k;
}

int64_t ipow(int64_t b, int e) {
    int64_t r = 1;
    while (e-- > 0) r *= b;
    return r;
}
}  // namespace

std::vector<int> rung_epochs(int min_epochs, int max_epochs, int eta) {
    const int K = floor_log(double(max_epochs) / double(min_epochs), eta);
    std::vector<int> r;
    for (int k = 0; k <= K; ++k) {
        const int e = int(std::lround(double(max_epochs) / double(ipow(eta, K - k))));
        r.push_back(std::max(min_epochs, e));
    }
    return r;
}

std::vector<Bracket> plan_brackets(const SearchConfig& s) {
    std::vector<Bracket> out;
    const std::vector<int> epochs = rung_epochs(s.min_epochs, s.max_epochs, s.reduction_factor);
    const int K = int(epochs.size()) - 1;
    const int eta = s.reduction_factor;
    if (s.strategy == "halving" || s.strategy == "asha") {
        Bracket b;
        b.s = K;
        int64_t n = s.strategy == "asha" ? 0 : (s.trials_given ? s.trials : ipow(eta, K));
        for (int k = 0; k <= K; ++k) {
            b.rungs.push_back({epochs[size_t(k)], n});
            if (n > 0) n = std::max<int64_t>(1, n / eta);
        }
        out.push_back(b);
        return out;
    }
    if (s.strategy != "hyperband") return out;
    int64_t first = 0;
    for (int it = 0; it < s.iterations; ++it)
        for (int sb = K; sb >= 0; --sb) {
            Bracket b;
            b.s = sb;
            b.first = first;
            // n = ⌈(s_max+1)/(s+1) · η^s⌉ in integers
            const int64_t num = int64_t(K + 1) * ipow(eta, sb);
            int64_t n = (num + sb) / (sb + 1);
            for (int i = 0; i <= sb; ++i) {
                b.rungs.push_back({epochs[size_t(K - sb + i)], n});
                n /= eta;  // n_i = ⌊n·η^-i⌋
            }
            first += b.rungs.front().size;
            out.push_back(b);
        }
    return out;
}

int64_t planned_trials(const std::vector<Bracket>& b, const SearchConfig& s) {
    if (s.strategy == "asha") return s.trials;
    int64_t n = 0;
    for (const auto& x : b) n += x.rungs.front().size;
    return n;
}

int64_t trial_count(const SearchConfig& s) {
    if (s.strategy == "grid") return grid_size(s);
    if (s.strategy == "halving" || s.strategy == "hyperband") return planned_trials(plan_brackets(s), s);
    return s.trials;
}

const Bracket& bracket_of(const std::vector<Bracket>& b, int64_t index) {
    for (const auto& x : b)
        if (x.rungs.front().size == 0 || (index >= x.first && index < x.first + x.rungs.front().size)) return x;
    throw Error("trial " + std::to_string(index) + " belongs to no bracket");
}

namespace {
bool better(double a, double b, bool minimize) { return minimize ? a < b : a > b; }

/// The trials with a result at rung k, best first (ties by index).
std::vector<const TrialRecord*> ranked_at(const std::vector<const TrialRecord*>& in, size_t k, bool minimize) {
    std::vector<const TrialRecord*> v;
    for (const auto* t : in)
        if (t->rung_values.size() > k) v.push_back(t);
    std::stable_sort(v.begin(), v.end(), [&](const TrialRecord* a, const TrialRecord* b) {
        const double x = a->rung_values[k], y = b->rung_values[k];
        if (x != y) return better(x, y, minimize);
        return a->index < b->index;
    });
    return v;
}

std::string fmt(double v) { return format_number(v); }
}  // namespace

std::vector<Decision> halving_decisions(const SearchConfig& s, const std::vector<Bracket>& brackets,
                                        const std::vector<TrialRecord>& trials, bool minimize) {
    std::vector<Decision> out;
    const int eta = s.reduction_factor;
    std::map<const Bracket*, std::vector<const TrialRecord*>> by;
    for (const auto& t : trials) by[&bracket_of(brackets, t.index)].push_back(&t);
    const std::string frac = "1/" + std::to_string(eta);
    if (s.strategy == "asha") {
        const Bracket& b = brackets.front();
        const auto& mine = by[&b];
        bool busy = false;
        for (const auto* t : mine) busy = busy || t->state == "pending" || t->state == "running";
        // From the top rung down: promote a paused trial that is among the best ⌊m/η⌋ at its rung.
        for (size_t k = b.rungs.size() - 1; k-- > 0;) {
            const auto at = ranked_at(mine, k, minimize);
            const size_t keep = at.size() / size_t(eta);
            for (size_t j = 0; j < keep; ++j) {
                const TrialRecord* t = at[j];
                if (t->state == "paused" && t->rung == int(k)) {
                    out.push_back({t->index, true, int(k) + 1, b.rungs[k + 1].epochs, ""});
                    return out;  // one promotion per request, as ASHA's get_job
                }
            }
        }
        if (busy) return out;
        // Nothing runs or waits any more: whoever is paused now can never climb.
        for (const auto* t : mine)
            if (t->state == "paused") {
                const auto at = ranked_at(mine, size_t(t->rung), minimize);
                out.push_back({t->index, false, 0, 0,
                               "not among the best " + frac + " at rung " + std::to_string(t->rung) + " (" +
                                   std::to_string(b.rungs[size_t(t->rung)].epochs) + " epochs: " +
                                   std::to_string(at.size() / size_t(eta)) + " of " + std::to_string(at.size()) +
                                   " go on)"});
            }
        return out;
    }
    for (const Bracket& b : brackets) {
        auto it = by.find(&b);
        if (it == by.end()) continue;
        const auto& mine = it->second;
        for (size_t k = 0; k + 1 < b.rungs.size(); ++k) {
            // Decided once no trial of the bracket can still bring a result to rung k.
            bool ready = true, waiting = false;
            for (const auto* t : mine) {
                if (t->state == "failed" || t->state == "pruned") continue;
                if (t->rung_values.size() <= k) ready = false;
                if (t->state == "paused" && t->rung == int(k)) waiting = true;
            }
            if (!ready || !waiting) continue;
            const auto at = ranked_at(mine, k, minimize);
            int64_t quota = b.rungs[k + 1].size;
            for (const auto* t : at)  // (those already past rung k hold places)
                if (t->rung > int(k)) --quota;
            for (const auto* t : at) {
                if (!(t->state == "paused" && t->rung == int(k))) continue;
                if (quota > 0) {
                    --quota;
                    out.push_back({t->index, true, int(k) + 1, b.rungs[k + 1].epochs, ""});
                } else {
                    out.push_back({t->index, false, 0, 0,
                                   "not among the best " + std::to_string(b.rungs[k + 1].size) + " of " +
                                       std::to_string(at.size()) + " at rung " + std::to_string(k) + " (" +
                                       std::to_string(b.rungs[k].epochs) + " epochs; cut-off " +
                                       fmt(at[size_t(std::max<int64_t>(0, b.rungs[k + 1].size - 1))]->rung_values[k]) +
                                       ")"});
                }
            }
        }
    }
    return out;
}

bool median_prune(const PrunerConfig& p, int epoch, double value, const std::vector<double>& others,
                  int64_t completed, bool minimize, std::string& reason) {
    if (p.type != "median") return false;
    if (completed == 0 || completed < p.startup_trials) return false;
    if (epoch <= p.warmup_epochs) return false;
    if ((epoch - p.warmup_epochs - 1) % p.interval != 0) return false;
    if (std::isnan(value)) {
        reason = "its objective is not a number at epoch " + std::to_string(epoch);
        return true;
    }
    if (int64_t(others.size()) < p.min_trials || others.empty()) return false;
    std::vector<double> v;
    for (double x : others)
        if (!std::isnan(x)) v.push_back(x);
    if (v.empty()) return false;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    const double median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    if (!better(median, value, minimize)) return false;
    reason = "at epoch " + std::to_string(epoch) + " its best " + fmt(value) + " is worse than the median " + fmt(median) +
             " of " + std::to_string(n) + " completed trial" + (n > 1 ? "s" : "");
    return true;
}

}  // namespace nnctl
