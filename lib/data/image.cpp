// Image decoding: PNG through libpng's simplified API, JPEG through libjpeg-turbo, BMP here.
// Both libraries are Debian-maintained and fuzzed upstream; a home-made PNG or JPEG decoder would
// be neither. BMP is simple enough to read with explicit bounds checks.
#include "data/image.hpp"

#include <png.h>
// jpeglib.h needs FILE and size_t declared first.
#include <cstdio>
#include <jpeglib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csetjmp>
#include <cstring>

#include "core/error.hpp"
#include "core/limits.hpp"

namespace nnctl {

namespace {
DataError bad(const std::string& what, const std::string& why) { return DataError(what + ": " + why); }

void check_size(int64_t rows, int64_t cols, int64_t max_pixels, const std::string& what) {
    if (rows <= 0 || cols <= 0) throw bad(what, "the image has no pixels");
    if (rows > max_pixels / cols)
        throw bad(what, "the image is " + std::to_string(cols) + "x" + std::to_string(rows) +
                            " pixels, more than the limit of " + std::to_string(max_pixels) + " (data.limits.image_pixels)");
}

/// RGBA bytes → the requested channel count.
Image from_rgba(int64_t rows, int64_t cols, const std::vector<uint8_t>& rgba, int channels) {
    Image img;
    img.rows = rows, img.cols = cols, img.channels = channels;
    const size_t n = size_t(rows * cols);
    img.pixels.resize(n * size_t(channels));
    for (size_t i = 0; i < n; ++i) {
        const uint8_t* p = rgba.data() + 4 * i;
        uint8_t* o = img.pixels.data() + i * size_t(channels);
        if (channels == 1) o[0] = uint8_t(std::lround(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]));
        else
            for (int c = 0; c < channels; ++c) o[c] = p[c];
    }
    return img;
}

Image decode_png(const std::string& bytes, const std::string& what, int channels, int64_t max_pixels) {
    png_image im;
    std::memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&im, bytes.data(), bytes.size()))
        throw bad(what, std::string("not a readable PNG (") + im.message + ")");
    try {
        check_size(int64_t(im.height), int64_t(im.width), max_pixels, what);
    } catch (...) {
        png_image_free(&im);
        throw;
    }
    im.format = PNG_FORMAT_RGBA;
    std::vector<uint8_t> rgba(size_t(PNG_IMAGE_SIZE(im)));
    if (!png_image_finish_read(&im, nullptr, rgba.data(), 0, nullptr)) {
        std::string msg = im.message;
        png_image_free(&im);
        throw bad(what, "damaged or truncated PNG (" + msg + ")");
    }
    const int64_t rows = im.height, cols = im.width;
    png_image_free(&im);
    return from_rgba(rows, cols, rgba, channels);
}

struct JpegError {
    jpeg_error_mgr mgr;
    std::jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

void jpeg_fail(j_common_ptr c) {
    auto* e = reinterpret_cast<JpegError*>(c->err);
    (*c->err->format_message)(c, e->message);
    std::longjmp(e->jump, 1);
}
void jpeg_quiet(j_common_ptr, int) {}  // warnings (e.g. premature end) are checked below

/// Decodes into `rgb` (rows × cols × 3); returns false with `message` set on failure. No C++
/// objects with destructors live across the setjmp.
bool jpeg_decode(const std::string& bytes, std::vector<uint8_t>& rgb, int64_t& rows, int64_t& cols, int64_t max_pixels,
                 std::string& message) {
    jpeg_decompress_struct cinfo;
    JpegError err;
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_fail;
    err.mgr.emit_message = jpeg_quiet;
    if (setjmp(err.jump)) {
        message = err.message;
        jpeg_destroy_decompress(&cinfo);
        return false;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), (unsigned long)bytes.size());
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = JCS_RGB;
    if (cinfo.image_height == 0 || cinfo.image_width == 0 ||
        int64_t(cinfo.image_height) > max_pixels / int64_t(cinfo.image_width)) {
        message = "the image is " + std::to_string(cinfo.image_width) + "x" + std::to_string(cinfo.image_height) +
                  " pixels, more than the limit of " + std::to_string(max_pixels) + " (data.limits.image_pixels)";
        jpeg_destroy_decompress(&cinfo);
        return false;
    }
    jpeg_start_decompress(&cinfo);
    rows = cinfo.output_height, cols = cinfo.output_width;
    rgb.resize(size_t(rows * cols * 3));
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = rgb.data() + size_t(cinfo.output_scanline) * size_t(cols) * 3;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    const bool truncated = cinfo.err->num_warnings > 0 && cinfo.src->bytes_in_buffer == 0;
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    if (truncated) {
        message = "the data ends before the image does (truncated file)";
        return false;
    }
    return true;
}

