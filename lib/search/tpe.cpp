#include "search/tpe.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "core/json_value.hpp"
#include "core/rng.hpp"
#include "data/schema.hpp"

namespace nnctl {

std::vector<TpeObservation> tpe_observations(const SearchConfig& s, const std::vector<TrialRecord>& trials) {
    std::vector<TpeObservation> out;
    for (const auto& t : trials) {
        if (t.state != "complete" && t.state != "pruned") continue;
        if (!std::isfinite(t.mean)) continue;
        std::map<std::string, std::string> by_path;
        try {
            for (const auto& x : parse_json(t.sets).items) {
                const auto eq = x.text.find('=');
                if (eq != std::string::npos) by_path[x.text.substr(0, eq)] = x.text.substr(eq + 1);
            }
        } catch (const std::exception&) {
            continue;
        }
        TpeObservation o;
        o.index = t.index;
        o.value = t.mean;
        o.pruned = t.state == "pruned";
        o.epochs = t.epochs;
        bool whole = true;
        for (const auto& p : s.params) {
            auto it = by_path.find(p.path);
            if (it == by_path.end()) {
                whole = false;
                break;
            }
            o.values.push_back(it->second);
        }
        if (whole) out.push_back(std::move(o));
    }
    return out;
}

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

double norm_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

double log_sum_exp(const std::vector<double>& v) {
    double m = kNegInf;
    for (double x : v) m = std::max(m, x);
    if (!std::isfinite(m)) return m;
    double s = 0;
    for (double x : v) s += std::exp(x - m);
    return m + std::log(s);
}

/// A numeric path in the space TPE works in: log for log_uniform; a step for int_uniform and ranges
/// (the range widened by half a step on each side, as Optuna does).
struct NumericDomain {
    bool log = false;
    double step = 0.0;                 ///< in the original units; 0: continuous
    double low = 0, high = 0;          ///< bounds in the working space (widened when stepped)
    double orig_low = 0, orig_high = 0;
};

NumericDomain domain_of(const SearchParam& p) {
    NumericDomain d;
    double lo = p.min, hi = p.max;
    if (p.kind == "normal") {
        lo = p.mean - 4 * p.std;
        hi = p.mean + 4 * p.std;
    }
    d.orig_low = lo;
    d.orig_high = hi;
    if (p.kind == "int_uniform") d.step = p.step > 0 ? p.step : 1.0;
    if (p.kind == "range") d.step = p.step;
    d.log = p.kind == "log_uniform";
    if (d.step > 0) {
        lo -= d.step / 2;
        hi += d.step / 2;
    }
    d.low = d.log ? std::log(lo) : lo;
    d.high = d.log ? std::log(hi) : hi;
    return d;
}

/// A mixture of Gaussians truncated to [low, high]: one per observation, then the prior.
struct Parzen {
    std::vector<double> mu, sigma, logw;
};

Parzen numeric_parzen(const NumericDomain& d, const std::vector<double>& xs, const std::vector<double>& w) {
    Parzen pz;
    const double range = d.high - d.low;
    const size_t n = xs.size();
    if (n > 0) {
        // Bandwidth: the larger gap to a neighbour in sorted order (the ends use their inner
        // neighbour), clipped to [range / min(100, n + 2), range].
        std::vector<size_t> order(n);
        for (size_t i = 0; i < n; ++i) order[i] = i;
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return xs[a] < xs[b]; });
        std::vector<double> sorted(n + 2);
        sorted[0] = d.low;
        for (size_t i = 0; i < n; ++i) sorted[i + 1] = xs[order[i]];
        sorted[n + 1] = d.high;
        std::vector<double> sig(n);
        for (size_t i = 0; i < n; ++i) {
            double left = sorted[i + 1] - sorted[i], right = sorted[i + 2] - sorted[i + 1];
            if (n >= 2 && i == 0) left = right;
            if (n >= 2 && i == n - 1) right = left;
            sig[order[i]] = std::max(left, right);
        }
        const double lo = range / std::min(100.0, double(n) + 2.0);
        for (auto& s : sig) s = std::clamp(s, lo, range);
        pz.mu = xs;
        pz.sigma = sig;
    }
    pz.mu.push_back(0.5 * (d.low + d.high));
    pz.sigma.push_back(range);
    double total = 1.0;  // the prior's weight
    for (double x : w) total += x;
    for (double x : w) pz.logw.push_back(std::log(x / total));
    pz.logw.push_back(std::log(1.0 / total));
    return pz;
}

