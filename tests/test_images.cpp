// Image decoding (PNG, JPEG, BMP), resizing, and the image_folder source, on files written here.
#include <doctest/doctest.h>

#include <png.h>
#include <cstdio>
#include <jpeglib.h>
#include <sys/stat.h>

#include <cstring>

#include "config/parse.hpp"
#include "core/error.hpp"
#include "core/fileio.hpp"
#include "data/dataset.hpp"
#include "data/image.hpp"
#include "data/image_folder.hpp"

using namespace nnctl;

namespace {
/// rows × cols RGB test pattern: r = 20·row, g = 10·col, b = 100.
std::vector<uint8_t> pattern(int rows, int cols) {
    std::vector<uint8_t> p(size_t(rows * cols * 3));
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) {
            uint8_t* o = &p[size_t((r * cols + c) * 3)];
            o[0] = uint8_t(20 * r), o[1] = uint8_t(10 * c), o[2] = 100;
        }
    return p;
}

std::string png_bytes(const std::vector<uint8_t>& rgb, int rows, int cols) {
    png_image im;
    std::memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = png_uint_32(cols), im.height = png_uint_32(rows);
    im.format = PNG_FORMAT_RGB;
    png_alloc_size_t size = 0;
    REQUIRE(png_image_write_to_memory(&im, nullptr, &size, 0, rgb.data(), 0, nullptr));
    std::string out(size, '\0');
    REQUIRE(png_image_write_to_memory(&im, out.data(), &size, 0, rgb.data(), 0, nullptr));
    out.resize(size);
    return out;
}

std::string jpeg_bytes(const std::vector<uint8_t>& rgb, int rows, int cols) {
    jpeg_compress_struct c;
    jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    unsigned char* buf = nullptr;
    unsigned long size = 0;
    jpeg_mem_dest(&c, &buf, &size);
    c.image_width = JDIMENSION(cols), c.image_height = JDIMENSION(rows);
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 100, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = const_cast<uint8_t*>(rgb.data()) + size_t(c.next_scanline) * size_t(cols) * 3;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    std::string out(reinterpret_cast<char*>(buf), size);
    jpeg_destroy_compress(&c);
    std::free(buf);
    return out;
}

std::string bmp24(const std::vector<uint8_t>& rgb, int rows, int cols) {
    const int stride = (cols * 3 + 3) / 4 * 4;
    std::string b(54 + size_t(stride * rows), '\0');
    auto put32 = [&](size_t at, uint32_t v) { for (int i = 0; i < 4; ++i) b[at + size_t(i)] = char((v >> (8 * i)) & 255); };
    b[0] = 'B', b[1] = 'M';
    put32(2, uint32_t(b.size()));
    put32(10, 54);
    put32(14, 40);
    put32(18, uint32_t(cols));
    put32(22, uint32_t(rows));  // bottom-up
    b[26] = 1, b[28] = 24;
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) {
            const uint8_t* p = &rgb[size_t((r * cols + c) * 3)];
            const size_t at = 54 + size_t((rows - 1 - r) * stride + c * 3);
            b[at] = char(p[2]), b[at + 1] = char(p[1]), b[at + 2] = char(p[0]);
        }
    return b;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const DataError& e) {
        return e.what();
    }
    return "";
}
}  // namespace

TEST_CASE("PNG, JPEG and BMP decode to the pixels that were written") {
    const auto rgb = pattern(5, 7);
    for (const auto& [name, bytes] : std::vector<std::pair<std::string, std::string>>{
             {"png", png_bytes(rgb, 5, 7)}, {"bmp", bmp24(rgb, 5, 7)}, {"jpeg", jpeg_bytes(rgb, 5, 7)}}) {
        INFO(name);
        Image img = decode_image(bytes, "x." + name, 3);
        REQUIRE(img.rows == 5);
        REQUIRE(img.cols == 7);
        REQUIRE(img.channels == 3);
        const int tol = name == "jpeg" ? 16 : 0;  // lossy even at quality 100 (chroma subsampling)
        for (size_t i = 0; i < rgb.size(); ++i) CHECK(std::abs(int(img.pixels[i]) - int(rgb[i])) <= tol);
        Image grey = decode_image(bytes, "x", 1);
        CHECK(grey.channels == 1);
        const double want = 0.299 * 20 * 2 + 0.587 * 10 * 3 + 0.114 * 100;  // pixel (2, 3)
        CHECK(std::abs(double(grey.pixels[2 * 7 + 3]) - want) <= tol + 0.5);
    }
}