Image decode_jpeg(const std::string& bytes, const std::string& what, int channels, int64_t max_pixels) {
    std::vector<uint8_t> rgb;
    int64_t rows = 0, cols = 0;
    std::string message;
    if (!jpeg_decode(bytes, rgb, rows, cols, max_pixels, message)) throw bad(what, "damaged or truncated JPEG (" + message + ")");
    std::vector<uint8_t> rgba(size_t(rows * cols * 4), 255);
    for (size_t i = 0; i < size_t(rows * cols); ++i) std::memcpy(&rgba[4 * i], &rgb[3 * i], 3);
    return from_rgba(rows, cols, rgba, channels);
}

uint32_t le32(const std::string& b, size_t at) {
    return uint32_t(uint8_t(b[at])) | uint32_t(uint8_t(b[at + 1])) << 8 | uint32_t(uint8_t(b[at + 2])) << 16 |
           uint32_t(uint8_t(b[at + 3])) << 24;
}
uint16_t le16(const std::string& b, size_t at) { return uint16_t(uint8_t(b[at]) | uint8_t(b[at + 1]) << 8); }

Image decode_bmp(const std::string& b, const std::string& what, int channels, int64_t max_pixels) {
    if (b.size() < 54) throw bad(what, "truncated BMP (no complete header)");
    const uint32_t data_at = le32(b, 10), header = le32(b, 14);
    if (header < 40 || 14 + size_t(header) > b.size()) throw bad(what, "unsupported BMP header (OS/2 or truncated)");
    const int32_t width = int32_t(le32(b, 18)), height_raw = int32_t(le32(b, 22));
    const uint16_t planes = le16(b, 26), bits = le16(b, 28);
    const uint32_t compression = le32(b, 30);
    if (planes != 1 || width <= 0 || height_raw == 0 || height_raw == INT32_MIN) throw bad(what, "malformed BMP header");
    if (compression != 0 && !(compression == 3 && (bits == 32 || bits == 16)))
        throw bad(what, "compressed BMP (RLE) is not supported; save it as PNG");
    if (bits != 1 && bits != 4 && bits != 8 && bits != 24 && bits != 32)
        throw bad(what, "BMP with " + std::to_string(bits) + " bits per pixel is not supported");
    const bool top_down = height_raw < 0;
    const int64_t rows = top_down ? -int64_t(height_raw) : height_raw, cols = width;
    check_size(rows, cols, max_pixels, what);
    const size_t stride = ((size_t(cols) * bits + 31) / 32) * 4;
    if (size_t(data_at) > b.size() || stride * size_t(rows) > b.size() - data_at)
        throw bad(what, "truncated BMP (pixel data ends early)");
    std::vector<uint8_t> palette;
    if (bits <= 8) {
        uint32_t used = le32(b, 46);
        if (used == 0 || used > (1u << bits)) used = 1u << bits;
        const size_t at = 14 + size_t(header);
        if (at + size_t(used) * 4 > data_at) throw bad(what, "truncated BMP palette");
        palette.assign(b.begin() + long(at), b.begin() + long(at + size_t(used) * 4));
    }
    std::vector<uint8_t> rgba(size_t(rows * cols) * 4, 255);
    for (int64_t r = 0; r < rows; ++r) {
        const size_t src_row = size_t(top_down ? r : rows - 1 - r);
        const auto* p = reinterpret_cast<const uint8_t*>(b.data()) + data_at + src_row * stride;
        for (int64_t c = 0; c < cols; ++c) {
            uint8_t* o = &rgba[size_t(r * cols + c) * 4];
            if (bits <= 8) {
                const int per = 8 / bits;
                const unsigned v = (p[c / per] >> (8 - bits * (int(c % per) + 1))) & ((1u << bits) - 1);
                if (size_t(v) * 4 + 3 >= palette.size()) throw bad(what, "BMP pixel refers past its palette");
                o[0] = palette[v * 4 + 2], o[1] = palette[v * 4 + 1], o[2] = palette[v * 4];
            } else {
                const uint8_t* q = p + c * (bits / 8);
                o[0] = q[2], o[1] = q[1], o[2] = q[0];  // BGR(A) on disk; alpha ignored (often unset)
            }
        }
    }
    return from_rgba(rows, cols, rgba, channels);
}
}  // namespace

