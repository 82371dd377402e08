#include "model/safetensors.hpp"

#include <algorithm>
#include <cstring>

#include "core/error.hpp"
#include "core/json.hpp"
#include "core/json_value.hpp"

#include <cmath>

namespace nnctl {

std::string safetensors_bytes(const std::vector<NamedTensor>& tensors,
                              const std::map<std::string, std::string>& metadata) {
    std::vector<const NamedTensor*> order;
    for (const auto& t : tensors) order.push_back(&t);
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->name < b->name; });

    JsonWriter j;
    j.begin_object();
    if (!metadata.empty()) {
        j.key("__metadata__").begin_object();
        for (const auto& [k, v] : metadata) j.key(k).value(v);
        j.end_object();
    }
    uint64_t offset = 0;
    for (const auto* t : order) {
        uint64_t bytes = uint64_t(shape_size(t->shape)) * 4;
        j.key(t->name).begin_object();
        j.key("dtype").value("F32");
        j.key("shape").begin_array();
        for (auto d : t->shape) j.value(static_cast<long long>(d));
        j.end_array();
        j.key("data_offsets").begin_array().value(static_cast<long long>(offset))
            .value(static_cast<long long>(offset + bytes)).end_array();
        j.end_object();
        offset += bytes;
    }
    j.end_object();
    std::string header = j.str();
    while (header.size() % 8 != 0) header += ' ';

    std::string out;
    out.reserve(8 + header.size() + offset);
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out += char((n >> (8 * i)) & 0xFF);
    out += header;
    for (const auto* t : order) {
        const size_t count = size_t(shape_size(t->shape));
        for (size_t i = 0; i < count; ++i) {  // explicit little-endian, whatever the host
            uint32_t u;
            std::memcpy(&u, &t->data[i], 4);
            for (int b = 0; b < 4; ++b) out += char((u >> (8 * b)) & 0xFF);
        }
    }
    return out;
}

