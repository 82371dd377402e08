#include "core/parallel.hpp"

#include <algorithm>

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
constexpr Eigen::Index kBlock = 64;  // columns per block: 256 bytes, aligned, no false sharing

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

void matmul(const ConstView& a, const ConstView& b, Matrix& c) {
    c.resize(a.rows(), b.cols());
    split_columns(b.cols(), double(a.rows()) * double(a.cols()) * double(b.cols()), double(b.size()),
                  [&](Eigen::Index j, Eigen::Index w) { c.middleCols(j, w).noalias() = a * b.middleCols(j, w); });
}

void matmul_tn(const ConstView& a, const ConstView& b, Matrix& c) {
    c.resize(a.cols(), b.cols());
    split_columns(b.cols(), double(a.rows()) * double(a.cols()) * double(b.cols()), double(b.size()),
                  [&](Eigen::Index j, Eigen::Index w) {
        c.middleCols(j, w).noalias() = a.transpose() * b.middleCols(j, w);
    });
}

void matmul_nt(const ConstView& a, const ConstView& b, Matrix& c) {
    c.resize(a.rows(), b.rows());
    split_columns(b.rows(), double(a.rows()) * double(a.cols()) * double(b.rows()), double(b.size()),
                  [&](Eigen::Index j, Eigen::Index w) {
        c.middleCols(j, w).noalias() = a * b.middleRows(j, w).transpose();
    });
}

}  // namespace nnctl
