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
        if (!targets.empty()) {
            j.key("targets").begin_array();
            for (const auto& t : targets) {
                j.begin_object().key("name").value(t.name).key("index").value(t.index).key("task").value(t.task);
                if (t.is_classification()) {
                    j.key("class_names").begin_array();
                    for (const auto& n : t.class_names) j.value(n);
                    j.end_array();
                }
                j.end_object();
            }
            j.end_array();
        }
    }
    if (format == "timeseries") {
        const SeriesSchema& t = series;
        j.key("delimiter").value(std::string(1, delimiter));
        j.key("missing").value(missing);
        j.key("series").begin_object();
        j.key("columns").begin_array();
        for (const auto& c : t.columns) j.value(c);
        j.end_array().key("features").begin_array();
        for (int c : t.features) j.value(c);
        j.end_array().key("targets").begin_array();
        for (int c : t.targets) j.value(c);
        j.end_array();
        j.key("date").value(t.date).key("date_kind").value(t.date_kind);
        j.key("sequence_length").value(static_cast<long long>(t.sequence_length));
        j.key("sequence_stride").value(static_cast<long long>(t.sequence_stride));
        j.key("sampling_rate").value(static_cast<long long>(t.sampling_rate));
        j.key("horizon").value(static_cast<long long>(t.horizon));
        j.key("season").value(static_cast<long long>(t.season));
        j.key("scale").value(t.scale);
        j.key("offset").begin_array();
        for (double v : t.offset) j.value(v);
        j.end_array().key("factor").begin_array();
        for (double v : t.factor) j.value(v);
        j.end_array();
        j.end_object();
    }
    if (format == "text") {
        const TextSchema& t = text;
        j.key("delimiter").value(std::string(1, delimiter));
        j.key("header").value(header);
        j.key("missing").value(missing);
        j.key("text").begin_object();
        j.key("column").value(t.column).key("target").value(t.target);
        j.key("standardize").value(t.standardize).key("split").value(t.split);
        j.key("ngrams").value(t.ngrams).key("output_mode").value(t.output_mode);
        j.key("output_sequence_length").value(static_cast<long long>(t.output_sequence_length));
        j.key("max_tokens").value(static_cast<long long>(t.max_tokens));
        j.key("pad_to_max_tokens").value(t.pad_to_max_tokens);
        j.key("integer_labels").value(t.integer_labels);
        j.key("vocabulary").begin_array();
        for (const auto& w : t.vocabulary) j.value(w);
        j.end_array();
        if (t.output_mode == "tf_idf") {
            j.key("idf").begin_array();
            for (double v : t.idf) j.value(v);
            j.end_array();
        }
        j.end_object();
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

std::vector<int> DataSchema::target_fields() const {
    std::vector<int> out;
    for (const auto& t : targets) out.push_back(t.index);
    if (targets.empty() && target_index >= 0) out.push_back(target_index);
    return out;
}

DataSchema DataSchema::from_json(const JsonValue& v) {
    if (!v.is_object()) bad("not an object");
    DataSchema s;
    s.format = str(v, "format");
    auto read_layout = [&] {  // CSV-like files: their delimiter and header row
        std::string d = str(v, "delimiter");
        if (d.size() != 1) bad("bad delimiter");
        s.delimiter = d[0];
        const JsonValue& h = need(v, "header");
        if (h.type != JsonValue::Type::Bool) bad("'header' must be true or false");
        s.header = h.boolean;
    };
    if (s.format == "csv") {
        read_layout();
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
        if (const JsonValue* ts = v.find("targets")) {
            if (!ts->is_array() || ts->items.size() < 2) bad("'targets' must be a list of two or more targets");
            for (const auto& t : ts->items) {
                TargetColumn c;
                c.name = str(t, "name");
                c.index = int(integer(t, "index"));
                if (c.index < 0 || c.index >= s.input_columns) bad("target index out of range");
                c.task = str(t, "task");
                if (c.task != "classification" && c.task != "regression") bad("target task must be classification or regression");
                if (c.is_classification()) c.class_names = strings(need(t, "class_names"), "class_names");
                s.targets.push_back(std::move(c));
            }
        }
    }
    if (s.format == "timeseries") {
        std::string d = str(v, "delimiter");
        if (d.size() != 1) bad("bad delimiter");
        s.delimiter = d[0];
        s.missing = str(v, "missing");
        const JsonValue& ts = need(v, "series");
        SeriesSchema& t = s.series;
        t.columns = strings(need(ts, "columns"), "columns");
        auto positions = [&](const char* key) {
            std::vector<int> out;
            const JsonValue& a = need(ts, key);
            if (!a.is_array()) bad(std::string("'") + key + "' must be a list");
            for (const auto& i : a.items) {
                if (!i.is_number() || i.number < 0 || i.number >= double(t.columns.size()) || i.number != std::floor(i.number))
                    bad(std::string("'") + key + "' must hold column positions");
                out.push_back(int(i.number));
            }
            if (out.empty()) bad(std::string("'") + key + "' is empty");
            return out;
        };
        t.features = positions("features");
        t.targets = positions("targets");
        t.date = str(ts, "date");
        t.date_kind = str(ts, "date_kind");
        t.sequence_length = integer(ts, "sequence_length");
        t.sequence_stride = integer(ts, "sequence_stride");
        t.sampling_rate = integer(ts, "sampling_rate");
        t.horizon = integer(ts, "horizon");
        t.season = integer(ts, "season");
        if (t.sequence_length < 1 || t.sequence_stride < 1 || t.sampling_rate < 1 || t.horizon < 1 || t.season < 0)
            bad("window sizes must be at least 1");
        t.scale = str(ts, "scale");
        for (const char* key : {"offset", "factor"}) {
            const JsonValue& a = need(ts, key);
            if (!a.is_array()) bad(std::string("'") + key + "' must be a list");
            std::vector<double>& out = std::string(key) == "offset" ? t.offset : t.factor;
            for (const auto& i : a.items) {
                if (!i.is_number() || !std::isfinite(i.number)) bad(std::string("'") + key + "' must hold numbers");
                out.push_back(i.number);
            }
        }
        if (t.scale != "none" && (t.offset.size() != t.columns.size() || t.factor.size() != t.columns.size()))
            bad("series scaling has the wrong number of columns");
    }
    if (s.format == "text") {
        read_layout();
        s.missing = str(v, "missing");
        const JsonValue& tv = need(v, "text");
        TextSchema& t = s.text;
        auto flag = [&](const char* key) {
            const JsonValue& b = need(tv, key);
            if (b.type != JsonValue::Type::Bool) bad(std::string("'") + key + "' must be true or false");
            return b.boolean;
        };
        t.column = str(tv, "column");
        t.target = str(tv, "target");
        t.standardize = str(tv, "standardize");
        t.split = str(tv, "split");
        t.ngrams = int(integer(tv, "ngrams"));
        t.output_mode = str(tv, "output_mode");
        t.output_sequence_length = integer(tv, "output_sequence_length");
        t.max_tokens = integer(tv, "max_tokens");
        t.pad_to_max_tokens = flag("pad_to_max_tokens");
        t.integer_labels = flag("integer_labels");
        t.vocabulary = strings(need(tv, "vocabulary"), "vocabulary");
        if (t.ngrams < 1 || t.output_sequence_length < 0 || t.max_tokens < 0) bad("bad text vectorization sizes");
        if (t.output_mode == "tf_idf") {
            const JsonValue& a = need(tv, "idf");
            if (!a.is_array()) bad("'idf' must be a list");
            for (const auto& i : a.items) {
                if (!i.is_number() || !std::isfinite(i.number)) bad("'idf' must hold numbers");
                t.idf.push_back(i.number);
            }
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
