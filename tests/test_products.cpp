// The matrix products every layer runs on: the small-product kernel and the threaded wrappers,
// against a scalar computation written out here.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "core/parallel.hpp"
#include "core/small_gemm.hpp"
#include "support/gradcheck.hpp"

using namespace nnctl;

namespace {
// c(i, j) = Σ_p a(i, p)·b(p, j) as one float fused multiply-add per p, p in order: the kernel's
// documented arithmetic, so its result must match bit for bit.
float fma_chain(const Matrix& a, const Matrix& b, Eigen::Index i, Eigen::Index j, float start = 0.0f) {
    float acc = start;
    for (Eigen::Index p = 0; p < a.cols(); ++p) acc = std::fma(a(i, p), b(p, j), acc);
    return acc;
}
}  // namespace

TEST_CASE("small_gemm: every tile shape and column tail, strided operands, nothing written outside c") {
    if (!small_gemm_available()) {
        float c = 7.0f, one = 1.0f;
        CHECK_FALSE(small_gemm(1, 1, 1, &one, 1, 1, &one, 1, &c, 1));
        CHECK(c == 7.0f);
        return;
    }
    uint64_t seed = 1;
    // Every row count up to the largest tile (12 rows) on its own, and tiles after full ones.
    for (Eigen::Index m : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 17, 25})
        for (Eigen::Index k : {0, 1, 5, 33})
            for (Eigen::Index n : {1, 10, 15, 16, 17, 31, 33, 48, 63, 64, 65, 100, 130, 256, 300}) {
                CAPTURE(m);
                CAPTURE(k);
                CAPTURE(n);
                const Matrix a = test::random_matrix(m, k, seed++), b = test::random_matrix(k, n, seed++);
                // a and b inside wider buffers (row strides larger than their widths), a also as aᵀ.
                Matrix abuf = Matrix::Constant(m, k + 3, NAN), at = a.transpose(), bbuf = Matrix::Constant(k, n + 5, NAN);
                abuf.leftCols(k) = a;
                bbuf.leftCols(n) = b;
                for (int transposed = 0; transposed < 2; ++transposed) {
                    CAPTURE(transposed);
                    Matrix cbuf = Matrix::Constant(m + 1, n + 7, -3.0f);  // c at row 0, column 2
                    float* c = cbuf.data() + 2;
                    const bool ok = transposed ? small_gemm(m, k, n, at.data(), 1, at.outerStride(), bbuf.data(),
                                                            bbuf.outerStride(), c, cbuf.outerStride())
                                               : small_gemm(m, k, n, abuf.data(), abuf.outerStride(), 1, bbuf.data(),
                                                            bbuf.outerStride(), c, cbuf.outerStride());
                    REQUIRE(ok);
                    int wrong = 0, outside = 0;
                    for (Eigen::Index i = 0; i <= m; ++i)
                        for (Eigen::Index j = 0; j < n + 7; ++j) {
                            const bool in = i < m && j >= 2 && j < n + 2;
                            if (in && cbuf(i, j) != fma_chain(a, b, i, j - 2)) ++wrong;
                            if (!in && cbuf(i, j) != -3.0f) ++outside;
                        }
                    CHECK(wrong == 0);
                    CHECK(outside == 0);
                }
            }
}