namespace {

float half_to_float(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) mant <<= 1, --exp;
            bits = sign | (exp << 23) | ((mant & 0x3FF) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000 | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

int dtype_size(const std::string& d) {
    if (d == "F64" || d == "I64" || d == "U64") return 8;
    if (d == "F32" || d == "I32" || d == "U32") return 4;
    if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
    if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E5M2" || d == "F8_E4M3") return 1;
    return 0;
}

}  // namespace

std::vector<LoadedTensor> read_safetensors(const std::string& bytes, const std::string& what,
                                           std::map<std::string, std::string>* metadata) {
    auto fail = [&](const std::string& why) { return DataError(what + ": " + why); };
    if (bytes.size() < 8)
        throw fail("truncated: " + std::to_string(bytes.size()) + " bytes, shorter than the 8-byte header length");
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = n << 8 | static_cast<unsigned char>(bytes[size_t(i)]);
    if (n > bytes.size() - 8)
        throw fail("header length " + std::to_string(n) + " runs past the end of the file (" +
                   std::to_string(bytes.size()) + " bytes): truncated or not a safetensors file");
    if (n > 100u * 1024 * 1024) throw fail("header length " + std::to_string(n) + " exceeds the 100 MB limit");
    JsonValue header;
    try {
        header = parse_json(bytes.substr(8, size_t(n)));
    } catch (const std::exception& e) {
        throw fail(std::string("bad header: ") + e.what());
    }
    if (!header.is_object()) throw fail("bad header: not a JSON object");
    const uint64_t data_size = bytes.size() - 8 - n;
    const char* data = bytes.data() + 8 + n;

    struct Entry {
        std::string name, dtype;
        std::vector<int64_t> shape;
        uint64_t begin, end;
    };
    std::vector<Entry> entries;
    for (const auto& [name, v] : header.members) {
        if (name == "__metadata__") {
            if (!v.is_object()) throw fail("__metadata__ must be an object of strings");
            for (const auto& [k, mv] : v.members) {
                if (!mv.is_string()) throw fail("__metadata__ values must be strings");
                if (metadata) (*metadata)[k] = mv.text;
            }
            continue;
        }
        if (!v.is_object()) throw fail("tensor '" + name + "': entry is not an object");
        const JsonValue* dt = v.find("dtype");
        const JsonValue* sh = v.find("shape");
        const JsonValue* off = v.find("data_offsets");
        if (!dt || !dt->is_string()) throw fail("tensor '" + name + "': missing dtype");
        if (!sh || !sh->is_array()) throw fail("tensor '" + name + "': missing shape");
        if (!off || !off->is_array() || off->items.size() != 2) throw fail("tensor '" + name + "': data_offsets must be [begin, end]");
        Entry e;
        e.name = name;
        e.dtype = dt->text;
        const int width = dtype_size(e.dtype);
        if (width == 0) throw fail("tensor '" + name + "': unknown dtype '" + e.dtype + "'");
        if (e.dtype != "F32" && e.dtype != "F64" && e.dtype != "F16" && e.dtype != "BF16")
            throw fail("tensor '" + name + "': dtype " + e.dtype + " is not a floating-point type (F32, F64, F16, BF16)");
        uint64_t count = 1;
        for (const auto& d : sh->items) {
            uint64_t x;
            if (!d.as_uint64(x)) throw fail("tensor '" + name + "': shape entries must be whole numbers ≥ 0");
            if (x != 0 && count > (uint64_t(1) << 62) / x) throw fail("tensor '" + name + "': shape is too large");
            count *= x;
            e.shape.push_back(int64_t(x));
        }
        if (!off->items[0].as_uint64(e.begin) || !off->items[1].as_uint64(e.end))
            throw fail("tensor '" + name + "': data_offsets must be whole numbers ≥ 0");
        if (e.begin > e.end) throw fail("tensor '" + name + "': data_offsets begin after they end");
        if (e.end > data_size)
            throw fail("tensor '" + name + "': data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                       "] run past the end of the data (" + std::to_string(data_size) + " bytes): truncated?");
        if (count * uint64_t(width) != e.end - e.begin)
            throw fail("tensor '" + name + "': " + e.dtype + " × shape needs " + std::to_string(count * uint64_t(width)) +
                       " bytes, data_offsets give " + std::to_string(e.end - e.begin));
        entries.push_back(std::move(e));
    }
    // The data must be covered exactly: no overlap, no holes.
    std::vector<const Entry*> by_offset;
    for (const auto& e : entries) by_offset.push_back(&e);
    std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
    uint64_t at = 0;
    for (const auto* e : by_offset) {
        if (e->begin < at) throw fail("tensor '" + e->name + "': data overlaps the previous tensor's");
        if (e->begin > at) throw fail("bytes " + std::to_string(at) + ".." + std::to_string(e->begin) + " belong to no tensor");
        at = e->end;
    }
    if (at != data_size) throw fail("bytes " + std::to_string(at) + ".." + std::to_string(data_size) + " belong to no tensor");

    std::vector<LoadedTensor> out;
    for (const auto& e : entries) {
        LoadedTensor t;
        t.name = e.name;
        t.shape = e.shape;
        const char* p = data + e.begin;
        const size_t count = size_t((e.end - e.begin) / uint64_t(dtype_size(e.dtype)));
        t.data.resize(count);
        for (size_t i = 0; i < count; ++i) {
            float v;
            if (e.dtype == "F32") {
                uint32_t u = 0;
                for (int b = 3; b >= 0; --b) u = u << 8 | static_cast<unsigned char>(p[4 * i + size_t(b)]);
                std::memcpy(&v, &u, 4);
            } else if (e.dtype == "F64") {
                uint64_t u = 0;
                for (int b = 7; b >= 0; --b) u = u << 8 | static_cast<unsigned char>(p[8 * i + size_t(b)]);
                double d;
                std::memcpy(&d, &u, 8);
                v = float(d);
            } else {
                uint16_t u = uint16_t(static_cast<unsigned char>(p[2 * i]) | static_cast<unsigned char>(p[2 * i + 1]) << 8);
                if (e.dtype == "F16") {
                    v = half_to_float(u);
                } else {
                    uint32_t bits = uint32_t(u) << 16;
                    std::memcpy(&v, &bits, 4);
                }
            }
            if (!std::isfinite(v))
                throw fail("tensor '" + e.name + "': non-finite value at element " + std::to_string(i));
            t.data[i] = v;
        }
        out.push_back(std::move(t));
    }
    return out;
}

}  // namespace nnctl
