#include "core/small_gemm.hpp"

#include <algorithm>
#include <array>
#include <utility>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace nnctl {

#if defined(__AVX512F__)
namespace {

// The tile's loops over rows and vectors must be unrolled early, so that its accumulator array
// becomes registers (otherwise GCC keeps it in memory and stores every accumulator every step).
#define NNCTL_UNROLL _Pragma("GCC unroll 16")

using Tile = void (*)(int64_t, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t, __mmask16,
                     const float*, bool);

/// An R-row × V-vector block of c (V·16 columns, the last vector cut to `last`), held in registers
/// for the whole sum over p: per step V loads of b's row, R broadcasts of a and R·V FMAs.
template <int R, int V>
void tile(int64_t k, const float* a, int64_t a_row, int64_t a_col, const float* b, int64_t ldb, float* c,
          int64_t ldc, __mmask16 last, const float* bias, bool relu) {
    __m512 init[V];
    NNCTL_UNROLL for (int v = 0; v < V; ++v) init[v] = _mm512_setzero_ps();
    if (bias) {
        NNCTL_UNROLL for (int v = 0; v + 1 < V; ++v) init[v] = _mm512_loadu_ps(bias + 16 * v);
        init[V - 1] = _mm512_maskz_loadu_ps(last, bias + 16 * (V - 1));
    }
    __m512 acc[R][V];
    NNCTL_UNROLL for (int r = 0; r < R; ++r)
        NNCTL_UNROLL for (int v = 0; v < V; ++v) acc[r][v] = init[v];
    for (int64_t p = 0; p < k; ++p) {
        const float* bp = b + p * ldb;
        __m512 bv[V];
        NNCTL_UNROLL for (int v = 0; v + 1 < V; ++v) bv[v] = _mm512_loadu_ps(bp + 16 * v);
        bv[V - 1] = _mm512_maskz_loadu_ps(last, bp + 16 * (V - 1));  // masked lanes are not read
        const float* ap = a + p * a_col;
        NNCTL_UNROLL for (int r = 0; r < R; ++r) {
            const __m512 x = _mm512_set1_ps(ap[r * a_row]);
            NNCTL_UNROLL for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(x, bv[v], acc[r][v]);
        }
    }
    if (relu) {
        const __m512 zero = _mm512_setzero_ps();
        NNCTL_UNROLL for (int r = 0; r < R; ++r)
            NNCTL_UNROLL for (int v = 0; v < V; ++v) acc[r][v] = _mm512_max_ps(acc[r][v], zero);
    }
    NNCTL_UNROLL for (int r = 0; r < R; ++r) {
        float* cr = c + r * ldc;
        NNCTL_UNROLL for (int v = 0; v + 1 < V; ++v) _mm512_storeu_ps(cr + 16 * v, acc[r][v]);
        _mm512_mask_storeu_ps(cr + 16 * (V - 1), last, acc[r][V - 1]);
    }
}

// Rows per tile: 8 when a tile is one or two vectors wide, 4 when three or four (≤ 16 accumulators
// plus the row of b and a broadcast: within the 32 vector registers, no spills).
constexpr int kNarrowRows = 8, kWideRows = 4;

template <int V, int... R>
constexpr std::array<Tile, sizeof...(R)> rows_table(std::integer_sequence<int, R...>) {
    return {&tile<R + 1, V>...};
}
constexpr std::array<std::array<Tile, kNarrowRows>, 2> kNarrow = {
    rows_table<1>(std::make_integer_sequence<int, kNarrowRows>{}),
    rows_table<2>(std::make_integer_sequence<int, kNarrowRows>{})};
constexpr std::array<std::array<Tile, kWideRows>, 2> kWide = {
    rows_table<3>(std::make_integer_sequence<int, kWideRows>{}),
    rows_table<4>(std::make_integer_sequence<int, kWideRows>{})};

// With one or two rows (batch-1 inference), a tile of 4 vectors has only 4 or 8 independent FMA
// chains: latency-bound, and it walks b in 256-byte pieces. One row across up to 16 vectors (256
// columns), or two across 8, keeps 16 chains in flight and streams longer rows of b: the 784 x 256
// product of one sample runs 1.5-2x faster.
constexpr int kRowVecs = 16;
template <int... V>
constexpr std::array<Tile, sizeof...(V)> row_table(std::integer_sequence<int, V...>) {
    return {&tile<1, V + 1>...};
}
template <int... V>
constexpr std::array<Tile, sizeof...(V)> two_rows_table(std::integer_sequence<int, V...>) {
    return {&tile<2, V + 1>...};
}
constexpr std::array<Tile, kRowVecs> kRow = row_table(std::make_integer_sequence<int, kRowVecs>{});
constexpr std::array<Tile, kRowVecs / 2> kTwoRows = two_rows_table(std::make_integer_sequence<int, kRowVecs / 2>{});

}  // namespace

bool small_gemm_available() { return true; }

bool small_gemm(int64_t m, int64_t k, int64_t n, const float* a, int64_t a_row, int64_t a_col, const float* b,
                int64_t ldb, float* c, int64_t ldc, const float* bias, bool relu) {
    if (m <= 2) {  // one row: 16 vectors a tile; two rows: 8 each (16 accumulators either way)
        const int vecs_max = m == 1 ? kRowVecs : kRowVecs / 2;
        for (int64_t j0 = 0; j0 < n; j0 += 16 * vecs_max) {
            const int w = int(std::min<int64_t>(16 * vecs_max, n - j0));
            const __mmask16 last = __mmask16(w % 16 ? (1u << (w % 16)) - 1u : 0xFFFFu);
            const size_t v = size_t((w + 15) / 16 - 1);
            const Tile f = m == 1 ? kRow[v] : kTwoRows[v];
            f(k, a, a_row, a_col, b + j0, ldb, c + j0, ldc, last, bias ? bias + j0 : nullptr, relu);
        }
        return true;
    }
    for (int64_t j0 = 0; j0 < n; j0 += 64) {
        const int w = int(std::min<int64_t>(64, n - j0));
        const int vecs = (w + 15) / 16;
        const __mmask16 last = __mmask16(w % 16 ? (1u << (w % 16)) - 1u : 0xFFFFu);
        const int rows = vecs <= 2 ? kNarrowRows : kWideRows;
        for (int64_t i0 = 0; i0 < m; i0 += rows) {
            const int r = int(std::min<int64_t>(rows, m - i0));
            const Tile f = vecs <= 2 ? kNarrow[size_t(vecs - 1)][size_t(r - 1)] : kWide[size_t(vecs - 3)][size_t(r - 1)];
            f(k, a + i0 * a_row, a_row, a_col, b + j0, ldb, c + i0 * ldc + j0, ldc, last, bias ? bias + j0 : nullptr,
              relu);
        }
    }
    return true;
}

#else

bool small_gemm_available() { return false; }
bool small_gemm(int64_t, int64_t, int64_t, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t,
                const float*, bool) {
    return false;
}

#endif

}  // namespace nnctl
