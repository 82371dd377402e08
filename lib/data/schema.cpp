#include "data/schema.hpp"

#include <cerrno>
#include <cstdlib>

#include "core/error.hpp"

namespace nnctl {

bool is_missing_token(const std::string& s) {
    static const char* tokens[] = {"", "NA", "N/A", "NaN", "nan", "NAN", "null", "NULL", "None", "?", "#N/A", "-nan"};
    size_t b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
    std::string t = b == std::string::npos ? "" : s.substr(b, e - b + 1);
    for (const char* m : tokens)
        if (t == m) return true;
    return false;
}

bool parse_number(const std::string& s, double& v) {
    if (s.empty()) return false;
    const char* b = s.c_str();
    while (*b == ' ') ++b;
    if (!*b) return false;
    char* e = nullptr;
    errno = 0;
    v = std::strtod(b, &e);
    if (e == b) return false;
    while (*e == ' ') ++e;
    return *e == '\0';
}

void fit_scaling(Scaling& s, const Matrix& x) {
    const Eigen::Index f = x.cols();
    s.offset.assign(size_t(f), 0.0f);
    s.scale.assign(size_t(f), 1.0f);
    if (s.kind == "rescale") {
        s.scale.assign(size_t(f), float(s.rescale));
    } else if (s.kind == "standardize") {
        for (Eigen::Index j = 0; j < f; ++j) {
            double mean = x.col(j).cast<double>().mean();
            double var = (x.col(j).cast<double>().array() - mean).square().mean();
            s.offset[size_t(j)] = float(mean);
            s.scale[size_t(j)] = var > 1e-24 ? float(1.0 / std::sqrt(var)) : 1.0f;  // constant column: shift only
        }
    } else if (s.kind == "minmax") {
        for (Eigen::Index j = 0; j < f; ++j) {
            double lo = x.col(j).minCoeff(), hi = x.col(j).maxCoeff();
            s.offset[size_t(j)] = float(lo);
            s.scale[size_t(j)] = hi > lo ? float(1.0 / (hi - lo)) : 1.0f;
        }
    }
}

void apply_scaling(const Scaling& s, Matrix& x) {
    if (!s.active()) return;
    if (s.offset.size() != size_t(x.cols()))
        throw DataError("preprocessing was fitted on " + std::to_string(s.offset.size()) + " features, the data has " +
                        std::to_string(x.cols()));
    Eigen::Map<const RowVector> off(s.offset.data(), Eigen::Index(s.offset.size()));
    Eigen::Map<const RowVector> sc(s.scale.data(), Eigen::Index(s.scale.size()));
    x.rowwise() -= off;
    x.array().rowwise() *= sc.array();
}

void DataSchema::write_json(JsonWriter& j) const {
    j.begin_object();
    j.key("format").value(format);
    if (format == "csv") {
        j.key("delimiter").value(std::string(1, delimiter));
        j.key("header").value(header);
        j.key("input_columns").value(input_columns);
        j.key("target").value(target);
        j.key("target_index").value(target_index);
        j.key("missing").value(missing);
        j.key("columns").begin_array();
        for (const auto& c : columns) {
            j.begin_object().key("name").value(c.name).key("index").value(c.index);
            if (c.categorical) {
                j.key("categories").begin_array();
                for (const auto& v : c.categories) j.value(v);
                j.end_array();
            }
            if (!std::isnan(c.fill)) j.key("fill").value(c.fill);
            j.end_object();
        }
        j.end_array();
    }
    j.key("width").value(static_cast<long long>(width));
    j.key("feature_names").begin_array();
    for (const auto& n : feature_names) j.value(n);
    j.end_array();
    j.key("task").value(task);
    if (is_classification()) {
        j.key("class_names").begin_array();
        for (const auto& n : class_names) j.value(n);
        j.end_array();
    } else {
        j.key("outputs").value(static_cast<long long>(outputs));
    }
    j.key("scaling").begin_object().key("kind").value(scaling.kind);
    if (scaling.active()) {
        j.key("offset").begin_array();
        for (float v : scaling.offset) j.value(double(v));
        j.end_array().key("scale").begin_array();
        for (float v : scaling.scale) j.value(double(v));
        j.end_array();
    }
    j.end_object();
    j.end_object();
}

namespace {
[[noreturn]] void bad(const std::string& what) { throw DataError("model.json: data schema: " + what); }
const JsonValue& need(const JsonValue& o, const char* key) {
    const JsonValue* v = o.find(key);
    if (!v) bad(std::string("missing '") + key + "'");
    return *v;
}
std::string str(const JsonValue& o, const char* key) {
    const JsonValue& v = need(o, key);
    if (!v.is_string()) bad(std::string("'") + key + "' must be a string");
    return v.text;
}
long long integer(const JsonValue& o, const char* key) {
    const JsonValue& v = need(o, key);
    if (!v.is_number() || v.number != std::floor(v.number)) bad(std::string("'") + key + "' must be an integer");
    return (long long)v.number;
}
std::vector<std::string> strings(const JsonValue& v, const char* what) {
    if (!v.is_array()) bad(std::string("'") + what + "' must be a list");
    std::vector<std::string> out;
    for (const auto& i : v.items) {
        if (!i.is_string()) bad(std::string("'") + what + "' must hold strings");
        out.push_back(i.text);
    }
    return out;
}
std::vector<float> floats(const JsonValue& v, const char* what) {
    if (!v.is_array()) bad(std::string("'") + what + "' must be a list");
    std::vector<float> out;
    for (const auto& i : v.items) {
        if (!i.is_number()) bad(std::string("'") + what + "' must hold numbers");
        out.push_back(float(i.number));
    }
    return out;
}
}  // namespace

DataSchema DataSchema::from_json(const JsonValue& v) {
    if (!v.is_object()) bad("not an object");
    DataSchema s;
    s.format = str(v, "format");
    if (s.format == "csv") {
        std::string d = str(v, "delimiter");
        if (d.size() != 1) bad("bad delimiter");
        s.delimiter = d[0];
        const JsonValue& h = need(v, "header");
        if (h.type != JsonValue::Type::Bool) bad("'header' must be true or false");
        s.header = h.boolean;
        s.input_columns = int(integer(v, "input_columns"));
        s.target = str(v, "target");
        s.target_index = int(integer(v, "target_index"));
        s.missing = str(v, "missing");
        const JsonValue& cols = need(v, "columns");
        if (!cols.is_array()) bad("'columns' must be a list");
        for (const auto& c : cols.items) {
            FeatureColumn f;
            f.name = str(c, "name");
            f.index = int(integer(c, "index"));
            if (f.index < 0 || f.index >= s.input_columns) bad("column index out of range");
            if (const JsonValue* cat = c.find("categories")) {
                f.categorical = true;
                f.categories = strings(*cat, "categories");
            }
            if (const JsonValue* fill = c.find("fill")) f.fill = fill->number;
            s.columns.push_back(std::move(f));
        }
    }
    s.width = integer(v, "width");
    s.feature_names = strings(need(v, "feature_names"), "feature_names");
    s.task = str(v, "task");
    if (s.is_classification()) s.class_names = strings(need(v, "class_names"), "class_names");
    else s.outputs = integer(v, "outputs");
    const JsonValue& sc = need(v, "scaling");
    s.scaling.kind = str(sc, "kind");
    if (s.scaling.active()) {
        s.scaling.offset = floats(need(sc, "offset"), "offset");
        s.scaling.scale = floats(need(sc, "scale"), "scale");
        if (s.scaling.offset.size() != size_t(s.width) || s.scaling.scale.size() != size_t(s.width))
            bad("scaling has the wrong number of features");
    }
    return s;
}

}  // namespace nnctl
