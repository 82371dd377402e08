#include "core/small_gemm.hpp"

#include <algorithm>
#include <array>
#include <utility>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#define NNCTL_SMALL_GEMM 1
#endif

namespace nnctl {

#ifdef NNCTL_SMALL_GEMM
namespace {

// The vector instructions the tiles are written in, and the tile shapes that fit the register file
// (R·V accumulators, plus V vectors of b's row and a broadcast of a, without spilling).
#if defined(__AVX512F__)
struct Isa {
    using Vec = __m512;
    using Mask = __mmask16;
    static constexpr int kWidth = 16;
    static Mask mask(int w) { return Mask(w >= 16 ? 0xFFFFu : (1u << w) - 1u); }  // first w lanes
    static Vec zero() { return _mm512_setzero_ps(); }
    static Vec load(const float* p) { return _mm512_loadu_ps(p); }
    static Vec load(Mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }  // masked lanes not read
    static void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
    static void store(float* p, Mask m, Vec v) { _mm512_mask_storeu_ps(p, m, v); }
    static Vec broadcast(float x) { return _mm512_set1_ps(x); }
    static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
    static Vec max(Vec a, Vec b) { return _mm512_max_ps(a, b); }
};
// 32 registers: a chunk of 4 vectors (64 columns); 12 rows of up to 2 vectors or 6 rows of 3-4
// (24 accumulators: b's panel is read from L2 once per 6 rows; 4 rows ran 8% slower on a CNN).
constexpr int kChunkVecs = 4, kNarrowRows = 12, kWideRows = 6, kOneRowVecs = 16, kTwoRowVecs = 8;
constexpr bool kPlainLoadsWhenFull = false;
constexpr bool kStreamWideRow = false;  // a one-row tile covers 256 columns; it beats row_stream
#else
struct Isa {
    using Vec = __m256;
    using Mask = __m256i;
    static constexpr int kWidth = 8;
    static Mask mask(int w) {
        return _mm256_cmpgt_epi32(_mm256_set1_epi32(w), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }
    static Vec zero() { return _mm256_setzero_ps(); }
    static Vec load(const float* p) { return _mm256_loadu_ps(p); }
    static Vec load(Mask m, const float* p) { return _mm256_maskload_ps(p, m); }  // masked lanes not read
    static void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
    static void store(float* p, Mask m, Vec v) { _mm256_maskstore_ps(p, m, v); }
    static Vec broadcast(float x) { return _mm256_set1_ps(x); }
    static Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
    static Vec max(Vec a, Vec b) { return _mm256_max_ps(a, b); }
};
// 16 registers: a chunk of 2 vectors (16 columns); 8 rows of 1 vector or 6 rows of 2. Measured on
// this project's machine built with -mavx2 -mfma: 1.2-1.5x Eigen at the 16-64 x 10-64 shapes of
// small networks, 1.08-1.15x on large products, 1.0x for one wide row (with row_stream below;
// wider one-row tiles did not help).
constexpr int kChunkVecs = 2, kNarrowRows = 8, kWideRows = 6, kOneRowVecs = 8, kTwoRowVecs = 4;
constexpr bool kPlainLoadsWhenFull = true;
// One row wider than a one-row tile (64 columns): row_stream (below) reads b in order, 1.0x Eigen's
// GEMV on 784 x 256 where 64-column strips ran at 0.8x; narrower rows and two rows: the tiles
// (row_stream measured 0.4x and 0.75x of them there).
constexpr bool kStreamWideRow = true;
#endif
constexpr int kW = Isa::kWidth;
constexpr int rows_for(int vecs) { return vecs <= kChunkVecs / 2 ? kNarrowRows : kWideRows; }

// The tile's loops over rows and vectors must be unrolled early, so that its accumulator array
// becomes registers (otherwise GCC keeps it in memory and stores every accumulator every step).
#define NNCTL_UNROLL _Pragma("GCC unroll 16")

using Tile = void (*)(int64_t, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t, int,
                      const float*, bool);

/// An R-row × V-vector block of c (V·kW columns, of which the last vector's first last_w), held in
/// registers for the whole sum over p: per step V loads of b's row, R broadcasts of a, R·V FMAs.
/// Full: the last vector is whole, so b's row is read without a mask. Worth it with AVX2, whose
/// masked loads are slow (1.07-1.15x on 64-column blocks); with AVX-512 the plain loads get folded
/// into every FMA that uses them and the tile is 15% slower, so there it is not used.
template <int R, int V, bool Full>
void tile_body(int64_t k, const float* a, int64_t a_row, int64_t a_col, const float* b, int64_t ldb, float* c,
               int64_t ldc, int last_w, const float* bias, bool relu) {
    const Isa::Mask last = Isa::mask(last_w);
    Isa::Vec init[V];
    NNCTL_UNROLL for (int v = 0; v < V; ++v) init[v] = Isa::zero();
    if (bias) {
        NNCTL_UNROLL for (int v = 0; v + 1 < V; ++v) init[v] = Isa::load(bias + kW * v);
        init[V - 1] = Isa::load(last, bias + kW * (V - 1));
    }
    Isa::Vec acc[R][V];
    NNCTL_UNROLL for (int r = 0; r < R; ++r)
        NNCTL_UNROLL for (int v = 0; v < V; ++v) acc[r][v] = init[v];
    for (int64_t p = 0; p < k; ++p) {
        const float* bp = b + p * ldb;
        Isa::Vec bv[V];
        NNCTL_UNROLL for (int v = 0; v + 1 < V; ++v) bv[v] = Isa::load(bp + kW * v);
        bv[V - 1] = Full ? Isa::load(bp + kW * (V - 1)) : Isa::load(last, bp + kW * (V - 1));
        const float* ap = a + p * a_col;
        NNCTL_UNROLL for (int r = 0; r < R; ++r) {
            const Isa::Vec x = Isa::broadcast(ap[r * a_row]);
            NNCTL_UNROLL for (int v = 0; v < V; ++v) acc[r][v] = Isa::fma(x, bv[v], acc[r][v]);
        }
    }
    if (relu) {
        NNCTL_UNROLL for (int r = 0; r < R; ++r)
            NNCTL_UNROLL for (int v = 0; v < V; ++v) acc[r][v] = Isa::max(acc[r][v], Isa::zero());
    }
    NNCTL_UNROLL for (int r = 0; r < R; ++r) {
        float* cr = c + r * ldc;
        NNCTL_UNROLL for (int v = 0; v + 1 < V; ++v) Isa::store(cr + kW * v, acc[r][v]);
        Isa::store(cr + kW * (V - 1), last, acc[r][V - 1]);
    }
}

template <int R, int V>
void tile(int64_t k, const float* a, int64_t a_row, int64_t a_col, const float* b, int64_t ldb, float* c,
          int64_t ldc, int last_w, const float* bias, bool relu) {
    if (kPlainLoadsWhenFull && last_w == kW) tile_body<R, V, true>(k, a, a_row, a_col, b, ldb, c, ldc, last_w, bias, relu);
    else tile_body<R, V, false>(k, a, a_row, a_col, b, ldb, c, ldc, last_w, bias, relu);
}

// Tables of tiles. kTiles[V-1][R-1]: the tiles of a chunk (rows_for(V) rows at most; no tile that
// would not fit the registers is instantiated). kOneRow[V-1] / kTwoRows[V-1]: with one or two rows
// (batch-1 inference), a chunk-wide tile has too few independent FMA chains and walks b in short
// pieces; a row across kOneRowVecs vectors (two across kTwoRowVecs) keeps the FMA units busy and
// streams longer rows of b: the 784 x 256 product of one sample runs 1.5-2x faster.
constexpr int kMaxRows = std::max(kNarrowRows, kWideRows);
template <int V, int R>
constexpr Tile entry() {
    if constexpr (R <= rows_for(V)) return &tile<R, V>;
    else return nullptr;
}
template <int V, int... R>
constexpr std::array<Tile, kMaxRows> chunk_rows(std::integer_sequence<int, R...>) {
    return {entry<V, R + 1>()...};
}
template <int... V>
constexpr std::array<std::array<Tile, kMaxRows>, kChunkVecs> chunk_table(std::integer_sequence<int, V...>) {
    return {chunk_rows<V + 1>(std::make_integer_sequence<int, kMaxRows>{})...};
}
template <int R, int... V>
constexpr std::array<Tile, sizeof...(V)> row_table(std::integer_sequence<int, V...>) {
    return {&tile<R, V + 1>...};
}
constexpr auto kTiles = chunk_table(std::make_integer_sequence<int, kChunkVecs>{});
constexpr auto kOneRow = row_table<1>(std::make_integer_sequence<int, kOneRowVecs>{});
constexpr auto kTwoRows = row_table<2>(std::make_integer_sequence<int, kTwoRowVecs>{});

/// One row of c against whole rows of b, four rows of b a pass: c(j) ← fma(a_p, b(p, j), c(j)) for
/// p in order, the same chain as the tiles, but with c in memory. With too few registers to hold
/// a whole row of c (AVX2), the tiles would walk b in narrow column strips; this reads b's rows
/// end to end instead.
void row_stream(int64_t k, const float* a, int64_t a_col, const float* b, int64_t ldb, float* c, int64_t n,
                const float* bias, bool relu) {
    for (int64_t j = 0; j < n; ++j) c[j] = bias ? bias[j] : 0.0f;
    const int64_t whole = n / kW * kW;
    const int tail = int(n - whole);
    const Isa::Mask mask = Isa::mask(tail);
    int64_t p = 0;
    for (; p + 4 <= k; p += 4) {
        const Isa::Vec x0 = Isa::broadcast(a[p * a_col]), x1 = Isa::broadcast(a[(p + 1) * a_col]);
        const Isa::Vec x2 = Isa::broadcast(a[(p + 2) * a_col]), x3 = Isa::broadcast(a[(p + 3) * a_col]);
        const float *b0 = b + p * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
        for (int64_t j = 0; j < whole; j += kW) {
            Isa::Vec v = Isa::fma(x0, Isa::load(b0 + j), Isa::load(c + j));
            v = Isa::fma(x1, Isa::load(b1 + j), v);
            v = Isa::fma(x2, Isa::load(b2 + j), v);
            Isa::store(c + j, Isa::fma(x3, Isa::load(b3 + j), v));
        }
        if (tail) {
            Isa::Vec v = Isa::fma(x0, Isa::load(mask, b0 + whole), Isa::load(mask, c + whole));
            v = Isa::fma(x1, Isa::load(mask, b1 + whole), v);
            v = Isa::fma(x2, Isa::load(mask, b2 + whole), v);
            Isa::store(c + whole, mask, Isa::fma(x3, Isa::load(mask, b3 + whole), v));
        }
    }
    for (; p < k; ++p) {
        const Isa::Vec x = Isa::broadcast(a[p * a_col]);
        const float* bp = b + p * ldb;
        for (int64_t j = 0; j < whole; j += kW) Isa::store(c + j, Isa::fma(x, Isa::load(bp + j), Isa::load(c + j)));
        if (tail) Isa::store(c + whole, mask, Isa::fma(x, Isa::load(mask, bp + whole), Isa::load(mask, c + whole)));
    }
    if (relu)
        for (int64_t j = 0; j < n; ++j) c[j] = std::max(c[j], 0.0f);
}

}  // namespace

bool small_gemm_available() { return true; }

bool small_gemm(int64_t m, int64_t k, int64_t n, const float* a, int64_t a_row, int64_t a_col, const float* b,
                int64_t ldb, float* c, int64_t ldc, const float* bias, bool relu) {
    if (kStreamWideRow && m == 1 && n > kW * kOneRowVecs) {
        row_stream(k, a, a_col, b, ldb, c, n, bias, relu);
        return true;
    }
    if (m <= 2) {
        const int vecs_max = m == 1 ? kOneRowVecs : kTwoRowVecs;
        for (int64_t j0 = 0; j0 < n; j0 += kW * vecs_max) {
            const int w = int(std::min<int64_t>(kW * vecs_max, n - j0));
            const int last = w % kW ? w % kW : kW;
            const size_t v = size_t((w + kW - 1) / kW - 1);
            const Tile f = m == 1 ? kOneRow[v] : kTwoRows[v];
            f(k, a, a_row, a_col, b + j0, ldb, c + j0, ldc, last, bias ? bias + j0 : nullptr, relu);
        }
        return true;
    }
    for (int64_t j0 = 0; j0 < n; j0 += kW * kChunkVecs) {
        const int w = int(std::min<int64_t>(kW * kChunkVecs, n - j0));
        const int vecs = (w + kW - 1) / kW;
        const int last = w % kW ? w % kW : kW;
        const int rows = rows_for(vecs);
        for (int64_t i0 = 0; i0 < m; i0 += rows) {
            const int r = int(std::min<int64_t>(rows, m - i0));
            kTiles[size_t(vecs - 1)][size_t(r - 1)](k, a + i0 * a_row, a_row, a_col, b + j0, ldb, c + i0 * ldc + j0,
                                                    ldc, last, bias ? bias + j0 : nullptr, relu);
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
