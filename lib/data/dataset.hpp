#pragma once
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/tensor.hpp"

namespace nnctl {

/// Features plus either class labels (classification) or target values (regression).
struct Dataset {
    Matrix x;                               ///< (n × features)
    std::vector<int> labels;                ///< classification: n class indices
    Matrix y;                               ///< regression: (n × outputs)
    int num_classes = 0;                    ///< > 0 for classification
    std::vector<std::string> class_names;   ///< label index → name
    std::vector<std::string> feature_names;

    Eigen::Index size() const { return x.rows(); }
    bool is_classification() const { return num_classes > 0; }
    /// The rows `idx` of this data set, in that order.
    Dataset subset(const std::vector<int>& idx) const;
};

/// Load one source. `want_classes`: the loss needs class labels (a CSV target is then read as
/// classes even when numeric).
Dataset load_source(const DataSourceConfig& src, bool want_classes);

/// Synthetic data from SplitMix64 streams (see DataSourceConfig).
Dataset make_synthetic(const DataSourceConfig& src);

/// CSV with a header row; errors name file, line and column.
Dataset load_csv(const DataSourceConfig& src, bool want_classes);

/// The train / validation / test sets an experiment uses.
struct DataSplits {
    Dataset train;
    Dataset validation;  ///< empty (0 rows) when none
    Dataset test;        ///< empty when none
};

/// Load every configured source and carve validation/test fractions off the training data.
DataSplits load_data(const DataConfig& cfg, bool want_classes, uint64_t seed);

}  // namespace nnctl
