#include "core/json.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace nnctl {

std::string json_quote(const std::string& s) {
    std::string o = "\"";
    for (unsigned char c : s) {
        switch (c) {
            case '"': o += "\\\""; break;
            case '\\': o += "\\\\"; break;
            case '\n': o += "\\n"; break;
            case '\r': o += "\\r"; break;
            case '\t': o += "\\t"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    o += buf;
                } else {
                    o += char(c);
                }
        }
    }
    return o + "\"";
}

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

void JsonWriter::sep() {
    if (need_comma_) out_ += ',';
    need_comma_ = true;
}
JsonWriter& JsonWriter::begin_object() { sep(); out_ += '{'; need_comma_ = false; return *this; }
JsonWriter& JsonWriter::end_object() { out_ += '}'; need_comma_ = true; return *this; }
JsonWriter& JsonWriter::begin_array() { sep(); out_ += '['; need_comma_ = false; return *this; }
JsonWriter& JsonWriter::end_array() { out_ += ']'; need_comma_ = true; return *this; }
JsonWriter& JsonWriter::key(const std::string& k) {
    sep();
    out_ += json_quote(k) + ':';
    need_comma_ = false;
    return *this;
}
JsonWriter& JsonWriter::value(const std::string& s) { sep(); out_ += json_quote(s); return *this; }
JsonWriter& JsonWriter::value(double d) { sep(); out_ += format_number(d); return *this; }
JsonWriter& JsonWriter::value(long long i) { sep(); out_ += std::to_string(i); return *this; }
JsonWriter& JsonWriter::value(bool b) { sep(); out_ += b ? "true" : "false"; return *this; }
JsonWriter& JsonWriter::null() { sep(); out_ += "null"; return *this; }
JsonWriter& JsonWriter::raw(const std::string& j) { sep(); out_ += j; return *this; }

}  // namespace nnctl
