#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace nnctl {

/// A learning rate as a function of the optimizer's step (0 for the first update), Keras semantics.
struct ScheduleSpec {
    std::string type = "constant";  ///< constant | exponential_decay | piecewise_constant | cosine_decay
    double initial_learning_rate = 0.01;
    // exponential_decay: lr0 · rate^(step / decay_steps) (floored when staircase)
    int64_t decay_steps = 1;
    double decay_rate = 0.96;
    bool staircase = false;
    // piecewise_constant: values[i] while boundaries[i-1] < step <= boundaries[i]
    std::vector<int64_t> boundaries;
    std::vector<double> values;
    // cosine_decay: optional linear warmup to warmup_target, then cosine to alpha·peak
    double alpha = 0.0;
    int64_t warmup_steps = 0;
    double warmup_target = -1.0;  ///< < 0: no warmup target (peak = initial_learning_rate)

    double at(int64_t step) const;
};

const std::vector<std::string>& schedule_names();

}  // namespace nnctl