TEST_CASE("damaged and truncated images are data errors naming the file") {
    auto rgb = pattern(16, 16);
    for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = uint8_t((i * 2654435761u) >> 13);  // noise: the pixel data fills the file
    const std::string png = png_bytes(rgb, 16, 16), jpg = jpeg_bytes(rgb, 16, 16), bmp = bmp24(rgb, 16, 16);
    CHECK(error_of([&] { decode_image(png.substr(0, png.size() / 2), "a.png", 3); }).rfind("a.png: damaged or truncated PNG", 0) == 0);
    CHECK(error_of([&] { decode_image(png.substr(0, 20), "a.png", 3); }).rfind("a.png: ", 0) == 0);
    CHECK(error_of([&] { decode_image(jpg.substr(0, jpg.size() / 2), "b.jpg", 3); }).rfind("b.jpg: damaged or truncated JPEG", 0) == 0);
    CHECK(error_of([&] { decode_image(jpg.substr(0, 40), "b.jpg", 3); }).rfind("b.jpg: ", 0) == 0);
    CHECK(error_of([&] { decode_image(bmp.substr(0, bmp.size() - 10), "c.bmp", 3); }) == "c.bmp: truncated BMP (pixel data ends early)");
    CHECK(error_of([&] { decode_image("GIF89a....", "d.gif", 3); }) == "d.gif: not a PNG, JPEG or BMP image (unrecognised content)");
    CHECK(error_of([&] { decode_image("", "e.png", 3); }) == "e.png: empty file");
    CHECK(error_of([&] { decode_image(png, "big.png", 3, 100); }).find("more than the limit of 100 (data.limits.image_pixels)") != std::string::npos);
    // Every truncation of a small PNG and BMP is refused without crashing.
    // (A PNG cut inside its final IEND chunk still holds every pixel, and decodes.)
    const size_t iend = png.rfind("IEND") - 4;
    for (size_t n = 0; n < iend; ++n) CHECK_THROWS_AS(decode_image(png.substr(0, n), "t.png", 3), DataError);
    for (size_t n = 0; n + 1 < bmp.size(); n += 7) CHECK_THROWS_AS(decode_image(bmp.substr(0, n), "t.bmp", 3), DataError);
}

TEST_CASE("bilinear resize on half-pixel centres, as tf.image.resize") {
    Image img;
    img.rows = 1, img.cols = 2, img.channels = 1;
    img.pixels = {0, 100};
    float out[4];
    resize_bilinear(img, 1, 4, out);
    // Output x = (j + 0.5)/2 − 0.5 → −0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
    CHECK(out[0] == doctest::Approx(0.0));
    CHECK(out[1] == doctest::Approx(25.0));
    CHECK(out[2] == doctest::Approx(75.0));
    CHECK(out[3] == doctest::Approx(100.0));
    float same[2];
    resize_bilinear(img, 1, 2, same);
    CHECK(same[1] == 100.0f);
}

TEST_CASE("image_folder: classes from sorted sub-folders, images resized, damaged files refused or skipped") {
    char tmpl[] = "/tmp/nnctl-imgXXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    const std::string root = tmpl;
    const auto rgb = pattern(6, 4);
    for (const char* cls : {"zebra", "ant"}) {
        ::mkdir((root + "/" + cls).c_str(), 0755);
        write_file_atomic(root + "/" + cls + "/1.png", png_bytes(rgb, 6, 4));
        write_file_atomic(root + "/" + cls + "/2.JPG", jpeg_bytes(rgb, 6, 4));
        write_file_atomic(root + "/" + cls + "/notes.txt", "not an image");
    }
    write_file_atomic(root + "/ant/3.bmp", bmp24(rgb, 6, 4));
    ImageFolderListing l = list_image_folder(root);
    CHECK(l.class_names == std::vector<std::string>{"ant", "zebra"});
    CHECK(l.files.size() == 5);
    ExperimentConfig c = parse_config("data:\n  train: {format: image_folder, path: " + root +
                                          ", image_size: [3, 2], color_mode: grayscale}\nmodel: {layers: [{type: flatten}]}\nloss: "
                                          "sparse_categorical_crossentropy\n",
                                      "cfg.yaml");
    Dataset d = load_source(c.data.train, true);
    CHECK(d.size() == 5);
    CHECK(d.shape == Shape{3, 2, 1});
    CHECK(d.class_names == std::vector<std::string>{"ant", "zebra"});
    CHECK(d.labels == std::vector<int>{0, 0, 0, 1, 1});
    // Damaged: refused naming the file, or skipped with on_error: skip.
    write_file_atomic(root + "/zebra/3.png", png_bytes(rgb, 6, 4).substr(0, 60));
    std::string e = error_of([&] { load_source(c.data.train, true); });
    CHECK(e.find(root + "/zebra/3.png: damaged or truncated PNG") == 0);
    c.data.train.on_error = "skip";
    std::vector<std::string> warnings;
    set_warning_handler([&](const std::string& m) { warnings.push_back(m); });
    CHECK(load_source(c.data.train, true).size() == 5);
    set_warning_handler(nullptr);
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].find("skipped 1 of 6 images") != std::string::npos);
    // class_names picks and orders the classes, as Keras.
    c.data.train.class_names = {"zebra"};
    Dataset z = load_source(c.data.train, true);
    CHECK(z.size() == 2);
    c.data.train.class_names = {"horse"};
    CHECK(error_of([&] { load_source(c.data.train, true); }).find("class_names: 'horse' is not a sub-folder") != std::string::npos);
    CHECK(error_of([] { list_image_folder("/nonexistent-folder"); }).find("not a folder") != std::string::npos);
    std::system(("rm -rf " + root).c_str());
}
