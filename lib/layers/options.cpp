#include "layers/options.hpp"

#include <cmath>

#include "core/error.hpp"
#include "core/json.hpp"

namespace nnctl {

namespace {
std::string num_text(double v) {
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    return format_number(v);
}

std::string list_text(const std::vector<double>& l) {
    std::string s = "[";
    for (size_t i = 0; i < l.size(); ++i) s += (i ? ", " : "") + num_text(l[i]);
    return s + "]";
}

OptionSpec make(const std::string& key, OptionKind kind, const std::string& doc) {
    OptionSpec s;
    s.key = key;
    s.kind = kind;
    s.doc = doc;
    return s;
}
}  // namespace

OptionSpec& OptionSpec::range(double lo, double hi, bool lo_open, bool hi_open) {
    min = lo, max = hi, min_open = lo_open, max_open = hi_open;
    return *this;
}

OptionSpec& OptionSpec::needed(std::string hint) {
    required = true;
    required_hint = std::move(hint);
    return *this;
}

OptionSpec& OptionSpec::or_null() {
    nullable = true;
    def.null = true;
    return *this;
}

std::string OptionSpec::range_text() const {
    const bool lo = std::isfinite(min), hi = std::isfinite(max);
    const bool integral = kind == OptionKind::Integer || kind == OptionKind::IntTuple || kind == OptionKind::IntList;
    if (!lo && !hi) return "";
    if (integral && !min_open && !max_open) {
        if (lo && hi) return "between " + num_text(min) + " and " + num_text(max);
        if (lo) return "at least " + num_text(min);
        return "at most " + num_text(max);
    }
    if (lo && hi) return std::string("in ") + (min_open ? "(" : "[") + num_text(min) + ", " + num_text(max) +
                         (max_open ? ")" : "]");
    if (lo) return min_open ? "greater than " + num_text(min) : num_text(min) + " or more";
    return max_open ? "less than " + num_text(max) : num_text(max) + " or less";
}

std::string OptionSpec::default_text() const {
    if (required) return "required";
    if (def.null) return "null";
    switch (kind) {
        case OptionKind::Integer:
        case OptionKind::Number: return num_text(def.number);
        case OptionKind::Boolean: return def.number != 0 ? "true" : "false";
        case OptionKind::Choice:
        case OptionKind::Text: return def.text.empty() ? "\"\"" : def.text;
        case OptionKind::Activation: return def.activation.name;
        case OptionKind::Initializer: return def.initializer.type;
        case OptionKind::Regularizer: return "none";
        case OptionKind::IntTuple:
        case OptionKind::NumberTuple:
        case OptionKind::IntList: return list_text(def.list);
        case OptionKind::IntPairs: {
            bool same = true;
            for (double v : def.list) same = same && v == def.list[0];
            return same && !def.list.empty() ? num_text(def.list[0]) : list_text(def.list);
        }
        case OptionKind::Layer: return "required";
    }
    return "";
}

std::string OptionSpec::kind_text() const {
    std::string k;
    switch (kind) {
        case OptionKind::Integer: k = "integer"; break;
        case OptionKind::Number: k = "number"; break;
        case OptionKind::Boolean: k = "boolean"; break;
        case OptionKind::Choice:
            for (const auto& c : choices) k += (k.empty() ? "" : " \\| ") + c;
            break;
        case OptionKind::Text: k = "string"; break;
        case OptionKind::Activation: k = "activation"; break;
        case OptionKind::Initializer: k = "initializer"; break;
        case OptionKind::Regularizer: k = "regularizer"; break;
        case OptionKind::IntTuple:
            k = "integer or [" + std::string(tuple == 1 ? "int" : tuple == 2 ? "int, int" : "int, int, int") + "]";
            break;
        case OptionKind::NumberTuple:
            k = tuple == 2 ? "number or [min, max]" : "number or list of " + std::to_string(tuple);
            break;
        case OptionKind::IntList: k = "list of integers"; break;
        case OptionKind::IntPairs:
            k = tuple == 1 ? "integer or [before, after]" : "integer, [h, w] or [[top, bottom], [left, right]]";
            break;
        case OptionKind::Layer: k = "layer mapping"; break;
    }
    if (nullable) k += " or null";
    return k;
}

OptionSpec opt_layer(const std::string& key, const std::string& doc) {
    OptionSpec s = make(key, OptionKind::Layer, doc);
    s.required = true;
    s.required_hint = "the wrapped layer, e.g. {type: lstm, units: 32}";
    return s;
}

OptionSpec opt_int(const std::string& key, int64_t def, const std::string& doc) {
    OptionSpec s = make(key, OptionKind::Integer, doc);
    s.def.number = double(def);
    return s;
}

OptionSpec opt_number(const std::string& key, double def, const std::string& doc) {
    OptionSpec s = make(key, OptionKind::Number, doc);
    s.def.number = def;
    return s;
}

OptionSpec opt_bool(const std::string& key, bool def, const std::string& doc) {
    OptionSpec s = make(key, OptionKind::Boolean, doc);
    s.def.number = def ? 1 : 0;
    return s;
}

OptionSpec opt_choice(const std::string& key, const std::string& def, std::vector<std::string> choices,
                      const std::string& doc) {
    OptionSpec s = make(key, OptionKind::Choice, doc);
    s.def.text = def;
    s.choices = std::move(choices);
    return s;
}

OptionSpec opt_text(const std::string& key, const std::string& def, const std::string& doc) {
    OptionSpec s = make(key, OptionKind::Text, doc);
    s.def.text = def;
    return s;
}

OptionSpec opt_activation(const std::string& key, const std::string& def, const std::string& doc) {
    OptionSpec s = make(key, OptionKind::Activation, doc);
    s.def.activation.name = def;
    s.def.activation.alpha = activation_default_alpha(def);
    return s;
}

OptionSpec opt_initializer(const std::string& key, const std::string& def, const std::string& doc) {
    OptionSpec s = make(key, OptionKind::Initializer, doc);
    s.def.initializer.type = def;
    return s;
}

OptionSpec opt_regularizer(const std::string& key, const std::string& doc) {
    return make(key, OptionKind::Regularizer, doc);
}

OptionSpec opt_ints(const std::string& key, int n, int64_t def, const std::string& doc) {
    OptionSpec s = make(key, OptionKind::IntTuple, doc);
    s.tuple = n;
    s.def.list.assign(size_t(n), double(def));
    s.min = 1;
    s.max = 1 << 20;
    return s;
}

OptionSpec opt_numbers(const std::string& key, int n, std::vector<double> def, const std::string& doc) {
    OptionSpec s = make(key, OptionKind::NumberTuple, doc);
    s.tuple = n;
    s.def.list = std::move(def);
    return s;
}

OptionSpec opt_int_list(const std::string& key, const std::string& doc) {
    OptionSpec s = make(key, OptionKind::IntList, doc);
    s.min = 1;
    s.max = 1 << 30;
    return s;
}

OptionSpec opt_int_pairs(const std::string& key, int n, int64_t def, const std::string& doc) {
    OptionSpec s = make(key, OptionKind::IntPairs, doc);
    s.tuple = n;
    s.def.list.assign(size_t(2 * n), double(def));
    s.min = 0;
    s.max = 1 << 20;
    return s;
}

void LayerOptions::set(const std::string& key, OptionValue v) {
    for (auto& [k, x] : values_)
        if (k == key) {
            x = std::move(v);
            return;
        }
    values_.emplace_back(key, std::move(v));
}

bool LayerOptions::has(const std::string& key) const {
    for (const auto& [k, x] : values_)
        if (k == key) return true;
    return false;
}

const OptionValue& LayerOptions::get(const std::string& key) const {
    for (const auto& [k, x] : values_)
        if (k == key) return x;
    throw Error("internal: layer option '" + key + "' is not in the layer's schema");
}

OptionValue& LayerOptions::get(const std::string& key) {
    return const_cast<OptionValue&>(static_cast<const LayerOptions&>(*this).get(key));
}

int64_t LayerOptions::integer(const std::string& key) const { return static_cast<int64_t>(std::llround(get(key).number)); }
double LayerOptions::number(const std::string& key) const { return get(key).number; }
bool LayerOptions::flag(const std::string& key) const { return get(key).number != 0; }
const std::string& LayerOptions::text(const std::string& key) const { return get(key).text; }
const std::vector<double>& LayerOptions::numbers(const std::string& key) const { return get(key).list; }

std::vector<int64_t> LayerOptions::ints(const std::string& key) const {
    std::vector<int64_t> out;
    for (double v : get(key).list) out.push_back(static_cast<int64_t>(std::llround(v)));
    return out;
}

const OptionSpec* LayerSchema::find(const std::string& key) const {
    for (const auto& o : options)
        if (o.key == key) return &o;
    return nullptr;
}

LayerOptions LayerSchema::defaults() const {
    LayerOptions o;
    for (const auto& s : options) o.set(s.key, s.def);
    return o;
}

const std::vector<std::string>& common_layer_keys() {
    static const std::vector<std::string> k = {"type", "name", "trainable"};
    return k;
}

}  // namespace nnctl
