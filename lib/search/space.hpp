#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"

namespace nnctl {

/// One point of a search space: a value (YAML text) per searched path.
struct Trial {
    int64_t index = 0;
    std::vector<std::pair<std::string, std::string>> values;  ///< path → YAML flow text
    /// `PATH=VALUE` overrides that turn the base config into this trial's config.
    std::vector<std::string> sets() const;
    /// {"path": value, ...} as JSON (values that read as numbers or booleans are typed).
    std::string json() const;
};

/// The values a grid takes on one path (lists as given; ranges min, min+step, ..., max).
std::vector<std::string> grid_values(const SearchParam& p);
/// Number of grid points (saturates at INT64_MAX).
int64_t grid_size(const SearchConfig& s);
/// Trial `index`: the index-th grid point (last path fastest), or the index-th random draw. A
/// random trial depends only on (search seed, index), so any machine proposes the same trials.
Trial make_trial(const SearchConfig& s, int64_t index);
/// A number as YAML text: whole numbers without a point, floats always with one ("1.0e-05").
std::string number_text(double v, bool integral);

}  // namespace nnctl
