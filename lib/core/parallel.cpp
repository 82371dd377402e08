#include "core/parallel.hpp"

#include <algorithm>
#include <vector>

#include "core/small_gemm.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define NNCTL_MXCSR 1
#endif

namespace nnctl {

namespace {
int g_threads = 1;
// Below this many multiply-adds a product runs on one thread: waking a second costs more.
// (A one-row product with a large operand used to be split too, as two cores streaming half the
// operand each from their own L2 won: batch-1 784x256, 7.5 -> 5.0 us. With small_gemm's one-row
// tiles one core does it in ~4 us, and splitting made batch-1 prediction slower: 5.4 -> 7.1 us.)
constexpr double kParallelMacs = 2.0e6;
constexpr Eigen::Index kBlock = 64;  // columns per block: 256 bytes, aligned, no false sharing
constexpr Eigen::Index kSmallTransposed = 4096;  // floats of b that matmul_nt transposes itself

/// Calls f(col_begin, col_count) for column ranges of an n-column result: the whole of it for a
/// small product, else one contiguous run of 64-column blocks per thread. small_gemm's result does
/// not depend on the ranges; the Eigen fallback computes each fixed 64-column block on its own
/// (each_block), so every bit of the result is the same with 1 thread or 16 there too.
template <class F>
void split_columns(Eigen::Index n, double macs, F&& f) {
    if (macs < kParallelMacs || n < 2 * kBlock) {
        f(Eigen::Index(0), n);
        return;
    }
    const int blocks = int((n + kBlock - 1) / kBlock);
    const int t = std::min(g_threads, blocks);
#ifdef _OPENMP
#pragma omp parallel for num_threads(t) schedule(static) if (t > 1)
#endif
    for (int i = 0; i < t; ++i) {
        flush_denormals();
        const Eigen::Index begin = Eigen::Index(blocks * i / t) * kBlock;
        const Eigen::Index end = std::min(n, Eigen::Index(blocks * (i + 1) / t) * kBlock);
        f(begin, end - begin);
    }
}

/// g(col_begin, col_count) for each fixed 64-column block of the range [j, j + w).
template <class G>
void each_block(Eigen::Index j, Eigen::Index w, G&& g) {
    for (Eigen::Index b = j; b < j + w; b += kBlock) g(b, std::min(kBlock, j + w - b));
}
}  // namespace

// Denormal floats (below 1.2e-38) flush to zero, as TensorFlow's CPU threads do: a network whose
// weights or gradients decay towards zero otherwise runs each operation on them through a
// microcode assist, and an epoch can take 10x the one before (seen on the dense benchmark: 0.7 s,
// 4.7 s, 8.1 s an epoch). MXCSR is per thread, so every parallel region sets it in its threads too
// (a cheap read when already set). Not by an OpenMP region of its own here: that would start the
// thread pool in a process that may fork search workers, and libgomp's pool does not survive fork.
void flush_denormals() {
#ifdef NNCTL_MXCSR
    const unsigned want = 0x8040u;  // FTZ (bit 15): denormal results are 0; DAZ (bit 6): denormal inputs are 0
    const unsigned csr = _mm_getcsr();
    if ((csr & want) != want) _mm_setcsr(csr | want);
#endif
}

void set_num_threads(int n) {
    g_threads = std::max(1, n);
    Eigen::setNbThreads(1);  // we split products ourselves; Eigen's own threading must stay off
    flush_denormals();
}
int num_threads() { return g_threads; }

// Every product below goes to small_gemm when the build has it: its register tiles beat Eigen's
// GEMM by 1.3-2.4x at the shapes the layers produce (measured for m 1-1024, k 10-1024, blocks of
// 64 columns and whole products), because Eigen packs both operands on every call. small_gemm
// sums each c(i, j) over k in order whatever the tiling, so the split changes no bit of the result.

void matmul(const ConstView& a, const ConstView& b, Matrix& c, const float* bias, bool relu) {
    c.resize(a.rows(), b.cols());
    const bool fast = small_gemm_available();
    split_columns(b.cols(), double(a.rows()) * double(a.cols()) * double(b.cols()),
                  [&](Eigen::Index j, Eigen::Index w) {
        if (fast) {
            small_gemm(a.rows(), a.cols(), w, a.data(), a.outerStride(), 1, b.data() + j, b.outerStride(),
                       c.data() + j, c.outerStride(), bias ? bias + j : nullptr, relu);
            return;
        }
        each_block(j, w, [&](Eigen::Index j0, Eigen::Index w0) {
            auto block = c.middleCols(j0, w0);
            block.noalias() = a * b.middleCols(j0, w0);
            if (bias) block.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(bias + j0, w0);
            if (relu) block = block.cwiseMax(0.0f);
        });
    });
}

void gemm(int64_t m, int64_t k, int64_t n, const float* a, int64_t a_row, int64_t a_col, const float* b, int64_t ldb,
          float* c, int64_t ldc, const float* bias, bool relu) {
    if (m == 0 || n == 0) return;
    if (small_gemm(m, k, n, a, a_row, a_col, b, ldb, c, ldc, bias, relu)) return;
    using Strided = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;
    Eigen::Map<const Matrix, 0, Strided> A(a, m, k, Strided(a_row, a_col));
    Eigen::Map<const Matrix, 0, Eigen::OuterStride<>> B(b, k, n, Eigen::OuterStride<>(ldb));
    Eigen::Map<Matrix, 0, Eigen::OuterStride<>> C(c, m, n, Eigen::OuterStride<>(ldc));
    if (k == 0) C.setZero();
    else C.noalias() = A * B;
    if (bias) C.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(bias, n);
    if (relu) C = C.cwiseMax(0.0f);
}

void parallel_for(int64_t n, const std::function<void(int64_t)>& f) {
#ifdef _OPENMP
    const int t = int(std::min<int64_t>(g_threads, n));
#pragma omp parallel for num_threads(t) schedule(static) if (t > 1)
#endif
    for (int64_t i = 0; i < n; ++i) {
        flush_denormals();
        f(i);
    }
}

void matmul_tn(const ConstView& a, const ConstView& b, Matrix& c) {
    c.resize(a.cols(), b.cols());
    const bool fast = small_gemm_available();
    split_columns(b.cols(), double(a.rows()) * double(a.cols()) * double(b.cols()),
                  [&](Eigen::Index j, Eigen::Index w) {
        if (fast)  // aᵀ(i, p) = a(p, i): the same kernel with a's strides swapped
            small_gemm(a.cols(), a.rows(), w, a.data(), 1, a.outerStride(), b.data() + j, b.outerStride(),
                       c.data() + j, c.outerStride());
        else
            each_block(j, w, [&](Eigen::Index j0, Eigen::Index w0) {
                c.middleCols(j0, w0).noalias() = a.transpose() * b.middleCols(j0, w0);
            });
    });
}

void matmul_nt(const ConstView& a, const ConstView& b, Matrix& c) {
    c.resize(a.rows(), b.rows());
    // Transposing b costs little while it stays in L1 (the 10-class output layer's weights: 2x
    // faster than Eigen); a larger b is faster through Eigen, which never transposes it whole.
    const bool fast = small_gemm_available() && b.size() <= kSmallTransposed;
    split_columns(b.rows(), double(a.rows()) * double(a.cols()) * double(b.rows()),
                  [&](Eigen::Index j, Eigen::Index w) {
        each_block(j, w, [&](Eigen::Index j0, Eigen::Index w0) {
            if (!fast) {
                c.middleCols(j0, w0).noalias() = a * b.middleRows(j0, w0).transpose();
                return;
            }
            // bᵀ's columns are rows of b: transpose this block's, then the plain kernel.
            thread_local std::vector<float> bt;
            const Eigen::Index k = b.cols(), ldb = b.outerStride();
            const float* b0 = b.data() + j0 * ldb;
            bt.resize(size_t(k * w0));
            for (Eigen::Index p = 0; p < k; ++p)
                for (Eigen::Index jj = 0; jj < w0; ++jj) bt[size_t(p * w0 + jj)] = b0[jj * ldb + p];
            small_gemm(a.rows(), k, w0, a.data(), a.outerStride(), 1, bt.data(), w0, c.data() + j0, c.outerStride());
        });
    });
}

}  // namespace nnctl
