#include "core/parallel.hpp"

#include <algorithm>
#include <vector>

#include "core/small_gemm.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace nnctl {

namespace {
int g_threads = 1;
// Below this many multiply-adds a product runs on one thread: waking a second costs more...
constexpr double kParallelMacs = 2.0e6;
// ...unless its right-hand operand is this large (floats): then even a one-row product is bound by
// streaming that operand from memory, and two cores each streaming half from their own L2 win
// (batch-1 inference of a 784-256-128-10 MLP: 7.5 -> 5.0 us).
constexpr double kParallelOperand = 65536.0;
constexpr Eigen::Index kBlock = 64;
constexpr Eigen::Index kSmallTransposed = 4096;  // floats of b that matmul_nt transposes itself  // columns per block: 256 bytes, aligned, no false sharing

/// Calls f(col_begin, col_count) for column blocks of an n-column result. Large products are cut
/// into blocks of a fixed width whatever the thread count, and threads share out the blocks: each
/// block's arithmetic (and so every bit of the result) is the same with 1 thread or 16.
template <class F>
void split_columns(Eigen::Index n, double macs, double operand, F&& f) {
    if ((macs < kParallelMacs && operand < kParallelOperand) || n < 2 * kBlock) {
        f(Eigen::Index(0), n);
        return;
    }
    const int blocks = int((n + kBlock - 1) / kBlock);
    const int t = std::min(g_threads, blocks);
#ifdef _OPENMP
#pragma omp parallel for num_threads(t) schedule(static) if (t > 1)
#endif
    for (int i = 0; i < blocks; ++i) {
        Eigen::Index begin = Eigen::Index(i) * kBlock;
        f(begin, std::min(kBlock, n - begin));
    }
}
}  // namespace

void set_num_threads(int n) {
    g_threads = std::max(1, n);
    Eigen::setNbThreads(1);  // we split products ourselves; Eigen's own threading must stay off
}
int num_threads() { return g_threads; }

// Every product below goes to small_gemm when the build has it: its register tiles beat Eigen's
// GEMM by 1.4-2.4x at the shapes the layers produce (a block of at most 64 columns of c, any
// batch; measured for m 1-1024, k 10-1024), because Eigen packs both operands on every call.
// small_gemm sums each c(i, j) over k in order whatever the tiling, so the split into blocks
// changes no bit of the result either.

void matmul(const ConstView& a, const ConstView& b, Matrix& c, const float* bias, bool relu) {
    c.resize(a.rows(), b.cols());
    const bool fast = small_gemm_available();
    split_columns(b.cols(), double(a.rows()) * double(a.cols()) * double(b.cols()), double(b.size()),
                  [&](Eigen::Index j, Eigen::Index w) {
        if (fast) {
            small_gemm(a.rows(), a.cols(), w, a.data(), a.outerStride(), 1, b.data() + j, b.outerStride(),
                       c.data() + j, c.outerStride(), bias ? bias + j : nullptr, relu);
            return;
        }
        auto block = c.middleCols(j, w);
        block.noalias() = a * b.middleCols(j, w);
        if (bias) block.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(bias + j, w);
        if (relu) block = block.cwiseMax(0.0f);
    });
}

void matmul_tn(const ConstView& a, const ConstView& b, Matrix& c) {
    c.resize(a.cols(), b.cols());
    const bool fast = small_gemm_available();
    split_columns(b.cols(), double(a.rows()) * double(a.cols()) * double(b.cols()), double(b.size()),
                  [&](Eigen::Index j, Eigen::Index w) {
        if (fast)  // aᵀ(i, p) = a(p, i): the same kernel with a's strides swapped
            small_gemm(a.cols(), a.rows(), w, a.data(), 1, a.outerStride(), b.data() + j, b.outerStride(),
                       c.data() + j, c.outerStride());
        else
            c.middleCols(j, w).noalias() = a.transpose() * b.middleCols(j, w);
    });
}

void matmul_nt(const ConstView& a, const ConstView& b, Matrix& c) {
    c.resize(a.rows(), b.rows());
    // Transposing b costs little while it stays in L1 (the 10-class output layer's weights: 2x
    // faster than Eigen); a larger b is faster through Eigen, which never transposes it whole.
    const bool fast = small_gemm_available() && b.size() <= kSmallTransposed;
    split_columns(b.rows(), double(a.rows()) * double(a.cols()) * double(b.rows()), double(b.size()),
                  [&](Eigen::Index j, Eigen::Index w) {
        if (fast) {
            // bᵀ's columns are rows of b: transpose 64 of them at a time, then the plain kernel.
            thread_local std::vector<float> bt;
            const Eigen::Index k = b.cols();
            for (Eigen::Index j0 = j; j0 < j + w; j0 += kBlock) {
                const Eigen::Index cw = std::min(kBlock, j + w - j0);
                bt.resize(size_t(k * cw));
                const float* b0 = b.data() + j0 * b.outerStride();
                const Eigen::Index ldb = b.outerStride();
                for (Eigen::Index p = 0; p < k; ++p)
                    for (Eigen::Index jj = 0; jj < cw; ++jj) bt[size_t(p * cw + jj)] = b0[jj * ldb + p];
                small_gemm(a.rows(), k, cw, a.data(), a.outerStride(), 1, bt.data(), cw, c.data() + j0,
                           c.outerStride());
            }
        } else {
            c.middleCols(j, w).noalias() = a * b.middleRows(j, w).transpose();
        }
    });
}

}  // namespace nnctl
