#pragma once
#include "core/tensor.hpp"

namespace nnctl {

/// Threads the library may use for large products (set once by the CLI; default 1).
void set_num_threads(int n);
int num_threads();

/// Products used by the layers, split over the result's columns across threads when the product
/// is large enough to pay for it (each thread runs a single-threaded Eigen GEMM on its block).
/// This scales where Eigen's own threading does not for training-sized matrices.
/// c = a·b.      a: (m × k), b: (k × n) → c: (m × n)
/// With bias (a row of n): c = a·b + bias; with relu: max(c, 0) — a dense layer's forward pass
/// in one sweep over c.
void matmul(const ConstView& a, const ConstView& b, Matrix& c, const float* bias = nullptr, bool relu = false);
/// c = aᵀ·b.     a: (k × m), b: (k × n) → c: (m × n)
void matmul_tn(const ConstView& a, const ConstView& b, Matrix& c);
/// c = a·bᵀ.     a: (m × k), b: (n × k) → c: (m × n)
void matmul_nt(const ConstView& a, const ConstView& b, Matrix& c);

}  // namespace nnctl
