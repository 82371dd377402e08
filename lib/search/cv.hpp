#pragma once
#include <vector>

#include "data/dataset.hpp"

namespace nnctl {

/// k-fold cross-validation: the held-out row indices of each fold. Classification folds are
/// stratified (each class dealt round-robin over the folds after a seeded shuffle, so class
/// proportions match within one row; with several outputs, by the first output's classes);
/// regression folds are contiguous chunks of a seeded shuffle.
/// Folds are disjoint, cover every row, and differ in size by at most one per class.
std::vector<std::vector<int>> kfold(const Dataset& d, int k, uint64_t seed);

}  // namespace nnctl
