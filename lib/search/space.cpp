#include "search/space.hpp"

#include <cmath>
#include <limits>

#include "core/json.hpp"
#include "core/rng.hpp"
#include "data/schema.hpp"

namespace nnctl {

std::vector<std::string> Trial::sets() const {
    std::vector<std::string> out;
    for (const auto& [path, value] : values) out.push_back(path + "=" + value);
    return out;
}

std::string Trial::json() const {
    JsonWriter j;
    j.begin_object();
    for (const auto& [path, value] : values) {
        j.key(path);
        double d;
        if (value == "true" || value == "false") j.value(value == "true");
        else if (parse_number(value, d) && std::isfinite(d)) j.raw(format_number(d));
        else if (!value.empty() && (value[0] == '[' || value[0] == '{')) j.value(value);  // sub-trees as YAML text
        else j.value(value);
    }
    j.end_object();
    return j.str();
}

std::string number_text(double v, bool integral) {
    if (integral) return std::to_string(static_cast<long long>(std::llround(v)));
    std::string s = format_number(v);
    // Keep it a float in YAML 1.1 too ("1.0e-05", not "1e-05").
    auto e = s.find('e');
    if (e != std::string::npos && s.find('.') == std::string::npos) s.insert(e, ".0");
    return s;
}

std::vector<std::string> grid_values(const SearchParam& p) {
    if (p.kind != "range") return p.values;
    std::vector<std::string> out;
    const bool integral = p.min == std::floor(p.min) && p.step == std::floor(p.step);
    const long long n = static_cast<long long>(std::floor((p.max - p.min) / p.step + 1e-9)) + 1;
    for (long long i = 0; i < n; ++i) out.push_back(number_text(p.min + double(i) * p.step, integral));
    return out;
}

int64_t grid_size(const SearchConfig& s) {
    int64_t n = 1;
    for (const auto& p : s.params) {
        int64_t k = int64_t(grid_values(p).size());
        if (k == 0) return 0;
        if (n > std::numeric_limits<int64_t>::max() / k) return std::numeric_limits<int64_t>::max();
        n *= k;
    }
    return n;
}


Trial make_trial(const SearchConfig& s, int64_t index) {
    Trial t;
    t.index = index;
    if (s.strategy == "grid") {
        std::vector<std::vector<std::string>> vals;
        for (const auto& p : s.params) vals.push_back(grid_values(p));
        std::vector<std::string> picked(vals.size());
        int64_t rest = index;
        for (size_t i = vals.size(); i-- > 0;) {  // the last path varies fastest
            const int64_t k = int64_t(vals[i].size());
            picked[i] = vals[i][size_t(rest % k)];
            rest /= k;
        }
        for (size_t i = 0; i < vals.size(); ++i) t.values.emplace_back(s.params[i].path, picked[i]);
        return t;
    }
    // Every other strategy draws its (first) trials as the random search does.
    Rng rng(Rng::derive(s.seed, 0x5EA4C4ULL + uint64_t(index)));
    for (const auto& p : s.params) {
        std::string v;
        if (p.kind == "choice" || p.kind == "values") {
            size_t pick = 0;
            if (p.weights.empty()) {
                pick = size_t(rng.below(int(p.values.size())));
            } else {
                double total = 0;
                for (double w : p.weights) total += w;
                double u = rng.uniform() * total;
                while (pick + 1 < p.weights.size() && u >= p.weights[pick]) u -= p.weights[pick++];
            }
            v = p.values[pick];
        } else if (p.kind == "uniform") {
            v = number_text(p.min + (p.max - p.min) * rng.uniform(), false);
        } else if (p.kind == "log_uniform") {
            v = number_text(std::exp(std::log(p.min) + (std::log(p.max) - std::log(p.min)) * rng.uniform()), false);
        } else if (p.kind == "int_uniform") {
            const double step = p.step > 0 ? p.step : 1.0;
            const long long n = static_cast<long long>(std::floor((p.max - p.min) / step + 1e-9)) + 1;
            v = number_text(p.min + step * double(rng.below(int(std::min<long long>(n, 1 << 30)))), true);
        } else if (p.kind == "normal") {
            v = number_text(p.mean + p.std * rng.normal(), false);
        } else {  // a grid range in a random search: uniform over its points
            auto g = grid_values(p);
            v = g[size_t(rng.below(int(g.size())))];
        }
        t.values.emplace_back(p.path, v);
    }
    return t;
}

}  // namespace nnctl