/// log density (continuous) or log mass of the step cell (stepped) of x under the mixture.
double numeric_logpdf(const Parzen& pz, const NumericDomain& d, double x) {
    std::vector<double> terms;
    for (size_t i = 0; i < pz.mu.size(); ++i) {
        const double m = pz.mu[i], s = pz.sigma[i];
        const double z = norm_cdf((d.high - m) / s) - norm_cdf((d.low - m) / s);
        if (!(z > 0)) continue;
        double lp;
        if (d.step > 0) {
            double a = x - d.step / 2, b = x + d.step / 2;
            if (d.log) {
                a = std::log(std::max(a, 1e-300));
                b = std::log(b);
            }
            const double mass = norm_cdf((b - m) / s) - norm_cdf((a - m) / s);
            lp = mass > 0 ? std::log(mass) : -1e300;
        } else {
            const double xv = d.log ? std::log(x) : x;
            const double u = (xv - m) / s;
            lp = -0.5 * u * u - std::log(s) - 0.5 * std::log(2 * M_PI);
        }
        terms.push_back(pz.logw[i] + lp - std::log(z));
    }
    return log_sum_exp(terms);
}

double sample_numeric(const Parzen& pz, const NumericDomain& d, Rng& rng) {
    // A component by weight, then a draw from its normal, redrawn until it falls in [low, high].
    double u = rng.uniform();
    size_t k = 0;
    for (; k + 1 < pz.logw.size(); ++k) {
        u -= std::exp(pz.logw[k]);
        if (u < 0) break;
    }
    double x = pz.mu[k];
    for (int tries = 0; tries < 1000; ++tries) {
        const double v = pz.mu[k] + pz.sigma[k] * rng.normal();
        if (v >= d.low && v <= d.high) {
            x = v;
            break;
        }
    }
    if (d.log) x = std::exp(x);
    if (d.step > 0) x = std::clamp(d.orig_low + std::round((x - d.orig_low) / d.step) * d.step, d.orig_low, d.orig_high);
    else x = std::clamp(x, d.orig_low, d.orig_high);
    return x;
}

/// Categorical: one kernel per observation (prior_weight / (n+1) on every choice, plus 1 on the
/// observed one, normalised) and a prior kernel (the choice weights, or uniform), mixed by weight.
std::vector<double> categorical_probs(const SearchParam& p, const std::vector<int>& picks, const std::vector<double>& w) {
    const size_t c = p.values.size();
    std::vector<double> prior(c, 1.0 / double(c));
    if (!p.weights.empty()) {
        double t = 0;
        for (double x : p.weights) t += x;
        for (size_t i = 0; i < c; ++i) prior[i] = t > 0 ? p.weights[i] / t : 1.0 / double(c);
    }
    const double kernels = double(picks.size()) + 1.0;
    double total = 1.0;
    for (double x : w) total += x;
    std::vector<double> probs(c, 0.0);
    for (size_t j = 0; j < picks.size(); ++j) {
        const double norm = 1.0 + double(c) / kernels;  // row sum before normalising
        for (size_t i = 0; i < c; ++i) {
            const double row = (1.0 / kernels + (int(i) == picks[j] ? 1.0 : 0.0)) / norm;
            probs[i] += w[j] / total * row;
        }
    }
    for (size_t i = 0; i < c; ++i) probs[i] += prior[i] / total;
    return probs;
}

/// Optuna's observation weights: equal below 25, else a ramp from 1/n up to 1 for all but the
/// newest 25 (by trial index).
std::vector<double> obs_weights(size_t n) {
    std::vector<double> w(n, 1.0);
    if (n < 25) return w;
    const size_t ramp = n - 25;
    for (size_t i = 0; i < ramp; ++i)
        w[i] = ramp == 1 ? 1.0 / double(n) : 1.0 / double(n) + (1.0 - 1.0 / double(n)) * double(i) / double(ramp - 1);
    return w;
}

}  // namespace