TEST_CASE("matmul, matmul_tn and matmul_nt on views: the scalar sum, equal at 1 and 2 threads") {
    // Small (one kernel call) and large (split into column blocks across threads) products, of
    // views into larger matrices so that rows are strided.
    struct Dims {
        Eigen::Index m, k, n;
    };
    uint64_t seed = 100;
    for (Dims d : {Dims{16, 20, 64}, Dims{32, 64, 10}, Dims{7, 10, 33}, Dims{256, 300, 200}, Dims{1, 784, 256}, Dims{2, 300, 333}}) {
        CAPTURE(d.m);
        CAPTURE(d.k);
        CAPTURE(d.n);
        const Matrix abig = test::random_matrix(d.m + 2, d.k + 3, seed++), bbig = test::random_matrix(d.k + 1, d.n + 4, seed++);
        const Matrix atbig = abig.transpose(), btbig = bbig.transpose();
        const ConstView a = abig.block(1, 2, d.m, d.k), b = bbig.block(1, 3, d.k, d.n);
        const ConstView at = atbig.block(2, 1, d.k, d.m), bt = btbig.block(3, 1, d.n, d.k);
        Eigen::MatrixXd ref = a.cast<double>() * b.cast<double>();
        const Matrix a_plain = a, b_plain = b;
        std::vector<Matrix> out;
        for (int threads : {1, 2}) {
            set_num_threads(threads);
            Matrix c1, c2, c3;
            matmul(a, b, c1);
            matmul_tn(at, b, c2);
            matmul_nt(a, bt, c3);
            for (const Matrix* c : {&c1, &c2, &c3}) {
                REQUIRE(c->rows() == d.m);
                REQUIRE(c->cols() == d.n);
                CHECK((c->cast<double>() - ref).cwiseAbs().maxCoeff() < 1e-4 * std::sqrt(double(d.k)));
                out.push_back(*c);
            }
        }
        set_num_threads(1);
        for (size_t i = 0; i < 3; ++i) CHECK(out[i] == out[i + 3]);  // thread count changes no bit
        if (small_gemm_available()) {  // the NN and TN products are the in-order fused sums exactly
            int wrong = 0;
            for (Eigen::Index i = 0; i < d.m; ++i)
                for (Eigen::Index j = 0; j < d.n; ++j) {
                    const float want = fma_chain(a_plain, b_plain, i, j);
                    wrong += out[0](i, j) != want;
                    wrong += out[1](i, j) != want;
                }
            CHECK(wrong == 0);
        }
    }
}

TEST_CASE("matmul with bias and relu: the fused sweep equals product, then bias, then max(0)") {
    uint64_t seed = 500;
    for (Eigen::Index n : {1, 10, 17, 64, 70, 200}) {
        CAPTURE(n);
        const Matrix a = test::random_matrix(13, 21, seed++), b = test::random_matrix(21, n, seed++);
        const Matrix bias = test::random_matrix(1, n, seed++);
        for (bool relu : {false, true}) {
            CAPTURE(relu);
            Matrix c;
            matmul(a, b, c, bias.data(), relu);
            Eigen::MatrixXd want = (a.cast<double>() * b.cast<double>()).rowwise() + bias.cast<double>().row(0);
            if (relu) want = want.cwiseMax(0.0);
            CHECK((c.cast<double>() - want).cwiseAbs().maxCoeff() < 1e-4);
            if (relu) CHECK(c.minCoeff() == 0.0f);  // some entries were negative and are clamped
            if (small_gemm_available()) {  // exactly: the fused chain starts from the bias
                int wrong = 0;
                for (Eigen::Index i = 0; i < a.rows(); ++i)
                    for (Eigen::Index j = 0; j < n; ++j) {
                        float v = fma_chain(a, b, i, j, bias(0, j));
                        if (relu) v = std::max(v, 0.0f);
                        wrong += c(i, j) != v;
                    }
                CHECK(wrong == 0);
            }
        }
    }
}

TEST_CASE("denormals flush to zero on the calling thread and in every parallel region, as TensorFlow does") {
    for (int threads : {1, 2}) {
        set_num_threads(threads);
        volatile float small = 1e-20f;  // a product that underflows into the denormal range
        CHECK(small * small == 0.0f);
        std::vector<float> out(8, -1.0f);
#if defined(__SSE__) || defined(__x86_64__)
        // The pool's threads may have been started before, or had the mode cleared: each region sets it.
        parallel_for(int64_t(out.size()), [](int64_t) { _mm_setcsr(_mm_getcsr() & ~0x8040u); });
#endif
        volatile float tiny = 1e-39f;  // a denormal: below FLT_MIN (1.18e-38)
        parallel_for(int64_t(out.size()), [&](int64_t i) { out[size_t(i)] = tiny * 1.0f + 0.0f; });
        for (float v : out) CHECK(v == 0.0f);
    }
    set_num_threads(1);
}
