// NumPy .npy arrays (format versions 1–3, C order, little-endian numeric dtypes).
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "core/limits.hpp"
#include "data/dataset.hpp"
#include "data/input.hpp"

namespace nnctl {

namespace {

struct NpyArray {
    std::vector<int64_t> shape;
    char kind = 'f';  // f, i, u, b
    int width = 4;
    std::string bytes;  // the data
    size_t off = 0;
    size_t count = 0;
    double at(size_t i) const {
        const char* q = bytes.data() + off + i * size_t(width);
        switch (kind) {
            case 'f':
                if (width == 4) { float f; std::memcpy(&f, q, 4); return f; }
                else { double d; std::memcpy(&d, q, 8); return d; }
            case 'b': return q[0] ? 1.0 : 0.0;
            case 'u': { uint64_t u = 0; std::memcpy(&u, q, size_t(width)); return double(u); }
            default: {
                int64_t v = 0;
                std::memcpy(&v, q, size_t(width));
                int shift = 64 - 8 * width;  // sign-extend
                return double((v << shift) >> shift);
            }
        }
    }
};

/// Parses the header at the start of `b` (which may hold only the header); sets everything but the data.
NpyArray parse_npy_header(const std::string& b, const std::string& path) {
    NpyArray a;
    auto fail = [&](const std::string& why) { return DataError(path + ": " + why); };
    if (b.size() < 10 || b.compare(0, 6, "\x93NUMPY") != 0) throw fail("not a .npy file (wrong magic string)");
    const int major = static_cast<unsigned char>(b[6]);
    size_t hlen, hoff;
    if (major == 1) {
        hlen = size_t(static_cast<unsigned char>(b[8])) | size_t(static_cast<unsigned char>(b[9])) << 8;
        hoff = 10;
    } else if (major == 2 || major == 3) {
        if (b.size() < 12) throw fail("file ends early while reading the header");
        hlen = 0;
        for (int i = 0; i < 4; ++i) hlen |= size_t(static_cast<unsigned char>(b[8 + size_t(i)])) << (8 * i);
        hoff = 12;
    } else {
        throw fail("unsupported .npy format version " + std::to_string(major));
    }
    if (b.size() < hoff + hlen) throw fail("file ends early while reading the header");
    const std::string h = b.substr(hoff, hlen);
    auto field = [&](const std::string& key) -> std::string {
        auto k = h.find("'" + key + "'");
        if (k == std::string::npos) throw fail("header has no '" + key + "'");
        auto colon = h.find(':', k);
        if (colon == std::string::npos) throw fail("malformed header");
        size_t v = h.find_first_not_of(' ', colon + 1);
        if (v == std::string::npos) throw fail("malformed header");
        if (h[v] == '\'') {
            auto e = h.find('\'', v + 1);
            if (e == std::string::npos) throw fail("malformed header");
            return h.substr(v + 1, e - v - 1);
        }
        if (h[v] == '(') {
            auto e = h.find(')', v);
            if (e == std::string::npos) throw fail("malformed header");
            return h.substr(v + 1, e - v - 1);
        }
        auto e = h.find_first_of(",}", v);
        return h.substr(v, e - v);
    };
    const std::string descr = field("descr");
    if (field("fortran_order").find("True") != std::string::npos)
        throw fail("Fortran-order arrays are not supported (save with np.ascontiguousarray)");
    if (descr.size() < 3 || (descr[0] != '<' && descr[0] != '|'))
        throw fail("dtype " + quote_input(descr) + " is not supported (little-endian numbers only)");
    a.kind = descr[1];
    a.width = std::atoi(descr.c_str() + 2);
    bool ok = (a.kind == 'f' && (a.width == 4 || a.width == 8)) ||
              ((a.kind == 'i' || a.kind == 'u') && (a.width == 1 || a.width == 2 || a.width == 4 || a.width == 8)) ||
              (a.kind == 'b' && a.width == 1);
    if (!ok) throw fail("dtype " + quote_input(descr) + " is not supported (float32/64, signed or unsigned integers, bool)");
    std::string shape = field("shape");
    a.count = 1;
    size_t i = 0;
    while (i < shape.size()) {
        size_t j = shape.find(',', i);
        std::string part = shape.substr(i, j == std::string::npos ? std::string::npos : j - i);
        size_t s = part.find_first_not_of(' ');
        if (s != std::string::npos) {
            long long d = std::atoll(part.c_str() + s);
            if (d < 0 || part.find_first_not_of(" 0123456789L") != std::string::npos) throw fail("malformed shape");
            a.shape.push_back(d);
            a.count *= size_t(d);
            if (a.count > (size_t(1) << 40)) throw fail("shape is implausibly large");
        }
        if (j == std::string::npos) break;
        i = j + 1;
    }
    if (a.shape.empty()) throw fail("a 0-dimensional array holds no samples");
    a.off = hoff + hlen;
    return a;
}

NpyArray read_npy(const std::string& path) {
    std::string bytes = read_input(path);
    NpyArray a = parse_npy_header(bytes, path);
    a.bytes = std::move(bytes);
    const size_t need = a.count * size_t(a.width);
    if (a.bytes.size() - a.off < need)
        throw DataError(path + ": file ends early: the header promises " + std::to_string(need) + " bytes of data, " +
                        std::to_string(a.bytes.size() - a.off) + " are there");
    return a;
}

}  // namespace

Matrix read_npy_features(const std::string& path) {
    // Stream the header, then read float32 data straight into the matrix (no intermediate copy).
    InputStream in(path);
    std::string head(10, '\0');
    head.resize(in.read(&head[0], 10));
    if (head.size() < 10 || head.compare(0, 6, "\x93NUMPY") != 0)
        throw DataError(path + ": not a .npy file (wrong magic string)");
    size_t hlen = size_t(static_cast<unsigned char>(head[8])) | size_t(static_cast<unsigned char>(head[9])) << 8;
    if (head[6] != 1) {  // versions 2 and 3: 4-byte header length
        std::string more(2, '\0');
        in.read_exact(&more[0], 2, "the header");
        head += more;
        hlen |= size_t(static_cast<unsigned char>(head[10])) << 16 | size_t(static_cast<unsigned char>(head[11])) << 24;
    }
    if (hlen > (1u << 20)) throw DataError(path + ": header length " + std::to_string(hlen) + " is implausible");
    std::string h(hlen, '\0');
    in.read_exact(&h[0], hlen, "the header");
    NpyArray a = parse_npy_header(head + h, path);
    const int64_t n = a.shape[0];
    const size_t need = a.count * size_t(a.width);
    auto early = [&](size_t got) {
        return DataError(path + ": file ends early: the header promises " + std::to_string(need) + " bytes of data, " +
                         std::to_string(got) + " are there");
    };
    // The header's promise is held against what the input has before the data's memory is taken: a
    // plain file's size; standard input and gzip data (sizes unknown) are read in pieces as they come.
    struct stat st {};
    if (path != "-" && !in.compressed() && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        const size_t have = size_t(st.st_size) > head.size() + hlen ? size_t(st.st_size) - head.size() - hlen : 0;
        if (have < need) throw early(have);
    } else {
        std::string data;
        for (size_t got = 0; got < need;) {
            const size_t piece = std::min<size_t>(need - got, size_t(64) << 20);
            data.resize(got + piece);
            const size_t k = in.read(&data[got], piece);
            got += k;
            if (k < piece) throw early(got);
        }
        a.bytes = std::move(data);
        a.off = 0;
        Matrix x(n, n ? int64_t(a.count / size_t(n)) : 0);
        for (size_t i = 0; i < a.count; ++i) x.data()[i] = float(a.at(i));
        return x;
    }
    Matrix x(n, n ? int64_t(a.count / size_t(n)) : 0);
    static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the .npy fast path reads little-endian floats as is");
    if (a.kind == 'f' && a.width == 4) {
        size_t got = in.read(reinterpret_cast<char*>(x.data()), need);
        if (got != need)
            throw DataError(path + ": file ends early: the header promises " + std::to_string(need) +
                            " bytes of data, " + std::to_string(got) + " are there");
        return x;
    }
    a.bytes.resize(need);
    a.off = 0;
    size_t got = in.read(&a.bytes[0], need);
    if (got != need)
        throw DataError(path + ": file ends early: the header promises " + std::to_string(need) + " bytes of data, " +
                        std::to_string(got) + " are there");
    for (size_t i = 0; i < a.count; ++i) x.data()[i] = float(a.at(i));
    return x;
}

Dataset load_npy(const DataSourceConfig& src, bool want_classes) {
    NpyArray f = read_npy(src.features_path);
    NpyArray t = read_npy(src.targets_path);
    const int64_t n = f.shape[0];
    if (t.shape[0] != n)
        throw DataError(src.features_path + ": " + std::to_string(n) + " samples but " + src.targets_path + " has " +
                        std::to_string(t.shape[0]));
    Dataset d;
    const int64_t width = n ? int64_t(f.count / size_t(n)) : 0;
    d.x.resize(n, width);
    for (size_t i = 0; i < f.count; ++i) d.x.data()[i] = float(f.at(i));
    for (int64_t j = 0; j < width; ++j) d.feature_names.push_back("x" + std::to_string(j));
    // (n, T, F) sequences and (n, H, W, C) images keep their per-sample shape.
    if (f.shape.size() > 2) d.shape.assign(f.shape.begin() + 1, f.shape.end());
    const bool integral = t.kind != 'f';
    if (want_classes || (integral && t.shape.size() == 1 && !src.class_names.empty())) {
        if (t.shape.size() != 1)
            throw DataError(src.targets_path + ": class labels must be one value per sample (shape (n,)), found " +
                            std::to_string(t.shape.size()) + " dimensions");
        std::vector<double> v(t.count);
        for (size_t i = 0; i < t.count; ++i) v[i] = t.at(i);
        labels_from_integers(d, v, src.class_names, src.targets_path);
    } else {
        const int64_t outs = n ? int64_t(t.count / size_t(n)) : 0;
        d.y.resize(n, outs);
        for (size_t i = 0; i < t.count; ++i) {
            double v = t.at(i);
            if (!std::isfinite(v))
                throw DataError(src.targets_path + ": non-finite target in row " + std::to_string(i / size_t(outs) + 1));
            d.y.data()[i] = float(v);
        }
    }
    return d;
}

}  // namespace nnctl
