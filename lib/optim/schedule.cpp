#include "optim/schedule.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace nnctl {

const std::vector<std::string>& schedule_names() {
    static const std::vector<std::string> names = {"constant", "exponential_decay", "piecewise_constant",
                                                   "cosine_decay"};
    return names;
}

double ScheduleSpec::at(int64_t step) const {
    const double s = double(step);
    if (type == "constant") return initial_learning_rate;
    if (type == "exponential_decay") {
        double p = s / double(decay_steps);
        if (staircase) p = std::floor(p);
        return initial_learning_rate * std::pow(decay_rate, p);
    }
    if (type == "piecewise_constant") {
        for (size_t i = 0; i < boundaries.size(); ++i)
            if (step <= boundaries[i]) return values[i];
        return values.back();
    }
    if (type == "cosine_decay") {
        double peak = initial_learning_rate;
        if (warmup_target >= 0.0) {
            peak = warmup_target;
            if (step < warmup_steps)  // linear from the initial rate up to the target
                return initial_learning_rate + (warmup_target - initial_learning_rate) * s / double(warmup_steps);
        }
        double t = std::min(s - double(warmup_steps), double(decay_steps));
        t = std::max(t, 0.0);
        double cosine = 0.5 * (1.0 + std::cos(M_PI * t / double(decay_steps)));
        return peak * ((1.0 - alpha) * cosine + alpha);
    }
    throw ConfigError("unknown learning-rate schedule '" + type + "'");
}

}  // namespace nnctl
