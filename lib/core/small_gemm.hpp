#pragma once
#include <cstdint>

namespace nnctl {

/// True when this build has the register-blocked kernel below (AVX-512, or AVX2 with FMA).
bool small_gemm_available();

/// c = a·b for small products, without the packing and blocking a general GEMM pays for on every
/// call (which dominates at the sizes of small networks: batch 16-64, layers of 10-64 units).
/// a(i, p) = a[i·a_row + p·a_col] (so aᵀ is the same call with the strides swapped);
/// b(p, j) = b[p·ldb + j]; c(i, j) = c[i·ldc + j] is overwritten. m × k times k × n.
/// Each c(i, j) is summed over p in order, one fused multiply-add a step, starting from bias[j]
/// (a row of n, or 0 when bias is null); with relu, max(·, 0) is taken as it is stored. So the
/// result depends only on the shapes and values. Returns false (c untouched) when the kernel is
/// not built.
bool small_gemm(int64_t m, int64_t k, int64_t n, const float* a, int64_t a_row, int64_t a_col, const float* b,
                int64_t ldb, float* c, int64_t ldc, const float* bias = nullptr, bool relu = false);

}  // namespace nnctl
