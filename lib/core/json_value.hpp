#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace nnctl {

/// A parsed JSON value. Small and strict: for safetensors headers, model.json and JSON-lines input.
struct JsonValue {
    enum class Type { Null, Bool, Number, String, Array, Object };
    Type type = Type::Null;
    bool boolean = false;
    double number = 0.0;
    std::string text;  ///< the string, or the number's source text (for exact integer parsing)
    std::vector<JsonValue> items;                            ///< Array
    std::vector<std::pair<std::string, JsonValue>> members;  ///< Object, in document order

    bool is_object() const { return type == Type::Object; }
    bool is_array() const { return type == Type::Array; }
    bool is_string() const { return type == Type::String; }
    bool is_number() const { return type == Type::Number; }
    /// Member by key, or nullptr.
    const JsonValue* find(const std::string& key) const;
    /// A non-negative integer that fits in uint64 exactly; false otherwise (fractions, signs, overflow).
    bool as_uint64(uint64_t& out) const;
};

/// Parse `text` as one JSON document. Throws std::runtime_error with the byte offset on bad input
/// (including duplicate object keys, nesting deeper than `max_depth`, and trailing garbage).
JsonValue parse_json(const std::string& text, int max_depth = 64);

}  // namespace nnctl
