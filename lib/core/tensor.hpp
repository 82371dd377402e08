#pragma once
#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <vector>

namespace nnctl {

/// A batch is (batch × features), one sample per row, row-major float32.
using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowVector = Eigen::Matrix<float, 1, Eigen::Dynamic, Eigen::RowMajor>;
using ConstView = Eigen::Ref<const Matrix>;
using View = Eigen::Ref<Matrix>;

/// Per-sample shape of a layer's input or output (the batch dimension is implicit).
using Shape = std::vector<int64_t>;

/// Number of scalars in one sample of this shape.
int64_t shape_size(const Shape& s);
/// "(None, 64)" style, as Keras prints shapes.
std::string shape_str(const Shape& s);

}  // namespace nnctl
