#pragma once
#include <string>

namespace nnctl {

/// Minimal streaming JSON writer: the caller supplies structure, this handles commas and escaping.
class JsonWriter {
public:
    JsonWriter& begin_object();
    JsonWriter& end_object();
    JsonWriter& begin_array();
    JsonWriter& end_array();
    JsonWriter& key(const std::string& k);
    JsonWriter& value(const std::string& s);
    JsonWriter& value(const char* s) { return value(std::string(s)); }
    JsonWriter& value(double d);  ///< non-finite numbers become null
    JsonWriter& value(long long i);
    JsonWriter& value(int i) { return value(static_cast<long long>(i)); }
    JsonWriter& value(bool b);
    JsonWriter& null();
    /// Insert an already-serialized JSON value.
    JsonWriter& raw(const std::string& json);
    const std::string& str() const { return out_; }

private:
    void sep();
    std::string out_;
    bool need_comma_ = false;
};

/// JSON string literal with escapes.
std::string json_quote(const std::string& s);
/// Shortest decimal that reads back as the same float (or double): stable, diff-friendly output.
std::string format_number(double d);

}  // namespace nnctl
