#include "layers/window.hpp"

#include <algorithm>
#include <cstring>

#include "core/error.hpp"

namespace nnctl {

namespace {
/// Copies of a few floats (a 3-wide kernel row of one channel) are far cheaper inline than memcpy
/// calls, which GCC would otherwise turn these loops back into (measured: a third of im2col's time
/// for a one-channel input went to memmove's call overhead). (A GCC attribute; clang, used for the
/// fuzz build, has no such pass to turn off.)
#if defined(__GNUC__) && !defined(__clang__)
#define NNCTL_NO_MEMCPY_IDIOM __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define NNCTL_NO_MEMCPY_IDIOM
#endif
NNCTL_NO_MEMCPY_IDIOM inline void copy_floats(float* __restrict out, const float* __restrict in, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = in[i];
}
NNCTL_NO_MEMCPY_IDIOM inline void zero_floats(float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = 0.0f;
}
/// One window of a few-channel input whose kernel rows are contiguous (dw = 1): kh copies of N
/// floats, N fixed at compile time so they are plain moves with no loop or offset table (3x3 on a
/// grey image: 9 moves a position instead of 9 table-driven gathers, a third of the instructions).
template <int N>
inline void copy_window(float* __restrict out, const float* __restrict base, int64_t kh, int64_t row_step) {
    for (int64_t i = 0; i < kh; ++i, out += N, base += row_step)
        for (int k = 0; k < N; ++k) out[k] = base[k];
}
inline void add_floats(float* __restrict out, const float* __restrict in, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] += in[i];
}

/// One axis: output length and padding before, Keras/TensorFlow rules.
void axis(const std::string& what, const char* name, int64_t in, int64_t k, int64_t s, int64_t d,
          const std::string& padding, int64_t& out, int64_t& pad_before) {
    const int64_t span = (k - 1) * d + 1;
    if (padding == "valid") {
        if (in < span)
            throw ConfigError(what + ": the window spans " + std::to_string(span) + " along the " + name +
                              " axis but the input has only " + std::to_string(in) +
                              " (use padding: same, a smaller kernel_size or pool_size, or fewer downsampling layers)");
        out = (in - span) / s + 1;
        pad_before = 0;
    } else {
        out = (in + s - 1) / s;
        const int64_t total = std::max<int64_t>((out - 1) * s + span - in, 0);
        pad_before = padding == "causal" ? span - 1 : total / 2;
    }
}
}  // namespace

Window make_window(const std::string& what, int64_t in_h, int64_t in_w, int64_t c, const std::vector<int64_t>& k,
                   const std::vector<int64_t>& s, const std::vector<int64_t>& d, const std::string& padding) {
    Window w;
    w.in_h = in_h, w.in_w = in_w, w.channels = c;
    w.kh = k[0], w.kw = k[1], w.sh = s[0], w.sw = s[1], w.dh = d[0], w.dw = d[1];
    axis(what, "height", in_h, w.kh, w.sh, w.dh, padding == "causal" ? "valid" : padding, w.out_h, w.pad_t);
    axis(what, in_h == 1 && w.kh == 1 ? "steps" : "width", in_w, w.kw, w.sw, w.dw, padding, w.out_w, w.pad_l);
    return w;
}

void spatial_dims(const std::string& what, const Shape& input, int rank, int64_t& h, int64_t& w, int64_t& c) {
    if (int(input.size()) != rank + 1) {
        const char* want = rank == 2 ? "(height, width, channels)" : "(steps, features)";
        throw ConfigError(what + " expects " + want + " inputs, got " + shape_str(input) +
                          " (give model.input_shape or add a reshape layer)");
    }
    h = rank == 2 ? input[0] : 1;
    w = input[size_t(rank) - 1];
    c = input[size_t(rank)];
}