Trial tpe_trial(const SearchConfig& s, int64_t index, const std::vector<TpeObservation>& obs_in, bool minimize) {
    if (int64_t(obs_in.size()) < s.n_startup_trials) return make_trial(s, index);
    // Rank: completed by objective, then pruned by epochs reached (more first) and objective.
    std::vector<TpeObservation> obs = obs_in;
    auto better = [&](double a, double b) { return minimize ? a < b : a > b; };
    std::stable_sort(obs.begin(), obs.end(), [&](const TpeObservation& a, const TpeObservation& b) {
        if (a.pruned != b.pruned) return !a.pruned;
        if (a.pruned && a.epochs != b.epochs) return a.epochs > b.epochs;
        if (a.value != b.value) return better(a.value, b.value);
        return a.index < b.index;
    });
    const size_t n = obs.size();
    const size_t n_below = std::min<size_t>(size_t(std::ceil(0.1 * double(n))), 25);
    std::vector<TpeObservation> below(obs.begin(), obs.begin() + std::ptrdiff_t(n_below));
    std::vector<TpeObservation> above(obs.begin() + std::ptrdiff_t(n_below), obs.end());
    auto by_index = [](const TpeObservation& a, const TpeObservation& b) { return a.index < b.index; };
    std::sort(below.begin(), below.end(), by_index);
    std::sort(above.begin(), above.end(), by_index);
    const std::vector<double> wb = obs_weights(below.size()), wa = obs_weights(above.size());

    Trial t;
    t.index = index;
    Rng rng(Rng::derive(s.seed, 0x79E0000ULL + uint64_t(index)));
    for (size_t k = 0; k < s.params.size(); ++k) {
        const SearchParam& p = s.params[k];
        std::string chosen;
        if (p.kind == "choice" || p.kind == "values") {
            auto picks = [&](const std::vector<TpeObservation>& v) {
                std::vector<int> out;
                for (const auto& o : v) {
                    auto it = std::find(p.values.begin(), p.values.end(), o.values[k]);
                    out.push_back(it == p.values.end() ? -1 : int(it - p.values.begin()));
                }
                return out;
            };
            const auto l = categorical_probs(p, picks(below), wb), g = categorical_probs(p, picks(above), wa);
            double best = kNegInf;
            size_t pick = 0;
            for (int c = 0; c < s.n_ei_candidates; ++c) {
                double u = rng.uniform();
                size_t i = 0;
                for (; i + 1 < l.size(); ++i) {
                    u -= l[i];
                    if (u < 0) break;
                }
                const double score = std::log(l[i]) - std::log(g[i]);
                if (score > best) {
                    best = score;
                    pick = i;
                }
            }
            chosen = p.values[pick];
        } else {
            const NumericDomain d = domain_of(p);
            auto xs = [&](const std::vector<TpeObservation>& v) {
                std::vector<double> out;
                for (const auto& o : v) {
                    double x = 0;
                    parse_number(o.values[k], x);
                    out.push_back(d.log ? std::log(std::max(x, 1e-300)) : x);
                }
                return out;
            };
            const Parzen l = numeric_parzen(d, xs(below), wb), g = numeric_parzen(d, xs(above), wa);
            double best = kNegInf, pick = 0;
            for (int c = 0; c < s.n_ei_candidates; ++c) {
                const double x = sample_numeric(l, d, rng);
                const double score = numeric_logpdf(l, d, x) - numeric_logpdf(g, d, x);
                if (c == 0 || score > best) {
                    best = score;
                    pick = x;
                }
            }
            const bool integral = d.step > 0 && p.kind == "int_uniform";
            const bool whole_range = p.kind == "range" && p.min == std::floor(p.min) && p.step == std::floor(p.step);
            chosen = number_text(pick, integral || whole_range);
        }
        t.values.emplace_back(p.path, chosen);
    }
    return t;
}

}  // namespace nnctl
