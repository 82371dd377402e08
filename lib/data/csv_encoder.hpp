#pragma once
#include <string>
#include <vector>

#include "data/csv_reader.hpp"
#include "data/schema.hpp"

namespace nnctl {

/// Turns CSV records into model inputs with a fitted schema: numeric columns as numbers, categorical
/// columns one-hot, missing values filled or refused as the schema says. With a header, columns
/// are found by name (so their order may differ from training); without one, by position.
class CsvEncoder {
public:
    /// `header`: this input's header names (empty when it has none). `require_target`: the target
    /// column must be present (evaluation), otherwise it is optional (prediction).
    CsvEncoder(const DataSchema& schema, const std::vector<std::string>& header, std::string display,
               bool require_target);
    /// Fields expected per record.
    size_t expected_fields() const { return expected_; }
    /// Position of the target in a record, or −1 (the first target with several).
    int target_field() const { return targets_.empty() ? -1 : targets_[0]; }
    /// Positions of the targets found in a record (several outputs: one each, in output order).
    const std::vector<int>& target_fields() const { return targets_; }
    /// Whether any feature of `rec` is missing (for `missing: drop`).
    bool has_missing(const CsvRecord& rec) const;
    /// Encode rec's features into out[0..width). Throws DataError naming line and column.
    void encode(const CsvRecord& rec, float* out) const;
    void check_fields(const CsvRecord& rec) const;

private:
    const DataSchema& s_;
    std::string display_;
    std::vector<int> pos_;  // record position of each schema column
    std::vector<int> targets_;  // record positions of the target columns (those present)
    std::vector<int> schema_targets_;  // the schema's target positions (headerless rows)
    size_t expected_ = 0;
};

}  // namespace nnctl