void im2col(const Window& w, const float* x, int64_t x_stride, int64_t samples, float* p) {
    const int64_t c = w.channels, row = w.kh * w.kw * c, tap_row = w.kw * c;
    // Few channels (a grey or colour image): a patch is a handful of scattered floats, so windows
    // that lie inside the image are gathered through precomputed offsets instead of row copies.
    const bool gather = c < 8;
    thread_local std::vector<int64_t> offsets;
    if (gather) {
        offsets.resize(size_t(row));
        for (int64_t i = 0, t = 0; i < w.kh; ++i)
            for (int64_t j = 0; j < w.kw; ++j)
                for (int64_t ch = 0; ch < c; ++ch) offsets[size_t(t++)] = (i * w.dh * w.in_w + j * w.dw) * c + ch;
    }
    const int64_t span_h = (w.kh - 1) * w.dh, span_w = (w.kw - 1) * w.dw;
    for (int64_t s = 0; s < samples; ++s) {
        const float* xs = x + s * x_stride;
        for (int64_t oh = 0; oh < w.out_h; ++oh)
            for (int64_t ow = 0; ow < w.out_w; ++ow) {
                float* out = p + ((s * w.out_h + oh) * w.out_w + ow) * row;
                const int64_t ih0 = oh * w.sh - w.pad_t, iw0 = ow * w.sw - w.pad_l;
                if (gather && ih0 >= 0 && iw0 >= 0 && ih0 + span_h < w.in_h && iw0 + span_w < w.in_w) {
                    const float* base = xs + (ih0 * w.in_w + iw0) * c;
                    const int64_t step = w.dh * w.in_w * c;
                    switch (w.dw == 1 ? tap_row : 0) {
                        case 3: copy_window<3>(out, base, w.kh, step); continue;   // 3 wide, grey
                        case 5: copy_window<5>(out, base, w.kh, step); continue;   // 5 wide, grey
                        case 9: copy_window<9>(out, base, w.kh, step); continue;   // 3 wide, colour
                        default: break;
                    }
                    const int64_t* off = offsets.data();
                    for (int64_t t = 0; t < row; ++t) out[t] = base[off[t]];
                    continue;
                }
                for (int64_t i = 0; i < w.kh; ++i, out += tap_row) {
                    const int64_t ih = oh * w.sh - w.pad_t + i * w.dh;
                    if (ih < 0 || ih >= w.in_h) {
                        zero_floats(out, tap_row);
                        continue;
                    }
                    const int64_t iw0 = ow * w.sw - w.pad_l;
                    const float* src = xs + ih * w.in_w * c;
                    if (w.dw == 1 && iw0 >= 0 && iw0 + w.kw <= w.in_w) {  // the whole tap row is inside
                        copy_floats(out, src + iw0 * c, tap_row);
                        continue;
                    }
                    for (int64_t j = 0; j < w.kw; ++j) {
                        const int64_t iw = iw0 + j * w.dw;
                        float* o = out + j * c;
                        if (iw < 0 || iw >= w.in_w) zero_floats(o, c);
                        else copy_floats(o, src + iw * c, c);
                    }
                }
            }
    }
}

void col2im(const Window& w, const float* p, int64_t samples, float* dx, int64_t dx_stride) {
    const int64_t c = w.channels, row = w.kh * w.kw * c;
    for (int64_t s = 0; s < samples; ++s) {
        float* ds = dx + s * dx_stride;
        for (int64_t oh = 0; oh < w.out_h; ++oh)
            for (int64_t ow = 0; ow < w.out_w; ++ow) {
                const float* in = p + ((s * w.out_h + oh) * w.out_w + ow) * row;
                for (int64_t i = 0; i < w.kh; ++i) {
                    const int64_t ih = oh * w.sh - w.pad_t + i * w.dh;
                    if (ih < 0 || ih >= w.in_h) continue;
                    for (int64_t j = 0; j < w.kw; ++j) {
                        const int64_t iw = ow * w.sw - w.pad_l + j * w.dw;
                        if (iw < 0 || iw >= w.in_w) continue;
                        add_floats(ds + (ih * w.in_w + iw) * c, in + (i * w.kw + j) * c, c);
                    }
                }
            }
    }
}

}  // namespace nnctl
