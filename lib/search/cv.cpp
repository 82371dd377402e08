#include "search/cv.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace nnctl {

std::vector<std::vector<int>> kfold(const Dataset& d, int k, uint64_t seed) {
    const int n = int(d.size());
    if (k < 2 || k > n)
        throw ConfigError("search.cv: " + std::to_string(k) + " folds need at least that many rows (the data has " +
                          std::to_string(n) + ")");
    std::vector<std::vector<int>> folds(static_cast<size_t>(k));
    Rng rng(seed);
    std::vector<int> order = permutation(n, rng);
    // Stratified by the classes (a model with several outputs: the first output's, when it has classes).
    const Dataset& strata = d.targets.empty() ? d : d.targets[0];
    if (strata.is_classification()) {
        // Deal each class's rows over the folds, continuing where the previous class stopped so
        // that fold sizes stay balanced too.
        std::vector<std::vector<int>> by_class(static_cast<size_t>(strata.num_classes));
        for (int i : order) by_class[size_t(strata.labels[size_t(i)])].push_back(i);
        int next = 0;
        for (const auto& rows : by_class)
            for (int i : rows) {
                folds[size_t(next)].push_back(i);
                next = (next + 1) % k;
            }
    } else {
        for (int f = 0; f < k; ++f) {
            int b = int(int64_t(n) * f / k), e = int(int64_t(n) * (f + 1) / k);
            folds[size_t(f)].assign(order.begin() + b, order.begin() + e);
        }
    }
    for (auto& f : folds) std::sort(f.begin(), f.end());
    return folds;
}

}  // namespace nnctl
