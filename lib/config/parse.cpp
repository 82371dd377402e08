#include "config/parse.hpp"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <set>

#include "config/registry.hpp"
#include "layers/registry.hpp"
#include "config/yaml_doc.hpp"
#include "core/error.hpp"
#include "core/fileio.hpp"

namespace nnctl {

int edit_distance(const std::string& a, const std::string& b) {
    std::vector<int> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = int(j);
    for (size_t i = 1; i <= a.size(); ++i) {
        cur[0] = int(i);
        for (size_t j = 1; j <= b.size(); ++j)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

namespace {

using Keys = std::vector<std::string>;

std::string join(const Keys& k) {
    std::string s;
    for (const auto& x : k) s += (s.empty() ? "" : ", ") + x;
    return s;
}

std::string suggest(const std::string& word, const Keys& options) {
    std::string best;
    int bd = 1 << 30;
    for (const auto& o : options) {
        int d = edit_distance(word, o);
        if (d < bd) bd = d, best = o;
    }
    if (!best.empty() && bd <= std::max<int>(2, int(word.size()) / 3)) return "did you mean '" + best + "'? ";
    // A longer or shorter spelling of the same stem ('convolution', 'pooling'): the names sharing
    // its first four letters, or containing it.
    std::vector<std::string> stem;
    for (const auto& o : options)
        if ((word.size() >= 4 && o.compare(0, 4, word, 0, 4) == 0) || (word.size() >= 4 && o.find(word) != std::string::npos))
            stem.push_back(o);
    if (stem.empty() || stem.size() > 4) return "";
    std::string s = "did you mean ";
    for (size_t i = 0; i < stem.size(); ++i) s += (i ? (i + 1 == stem.size() ? " or " : ", ") : "") + ("'" + stem[i] + "'");
    return s + "? ";
}

std::string child(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

/// Reads typed values out of a YAML tree into structs, recording every problem in the document.
class Reader {
public:
    explicit Reader(YamlDoc& doc) : doc_(doc) {}

    /// Report keys of `map` not in `allowed`.
    void check_keys(const YAML::Node& map, const std::string& path, const Keys& allowed, const std::string& what) {
        for (auto it = map.begin(); it != map.end(); ++it) {
            std::string k = it->first.IsScalar() ? it->first.Scalar() : "?";
            if (std::find(allowed.begin(), allowed.end(), k) == allowed.end())
                doc_.error(it->first, child(path, k),
                           "unknown key " + quote_input(k) + " in " + what + " (" + suggest(k, allowed) + "valid keys: " +
                               join(allowed) + ")");
        }
    }

    bool is_map(const YAML::Node& n, const std::string& path, const char* what) {
        if (n.IsMap()) return true;
        doc_.error(n, path, std::string("expected ") + what + ", got " + describe(n));
        return false;
    }

    static std::string describe(const YAML::Node& n) {
        if (n.IsSequence()) return "a list";
        if (n.IsMap()) return "a mapping";
        if (n.IsNull()) return "nothing (null)";
        return quote_input(n.Scalar());
    }

    bool scalar(const YAML::Node& n, const std::string& path, const char* expected) {
        if (n.IsScalar()) return true;
        doc_.error(n, path, std::string("expected ") + expected + ", got " + describe(n));
        return false;
    }

    double number(const YAML::Node& map, const std::string& key, const std::string& path, double def,
                  const std::function<const char*(double)>& check = nullptr) {
        YAML::Node n = map[key];
        if (!n) return def;
        return number_value(n, child(path, key), def, check);
    }

    double number_value(const YAML::Node& n, const std::string& p, double def,
                        const std::function<const char*(double)>& check = nullptr) {
        if (!scalar(n, p, "a number")) return def;
        double v;
        if (!YAML::convert<double>::decode(n, v)) {
            doc_.error(n, p, "expected a number, got " + quote_input(n.Scalar()));
            return def;
        }
        if (!std::isfinite(v)) {
            doc_.error(n, p, "must be a finite number, got " + quote_input(n.Scalar()));
            return def;
        }
        if (check)
            if (const char* problem = check(v)) {
                doc_.error(n, p, std::string(problem) + ", got " + n.Scalar());
                return def;
            }
        return v;
    }

    int64_t integer(const YAML::Node& map, const std::string& key, const std::string& path, int64_t def, int64_t lo,
                    int64_t hi) {
        YAML::Node n = map[key];
        if (!n) return def;
        return integer_value(n, child(path, key), def, lo, hi);
    }

    int64_t integer_value(const YAML::Node& n, const std::string& p, int64_t def, int64_t lo, int64_t hi) {
        if (!scalar(n, p, "an integer")) return def;
        const std::string& s = n.Scalar();
        long long v;
        if (!YAML::convert<long long>::decode(n, v) || (s.size() > 1 && s[0] == '0')) {
            doc_.error(n, p, "expected an integer, got " + quote_input(s));
            return def;
        }
        if (v < lo || v > hi) {
            std::string range = hi == std::numeric_limits<int64_t>::max()
                                    ? "at least " + std::to_string(lo)
                                    : lo == std::numeric_limits<int64_t>::min()
                                          ? "at most " + std::to_string(hi)
                                          : "between " + std::to_string(lo) + " and " + std::to_string(hi);
            std::string hint;
            const std::string key = p.substr(p.find_last_of('.') + 1);
            if (key == "units" && v > hi) {  // say what it would have cost, before allocating anything
                double gb = double(v) * 4.0 * 2.0 / 1e9;
                char buf[96];
                std::snprintf(buf, sizeof buf, " (a layer that wide needs %.3g GB for one sample's activations and "
                              "gradients alone)", gb);
                hint = buf;
            }
            doc_.error(n, p, "must be " + range + ", got " + s + hint);
            return def;
        }
        return v;
    }

    bool boolean(const YAML::Node& map, const std::string& key, const std::string& path, bool def) {
        YAML::Node n = map[key];
        if (!n) return def;
        return boolean_value(n, child(path, key), def);
    }

    bool boolean_value(const YAML::Node& n, const std::string& p, bool def) {
        if (!scalar(n, p, "true or false")) return def;
        bool v;
        if (!YAML::convert<bool>::decode(n, v)) {
            doc_.error(n, p, "expected true or false, got " + quote_input(n.Scalar()));
            return def;
        }
        return v;
    }

    std::string string(const YAML::Node& map, const std::string& key, const std::string& path, const std::string& def,
                       const Keys& choices = {}) {
        YAML::Node n = map[key];
        if (!n) return def;
        return string_value(n, child(path, key), def, choices);
    }

    std::string string_value(const YAML::Node& n, const std::string& p, const std::string& def,
                             const Keys& choices = {}, const std::string& what = "value") {
        if (!scalar(n, p, "a string")) return def;
        const std::string& s = n.Scalar();
        if (!choices.empty() && std::find(choices.begin(), choices.end(), s) == choices.end()) {
            doc_.error(n, p, "unknown " + what + " " + quote_input(s) + " (" + suggest(s, choices) + "known: " + join(choices) + ")");
            return def;
        }
        return s;
    }

    YamlDoc& doc() { return doc_; }

private:
    YamlDoc& doc_;
};

const char* positive(double v) { return v > 0 ? nullptr : "must be greater than 0"; }
const char* non_negative(double v) { return v >= 0 ? nullptr : "must be 0 or more"; }
const char* unit_open(double v) { return (v >= 0 && v < 1) ? nullptr : "must be in [0, 1)"; }
const char* unit_closed(double v) { return (v >= 0 && v <= 1) ? nullptr : "must be in [0, 1]"; }
const char* fraction(double v) { return (v >= 0 && v < 1) ? nullptr : "must be a fraction in [0, 1)"; }

constexpr int64_t kMaxUnits = 10'000'000;  // a layer wider than this is a typo, not a plan
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();

// ------------------------------------------------------------------ pieces
ActivationFn read_activation(Reader& r, const YAML::Node& n, const std::string& path) {
    ActivationFn a;
    if (n.IsMap()) {
        r.check_keys(n, path, {"type", "alpha"}, "an activation");
        a.name = r.string(n, "type", path, "linear", activation_names());
        a.alpha = r.number(n, "alpha", path, activation_default_alpha(a.name));
    } else {
        a.name = r.string_value(n, path, "linear", activation_names());
        a.alpha = activation_default_alpha(a.name);
    }
    return a;
}

InitializerSpec read_initializer(Reader& r, const YAML::Node& n, const std::string& path, const std::string& def) {
    InitializerSpec s;
    s.type = def;
    if (!n) return s;
    if (n.IsMap()) {
        r.check_keys(n, path, {"type", "value", "mean", "stddev", "minval", "maxval"}, "an initializer");
        s.type = r.string(n, "type", path, def, initializer_names());
        s.value = r.number(n, "value", path, 0.0);
        s.mean = r.number(n, "mean", path, 0.0);
        s.stddev = r.number(n, "stddev", path, 0.05, non_negative);
        s.minval = r.number(n, "minval", path, -0.05);
        s.maxval = r.number(n, "maxval", path, 0.05);
        if (s.minval > s.maxval) r.doc().error(n, path, "minval must not exceed maxval");
    } else {
        s.type = r.string_value(n, path, def, initializer_names());
    }
    return s;
}

RegularizerSpec read_regularizer(Reader& r, const YAML::Node& n, const std::string& path) {
    RegularizerSpec s;
    if (!n || n.IsNull()) return s;
    if (n.IsScalar()) {  // Keras' string shorthand: factor 0.01
        std::string t = r.string_value(n, path, "", regularizer_names());
        if (t == "l1" || t == "l1_l2") s.l1 = 0.01;
        if (t == "l2" || t == "l1_l2") s.l2 = 0.01;
        return s;
    }
    if (!r.is_map(n, path, "a regularizer such as {l2: 0.01}")) return s;
    r.check_keys(n, path, {"type", "l1", "l2"}, "a regularizer");
    std::string t = r.string(n, "type", path, "", regularizer_names());
    s.l1 = r.number(n, "l1", path, 0.0, non_negative);
    s.l2 = r.number(n, "l2", path, 0.0, non_negative);
    if (t == "l1" && n["l2"]) r.doc().error(n["l2"], child(path, "l2"), "an l1 regularizer takes only l1");
    if (t == "l2" && n["l1"]) r.doc().error(n["l1"], child(path, "l1"), "an l2 regularizer takes only l2");
    if (!t.empty() && !n["l1"] && !n["l2"]) {  // {type: l2} alone: Keras' default factor
        if (t == "l1" || t == "l1_l2") s.l1 = 0.01;
        if (t == "l2" || t == "l1_l2") s.l2 = 0.01;
    }
    return s;
}

std::string article(const std::string& word) {
    return (!word.empty() && std::string("aeio").find(word[0]) != std::string::npos ? "an " : "a ") + word;
}

int64_t int_bound(double v, bool low) {
    if (!std::isfinite(v)) return low ? std::numeric_limits<int64_t>::min() : kI64Max;
    return static_cast<int64_t>(v);
}

LayerConfig read_layer(Reader& r, const YAML::Node& n, const std::string& path);

/// One layer option of any kind, checked against its spec.
OptionValue read_option(Reader& r, const OptionSpec& o, const YAML::Node& n, const std::string& path) {
    OptionValue v = o.def;
    if (n.IsNull() && o.nullable) {
        v.null = true;
        return v;
    }
    v.null = false;
    YamlDoc& doc = r.doc();
    const size_t before = doc.errors().size();
    auto in_range = [&](double x) { return !(x < o.min || x > o.max || (o.min_open && x == o.min) || (o.max_open && x == o.max)); };
    auto range_error = [&](const YAML::Node& at, const std::string& p) {
        doc.error(at, p, "must be " + o.range_text() + ", got " + at.Scalar());
    };
    auto one_int = [&](const YAML::Node& x, const std::string& p) {
        return double(r.integer_value(x, p, 0, int_bound(o.min, true), int_bound(o.max, false)));
    };
    auto one_number = [&](const YAML::Node& x, const std::string& p) {
        const size_t b = doc.errors().size();
        double d = r.number_value(x, p, 0.0);
        if (doc.errors().size() == b && !in_range(d)) range_error(x, p);
        return d;
    };
    auto list_of = [&](auto one, bool tuple) {
        std::vector<double> out;
        if (n.IsScalar() && tuple) {
            double x = one(n, path);
            if (o.kind == OptionKind::IntTuple) out.assign(size_t(o.tuple), x);
            else out.push_back(x);
            return out;
        }
        const std::string want = tuple ? "a number or a list of " + std::to_string(o.tuple) : "a list of integers";
        if (!n.IsSequence()) {
            doc.error(n, path, "expected " + (o.kind == OptionKind::IntTuple ? "an integer or a list of " + std::to_string(o.tuple) + " integers" : want) + ", got " + Reader::describe(n));
            return out;
        }
        if (tuple && int(n.size()) != o.tuple) {
            doc.error(n, path, "expected " + std::to_string(o.tuple) + " values, got " + std::to_string(n.size()));
            return out;
        }
        if (!tuple && n.size() == 0) {
            doc.error(n, path, "expected a non-empty list");
            return out;
        }
        for (size_t i = 0; i < n.size(); ++i) out.push_back(one(n[i], child(path, std::to_string(i))));
        return out;
    };
    switch (o.kind) {
        case OptionKind::Integer: v.number = one_int(n, path); break;
        case OptionKind::Number: v.number = one_number(n, path); break;
        case OptionKind::Boolean: v.number = r.boolean_value(n, path, o.def.number != 0) ? 1 : 0; break;
        case OptionKind::Choice: v.text = r.string_value(n, path, o.def.text, o.choices); break;
        case OptionKind::Text: v.text = r.string_value(n, path, o.def.text); break;
        case OptionKind::Activation: v.activation = read_activation(r, n, path); break;
        case OptionKind::Initializer: v.initializer = read_initializer(r, n, path, o.def.initializer.type); break;
        case OptionKind::Regularizer: v.regularizer = read_regularizer(r, n, path); break;
        case OptionKind::IntTuple: v.list = list_of(one_int, true); break;
        case OptionKind::NumberTuple: v.list = list_of(one_number, true); break;
        case OptionKind::IntList: v.list = list_of(one_int, false); break;
        case OptionKind::Layer: {
            LayerConfig inner = read_layer(r, n, path);
            if (n.IsMap() && n["name"])
                doc.error(n["name"], child(path, "name"), "a wrapped layer is named after its wrapper; give the wrapper the name");
            v.layer.type = inner.type;
            v.layer.options = std::make_shared<LayerOptions>(std::move(inner.options));
            break;
        }
        case OptionKind::IntPairs: {
            // 2 → every side 2; [1, 2] → one amount per axis; [[1, 2], [3, 4]] → (before, after) per axis.
            // A single axis also takes [before, after] directly, as Keras' 1-D layers do.
            const std::string want = o.tuple == 1 ? "an integer or [before, after]"
                                                  : "an integer, one integer per axis or one [before, after] pair per axis";
            v.list.clear();
            if (n.IsScalar()) {
                v.list.assign(size_t(2 * o.tuple), one_int(n, path));
            } else if (!n.IsSequence()) {
                doc.error(n, path, "expected " + want + ", got " + Reader::describe(n));
            } else if (o.tuple == 1 && n.size() == 2) {
                for (size_t i = 0; i < 2; ++i) v.list.push_back(one_int(n[i], child(path, std::to_string(i))));
            } else if (int(n.size()) != o.tuple) {
                doc.error(n, path, "expected " + want + " (" + std::to_string(o.tuple) + " axes), got " +
                                       std::to_string(n.size()) + " values");
            } else {
                for (size_t i = 0; i < n.size(); ++i) {
                    const std::string p = child(path, std::to_string(i));
                    if (n[i].IsSequence()) {
                        if (n[i].size() != 2) doc.error(n[i], p, "expected [before, after]");
                        else
                            for (size_t k = 0; k < 2; ++k) v.list.push_back(one_int(n[i][k], child(p, std::to_string(k))));
                    } else {
                        const double x = one_int(n[i], p);
                        v.list.push_back(x), v.list.push_back(x);
                    }
                }
            }
            break;
        }
    }
    if (doc.errors().size() != before) return o.def;
    return v;
}

LayerConfig read_layer(Reader& r, const YAML::Node& n, const std::string& path) {
    LayerConfig l;
    l.where = r.doc().where(n, path) + ": " + path;
    if (!r.is_map(n, path, "a layer mapping such as {type: dense, units: 64}")) return l;
    if (!n["type"]) {
        r.doc().error(n, path, "missing key 'type' (known layer types: " + join(layer_types()) + ")");
        return l;
    }
    l.type = r.string_value(n["type"], child(path, "type"), "", layer_types(), "layer type");
    l.name = r.string(n, "name", path, "");
    l.trainable = r.boolean(n, "trainable", path, true);
    if (YAML::Node in = n["inputs"]) {
        const std::string ip = child(path, "inputs");
        if (in.IsScalar()) l.inputs.push_back(r.string_value(in, ip, ""));
        else if (in.IsSequence() && in.size() > 0)
            for (size_t i = 0; i < in.size(); ++i) l.inputs.push_back(r.string_value(in[i], child(ip, std::to_string(i)), ""));
        else r.doc().error(in, ip, "expected a layer or model input name, or a list of them (e.g. [conv_1, skip])");
    }
    const LayerSchema* schema = find_layer_schema(l.type);
    if (!schema) return l;
    Keys allowed = {"type", "name", "inputs"};
    for (const auto& o : schema->options) allowed.push_back(o.key);
    allowed.push_back("trainable");
    r.check_keys(n, path, allowed, article(l.type) + " layer");
    const size_t before = r.doc().errors().size();
    for (const auto& o : schema->options) {
        YAML::Node v = n[o.key];
        if (!v) {
            if (o.required) r.doc().error(n, path, "missing key '" + o.key + "' (" + o.required_hint + ")");
            l.options.set(o.key, o.def);
        } else {
            l.options.set(o.key, read_option(r, o, v, child(path, o.key)));
        }
    }
    if (schema->check && r.doc().errors().size() == before)
        for (const auto& p : schema->check(l.options)) {
            if (!p.key.empty() && n[p.key]) r.doc().error(n[p.key], child(path, p.key), p.problem);
            else r.doc().error(n, path, p.problem);
        }
    return l;
}

/// Relative data paths are looked up next to the config file first, then in the working directory;
/// the result is absolute so that a run directory's resolved config works from anywhere.
std::string resolve_data_path(const std::string& p, const std::string& config_file) {
    if (p.empty()) return p;
    auto absolute = [](const std::string& path) {
        char buf[PATH_MAX];
        return ::realpath(path.c_str(), buf) ? std::string(buf) : path;
    };
    struct stat st {};
    if (p[0] == '/') return p;
    auto slash = config_file.find_last_of('/');
    std::string beside = (slash == std::string::npos ? std::string() : config_file.substr(0, slash + 1)) + p;
    if (::stat(beside.c_str(), &st) == 0) return absolute(beside);
    if (::stat(p.c_str(), &st) == 0) return absolute(p);
    return p;  // reported as missing, with this name, when the data is loaded
}

std::vector<std::string> read_string_list(Reader& r, const YAML::Node& n, const std::string& path, const char* what) {
    std::vector<std::string> out;
    if (!n.IsSequence()) {
        r.doc().error(n, path, std::string("expected a list of ") + what);
        return out;
    }
    for (size_t i = 0; i < n.size(); ++i) out.push_back(r.string_value(n[i], child(path, std::to_string(i)), ""));
    return out;
}

DataSourceConfig read_source(Reader& r, const YAML::Node& n, const std::string& path) {
    DataSourceConfig s;
    s.where = r.doc().where(n, path);
    if (!r.is_map(n, path, "a data source such as {format: csv, path: data.csv, target: label}")) return s;
    static const Keys formats = {"synthetic", "csv", "idx", "npy", "image_folder", "timeseries", "text"};
    if (!n["format"]) {
        r.doc().error(n, path, "missing key 'format' (one of: " + join(formats) + ")");
        return s;
    }
    s.format = r.string(n, "format", path, "", formats);
    const Keys any = {"format", "max_samples", "take", "class_names", "keep_classes"};
    auto keys = [&](Keys extra) {
        extra.insert(extra.begin(), any.begin(), any.end());
        return extra;
    };
    auto required_path = [&](const char* key, const char* what) {
        if (!n[key]) r.doc().error(n, path, std::string("missing key '") + key + "' (" + what + ")");
        return resolve_data_path(r.string(n, key, path, ""), r.doc().filename());
    };
    if (s.format == "synthetic") {
        r.check_keys(n, path, keys({"samples", "features", "classes", "task", "outputs", "seed", "noise"}),
                     "a synthetic source");
        s.samples = r.integer(n, "samples", path, 1000, 1, 100'000'000);
        s.features = r.integer(n, "features", path, 20, 1, kMaxUnits);
        s.task = r.string(n, "task", path, "classification", {"classification", "regression"});
        s.classes = r.integer(n, "classes", path, 10, 2, kMaxUnits);
        s.outputs = r.integer(n, "outputs", path, 1, 1, kMaxUnits);
        s.seed = uint64_t(r.integer(n, "seed", path, 1, 0, kI64Max));
        s.noise = r.number(n, "noise", path, 0.1, non_negative);
        if (double(s.samples) * double(s.features) * 4.0 > 16e9)
            r.doc().error(n, path, "samples × features needs " +
                                       std::to_string(int64_t(double(s.samples) * double(s.features) * 4.0 / 1e9)) +
                                       " GB of memory; refusing");
    } else if (s.format == "csv") {
        r.check_keys(n, path, keys({"path", "target", "features", "categorical", "delimiter", "header", "missing"}),
                     "a csv source");
        s.path = required_path("path", "the CSV file");
        if (!n["target"]) r.doc().error(n, path, "missing key 'target' (the target column's name, or index)");
        else if (n["target"].IsSequence()) s.target_list = read_string_list(r, n["target"], child(path, "target"), "target columns");
        else s.target = r.string(n, "target", path, "");
        if (YAML::Node f = n["features"]) s.feature_columns = read_string_list(r, f, child(path, "features"), "columns");
        if (YAML::Node f = n["categorical"]) s.categorical = read_string_list(r, f, child(path, "categorical"), "columns");
        std::string d = r.string(n, "delimiter", path, ",");
        if (d == "\\t" || d == "tab") d = "\t";
        if (d.size() != 1 || d == "\"" || d == "\n" || d == "\r")
            r.doc().error(n["delimiter"], child(path, "delimiter"), "must be a single character other than a quote or newline");
        else s.delimiter = d[0];
        s.header = r.boolean(n, "header", path, true);
        s.missing = r.string(n, "missing", path, "error", {"error", "drop", "mean"});
    } else if (s.format == "timeseries") {
        // Windowing keys are required on the training source only: a validation or test series is
        // cut with the training source's windows (and a key given there must match them).
        const bool train = path == "data.train";
        r.check_keys(n, path,
                     {"format", "path", "date", "features", "targets", "sequence_length", "sequence_stride",
                      "sampling_rate", "horizon", "missing", "scale", "season", "delimiter", "max_samples"},
                     "a timeseries source");
        s.path = required_path("path", "the CSV file of the series, one row per time step, with a header");
        s.date_column = r.string(n, "date", path, "");
        if (YAML::Node f = n["features"]) s.feature_columns = read_string_list(r, f, child(path, "features"), "columns");
        if (YAML::Node t = n["targets"]) {
            if (t.IsScalar()) s.target_columns.push_back(r.string_value(t, child(path, "targets"), ""));
            else s.target_columns = read_string_list(r, t, child(path, "targets"), "columns");
            if (t.IsSequence() && t.size() == 0) r.doc().error(t, child(path, "targets"), "expected at least one column");
        } else if (train) {
            r.doc().error(n, path, "missing key 'targets' (the column or list of columns to forecast)");
        }
        if (!n["sequence_length"] && train)
            r.doc().error(n, path, "missing key 'sequence_length' (rows of history in each window)");
        s.sequence_length = r.integer(n, "sequence_length", path, 0, 1, 1'000'000);
        s.sequence_stride = r.integer(n, "sequence_stride", path, train ? 1 : 0, 1, 1'000'000);
        s.sampling_rate = r.integer(n, "sampling_rate", path, train ? 1 : 0, 1, 1'000'000);
        s.horizon = r.integer(n, "horizon", path, train ? 1 : 0, 1, 1'000'000);
        s.season = r.integer(n, "season", path, 0, 1, 1'000'000);
        s.missing = r.string(n, "missing", path, "error", {"error", "interpolate", "drop"});
        s.scale = r.string(n, "scale", path, train ? "standardize" : "", {"none", "standardize", "minmax"});
        std::string d = r.string(n, "delimiter", path, ",");
        if (d == "\\t" || d == "tab") d = "\t";
        if (d.size() != 1 || d == "\"" || d == "\n" || d == "\r")
            r.doc().error(n["delimiter"], child(path, "delimiter"), "must be a single character other than a quote or newline");
        else s.delimiter = d[0];
        if (!s.date_column.empty())
            for (size_t i = 0; i < s.feature_columns.size(); ++i)
                if (s.feature_columns[i] == s.date_column)
                    r.doc().error(n["features"][i], child(path, "features." + std::to_string(i)),
                                  "'" + s.date_column + "' is the date column; it cannot also be a feature");
        if (!s.date_column.empty())
            for (size_t i = 0; i < s.target_columns.size(); ++i)
                if (s.target_columns[i] == s.date_column)
                    r.doc().error(n["targets"].IsSequence() ? n["targets"][i] : n["targets"], child(path, "targets"),
                                  "'" + s.date_column + "' is the date column; it cannot also be a target");
    } else if (s.format == "text") {
        // The vectorizer (standardize ... max_tokens) is fitted on the training rows: its keys belong
        // to data.train; a validation or test source is read and vectorized the training way.
        const bool train = path == "data.train" || path.empty();
        static const Keys vectorizer = {"standardize", "split", "output_mode", "ngrams", "max_tokens",
                                        "output_sequence_length", "pad_to_max_tokens"};
        Keys allowed = keys({"path", "text", "target", "delimiter", "header", "missing", "deduplicate"});
        if (train) allowed.insert(allowed.end(), vectorizer.begin(), vectorizer.end());
        else
            for (const auto& k : vectorizer)
                if (n[k])
                    r.doc().error(n[k], child(path, k),
                                  "'" + k + "' belongs to data.train: the vocabulary is fitted on the training rows "
                                  "and applied unchanged to validation and test data");
        r.check_keys(n, path, allowed, "a text source");
        s.path = required_path("path", "a CSV/TSV, JSON lines or JSON file, or a folder of one sub-folder of .txt "
                                       "files per class");
        s.text_column = r.string(n, "text", path, train ? "text" : "");
        s.target = r.string(n, "target", path, "");
        struct stat st {};
        if (train && !n["target"] && ::stat(s.path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
            r.doc().error(n, path, "missing key 'target' (the column or key holding each text's class or value; "
                                   "a folder source takes its classes from the sub-folders instead)");
        std::string d = r.string(n, "delimiter", path, "");
        if (d == "\\t" || d == "tab") d = "\t";
        if (n["delimiter"] && (d.size() != 1 || d == "\"" || d == "\n" || d == "\r"))
            r.doc().error(n["delimiter"], child(path, "delimiter"), "must be a single character other than a quote or newline");
        else if (d.size() == 1) s.delimiter = d[0];
        else s.delimiter = s.path.size() > 4 && s.path.compare(s.path.size() - 4, 4, ".tsv") == 0 ? '\t' : ',';
        s.header = r.boolean(n, "header", path, true);
        s.missing = r.string(n, "missing", path, "error", {"error", "drop"});
        s.deduplicate = r.boolean(n, "deduplicate", path, false);
        s.standardize = r.string(n, "standardize", path, "lower_and_strip_punctuation",
                                 {"lower_and_strip_punctuation", "lower", "strip_punctuation", "none"});
        s.split = r.string(n, "split", path, "whitespace", {"whitespace", "character", "none"});
        s.output_mode = r.string(n, "output_mode", path, "int", {"int", "multi_hot", "count", "tf_idf"});
        s.ngrams = r.integer(n, "ngrams", path, 1, 1, 16);
        s.max_tokens = r.integer(n, "max_tokens", path, 0, 3, 100'000'000);
        s.output_sequence_length = r.integer(n, "output_sequence_length", path, 0, 1, 1'000'000);
        s.pad_to_max_tokens = r.boolean(n, "pad_to_max_tokens", path, false);
        if (n["output_sequence_length"] && s.output_mode != "int")
            r.doc().error(n["output_sequence_length"], child(path, "output_sequence_length"),
                          "only output_mode: int gives sequences; " + s.output_mode + " gives one vector per text");
        if (n["pad_to_max_tokens"] && s.pad_to_max_tokens && (s.output_mode == "int" || !n["max_tokens"]))
            r.doc().error(n["pad_to_max_tokens"], child(path, "pad_to_max_tokens"),
                          "pad_to_max_tokens needs max_tokens and an output_mode other than int");
    } else if (s.format == "idx") {
        r.check_keys(n, path, keys({"images", "labels"}), "an idx source");
        s.images = required_path("images", "the IDX images file, e.g. train-images-idx3-ubyte.gz");
        s.labels = required_path("labels", "the IDX labels file, e.g. train-labels-idx1-ubyte.gz");
    } else if (s.format == "image_folder") {
        r.check_keys(n, path, keys({"path", "image_size", "color_mode", "on_error"}), "an image_folder source");
        s.path = required_path("path", "the folder holding one sub-folder of images per class");
        if (YAML::Node sz = n["image_size"]) {
            OptionSpec spec = opt_ints("image_size", 2, 256, "");
            spec.max = 16384;
            std::vector<double> hw = read_option(r, spec, sz, child(path, "image_size")).list;
            s.image_height = int64_t(hw[0]), s.image_width = int64_t(hw[1]);
        }
        s.color_mode = r.string(n, "color_mode", path, "rgb", {"grayscale", "rgb", "rgba"});
        s.on_error = r.string(n, "on_error", path, "error", {"error", "skip"});
    } else if (s.format == "npy") {
        r.check_keys(n, path, keys({"features", "targets"}), "an npy source");
        s.features_path = required_path("features", "the .npy file of inputs, shape (n, ...)");
        s.targets_path = required_path("targets", "the .npy file of targets, shape (n,) or (n, outputs)");
    }
    s.max_samples = r.integer(n, "max_samples", path, 0, 1, kI64Max);
    s.take = r.integer(n, "take", path, 0, 1, kI64Max);
    if (n["max_samples"] && n["take"])
        r.doc().error(n["take"], child(path, "take"), "give either max_samples (the first rows) or take (a random subset)");
    if (YAML::Node c = n["class_names"]) s.class_names = read_string_list(r, c, child(path, "class_names"), "names");
    if (YAML::Node c = n["keep_classes"]) {
        s.keep_classes = read_string_list(r, c, child(path, "keep_classes"), "class names or indices");
        if (s.format != "idx" && s.format != "npy" && s.format != "image_folder")
            r.doc().error(c, child(path, "keep_classes"), "keep_classes is for idx, npy and image_folder sources");
        else if (c.IsSequence() && c.size() == 0)
            r.doc().error(c, child(path, "keep_classes"), "expected at least one class");
    }
    return s;
}

DataConfig read_data(Reader& r, const YAML::Node& n, const std::string& path) {
    DataConfig d;
    if (!r.is_map(n, path, "a mapping with train (and optional validation, test)")) return d;
    r.check_keys(n, path,
                 {"train", "validation", "test", "validation_split", "test_split", "split_shuffle", "preprocess", "limits"},
                 "the data section");
    if (YAML::Node l = n["limits"]) {
        const std::string lp = child(path, "limits");
        if (r.is_map(l, lp, "a mapping such as {line_bytes: 67108864, gzip_ratio: 250}")) {
            r.check_keys(l, lp, {"line_bytes", "field_bytes", "columns", "gzip_ratio", "image_pixels"}, "the read limits");
            const ReadLimits def;
            d.limits.line_bytes = r.integer(l, "line_bytes", lp, def.line_bytes, 1, kI64Max);
            d.limits.field_bytes = r.integer(l, "field_bytes", lp, def.field_bytes, 1, kI64Max);
            d.limits.columns = r.integer(l, "columns", lp, def.columns, 1, kI64Max);
            d.limits.gzip_ratio = r.number(l, "gzip_ratio", lp, def.gzip_ratio, [](double v) -> const char* {
                return v >= 1 ? nullptr : "must be 1 or more";
            });
            d.limits.image_pixels = r.integer(l, "image_pixels", lp, def.image_pixels, 1, kI64Max);
        }
    }
    if (YAML::Node p = n["preprocess"]) {
        const std::string pp = child(path, "preprocess");
        static const Keys kinds = {"none", "rescale", "standardize", "minmax"};
        if (p.IsScalar()) {
            d.preprocess = r.string_value(p, pp, "none", kinds);
            if (d.preprocess == "rescale") r.doc().error(p, pp, "rescale needs a factor: {rescale: 0.00392156862745098}");
        } else if (r.is_map(p, pp, "standardize, minmax, or {rescale: FACTOR}")) {
            r.check_keys(p, pp, {"rescale", "standardize", "minmax"}, "preprocess");
            if (p.size() != 1) r.doc().error(p, pp, "give exactly one of rescale, standardize, minmax");
            if (p["rescale"]) {
                d.preprocess = "rescale";
                d.rescale = r.number(p, "rescale", pp, 1.0, positive);
            } else if (p["standardize"]) {
                d.preprocess = r.boolean(p, "standardize", pp, false) ? "standardize" : "none";
            } else if (p["minmax"]) {
                d.preprocess = r.boolean(p, "minmax", pp, false) ? "minmax" : "none";
            }
        }
    }
    if (!n["train"]) r.doc().error(n, path, "missing key 'train' (the training data source)");
    else d.train = read_source(r, n["train"], child(path, "train"));
    if (n["validation"]) d.validation = read_source(r, n["validation"], child(path, "validation"));
    if (n["test"]) d.test = read_source(r, n["test"], child(path, "test"));
    d.validation_split = r.number(n, "validation_split", path, 0.0, fraction);
    d.test_split = r.number(n, "test_split", path, 0.0, fraction);
    if (d.validation && n["validation_split"])
        r.doc().error(n["validation_split"], child(path, "validation_split"),
                      "give either a validation source or validation_split, not both");
    if (d.test && n["test_split"])
        r.doc().error(n["test_split"], child(path, "test_split"), "give either a test source or test_split, not both");
    if (d.validation_split + d.test_split >= 1.0)
        r.doc().error(n, path, "validation_split + test_split leaves no training data");
    d.split_shuffle = r.boolean(n, "split_shuffle", path, true);
    // A time series is split by time (the last stretches), never shuffled, so split_shuffle is
    // ignored for it; its columns are scaled by the source's own `scale` key, not by preprocess.
    if (d.train.format == "timeseries") {
        if (YAML::Node p = n["preprocess"]; p && d.preprocess != "none")
            r.doc().error(p, child(path, "preprocess"),
                          "a timeseries source scales its columns itself: use data.train.scale (standardize, "
                          "minmax or none) instead");
        for (const char* k : {"validation", "test"})
            if (YAML::Node v = n[k]; v && v.IsMap() && v["format"] && v["format"].IsScalar() &&
                                     v["format"].Scalar() != "timeseries")
                r.doc().error(v["format"], child(path, std::string(k) + ".format"),
                              "the training source is a timeseries: the " + std::string(k) +
                                  " source must be one too (or use " + k + "_split)");
    } else if (d.train.format == "text") {
        if (YAML::Node p = n["preprocess"]; p && d.preprocess != "none")
            r.doc().error(p, child(path, "preprocess"),
                          "a text source gives token ids or counts: preprocess does not apply (tf_idf weights counts)");
        for (auto* v : {&d.validation, &d.test})
            if (*v && (*v)->format == "text") {  // unnamed columns: the training source's
                if ((*v)->text_column.empty()) (*v)->text_column = d.train.text_column;
                if ((*v)->target.empty()) (*v)->target = d.train.target;
            }
        for (const char* k : {"validation", "test"})
            if (YAML::Node v = n[k]; v && v.IsMap() && v["format"] && v["format"].IsScalar() &&
                                     v["format"].Scalar() != "text")
                r.doc().error(v["format"], child(path, std::string(k) + ".format"),
                              "the training source is text: the " + std::string(k) + " source must be one too (or use " +
                              k + "_split)");
    } else {
        for (const char* k : {"validation", "test"})
            if (YAML::Node v = n[k]; v && v.IsMap() && v["format"] && v["format"].IsScalar() &&
                                     (v["format"].Scalar() == "timeseries" || v["format"].Scalar() == "text"))
                r.doc().error(v["format"], child(path, std::string(k) + ".format"),
                              "a " + v["format"].Scalar() + " " + std::string(k) + " source needs a " +
                                  v["format"].Scalar() + " training source");
    }
    return d;
}

Loss read_loss(Reader& r, const YAML::Node& n, const std::string& path) {
    Loss l;
    Keys names = loss_names();
    Keys accepted = names;
    accepted.insert(accepted.end(), {"mse", "mae", "huber_loss"});
    if (n.IsMap()) {
        r.check_keys(n, path, {"type", "from_logits", "delta"}, "the loss");
        if (!n["type"]) r.doc().error(n, path, "missing key 'type' (known: " + join(names) + ")");
        l.type = canonical_loss_name(r.string(n, "type", path, "mean_squared_error", accepted));
        l.from_logits = r.boolean(n, "from_logits", path, false);
        l.delta = r.number(n, "delta", path, 1.0, positive);
        if (n["from_logits"] && !l.is_classification())
            r.doc().error(n["from_logits"], child(path, "from_logits"), "only cross-entropy losses take from_logits");
        if (n["delta"] && l.type != "huber")
            r.doc().error(n["delta"], child(path, "delta"), "only the huber loss takes delta");
    } else {
        l.type = canonical_loss_name(r.string_value(n, path, "mean_squared_error", accepted));
    }
    return l;
}

ScheduleSpec read_learning_rate(Reader& r, const YAML::Node& parent, const std::string& path, double def) {
    ScheduleSpec s;
    s.initial_learning_rate = def;
    YAML::Node n = parent["learning_rate"];
    if (!n) return s;
    const std::string p = child(path, "learning_rate");
    if (!n.IsMap()) {
        s.initial_learning_rate = r.number(parent, "learning_rate", path, def, positive);
        return s;
    }
    Keys types = schedule_names();
    s.type = r.string(n, "type", p, "constant", types);
    if (!n["type"]) r.doc().error(n, p, "missing key 'type' (known schedules: " + join(types) + ")");
    if (!n["initial_learning_rate"] && s.type != "piecewise_constant")
        r.doc().error(n, p, "missing key 'initial_learning_rate'");
    s.initial_learning_rate = r.number(n, "initial_learning_rate", p, def, positive);
    if (s.type == "constant") {
        r.check_keys(n, p, {"type", "initial_learning_rate"}, "a constant learning rate");
    } else if (s.type == "exponential_decay") {
        r.check_keys(n, p, {"type", "initial_learning_rate", "decay_steps", "decay_rate", "staircase"},
                     "exponential_decay");
        s.decay_steps = r.integer(n, "decay_steps", p, 1000, 1, kI64Max);
        s.decay_rate = r.number(n, "decay_rate", p, 0.96, positive);
        s.staircase = r.boolean(n, "staircase", p, false);
    } else if (s.type == "piecewise_constant") {
        r.check_keys(n, p, {"type", "boundaries", "values"}, "piecewise_constant");
        YAML::Node b = n["boundaries"], v = n["values"];
        if (!b || !b.IsSequence() || !v || !v.IsSequence()) {
            r.doc().error(n, p, "needs lists 'boundaries' (steps) and 'values' (one more than boundaries)");
        } else {
            for (size_t i = 0; i < b.size(); ++i) {
                long long x;
                if (!b[i].IsScalar() || !YAML::convert<long long>::decode(b[i], x) || x < 0)
                    r.doc().error(b[i], child(p, "boundaries." + std::to_string(i)), "expected a step number ≥ 0");
                else if (!s.boundaries.empty() && x <= s.boundaries.back())
                    r.doc().error(b[i], child(p, "boundaries." + std::to_string(i)), "boundaries must increase");
                else
                    s.boundaries.push_back(x);
            }
            for (size_t i = 0; i < v.size(); ++i) {
                double x;
                if (!v[i].IsScalar() || !YAML::convert<double>::decode(v[i], x) || !(x > 0) || !std::isfinite(x))
                    r.doc().error(v[i], child(p, "values." + std::to_string(i)), "expected a learning rate > 0");
                else
                    s.values.push_back(x);
            }
            if (v.size() != b.size() + 1)
                r.doc().error(v, child(p, "values"),
                              "needs exactly one more value than boundaries (" + std::to_string(b.size() + 1) + ")");
            if (!s.values.empty()) s.initial_learning_rate = s.values[0];
        }
    } else if (s.type == "cosine_decay") {
        r.check_keys(n, p, {"type", "initial_learning_rate", "decay_steps", "alpha", "warmup_steps", "warmup_target"},
                     "cosine_decay");
        if (!n["decay_steps"]) r.doc().error(n, p, "missing key 'decay_steps'");
        s.decay_steps = r.integer(n, "decay_steps", p, 1000, 1, kI64Max);
        s.alpha = r.number(n, "alpha", p, 0.0, unit_closed);
        s.warmup_steps = r.integer(n, "warmup_steps", p, 0, 0, kI64Max);
        s.warmup_target = r.number(n, "warmup_target", p, -1.0, positive);
        if (s.warmup_steps > 0 && s.warmup_target < 0)
            r.doc().error(n, p, "warmup_steps needs warmup_target (the rate reached after warmup)");
    }
    return s;
}

OptimizerSpec read_optimizer(Reader& r, const YAML::Node& n, const std::string& path) {
    OptimizerSpec o;
    const Keys& types = optimizer_names();
    if (!n.IsMap()) {
        o.type = r.string_value(n, path, "adam", types);
        o.learning_rate.initial_learning_rate = o.type == "sgd" ? 0.01 : 0.001;
        return o;
    }
    if (!n["type"]) r.doc().error(n, path, "missing key 'type' (known: " + join(types) + ")");
    o.type = r.string(n, "type", path, "adam", types);
    Keys common = {"type", "learning_rate", "clipnorm", "global_clipnorm", "clipvalue"};
    Keys extra;
    if (o.type == "sgd") extra = {"momentum", "nesterov"};
    else if (o.type == "adam") extra = {"beta_1", "beta_2", "epsilon", "amsgrad"};
    else if (o.type == "adamw") extra = {"beta_1", "beta_2", "epsilon", "amsgrad", "weight_decay"};
    else if (o.type == "rmsprop") extra = {"rho", "momentum", "epsilon", "centered"};
    else if (o.type == "adagrad") extra = {"initial_accumulator_value", "epsilon"};
    else if (o.type == "nadam") extra = {"beta_1", "beta_2", "epsilon"};
    Keys allowed = common;
    allowed.insert(allowed.end(), extra.begin(), extra.end());
    r.check_keys(n, path, allowed, "the " + o.type + " optimizer");
    o.learning_rate = read_learning_rate(r, n, path, o.type == "sgd" ? 0.01 : 0.001);
    o.beta_1 = r.number(n, "beta_1", path, 0.9, unit_open);
    o.beta_2 = r.number(n, "beta_2", path, 0.999, unit_open);
    o.epsilon = r.number(n, "epsilon", path, 1e-7, positive);
    o.amsgrad = r.boolean(n, "amsgrad", path, false);
    o.weight_decay = r.number(n, "weight_decay", path, 0.004, non_negative);
    o.rho = r.number(n, "rho", path, 0.9, unit_open);
    o.momentum = r.number(n, "momentum", path, 0.0, unit_open);
    o.nesterov = r.boolean(n, "nesterov", path, false);
    o.centered = r.boolean(n, "centered", path, false);
    o.initial_accumulator_value = r.number(n, "initial_accumulator_value", path, 0.1, non_negative);
    o.clipnorm = r.number(n, "clipnorm", path, 0.0, positive);
    o.global_clipnorm = r.number(n, "global_clipnorm", path, 0.0, positive);
    o.clipvalue = r.number(n, "clipvalue", path, 0.0, positive);
    if (o.type != "adamw") o.weight_decay = 0.0;
    return o;
}

std::vector<MetricSpec> read_metrics(Reader& r, const YAML::Node& n, const std::string& path) {
    std::vector<MetricSpec> out;
    Keys accepted = metric_names();
    accepted.insert(accepted.end(), {"acc", "mean_squared_error", "mean_absolute_error", "top_k_categorical_accuracy",
                                     "sparse_top_k_categorical_accuracy"});
    if (!n.IsSequence()) {
        r.doc().error(n, path, "expected a list such as [accuracy]");
        return out;
    }
    std::set<std::string> seen;
    for (size_t i = 0; i < n.size(); ++i) {
        const std::string p = child(path, std::to_string(i));
        MetricSpec m;
        if (n[i].IsMap()) {
            r.check_keys(n[i], p, {"type", "k"}, "a metric");
            m.type = canonical_metric_name(r.string(n[i], "type", p, "", accepted));
            m.k = int(r.integer(n[i], "k", p, 5, 1, kMaxUnits));
        } else {
            m.type = canonical_metric_name(r.string_value(n[i], p, "", accepted));
        }
        if (m.type.empty()) continue;
        if (!seen.insert(m.type).second) {
            r.doc().error(n[i], p, "metric '" + m.type + "' is listed twice");
            continue;
        }
        out.push_back(m);
    }
    return out;
}

TrainingConfig read_training(Reader& r, const YAML::Node& n, const std::string& path) {
    TrainingConfig t;
    if (!r.is_map(n, path, "a mapping such as {epochs: 10, batch_size: 32}")) return t;
    r.check_keys(n, path, {"epochs", "batch_size", "shuffle", "checkpoint", "early_stopping", "reduce_lr_on_plateau", "stages"},
                 "the training section");
    t.epochs = int(r.integer(n, "epochs", path, 1, 1, 1'000'000));
    if (YAML::Node st = n["stages"]) {
        const std::string sp = child(path, "stages");
        if (n["epochs"])
            r.doc().error(n["epochs"], child(path, "epochs"), "give either epochs or stages (each stage has its epochs)");
        if (!st.IsSequence() || st.size() == 0) {
            r.doc().error(st, sp, "expected a list of stages such as [{epochs: 5}, {epochs: 5, unfreeze: [dense_1], "
                                  "learning_rate: 1.0e-4}]");
        } else {
            int64_t total = 0;
            for (size_t i = 0; i < st.size(); ++i) {
                const std::string p = child(sp, std::to_string(i));
                StageConfig g;
                if (r.is_map(st[i], p, "a stage such as {epochs: 5, unfreeze: [conv2], learning_rate: 1.0e-4}")) {
                    r.check_keys(st[i], p, {"epochs", "learning_rate", "unfreeze", "freeze"}, "a stage");
                    if (!st[i]["epochs"]) r.doc().error(st[i], p, "missing key 'epochs'");
                    g.epochs = int(r.integer(st[i], "epochs", p, 1, 1, 1'000'000));
                    g.learning_rate = r.number(st[i], "learning_rate", p, 0.0, positive);
                    if (YAML::Node u = st[i]["unfreeze"]) g.unfreeze = read_string_list(r, u, child(p, "unfreeze"), "layer names");
                    if (YAML::Node u = st[i]["freeze"]) g.freeze = read_string_list(r, u, child(p, "freeze"), "layer names");
                }
                total += g.epochs;
                t.stages.push_back(std::move(g));
            }
            t.epochs = int(std::min<int64_t>(total, 1'000'000));
        }
    }
    t.batch_size = int(r.integer(n, "batch_size", path, 32, 1, 10'000'000));
    t.shuffle = r.boolean(n, "shuffle", path, true);
    if (YAML::Node c = n["checkpoint"]) {
        const std::string cp = child(path, "checkpoint");
        if (r.is_map(c, cp, "a mapping such as {every: 1} (epochs between checkpoints; 0: none)")) {
            r.check_keys(c, cp, {"every"}, "the checkpoint settings");
            t.checkpoint_every = int(r.integer(c, "every", cp, 1, 0, 1'000'000));
        }
    }
    if (YAML::Node e = n["early_stopping"]) {
        const std::string p = child(path, "early_stopping");
        if (r.is_map(e, p, "a mapping such as {monitor: val_loss, patience: 3}")) {
            r.check_keys(e, p, {"monitor", "patience", "min_delta", "restore_best_weights", "mode", "start_from_epoch"},
                         "early_stopping");
            t.early_stopping.enabled = true;
            t.early_stopping.monitor = r.string(e, "monitor", p, "val_loss");
            t.early_stopping.patience = int(r.integer(e, "patience", p, 0, 0, 1'000'000));
            t.early_stopping.min_delta = r.number(e, "min_delta", p, 0.0, non_negative);
            t.early_stopping.restore_best_weights = r.boolean(e, "restore_best_weights", p, false);
            t.early_stopping.mode = r.string(e, "mode", p, "auto", {"auto", "min", "max"});
            t.early_stopping.start_from_epoch = int(r.integer(e, "start_from_epoch", p, 0, 0, 1'000'000));
        }
    }
    if (YAML::Node e = n["reduce_lr_on_plateau"]) {
        const std::string p = child(path, "reduce_lr_on_plateau");
        if (r.is_map(e, p, "a mapping such as {monitor: val_loss, factor: 0.5, patience: 2}")) {
            r.check_keys(e, p, {"monitor", "factor", "patience", "min_delta", "cooldown", "min_lr", "mode"},
                         "reduce_lr_on_plateau");
            auto& c = t.reduce_lr_on_plateau;
            c.enabled = true;
            c.monitor = r.string(e, "monitor", p, "val_loss");
            c.factor = r.number(e, "factor", p, 0.1, [](double v) -> const char* {
                return (v > 0 && v < 1) ? nullptr : "must be in (0, 1)";
            });
            c.patience = int(r.integer(e, "patience", p, 10, 0, 1'000'000));
            c.min_delta = r.number(e, "min_delta", p, 1e-4, non_negative);
            c.cooldown = int(r.integer(e, "cooldown", p, 0, 0, 1'000'000));
            c.min_lr = r.number(e, "min_lr", p, 0.0, non_negative);
            c.mode = r.string(e, "mode", p, "auto", {"auto", "min", "max"});
        }
    }
    return t;
}

std::string flow_text(const YAML::Node& n) {
    YAML::Emitter e;
    e << YAML::Flow << n;
    return e.c_str();
}

SearchParam read_search_param(Reader& r, const std::string& key, const YAML::Node& n, const std::string& path,
                              const std::string& strategy) {
    SearchParam p;
    p.path = key;
    p.where = r.doc().where(n, path);
    static const Keys dists = {"uniform", "log_uniform", "int_uniform", "choice", "normal"};
    if (n.IsSequence()) {
        if (n.size() == 0) r.doc().error(n, path, "an empty list of values");
        p.kind = strategy == "grid" ? "values" : "choice";
        for (const auto& v : n) p.values.push_back(flow_text(v));
        return p;
    }
    if (!n.IsMap()) {
        r.doc().error(n, path, "expected a list of values, a range {min, max, step} or a distribution {distribution: ...}");
        return p;
    }
    if (!n["distribution"]) {  // a grid range
        r.check_keys(n, path, {"min", "max", "step"}, "a range");
        if (strategy != "grid")
            r.doc().error(n, path, "a " + strategy + " search needs a distribution here (e.g. {distribution: uniform, "
                                   "min: 0, max: 1}) or a list of choices");
        if (!n["min"] || !n["max"] || !n["step"]) r.doc().error(n, path, "a range needs min, max and step");
        p.kind = "range";
        p.min = r.number(n, "min", path, 0.0);
        p.max = r.number(n, "max", path, 0.0);
        p.step = r.number(n, "step", path, 1.0, positive);
        if (p.max < p.min) r.doc().error(n, path, "max is below min");
        else if (p.step > 0 && (p.max - p.min) / p.step > 1e6) r.doc().error(n, path, "the range has over a million steps");
        return p;
    }
    p.kind = r.string(n, "distribution", path, "uniform", dists);
    if (strategy == "grid")
        r.doc().error(n, path, "a grid search takes lists of values or ranges {min, max, step}; distributions are for "
                               "strategy: random, halving, hyperband, asha and tpe");
    if (p.kind == "choice") {
        r.check_keys(n, path, {"distribution", "values", "weights"}, "a choice");
        YAML::Node v = n["values"];
        if (!v || !v.IsSequence() || v.size() == 0) r.doc().error(n, path, "choice needs a non-empty list 'values'");
        else for (const auto& x : v) p.values.push_back(flow_text(x));
        if (YAML::Node w = n["weights"]) {
            if (!w.IsSequence() || !v || w.size() != v.size())
                r.doc().error(w, child(path, "weights"), "needs one weight per value");
            else
                for (size_t i = 0; i < w.size(); ++i) {
                    double x;
                    if (!w[i].IsScalar() || !YAML::convert<double>::decode(w[i], x) || !(x >= 0) || !std::isfinite(x))
                        r.doc().error(w[i], child(path, "weights." + std::to_string(i)), "expected a weight ≥ 0");
                    else p.weights.push_back(x);
                }
        }
    } else if (p.kind == "normal") {
        r.check_keys(n, path, {"distribution", "mean", "std"}, "a normal distribution");
        p.mean = r.number(n, "mean", path, 0.0);
        p.std = r.number(n, "std", path, 1.0, positive);
    } else {
        r.check_keys(n, path, {"distribution", "min", "max", "step"}, "the " + p.kind + " distribution");
        if (!n["min"] || !n["max"]) r.doc().error(n, path, p.kind + " needs min and max");
        p.min = r.number(n, "min", path, 0.0);
        p.max = r.number(n, "max", path, 1.0);
        p.step = r.number(n, "step", path, 0.0, non_negative);
        if (p.max < p.min) r.doc().error(n, path, "max is below min");
        if (p.kind == "log_uniform" && !(p.min > 0)) r.doc().error(n, path, "log_uniform needs min > 0");
        if (p.kind != "int_uniform" && n["step"]) r.doc().error(n["step"], child(path, "step"), "only int_uniform takes a step");
        if (p.kind == "int_uniform" && (p.min != std::floor(p.min) || p.max != std::floor(p.max)))
            r.doc().error(n, path, "int_uniform needs whole-number min and max");
    }
    return p;
}

SearchConfig read_search(Reader& r, const YAML::Node& n, const std::string& path, uint64_t default_seed) {
    SearchConfig s;
    s.present = true;
    s.seed = default_seed;
    if (!r.is_map(n, path, "a mapping (strategy, space, cv, objective, ...)")) return s;
    r.check_keys(n, path,
                 {"strategy", "space", "cv", "objective", "repeats", "refit", "trials", "seed", "max_trials", "top",
                  "checkpoint_seconds", "retries", "heartbeat_timeout", "min_epochs", "max_epochs", "reduction_factor", "iterations", "pruner",
                  "n_startup_trials", "n_ei_candidates"},
                 "the search section");
    s.strategy = r.string(n, "strategy", path, "grid", {"grid", "random", "halving", "hyperband", "asha", "tpe"});
    const bool budgeted = s.strategy == "halving" || s.strategy == "hyperband" || s.strategy == "asha";
    // Another strategy's settings are ignored with a warning, not refused: a config written for
    // hyperband can be compared with `--set search.strategy=random`, and --set cannot remove keys.
    auto unused = [&](const char* k, const std::string& whose) {
        if (n[k]) warn(r.doc().where(n[k], child(path, k)) + ": " + child(path, k) + " is a setting of " + whose +
                       "; strategy: " + s.strategy + " ignores it");
    };
    for (const char* k : {"min_epochs", "max_epochs", "reduction_factor"})
        if (!budgeted) unused(k, "strategy: halving, hyperband and asha");
    if (s.strategy != "hyperband") unused("iterations", "strategy: hyperband");
    for (const char* k : {"n_startup_trials", "n_ei_candidates"})
        if (s.strategy != "tpe") unused(k, "strategy: tpe");
    s.min_epochs = int(r.integer(n, "min_epochs", path, 1, 1, 1'000'000));
    s.max_epochs = int(r.integer(n, "max_epochs", path, 0, 1, 1'000'000));
    s.reduction_factor = int(r.integer(n, "reduction_factor", path, 3, 2, 100));
    s.iterations = int(r.integer(n, "iterations", path, 1, 1, 1000));
    s.n_startup_trials = int(r.integer(n, "n_startup_trials", path, 10, 0, 1'000'000));
    s.n_ei_candidates = int(r.integer(n, "n_ei_candidates", path, 24, 1, 10'000));
    if (YAML::Node pn = n["pruner"]) {
        const std::string pp = child(path, "pruner");
        if (pn.IsMap()) {
            r.check_keys(pn, pp, {"type", "warmup_epochs", "startup_trials", "min_trials", "interval"}, "the pruner");
            s.pruner.type = r.string(pn, "type", pp, "none", {"none", "median"});
            s.pruner.warmup_epochs = int(r.integer(pn, "warmup_epochs", pp, 0, 0, 1'000'000));
            s.pruner.startup_trials = int(r.integer(pn, "startup_trials", pp, 5, 0, 1'000'000));
            s.pruner.min_trials = int(r.integer(pn, "min_trials", pp, 1, 1, 1'000'000));
            s.pruner.interval = int(r.integer(pn, "interval", pp, 1, 1, 1'000'000));
        } else {
            s.pruner.type = r.string(n, "pruner", path, "none", {"none", "median"});
        }
        if (budgeted && s.pruner.type != "none")
            r.doc().error(pn, pp, "strategy: " + s.strategy + " stops trials itself at its rungs; a pruner is for grid, "
                                  "random and tpe");
    }
    s.trials_given = bool(n["trials"]);
    s.cv = int(r.integer(n, "cv", path, 0, 2, 100));
    if (YAML::Node o = n["objective"]) {
        const std::string p = child(path, "objective");
        if (o.IsMap()) {
            r.check_keys(o, p, {"metric", "direction"}, "the objective");
            s.objective = r.string(o, "metric", p, "val_loss");
            s.direction = r.string(o, "direction", p, "auto", {"auto", "minimize", "maximize"});
        } else {
            s.objective = r.string_value(o, p, "val_loss");
        }
    }
    s.repeats = int(r.integer(n, "repeats", path, 1, 1, 1000));
    s.refit = r.boolean(n, "refit", path, true);
    s.trials = r.integer(n, "trials", path, 20, 1, 10'000'000);
    s.seed = uint64_t(r.integer(n, "seed", path, int64_t(default_seed), 0, kI64Max));
    s.max_trials = r.integer(n, "max_trials", path, 10000, 1, kI64Max);
    s.top = int(r.integer(n, "top", path, 10, 1, 1000));
    s.checkpoint_seconds = r.number(n, "checkpoint_seconds", path, 30.0, non_negative);
    s.retries = int(r.integer(n, "retries", path, 1, 0, 100));
    s.heartbeat_timeout = r.number(n, "heartbeat_timeout", path, 60.0, non_negative);
    YAML::Node space = n["space"];
    if (!space) r.doc().error(n, path, "missing key 'space' (the values to search, by config path)");
    else if (!space.IsMap() || space.size() == 0)
        r.doc().error(space, child(path, "space"), "expected a mapping of config paths to values");
    else
        for (auto it = space.begin(); it != space.end(); ++it) {
            const std::string key = it->first.Scalar();
            s.params.push_back(read_search_param(r, key, it->second, child(child(path, "space"), key), s.strategy));
        }
    // Canonical text for resume checks: everything but `trials` (which a random search may extend)
    // and the settings that cannot change a result (how often trials checkpoint, how often a
    // trial whose worker died is retried).
    YAML::Node copy(YAML::NodeType::Map);
    for (auto it = n.begin(); it != n.end(); ++it) {
        const std::string k = it->first.Scalar();
        if (k != "trials" && k != "checkpoint_seconds" && k != "retries" && k != "heartbeat_timeout") copy[k] = it->second;
    }
    YAML::Emitter e;
    e << copy;
    s.canonical = e.c_str();
    return s;
}

/// The epoch budgets of halving, hyperband and asha: max_epochs defaults to training.epochs (the
/// search trains its trials to max_epochs at most), so the budget cannot be searched, and a staged
/// fit (training.stages) has no single epoch count to cut.
void check_search_budget(Reader& r, const YAML::Node& n, ExperimentConfig& c) {
    SearchConfig& s = c.search;
    if (s.strategy != "halving" && s.strategy != "hyperband" && s.strategy != "asha") return;
    if (s.max_epochs == 0) s.max_epochs = c.training.epochs;
    if (s.min_epochs > s.max_epochs)
        r.doc().error(n["min_epochs"] ? n["min_epochs"] : n, "search.min_epochs",
                      "min_epochs " + std::to_string(s.min_epochs) + " is above max_epochs " + std::to_string(s.max_epochs) +
                          (n["max_epochs"] ? "" : " (training.epochs)"));
    if (!c.training.stages.empty())
        r.doc().error(n["strategy"], "search.strategy",
                      s.strategy + " cuts training at epoch budgets, which training.stages does not have; use random or tpe");
    for (const auto& p : s.params)
        if (p.path == "training.epochs")
            r.doc().error(n["space"], "search.space.training.epochs",
                          "strategy: " + s.strategy + " sets the epochs itself (min_epochs to max_epochs); leave "
                          "training.epochs out of the space");
}

/// model.inputs, model.blocks and model.layers: the layers in config order, each copy of a block
/// expanded into layers named COPY/LAYER, and the graph checked (unknown inputs, the number of inputs
/// a layer takes, cycles, layers and inputs that do not lead to the output), all at file:line:col.
void read_model_graph(Reader& r, const YAML::Node& m, ExperimentConfig& c) {
    auto& doc = r.doc();
    const size_t errors_before = doc.errors().size();
    auto clean = [&] { return doc.errors().size() == errors_before; };
    // The named model inputs.
    std::vector<YAML::Node> input_nodes;
    if (YAML::Node in = m["inputs"]) {
        if (!in.IsSequence() || in.size() == 0) {
            doc.error(in, "model.inputs", "expected a list of inputs such as [{name: image, shape: [28, 28, 1]}, {name: extra, shape: [4]}]");
        } else {
            if (m["input_shape"])
                doc.error(m["input_shape"], "model.input_shape", "give either model.input_shape or model.inputs (each with its shape), not both");
            for (size_t i = 0; i < in.size(); ++i) {
                const std::string p = "model.inputs." + std::to_string(i);
                if (!r.is_map(in[i], p, "an input mapping {name: ..., shape: [...]}")) continue;
                r.check_keys(in[i], p, {"name", "shape"}, "a model input");
                ModelInputConfig mi;
                if (!in[i]["name"]) doc.error(in[i], p, "missing key 'name' (how layers' `inputs` refer to this input)");
                mi.name = r.string(in[i], "name", p, "");
                if (!in[i]["shape"]) doc.error(in[i], p, "missing key 'shape' (its per-sample shape, e.g. [4] or [28, 28, 1])");
                else
                    for (double d : read_option(r, opt_int_list("shape", "").range(1, 1e9), in[i]["shape"], child(p, "shape")).list)
                        mi.shape.push_back(int64_t(d));
                for (const auto& o : c.model_inputs)
                    if (!mi.name.empty() && o.name == mi.name) doc.error(in[i]["name"], child(p, "name"), "input name '" + mi.name + "' is used twice");
                c.model_inputs.push_back(mi);
                input_nodes.push_back(in[i]);
            }
        }
    }
    std::vector<std::string> input_names;
    for (const auto& mi : c.model_inputs) input_names.push_back(mi.name);
    if (input_names.empty()) input_names.push_back("input");
    auto is_input = [&](const std::string& n) { return std::find(input_names.begin(), input_names.end(), n) != input_names.end(); };

    // Blocks: small sub-graphs, copied with their own weights wherever `{block: NAME}` appears.
    struct Block {
        std::vector<LayerConfig> layers;
        std::vector<YAML::Node> nodes;
        std::vector<std::string> paths;
    };
    std::map<std::string, Block> blocks;
    std::vector<std::string> block_names;
    if (YAML::Node b = m["blocks"]) {
        if (!b.IsMap()) doc.error(b, "model.blocks", "expected a mapping of block names to lists of layers");
        else
            for (auto it = b.begin(); it != b.end(); ++it) {
                const std::string name = it->first.Scalar(), bp = "model.blocks." + name;
                const YAML::Node list = it->second;
                if (!list.IsSequence() || list.size() == 0) {
                    doc.error(list, bp, "expected a non-empty list of layers");
                    continue;
                }
                Block blk;
                std::map<std::string, int> count;
                for (size_t i = 0; i < list.size(); ++i) {
                    const std::string p = bp + "." + std::to_string(i);
                    if (list[i].IsMap() && list[i]["block"]) {
                        doc.error(list[i]["block"], child(p, "block"), "a block cannot contain another block; list its layers here");
                        continue;
                    }
                    LayerConfig l = read_layer(r, list[i], p);
                    if (l.name.empty()) l.name = l.type + "_" + std::to_string(++count[l.type]);
                    for (const auto& o : blk.layers)
                        if (o.name == l.name) doc.error(list[i], child(p, "name"), "layer name '" + l.name + "' is used twice in block '" + name + "'");
                    if (l.name == "input") doc.error(list[i], child(p, "name"), "'input' names the block's input inside a block; call this layer something else");
                    blk.layers.push_back(l);
                    blk.nodes.push_back(list[i]);
                    blk.paths.push_back(p);
                }
                // Inside a block, `inputs` name the block's layers or `input` (what the copy is given).
                for (size_t i = 0; i < blk.layers.size(); ++i)
                    for (size_t j = 0; j < blk.layers[i].inputs.size(); ++j) {
                        const std::string& n = blk.layers[i].inputs[j];
                        bool known = n == "input";
                        for (const auto& o : blk.layers) known = known || o.name == n;
                        if (known) continue;
                        std::string list_text = "input";
                        for (const auto& o : blk.layers) list_text += ", " + o.name;
                        const YAML::Node in = blk.nodes[i]["inputs"];
                        doc.error(in.IsSequence() ? in[j] : in, child(blk.paths[i], "inputs"),
                                  "no layer '" + n + "' in block '" + name + "' (a block's layers can take: " + list_text + ")");
                    }
                blocks[name] = std::move(blk);
                block_names.push_back(name);
            }
    }

    YAML::Node layers = m["layers"];
    if (!layers) {
        doc.error(m, "model", "missing key 'layers'");
        return;
    }
    if (!layers.IsSequence() || layers.size() == 0) {
        doc.error(layers, "model.layers", "expected a non-empty list of layers");
        return;
    }
    struct Entry {
        LayerConfig layer;
        bool is_block = false;
        std::string block, name;
        int64_t repeat = 1;
        std::vector<std::string> inputs;
    };
    std::vector<Entry> entries;
    std::map<std::string, int> count, block_uses;
    for (size_t i = 0; i < layers.size(); ++i) {
        const std::string p = "model.layers." + std::to_string(i);
        Entry e;
        const YAML::Node n = layers[i];
        if (n.IsMap() && n["block"]) {
            e.is_block = true;
            r.check_keys(n, p, {"block", "repeat", "name", "inputs"}, "a block entry");
            e.block = r.string(n, "block", p, "");
            if (!blocks.count(e.block))
                doc.error(n["block"], child(p, "block"),
                          "no block named '" + e.block + "' in model.blocks" +
                              (block_names.empty() ? " (there are none)" : " (blocks: " + join(block_names) + ")"));
            e.repeat = r.integer(n, "repeat", p, 1, 1, 1000);
            e.name = r.string(n, "name", p, "");
            if (e.name.empty()) {
                const int k = ++block_uses[e.block];
                e.name = k == 1 ? e.block : e.block + "_" + std::to_string(k);
            }
            if (YAML::Node in = n["inputs"]) {
                if (in.IsScalar()) e.inputs.push_back(in.Scalar());
                else if (in.IsSequence() && in.size() == 1 && in[0].IsScalar()) e.inputs.push_back(in[0].Scalar());
                else doc.error(in, child(p, "inputs"), "a block takes one input: the name of a layer or model input");
            }
        } else {
            e.layer = read_layer(r, n, p);
            if (e.layer.name.empty()) e.layer.name = e.layer.type + "_" + std::to_string(++count[e.layer.type]);
        }
        entries.push_back(std::move(e));
    }

    // Expand: every copy of a block gets its own layers, named COPY/LAYER, with explicit inputs.
    std::vector<YAML::Node> nodes;    // per final layer: where its errors point
    std::vector<std::string> paths;
    std::map<std::string, std::string> alias;  // block entry name → the layer its last copy ends with
    std::string prev = input_names[0];
    for (size_t i = 0; i < entries.size(); ++i) {
        Entry& e = entries[i];
        const std::string p = "model.layers." + std::to_string(i);
        if (!e.is_block) {
            c.layers.push_back(e.layer);
            nodes.push_back(layers[i]);
            paths.push_back(p);
            prev = e.layer.name;
            continue;
        }
        auto it = blocks.find(e.block);
        if (it == blocks.end()) continue;
        std::string in = e.inputs.empty() ? prev : e.inputs[0];
        for (int64_t k = 1; k <= e.repeat; ++k) {
            const std::string copy = e.repeat == 1 ? e.name : e.name + "_" + std::to_string(k);
            std::string local_prev = in;
            for (size_t j = 0; j < it->second.layers.size(); ++j) {
                LayerConfig g = it->second.layers[j];
                const std::string local = g.name;
                g.name = copy + "/" + local;
                if (g.inputs.empty()) g.inputs.push_back(local_prev);
                else
                    for (auto& s : g.inputs) s = s == "input" ? in : copy + "/" + s;
                c.layers.push_back(g);
                nodes.push_back(it->second.nodes[j]);
                paths.push_back(it->second.paths[j]);
                local_prev = g.name;
            }
            in = local_prev;
        }
        alias[e.name] = in;
        prev = in;
    }
    for (auto& l : c.layers)
        for (auto& s : l.inputs)
            if (auto a = alias.find(s); a != alias.end()) s = a->second;

    // Names: unique, and not a model input's.
    std::map<std::string, int> index;
    for (size_t i = 0; i < c.layers.size(); ++i) {
        const auto& l = c.layers[i];
        if (!index.emplace(l.name, int(i)).second)
            doc.error(nodes[i], child(paths[i], "name"), "layer name '" + l.name + "' is used twice");
        else if (is_input(l.name))
            doc.error(nodes[i], child(paths[i], "name"), "layer name '" + l.name + "' is also the name of a model input");
    }
    for (const auto& [name, _] : alias)
        if (index.count(name) || is_input(name))
            doc.error(layers, "model.layers", "block entry name '" + name + "' is also the name of a layer or model input");
    if (!clean()) return;

    // The graph: layer i reads src ≥ 0 (a layer) or −1 − k (model input k).
    const int n = int(c.layers.size());
    std::vector<std::vector<int>> src(static_cast<size_t>(n));
    auto inputs_node = [&](int i, size_t j) {  // j: an entry of the list; past its end: the whole key
        const YAML::Node& base = nodes[size_t(i)];
        const YAML::Node in = base["inputs"];
        if (!in) return base;
        return in.IsSequence() && j < in.size() ? in[j] : in;
    };
    std::string known;
    for (const auto& s : input_names) known += (known.empty() ? "" : ", ") + s;
    for (const auto& l : c.layers) known += ", " + l.name;
    for (int i = 0; i < n; ++i) {
        const auto& l = c.layers[size_t(i)];
        if (l.inputs.empty()) src[size_t(i)].push_back(i == 0 ? -1 : i - 1);
        for (size_t j = 0; j < l.inputs.size(); ++j) {
            const std::string& s = l.inputs[j];
            if (auto f = index.find(s); f != index.end()) src[size_t(i)].push_back(f->second);
            else if (auto k = std::find(input_names.begin(), input_names.end(), s); k != input_names.end())
                src[size_t(i)].push_back(-1 - int(k - input_names.begin()));
            else
                doc.error(inputs_node(i, j), child(paths[size_t(i)], "inputs"),
                          "layer '" + l.name + "' takes an input '" + s + "' that is neither a layer nor a model input (" +
                              suggest(s, [&] {
                                  std::vector<std::string> v = input_names;
                                  for (const auto& o : c.layers) v.push_back(o.name);
                                  return v;
                              }()) +
                              "known: " + known + ")");
        }
        // How many inputs the layer takes (a merge: several; most layers: one).
        if (const LayerSchema* schema = find_layer_schema(l.type)) {
            int lo = 1, hi = 1;
            try {
                auto made = schema->make(l.options);
                lo = made->min_inputs(), hi = made->max_inputs();
            } catch (const std::exception&) {
            }
            const int got = int(l.inputs.empty() ? 1 : l.inputs.size());
            if (got < lo || got > hi)
                doc.error(inputs_node(i, size_t(-1)), child(paths[size_t(i)], "inputs"),
                          l.type + " takes " +
                              (lo == hi ? std::to_string(lo) : hi >= 64 ? "at least " + std::to_string(lo) : std::to_string(lo) + " to " + std::to_string(hi)) +
                              (hi == 1 ? " input" : " inputs") + ", got " + std::to_string(got) +
                              (lo > 1 ? " (name them: inputs: [a, b])" : ""));
        }
    }
    if (!clean()) return;
    // Cycles: a depth-first walk along inputs; a layer met again on the current path closes one.
    std::vector<int> state(static_cast<size_t>(n), 0);  // 0 new, 1 on the path, 2 done
    for (int start = 0; start < n && clean(); ++start) {
        if (state[size_t(start)]) continue;
        std::vector<std::pair<int, size_t>> stack = {{start, 0}};
        state[size_t(start)] = 1;
        while (!stack.empty() && clean()) {
            auto& [i, j] = stack.back();
            if (j == src[size_t(i)].size()) {
                state[size_t(i)] = 2;
                stack.pop_back();
                continue;
            }
            const int s = src[size_t(i)][j++];
            if (s < 0 || state[size_t(s)] == 2) continue;
            if (state[size_t(s)] == 0) {
                state[size_t(s)] = 1;
                stack.push_back({s, 0});
                continue;
            }
            // The cycle as data flows: s → i → ... → s (each layer on the walk reads the next one).
            size_t from = 0;
            while (stack[from].first != s) ++from;
            std::string path = c.layers[size_t(s)].name;
            for (size_t q = stack.size(); q-- > from + 1;) path += " → " + c.layers[size_t(stack[q].first)].name;
            path += " → " + c.layers[size_t(s)].name;
            doc.error(nodes[size_t(s)], paths[size_t(s)], "the layers' inputs form a cycle: " + path);
        }
    }
    if (!clean()) return;
    // The outputs: model.outputs (layer names), else the last layer.
    std::vector<int> todo;
    if (YAML::Node o = m["outputs"]) {
        const std::vector<std::string> names = read_string_list(r, o, "model.outputs", "output layer names");
        std::vector<std::string> layer_names;
        for (const auto& l : c.layers) layer_names.push_back(l.name);
        for (size_t j = 0; j < names.size(); ++j) {
            const YAML::Node at = o.IsSequence() ? o[j] : o;
            auto f = index.find(names[j]);
            if (f == index.end()) {
                doc.error(at, "model.outputs." + std::to_string(j),
                          "no layer named '" + names[j] + "' (" + suggest(names[j], layer_names) + "layers: " + join(layer_names) + ")");
                continue;
            }
            for (int t : todo)
                if (t == f->second) doc.error(at, "model.outputs." + std::to_string(j), "output '" + names[j] + "' is listed twice");
            todo.push_back(f->second);
            OutputConfig out;
            out.layer = names[j];
            c.outputs.push_back(out);
        }
        if (o.IsSequence() && o.size() == 0) doc.error(o, "model.outputs", "expected a list of output layer names");
        if (!clean()) return;
        if (c.outputs.size() == 1) {  // one output: the plain form
            c.outputs.clear();
            if (todo[0] != n - 1)
                doc.error(o, "model.outputs", "a single output must be the last layer (move it there, or list several outputs)");
        }
    }
    if (todo.empty()) todo = {n - 1};
    std::string outs;
    for (int t : todo) outs += (outs.empty() ? "'" : ", '") + c.layers[size_t(t)].name + "'";
    // Everything must lead to an output.
    std::vector<char> used(static_cast<size_t>(n), 0), used_input(input_names.size(), 0);
    while (!todo.empty()) {
        const int i = todo.back();
        todo.pop_back();
        if (used[size_t(i)]) continue;
        used[size_t(i)] = 1;
        for (int s : src[size_t(i)]) {
            if (s >= 0) todo.push_back(s);
            else used_input[size_t(-1 - s)] = 1;
        }
    }
    for (int i = 0; i < n; ++i)
        if (!used[size_t(i)])
            doc.error(nodes[size_t(i)], paths[size_t(i)],
                      "layer '" + c.layers[size_t(i)].name + "' does not lead to " +
                          (todo.size() > 1 ? "any of the model's outputs (" + outs + ")"
                                           : "the model's output (the last layer, " + outs + ")") +
                          ": use it as an input of a later layer, or remove it");
    for (size_t k = 0; k < input_nodes.size(); ++k)
        if (!used_input[k])
            doc.error(input_nodes[k], "model.inputs." + std::to_string(k),
                      "model input '" + input_names[k] + "' is not used by any layer");
}

/// Several outputs: `loss` maps each output to its loss (or one loss serves them all), and
/// `loss_weights` (a mapping by output, or a list in output order) weighs them, as Keras' compile().
void read_output_losses(Reader& r, const YAML::Node& root, ExperimentConfig& c) {
    const YAML::Node n = root["loss"];
    Keys names;
    for (const auto& o : c.outputs) names.push_back(o.layer);
    if (n.IsMap() && !n["type"]) {
        r.check_keys(n, "loss", names, "the losses by output");
        for (auto& o : c.outputs) {
            if (!n[o.layer]) r.doc().error(n, "loss", "missing a loss for output '" + o.layer + "' (outputs: " + join(names) + ")");
            else o.loss = read_loss(r, n[o.layer], child("loss", o.layer));
        }
    } else {
        const Loss l = read_loss(r, n, "loss");
        for (auto& o : c.outputs) o.loss = l;
    }
    const YAML::Node w = root["loss_weights"];
    if (!w) return;
    auto weight = [&](const YAML::Node& v, const std::string& p) { return r.number_value(v, p, 1.0, non_negative); };
    if (w.IsSequence()) {
        if (w.size() != c.outputs.size())
            r.doc().error(w, "loss_weights", "expected " + std::to_string(c.outputs.size()) + " weights, one per output (" +
                                                 join(names) + "), got " + std::to_string(w.size()));
        for (size_t k = 0; k < std::min<size_t>(w.size(), c.outputs.size()); ++k)
            c.outputs[k].loss_weight = weight(w[k], child("loss_weights", std::to_string(k)));
    } else if (r.is_map(w, "loss_weights", "a mapping from output name to weight, or a list in output order")) {
        r.check_keys(w, "loss_weights", names, "the loss weights by output");
        for (auto& o : c.outputs)
            if (w[o.layer]) o.loss_weight = weight(w[o.layer], child("loss_weights", o.layer));
    }
}

/// Several outputs: `metrics` maps each output to its list, or one list serves every output.
void read_output_metrics(Reader& r, const YAML::Node& n, ExperimentConfig& c) {
    if (n.IsSequence()) {
        const auto m = read_metrics(r, n, "metrics");
        for (auto& o : c.outputs) o.metrics = m;
        return;
    }
    if (!r.is_map(n, "metrics", "a list such as [accuracy], or a mapping from output name to its list")) return;
    Keys names;
    for (const auto& o : c.outputs) names.push_back(o.layer);
    r.check_keys(n, "metrics", names, "the metrics by output");
    for (auto& o : c.outputs)
        if (n[o.layer]) o.metrics = read_metrics(r, n[o.layer], child("metrics", o.layer));
}

/// Several outputs read their targets from a CSV source's `target: [a, b]`, one column per output; a
/// single output takes one target column.
void check_output_targets(Reader& r, const YAML::Node& root, ExperimentConfig& c) {
    const YAML::Node d = root["data"];
    if (!d || !d.IsMap()) return;
    std::string names;
    for (const auto& o : c.outputs) names += (names.empty() ? "" : ", ") + o.layer;
    const std::pair<const char*, DataSourceConfig*> sources[] = {
        {"train", &c.data.train},
        {"validation", c.data.validation ? &*c.data.validation : nullptr},
        {"test", c.data.test ? &*c.data.test : nullptr}};
    for (const auto& [k, src] : sources) {
        const YAML::Node s = d[k];
        if (!s || !s.IsMap() || !src) continue;
        const std::string p = std::string("data.") + k;
        if (c.outputs.empty()) {
            if (!src->target_list.empty())
                r.doc().error(s["target"], child(p, "target"),
                              "a list of target columns needs a model with as many outputs (model.outputs: [a, b]); "
                              "this model has one output");
            continue;
        }
        if (src->format != "csv")
            r.doc().error(s, p, "a model with several outputs (" + names + ") reads its targets from a csv source, "
                                "one target column per output (target: [a, b]); this source is " + src->format);
        else if (src->target_list.size() == c.outputs.size())
            for (const auto& o : c.outputs) src->target_classes.push_back(o.loss.is_classification());
        else
            r.doc().error(s["target"] ? s["target"] : s, child(p, "target"),
                          "the model has " + std::to_string(c.outputs.size()) + " outputs (" + names +
                              "): give one target column for each, in that order, e.g. target: [" +
                              (c.outputs.size() == 2 ? std::string("species, body_mass_g") : "a, b, c") + "]");
    }
}

}  // namespace

ExperimentConfig parse_config(const std::string& text, const std::string& filename, const std::vector<std::string>& sets,
                              const std::string& space_file, bool with_search,
                              const std::vector<std::string>& set_labels) {
    YamlDoc doc(text, filename);
    if (with_search && !space_file.empty()) doc.set_search_space(space_file);
    for (size_t i = 0; i < sets.size(); ++i) doc.apply_set(sets[i], i < set_labels.size() ? set_labels[i] : "");
    Reader r(doc);
    ExperimentConfig c;
    c.source_file = filename;
    YAML::Node root = doc.root();
    if (doc.errors().empty()) {
        r.check_keys(root, "",
                     {"name", "description", "seed", "data", "model", "loss", "loss_weights", "optimizer", "metrics",
                      "training", "search", "extends"},
                     "the config's top level");
        c.name = r.string(root, "name", "", "experiment");
        r.string(root, "description", "", "");
        c.seed = uint64_t(r.integer(root, "seed", "", 42, 0, kI64Max));
        if (!root["data"]) r.doc().error(root, "", "missing key 'data' (where the training data comes from)");
        else c.data = read_data(r, root["data"], "data");
        if (!root["model"]) {
            r.doc().error(root, "", "missing key 'model' (with a list of layers)");
        } else if (r.is_map(root["model"], "model", "a mapping with 'layers'")) {
            YAML::Node m = root["model"];
            r.check_keys(m, "model", {"input_shape", "inputs", "blocks", "layers", "outputs", "init_from"}, "the model section");
            if (YAML::Node f = m["init_from"]) {
                const std::string fp = "model.init_from";
                if (f.IsScalar()) {
                    c.init_from.path = resolve_data_path(r.string_value(f, fp, ""), r.doc().filename());
                } else if (r.is_map(f, fp, "a run directory, a .safetensors file, or {path: ..., layers: [...], strict: true}")) {
                    r.check_keys(f, fp, {"path", "layers", "strict"}, "init_from");
                    if (!f["path"]) r.doc().error(f, fp, "missing key 'path' (a run directory or a .safetensors file)");
                    c.init_from.path = resolve_data_path(r.string(f, "path", fp, ""), r.doc().filename());
                    c.init_from.strict = r.boolean(f, "strict", fp, true);
                    if (YAML::Node l = f["layers"]) {
                        if (l.IsScalar() && l.Scalar() == "all") c.init_from.all = true;
                        else {
                            c.init_from.all = false;
                            c.init_from.layers = read_string_list(r, l, child(fp, "layers"), "layer names (or all)");
                        }
                    }
                }
            }
            if (YAML::Node is = m["input_shape"]) {
                OptionSpec spec = opt_int_list("input_shape", "");
                for (double d : read_option(r, spec, is, "model.input_shape").list) c.input_shape.push_back(int64_t(d));
            }
            read_model_graph(r, m, c);
        }
        {  // layer names in init_from and the stages must name layers of the model
            std::set<std::string> known;
            std::string list;
            for (const auto& l : c.layers) {
                known.insert(l.name);
                list += (list.empty() ? "" : ", ") + l.name;
            }
            auto check_names = [&](const YAML::Node& seq, const std::string& p) {
                if (!seq || !seq.IsSequence() || c.layers.empty()) return;
                for (size_t i = 0; i < seq.size(); ++i)
                    if (seq[i].IsScalar() && !known.count(seq[i].Scalar()))
                        r.doc().error(seq[i], child(p, std::to_string(i)),
                                      "no layer named " + quote_input(seq[i].Scalar()) + " in the model (layers: " + list + ")");
            };
            if (YAML::Node m = root["model"]; m && m.IsMap() && m["init_from"] && m["init_from"].IsMap())
                check_names(m["init_from"]["layers"], "model.init_from.layers");
            if (YAML::Node t = root["training"]; t && t.IsMap() && t["stages"] && t["stages"].IsSequence())
                for (size_t k = 0; k < t["stages"].size(); ++k)
                    if (t["stages"][k].IsMap())
                        for (const char* key : {"unfreeze", "freeze"})
                            check_names(t["stages"][k][key], "training.stages." + std::to_string(k) + "." + key);
        }
        if (!root["loss"]) r.doc().error(root, "", "missing key 'loss' (e.g. categorical_crossentropy)");
        else if (c.outputs.empty()) c.loss = read_loss(r, root["loss"], "loss");
        else read_output_losses(r, root, c);
        if (YAML::Node w = root["loss_weights"]; w && c.outputs.empty())
            r.doc().error(w, "loss_weights", "loss_weights weigh the losses of several model.outputs; this model has one output");
        if (root["optimizer"]) c.optimizer = read_optimizer(r, root["optimizer"], "optimizer");
        else c.optimizer.learning_rate.initial_learning_rate = 0.001;  // adam's default
        if (root["metrics"] && c.outputs.empty()) c.metrics = read_metrics(r, root["metrics"], "metrics");
        else if (root["metrics"]) read_output_metrics(r, root["metrics"], c);
        if (doc.errors().empty()) check_output_targets(r, root, c);  // (after a model error it would only repeat it)
        if (!c.outputs.empty()) {
            c.loss = c.outputs[0].loss;
            c.metrics = c.outputs[0].metrics;
        }
        if (root["training"]) c.training = read_training(r, root["training"], "training");
        if (YAML::Node s = root["search"]; s && with_search) {
            c.search = read_search(r, s, "search", c.seed);
            check_search_budget(r, s, c);
            if (c.search.cv > 0 && c.data.train.format == "timeseries")  // shuffled folds would see the future
                r.doc().error(s["cv"], "search.cv",
                              "k-fold cross-validation mixes past and future rows of a timeseries; use "
                              "data.validation_split (the last stretch before the test stretch) instead");
        }
    }
    if (!doc.errors().empty()) {
        std::string msg;
        for (const auto& e : doc.errors()) msg += (msg.empty() ? "" : "\n") + e;
        throw ConfigError(msg);
    }
    return c;
}

DataSourceConfig parse_source_spec(const std::string& spec, const std::string& schema_target) {
    auto ends = [&](const char* suffix) {
        std::string x(suffix);
        return spec.size() >= x.size() && spec.compare(spec.size() - x.size(), x.size(), x) == 0;
    };
    DataSourceConfig s;
    s.where = spec;
    auto pair = [&](const std::string& body, std::string& a, std::string& b, const char* form) {
        auto comma = body.find(',');
        if (comma == std::string::npos) throw ConfigError("--data " + spec + ": expected " + form);
        a = body.substr(0, comma);
        b = body.substr(comma + 1);
    };
    if (spec.rfind("idx:", 0) == 0) {
        s.format = "idx";
        pair(spec.substr(4), s.images, s.labels, "idx:IMAGES,LABELS");
    } else if (spec.rfind("npy:", 0) == 0) {
        s.format = "npy";
        pair(spec.substr(4), s.features_path, s.targets_path, "npy:FEATURES,TARGETS");
    } else if (ends(".yaml") || ends(".yml")) {
        YamlDoc doc(read_file(spec), spec);
        Reader r(doc);
        if (doc.errors().empty()) s = read_source(r, doc.root(), "");
        if (!doc.errors().empty()) {
            std::string msg;
            for (const auto& e : doc.errors()) msg += (msg.empty() ? "" : "\n") + e;
            throw ConfigError(msg);
        }
    } else if (ends(".csv") || ends(".csv.gz") || ends(".tsv") || ends(".txt") || ends(".gz")) {
        s.format = "csv";
        s.path = spec;
        s.target = schema_target;
        if (ends(".tsv")) s.delimiter = '\t';
    } else {
        throw ConfigError("--data " + spec + ": give a .csv file, idx:IMAGES,LABELS, npy:FEATURES,TARGETS or a .yaml "
                          "file with a data source");
    }
    return s;
}

std::string read_config_text(const std::string& path) {
    try {
        return read_file(path);
    } catch (const DataError&) {
        throw ConfigError(path + ": cannot read the config file");
    }
}

ExperimentConfig load_config(const std::string& path, const std::vector<std::string>& sets, const std::string& space_file) {
    return parse_config(read_config_text(path), path, sets, space_file);
}

}  // namespace nnctl