Image decode_image(const std::string& bytes, const std::string& what, int channels, int64_t max_pixels) {
    if (max_pixels <= 0) max_pixels = read_limits().image_pixels;
    if (channels != 1 && channels != 3 && channels != 4) throw Error("decode_image: channels must be 1, 3 or 4");
    auto starts = [&](const char* magic, size_t n) { return bytes.size() >= n && std::memcmp(bytes.data(), magic, n) == 0; };
    if (starts("\x89PNG\r\n\x1a\n", 8)) return decode_png(bytes, what, channels, max_pixels);
    if (starts("\xff\xd8\xff", 3)) return decode_jpeg(bytes, what, channels, max_pixels);
    if (starts("BM", 2)) return decode_bmp(bytes, what, channels, max_pixels);
    if (bytes.empty()) throw bad(what, "empty file");
    throw bad(what, "not a PNG, JPEG or BMP image (unrecognised content)");
}

void resize_bilinear(const Image& img, int64_t rows, int64_t cols, float* out) {
    const int64_t c = img.channels;
    const double sy = double(img.rows) / double(rows), sx = double(img.cols) / double(cols);
    const size_t n = size_t(cols);
    std::vector<int64_t> x0(n), x1(n);
    std::vector<double> fx(n);
    for (int64_t j = 0; j < cols; ++j) {
        const double x = std::clamp((double(j) + 0.5) * sx - 0.5, 0.0, double(img.cols - 1));
        x0[size_t(j)] = int64_t(std::floor(x));
        x1[size_t(j)] = std::min(x0[size_t(j)] + 1, img.cols - 1);
        fx[size_t(j)] = x - double(x0[size_t(j)]);
    }
    for (int64_t i = 0; i < rows; ++i) {
        const double y = std::clamp((double(i) + 0.5) * sy - 0.5, 0.0, double(img.rows - 1));
        const int64_t y0 = int64_t(std::floor(y)), y1 = std::min(y0 + 1, img.rows - 1);
        const double fy = y - double(y0);
        const uint8_t* r0 = img.pixels.data() + size_t(y0 * img.cols * c);
        const uint8_t* r1 = img.pixels.data() + size_t(y1 * img.cols * c);
        for (int64_t j = 0; j < cols; ++j) {
            const size_t a = size_t(x0[size_t(j)] * c), b = size_t(x1[size_t(j)] * c);
            const double w = fx[size_t(j)];
            for (int64_t ch = 0; ch < c; ++ch) {
                const double top = r0[a + size_t(ch)] * (1 - w) + r0[b + size_t(ch)] * w;
                const double bottom = r1[a + size_t(ch)] * (1 - w) + r1[b + size_t(ch)] * w;
                out[(i * cols + j) * c + ch] = float(top * (1 - fy) + bottom * fy);
            }
        }
    }
}

bool is_image_file(const std::string& name) {
    std::string n = name;
    std::transform(n.begin(), n.end(), n.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
    for (const char* ext : {".png", ".jpg", ".jpeg", ".bmp"}) {
        const size_t e = std::strlen(ext);
        if (n.size() > e && n.compare(n.size() - e, e, ext) == 0) return true;
    }
    return false;
}

}  // namespace nnctl
