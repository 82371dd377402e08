// IDX files (the MNIST family): big-endian header, then raw values; gzip is unpacked by content.
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "data/dataset.hpp"
#include "data/input.hpp"

namespace nnctl {

namespace {

struct IdxArray {
    std::vector<int64_t> dims;
    std::vector<double> values;  // labels (small)
    Matrix matrix;               // images: (n × product of the other dims)
};

uint32_t be32(const unsigned char* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

/// Reads an IDX file; `as_matrix` fills `matrix` (n × rest) instead of `values`.
IdxArray read_idx(const std::string& path, bool as_matrix) {
    const std::string bytes = read_input(path);
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    auto fail = [&](const std::string& why) -> DataError { return DataError(path + ": " + why); };
    if (bytes.size() < 4) throw fail("file ends early while reading the IDX header (" + std::to_string(bytes.size()) + " bytes)");
    if (p[0] != 0 || p[1] != 0) throw fail("not an IDX file (wrong magic number; expected 0x0000 then type and rank)");
    const unsigned type = p[2], rank = p[3];
    int width;
    switch (type) {
        case 0x08: case 0x09: width = 1; break;
        case 0x0B: width = 2; break;
        case 0x0C: case 0x0D: width = 4; break;
        case 0x0E: width = 8; break;
        default: throw fail("not an IDX file (unknown data type 0x" + std::to_string(type) + ")");
    }
    if (rank == 0 || rank > 8) throw fail("not an IDX file (rank " + std::to_string(rank) + ")");
    if (bytes.size() < 4 + 4 * size_t(rank)) throw fail("file ends early while reading the IDX header");
    IdxArray a;
    uint64_t count = 1;
    for (unsigned i = 0; i < rank; ++i) {
        a.dims.push_back(be32(p + 4 + 4 * i));
        count *= uint64_t(a.dims.back());
        if (count > (uint64_t(1) << 40)) throw fail("IDX dimensions are implausibly large");
    }
    const size_t off = 4 + 4 * size_t(rank);
    const uint64_t need = count * uint64_t(width);
    if (bytes.size() - off < need)
        throw fail("file ends early: the header promises " + std::to_string(need) + " bytes of data, " +
                   std::to_string(bytes.size() - off) + " are there (truncated?)");
    if (bytes.size() - off > need) throw fail("unexpected bytes after the IDX data");
    auto value = [&](uint64_t i) -> double {
        const unsigned char* q = p + off + i * uint64_t(width);
        switch (type) {
            case 0x08: return q[0];
            case 0x09: return double(int8_t(q[0]));
            case 0x0B: return double(int16_t(uint16_t(q[0] << 8 | q[1])));
            case 0x0C: return double(int32_t(be32(q)));
            case 0x0D: { uint32_t u = be32(q); float f; std::memcpy(&f, &u, 4); return f; }
            default: {
                uint64_t u = uint64_t(be32(q)) << 32 | be32(q + 4);
                double d;
                std::memcpy(&d, &u, 8);
                return d;
            }
        }
    };
    if (as_matrix) {
        const int64_t n = a.dims[0];
        const int64_t rest = n ? int64_t(count / uint64_t(n)) : 0;
        a.matrix.resize(n, rest);
        float* dst = a.matrix.data();
        if (type == 0x08)
            for (uint64_t i = 0; i < count; ++i) dst[i] = float(p[off + i]);
        else
            for (uint64_t i = 0; i < count; ++i) dst[i] = float(value(i));
    } else {
        a.values.resize(count);
        for (uint64_t i = 0; i < count; ++i) a.values[i] = value(i);
    }
    return a;
}

}  // namespace

void labels_from_integers(Dataset& d, const std::vector<double>& values, const std::vector<std::string>& names,
                          const std::string& where) {
    double mx = -1;
    for (size_t i = 0; i < values.size(); ++i) {
        double v = values[i];
        if (!(v >= 0) || v != std::floor(v) || v > 1e6)
            throw DataError(where + ": label " + std::to_string(v) + " at row " + std::to_string(i + 1) +
                            " is not a class index (a whole number ≥ 0)");
        mx = std::max(mx, v);
    }
    int k = names.empty() ? int(mx) + 1 : int(names.size());
    if (!names.empty() && mx >= k)
        throw DataError(where + ": label " + std::to_string(int(mx)) + " but class_names has only " + std::to_string(k) +
                        " names");
    d.num_classes = k;
    d.class_names = names;
    if (names.empty())
        for (int c = 0; c < k; ++c) d.class_names.push_back(std::to_string(c));
    d.labels.resize(values.size());
    for (size_t i = 0; i < values.size(); ++i) d.labels[i] = int(values[i]);
}

Matrix read_idx_images(const std::string& path) { return read_idx(path, true).matrix; }

Dataset load_idx(const DataSourceConfig& src, bool want_classes) {
    IdxArray img = read_idx(src.images, true);
    IdxArray lab = read_idx(src.labels, false);
    if (lab.dims.size() != 1)
        throw DataError(src.labels + ": labels must be one value per sample (rank 1), found rank " +
                        std::to_string(lab.dims.size()));
    if (img.dims[0] != lab.dims[0])
        throw DataError(src.images + ": " + std::to_string(img.dims[0]) + " images but " + src.labels + " has " +
                        std::to_string(lab.dims[0]) + " labels");
    Dataset d;
    d.x = std::move(img.matrix);
    // Images keep their shape, channels last as in Keras: (rows, cols) → (rows, cols, 1).
    if (img.dims.size() == 3) d.shape = {int64_t(img.dims[1]), int64_t(img.dims[2]), 1};
    else if (img.dims.size() > 3) d.shape.assign(img.dims.begin() + 1, img.dims.end());
    for (Eigen::Index j = 0; j < d.x.cols(); ++j) d.feature_names.push_back("pixel" + std::to_string(j));
    (void)want_classes;  // IDX labels are always class indices
    labels_from_integers(d, lab.values, src.class_names, src.labels);
    return d;
}

}  // namespace nnctl
