#include "core/limits.hpp"

#include <cstdio>

namespace nnctl {

namespace {
ReadLimits g_limits;
}  // namespace

std::string thousands(int64_t n) {
    std::string s = std::to_string(n);
    for (int i = int(s.size()) - 3; i > (n < 0 ? 1 : 0); i -= 3) s.insert(size_t(i), ",");
    return s;
}

const ReadLimits& read_limits() { return g_limits; }
void set_read_limits(const ReadLimits& l) { g_limits = l; }

std::string quote_input(const std::string& s) {
    constexpr size_t kShown = 60;
    size_t cut = s.size();
    if (s.size() > kShown) {
        cut = kShown;
        while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // not inside a character
    }
    std::string o = "'";
    for (size_t i = 0; i < cut; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7F) {
            char b[8];
            std::snprintf(b, sizeof b, "\\x%02X", c);
            o += b;
        } else {
            o += char(c);
        }
    }
    o += cut < s.size() ? "…' (" + thousands(int64_t(s.size())) + " bytes)" : "'";
    return o;
}

}  // namespace nnctl
