#include "core/json.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace nnctl {

using Json = nlohmann::ordered_json;

namespace {
std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }
}  // namespace

std::string json_quote(const std::string& s) { return dump(Json(s)); }

std::string format_number(double d) {
    if (!std::isfinite(d)) return "null";
    if (d == std::floor(d) && std::fabs(d) < 1e15) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.0f", d);
        return buf;
    }
    char buf[40];
    for (int prec = 6; prec <= 17; ++prec) {
        std::snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (std::strtod(buf, nullptr) == d || float(std::strtod(buf, nullptr)) == float(d)) break;
    }
    return buf;
}

/// The document and the path of open containers into it (pointers stay valid: nlohmann's
/// containers hold their elements on the heap, and only the innermost open container grows).
struct JsonWriter::Doc {
    std::vector<Json> roots;          // top-level values, side by side (normally one)
    std::vector<Json*> open;          // open containers, outermost first
    std::string pending_key;
    bool has_key = false;
    mutable std::string text;
    mutable bool fresh = false;

    Json& add(Json v) {
        fresh = false;
        if (open.empty()) {
            roots.push_back(std::move(v));
            return roots.back();
        }
        Json& c = *open.back();
        if (c.is_object()) {
            if (!has_key) throw std::logic_error("internal: JsonWriter value in an object without a key");
            has_key = false;
            Json& slot = c[pending_key];
            slot = std::move(v);
            return slot;
        }
        c.push_back(std::move(v));
        return c.back();
    }
};

JsonWriter::JsonWriter() : d_(std::make_unique<Doc>()) {}
JsonWriter::~JsonWriter() = default;
JsonWriter::JsonWriter(JsonWriter&&) noexcept = default;
JsonWriter& JsonWriter::operator=(JsonWriter&&) noexcept = default;

JsonWriter& JsonWriter::begin_object() {
    d_->open.push_back(&d_->add(Json::object()));
    return *this;
}
JsonWriter& JsonWriter::end_object() {
    d_->open.pop_back();
    d_->fresh = false;
    return *this;
}
JsonWriter& JsonWriter::begin_array() {
    d_->open.push_back(&d_->add(Json::array()));
    return *this;
}
JsonWriter& JsonWriter::end_array() {
    d_->open.pop_back();
    d_->fresh = false;
    return *this;
}
JsonWriter& JsonWriter::key(const std::string& k) {
    d_->pending_key = k;
    d_->has_key = true;
    return *this;
}
JsonWriter& JsonWriter::value(const std::string& s) {
    d_->add(Json(s));
    return *this;
}
JsonWriter& JsonWriter::value(double v) {
    // As format_number writes it: whole numbers without a fraction, others in their shortest form
    // for a float (nlohmann then writes that double's shortest round-trip digits: the same text).
    if (!std::isfinite(v)) d_->add(Json(nullptr));
    else if (v == std::floor(v) && std::fabs(v) < 1e15) d_->add(Json(static_cast<int64_t>(v)));
    else d_->add(Json(std::strtod(format_number(v).c_str(), nullptr)));
    return *this;
}
JsonWriter& JsonWriter::value(long long i) {
    d_->add(Json(static_cast<int64_t>(i)));
    return *this;
}
JsonWriter& JsonWriter::value(bool b) {
    d_->add(Json(b));
    return *this;
}
JsonWriter& JsonWriter::null() {
    d_->add(Json(nullptr));
    return *this;
}
JsonWriter& JsonWriter::raw(const std::string& json) {
    d_->add(Json::parse(json));
    return *this;
}

const std::string& JsonWriter::str() const {
    if (!d_->fresh) {
        d_->text.clear();
        for (size_t i = 0; i < d_->roots.size(); ++i) d_->text += (i ? "," : "") + dump(d_->roots[i]);
        d_->fresh = true;
    }
    return d_->text;
}

}  // namespace nnctl
