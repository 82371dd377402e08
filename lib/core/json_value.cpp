#include "core/json_value.hpp"

#include <cmath>
#include <cstdlib>
#include <set>
#include <stdexcept>

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

class Parser {
public:
    Parser(const std::string& s, int max_depth) : s_(s), max_depth_(max_depth) {}

    JsonValue document() {
        JsonValue v = value(0);
        skip_ws();
        if (pos_ != s_.size()) fail("unexpected characters after the JSON value");
        return v;
    }

private:
    [[noreturn]] void fail(const std::string& what) {
        throw std::runtime_error("invalid JSON at byte " + std::to_string(pos_) + ": " + what);
    }
    void skip_ws() {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
    }
    bool eat(char c) {
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    void expect(char c) {
        if (!eat(c)) fail(std::string("expected '") + c + "'");
    }

    JsonValue value(int depth) {
        if (depth > max_depth_) fail("nested too deeply");
        skip_ws();
        if (pos_ >= s_.size()) fail("unexpected end");
        JsonValue v;
        char c = s_[pos_];
        if (c == '{') {
            ++pos_;
            v.type = JsonValue::Type::Object;
            std::set<std::string> seen;
            if (eat('}')) return v;
            do {
                skip_ws();
                if (pos_ >= s_.size() || s_[pos_] != '"') fail("expected a string key");
                std::string k = string();
                if (!seen.insert(k).second) fail("duplicate key \"" + k + "\"");
                expect(':');
                v.members.emplace_back(std::move(k), value(depth + 1));
            } while (eat(','));
            expect('}');
        } else if (c == '[') {
            ++pos_;
            v.type = JsonValue::Type::Array;
            if (eat(']')) return v;
            do v.items.push_back(value(depth + 1));
            while (eat(','));
            expect(']');
        } else if (c == '"') {
            v.type = JsonValue::Type::String;
            v.text = string();
        } else if (s_.compare(pos_, 4, "true") == 0) {
            pos_ += 4;
            v.type = JsonValue::Type::Bool;
            v.boolean = true;
        } else if (s_.compare(pos_, 5, "false") == 0) {
            pos_ += 5;
            v.type = JsonValue::Type::Bool;
        } else if (s_.compare(pos_, 4, "null") == 0) {
            pos_ += 4;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = pos_;
            if (s_[pos_] == '-') ++pos_;
            auto digits = [&] {
                size_t b = pos_;
                while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
                return pos_ > b;
            };
            if (!digits()) fail("bad number");
            if (pos_ < s_.size() && s_[pos_] == '.') {
                ++pos_;
                if (!digits()) fail("bad number");
            }
            if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
                ++pos_;
                if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
                if (!digits()) fail("bad number");
            }
            v.type = JsonValue::Type::Number;
            v.text = s_.substr(start, pos_ - start);
            v.number = std::strtod(v.text.c_str(), nullptr);
        } else {
            fail(std::string("unexpected character '") + c + "'");
        }
        return v;
    }

    std::string string() {
        ++pos_;  // opening quote
        std::string out;
        for (;;) {
            if (pos_ >= s_.size()) fail("unterminated string");
            unsigned char c = static_cast<unsigned char>(s_[pos_++]);
            if (c == '"') return out;
            if (c < 0x20) fail("control character in string");
            if (c != '\\') {
                out += char(c);
                continue;
            }
            if (pos_ >= s_.size()) fail("unterminated escape");
            char e = s_[pos_++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    uint32_t cp = hex4();
                    if (cp >= 0xD800 && cp < 0xDC00) {  // surrogate pair
                        if (s_.compare(pos_, 2, "\\u") != 0) fail("lone surrogate");
                        pos_ += 2;
                        uint32_t lo = hex4();
                        if (lo < 0xDC00 || lo > 0xDFFF) fail("bad surrogate pair");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    utf8(cp, out);
                    break;
                }
                default: fail("bad escape");
            }
        }
    }
    uint32_t hex4() {
        if (pos_ + 4 > s_.size()) fail("bad \\u escape");
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i) {
            char h = s_[pos_++];
            v <<= 4;
            if (h >= '0' && h <= '9') v |= uint32_t(h - '0');
            else if (h >= 'a' && h <= 'f') v |= uint32_t(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F') v |= uint32_t(h - 'A' + 10);
            else fail("bad \\u escape");
        }
        return v;
    }
    static void utf8(uint32_t cp, std::string& out) {
        if (cp < 0x80) out += char(cp);
        else if (cp < 0x800) out += char(0xC0 | (cp >> 6)), out += char(0x80 | (cp & 0x3F));
        else if (cp < 0x10000)
            out += char(0xE0 | (cp >> 12)), out += char(0x80 | ((cp >> 6) & 0x3F)), out += char(0x80 | (cp & 0x3F));
        else
            out += char(0xF0 | (cp >> 18)), out += char(0x80 | ((cp >> 12) & 0x3F)),
                out += char(0x80 | ((cp >> 6) & 0x3F)), out += char(0x80 | (cp & 0x3F));
    }

    const std::string& s_;
    size_t pos_ = 0;
    int max_depth_;
};

}  // namespace

JsonValue parse_json(const std::string& text, int max_depth) { return Parser(text, max_depth).document(); }

}  // namespace nnctl
