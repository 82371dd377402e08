#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace nnctl {

/// Where a sliding window (a convolution kernel or a pooling window) goes over a channels-last
/// (h, w, c) sample; 1-D layers use h = 1. Output position (oh, ow), tap (i, j) reads input row
/// oh·sh − pad_t + i·dh and column ow·sw − pad_l + j·dw; outside the input is padding.
struct Window {
    int64_t in_h = 1, in_w = 1, channels = 1;
    int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
    int64_t pad_t = 0, pad_l = 0;
    int64_t out_h = 1, out_w = 1;

    int64_t in_size() const { return in_h * in_w * channels; }
    int64_t positions() const { return out_h * out_w; }
};

/// The window of a `what` layer (for messages) of size k, strides s and dilation d (each (h, w))
/// over an (in_h, in_w, c) input, with Keras' padding: valid (no padding), same (output
/// ceil(in / stride), padding split with the extra one after, as TensorFlow) or causal (1-D: all of
/// it before). Throws ConfigError when the window does not fit.
Window make_window(const std::string& what, int64_t in_h, int64_t in_w, int64_t c, const std::vector<int64_t>& k,
                   const std::vector<int64_t>& s, const std::vector<int64_t>& d, const std::string& padding);

/// The (h, w, c) view of a layer's input: rank-3 as is, rank-2 (steps, features) as (1, steps,
/// features) for 1-D layers. Throws ConfigError naming `what` and the expected rank otherwise.
void spatial_dims(const std::string& what, const Shape& input, int rank, int64_t& h, int64_t& w, int64_t& c);

/// Patch rows for `samples` consecutive samples (sample stride `x_stride` floats): one row per
/// output position, (kh·kw·c) values in (i, j, channel) order, zeros where the window is padding.
/// p: (samples · positions) × (kh·kw·c), row-major.
void im2col(const Window& w, const float* x, int64_t x_stride, int64_t samples, float* p);
/// The adjoint of im2col: adds each patch row's values back onto the input positions they came
/// from. dx (sample stride `dx_stride`) must be zeroed by the caller.
void col2im(const Window& w, const float* p, int64_t samples, float* dx, int64_t dx_stride);

}  // namespace nnctl
