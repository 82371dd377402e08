#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace nnctl {

/// A decoded image: rows × cols × channels bytes, row-major, channels last.
struct Image {
    int64_t rows = 0, cols = 0, channels = 0;
    std::vector<uint8_t> pixels;
};

/// Decode a PNG (libpng), JPEG (libjpeg-turbo) or BMP (uncompressed 1/4/8/24/32-bit) file held in
/// `bytes`, recognised by content, to `channels` 1 (grey: 0.299 R + 0.587 G + 0.114 B), 3 (RGB,
/// alpha dropped) or 4 (RGBA). Throws DataError naming `what` on a damaged, truncated or
/// unsupported file, and on images larger than `max_pixels` (≤ 0: read_limits().image_pixels), checked
/// from the header before any pixel is decoded.
Image decode_image(const std::string& bytes, const std::string& what, int channels, int64_t max_pixels = 0);

/// Resize to rows × cols with bilinear interpolation on half-pixel centres (TensorFlow's
/// tf.image.resize, antialias off), as floats 0..255: out[(r·cols + c)·channels + ch].
void resize_bilinear(const Image& img, int64_t rows, int64_t cols, float* out);

/// Whether a file name ends in an image extension nnctl reads (.png, .jpg, .jpeg, .bmp; any case).
bool is_image_file(const std::string& name);

}  // namespace nnctl
