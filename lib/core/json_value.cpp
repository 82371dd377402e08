#include "core/json_value.hpp"

#include <nlohmann/json.hpp>

#include <set>
#include <stdexcept>

#include "core/limits.hpp"

namespace nnctl {

const JsonValue* JsonValue::find(const std::string& key) const {
    for (const auto& [k, v] : members)
        if (k == key) return &v;
    return nullptr;
}

bool JsonValue::as_uint64(uint64_t& out) const {
    if (type != Type::Number || text.empty()) return false;
    uint64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
        uint64_t d = uint64_t(c - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    out = v;
    return true;
}

namespace {

using Json = nlohmann::json;

/// Builds a JsonValue straight from nlohmann's SAX events (no intermediate DOM), with two rules
/// nlohmann does not check: no duplicate keys in an object, no nesting deeper than max_depth.
/// Numbers keep a text form: integers exactly as digits (so that as_uint64 reads safetensors offsets
/// exactly), other numbers as written in the document.
class Builder : public nlohmann::json_sax<Json> {
public:
    explicit Builder(int max_depth) : max_depth_(max_depth) {}
    JsonValue result;

    bool null() override { return put(JsonValue{}); }
    bool boolean(bool b) override {
        JsonValue v;
        v.type = JsonValue::Type::Bool;
        v.boolean = b;
        return put(std::move(v));
    }
    bool number_integer(number_integer_t i) override {  // negative (or -0)
        return number(double(i), i == 0 ? std::string("-0") : std::to_string(i));
    }
    bool number_unsigned(number_unsigned_t u) override { return number(double(u), std::to_string(u)); }
    bool number_float(number_float_t d, const string_t& text) override { return number(d, text); }
    bool string(string_t& s) override {
        if (int64_t(s.size()) > read_limits().field_bytes)
            throw std::runtime_error("invalid JSON: a string of " + thousands(int64_t(s.size())) +
                                     " bytes, longer than data.limits.field_bytes");
        JsonValue v;
        v.type = JsonValue::Type::String;
        v.text = std::move(s);
        return put(std::move(v));
    }
    bool binary(binary_t&) override { throw std::runtime_error("invalid JSON: binary values are not JSON"); }
    bool start_object(std::size_t) override { return open(JsonValue::Type::Object); }
    bool key(string_t& k) override {
        Frame& f = stack_.back();
        if (!f.keys.insert(k).second) throw std::runtime_error("invalid JSON: duplicate key " + (k.size() <= 60 ? "\"" + k + "\"" : quote_input(k)));
        f.key = std::move(k);
        return true;
    }
    bool end_object() override { return close(); }
    bool start_array(std::size_t) override { return open(JsonValue::Type::Array); }
    bool end_array() override { return close(); }
    bool parse_error(std::size_t byte, const std::string&, const nlohmann::detail::exception& e) override {
        // e.what() is "[json.exception.parse_error.101] parse error at line L, column C: ...": keep the part after "] ".
        std::string m = e.what();
        const size_t cut = m.find("] ");
        throw std::runtime_error("invalid JSON at byte " + std::to_string(byte) + ": " +
                                 (cut == std::string::npos ? m : m.substr(cut + 2)));
    }

private:
    struct Frame {
        JsonValue value;
        std::string key;
        std::set<std::string> keys;
    };
    bool number(double d, std::string text) {
        JsonValue v;
        v.type = JsonValue::Type::Number;
        v.number = d;
        v.text = std::move(text);
        return put(std::move(v));
    }
    bool put(JsonValue v) {
        if (stack_.empty()) {
            result = std::move(v);
            return true;
        }
        Frame& f = stack_.back();
        if (f.value.type == JsonValue::Type::Object) f.value.members.emplace_back(std::move(f.key), std::move(v));
        else f.value.items.push_back(std::move(v));
        return true;
    }
    bool open(JsonValue::Type t) {
        if (int(stack_.size()) > max_depth_)
            throw std::runtime_error("invalid JSON: nested too deeply (over " + std::to_string(max_depth_) + " levels)");
        stack_.emplace_back();
        stack_.back().value.type = t;
        return true;
    }
    bool close() {
        JsonValue v = std::move(stack_.back().value);
        stack_.pop_back();
        return put(std::move(v));
    }
    std::vector<Frame> stack_;
    int max_depth_;
};

}  // namespace

JsonValue parse_json(const std::string& text, int max_depth) {
    // nlohmann's parser: strict RFC 8259 (trailing garbage, bad escapes, invalid UTF-8 and NaN are errors).
    Builder b(max_depth);
    try {
        Json::sax_parse(text, &b);
    } catch (const Json::exception& e) {
        throw std::runtime_error(std::string("invalid JSON: ") + e.what());
    }
    return std::move(b.result);
}

}  // namespace nnctl
