#pragma once
#include <memory>
#include <string>
#include <vector>

namespace nnctl {

/// Streaming-style JSON writer over nlohmann-json: the caller supplies structure (objects, keys,
/// values) in order; nlohmann keeps the document (insertion order) and serializes it. Strings that
/// are not valid UTF-8 are written with U+FFFD in place of the bad bytes.
class JsonWriter {
public:
    JsonWriter();
    ~JsonWriter();
    JsonWriter(JsonWriter&&) noexcept;
    JsonWriter& operator=(JsonWriter&&) noexcept;
    JsonWriter(const JsonWriter&) = delete;
    JsonWriter& operator=(const JsonWriter&) = delete;

    JsonWriter& begin_object();
    JsonWriter& end_object();
    JsonWriter& begin_array();
    JsonWriter& end_array();
    JsonWriter& key(const std::string& k);
    JsonWriter& value(const std::string& s);
    JsonWriter& value(const char* s) { return value(std::string(s)); }
    JsonWriter& value(double d);  ///< non-finite numbers become null; written as format_number does
    JsonWriter& value(long long i);
    JsonWriter& value(int i) { return value(static_cast<long long>(i)); }
    JsonWriter& value(bool b);
    JsonWriter& null();
    /// Insert an already-serialized JSON value (parsed, so it must be valid JSON).
    JsonWriter& raw(const std::string& json);
    /// The document so far, serialized compactly (containers still open are shown closed).
    const std::string& str() const;

private:
    struct Doc;
    std::unique_ptr<Doc> d_;
};

/// JSON string literal with escapes.
std::string json_quote(const std::string& s);
/// Shortest decimal that reads back as the same float (or double): stable, diff-friendly output.
std::string format_number(double d);

}  // namespace nnctl
