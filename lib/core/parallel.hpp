#pragma once
#include <functional>

#include "core/tensor.hpp"

namespace nnctl {

/// Threads the library may use for large products (set once by the CLI; default 1). Also
/// flush_denormals() on the calling thread.
void set_num_threads(int n);
/// Denormal floats flush to zero on this thread (FTZ and DAZ, as TensorFlow sets them); every
/// parallel region of the library calls it in its threads.
void flush_denormals();
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

/// c = a·b on raw strided buffers, on the calling thread: small_gemm's contract (a(i, p) =
/// a[i·a_row + p·a_col], b(p, j) = b[p·ldb + j], c(i, j) = c[i·ldc + j] overwritten, optional bias row
/// and relu), computed by small_gemm when the build has it and by Eigen otherwise.
void gemm(int64_t m, int64_t k, int64_t n, const float* a, int64_t a_row, int64_t a_col, const float* b, int64_t ldb,
          float* c, int64_t ldc, const float* bias = nullptr, bool relu = false);

/// f(i) for i in [0, n) spread over the library's threads (static schedule). Work that must give
/// the same bits for any thread count splits into chunks that depend only on the shapes.
void parallel_for(int64_t n, const std::function<void(int64_t)>& f);

}  // namespace nnctl
