#include "train/predict.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "core/error.hpp"
#include "core/limits.hpp"
#include "core/json.hpp"
#include "core/json_value.hpp"
#include "data/csv_encoder.hpp"
#include "data/csv_reader.hpp"
#include "data/image.hpp"
#include "data/image_folder.hpp"
#include "data/input.hpp"
#include "data/schema.hpp"
#include "data/text.hpp"
#include "core/fileio.hpp"

#include <sys/stat.h>

namespace nnctl {

namespace {

bool ends_with(const std::string& s, const std::string& x) {
    return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

std::string csv_quote(const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string o = "\"";
    for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
    return o + "\"";
}

/// Call handle(line) for every '\n'-separated line of `in` (a last line without one too), streaming:
/// memory holds one line; a line over read_limits().line_bytes is a DataError naming it.
template <class F>
void for_each_line(InputStream& in, const std::string& name, F&& handle) {
    std::string line, chunk(1 << 16, '\0');
    long long lines = 0;
    for (size_t n; (n = in.read(&chunk[0], chunk.size())) > 0;) {
        size_t start = 0;
        for (size_t i = 0; i < n; ++i)
            if (chunk[i] == '\n') {
                line.append(chunk, start, i - start);
                ++lines;
                handle(line);
                line.clear();
                start = i + 1;
            }
        line.append(chunk, start, n - start);
        if (int64_t(line.size()) > read_limits().line_bytes)
            throw DataError(name + ":" + std::to_string(lines + 1) + ": a line longer than " +
                            std::to_string(read_limits().line_bytes) + " bytes (data.limits.line_bytes)");
    }
    if (!line.empty()) handle(line);
}

/// One output's columns in a batch of model outputs, and how to write them.
struct OutputColumns {
    std::string name;  ///< empty: the model's only output ("prediction", "probabilities")
    int64_t offset = 0, width = 0;
    bool classification = false;
    std::vector<std::string> classes, quoted;  ///< class labels (a single sigmoid unit: "0", "1" unless named)
    std::vector<std::string> json_classes;     ///< the labels as JSON strings
    std::string json_key, json_proba_key;      ///< "NAME": / "NAME_probabilities": (or "prediction", "probabilities")
};

/// Formats predictions for one batch of model outputs: each output's prediction (a class name or
/// values) and, with --proba, its class probabilities. A model with several outputs names each
/// output's columns (CSV NAME and NAME:CLASS, JSON keys NAME and NAME_probabilities).
class Writer {
public:
    Writer(const SavedRun& run, const PredictOptions& o, const std::function<void(const std::string&)>& w)
        : o_(o), write_(w) {
        const DataSchema& s = run.schema;
        for (size_t k = 0; k < run.heads.size(); ++k) {
            const OutputHead& h = run.heads[k];
            OutputColumns c;
            c.name = h.name;
            c.offset = h.offset;
            c.width = h.width;
            const bool several = !s.targets.empty() && k < s.targets.size();
            c.classification = several ? s.targets[k].is_classification() : s.is_classification();
            c.classes = several ? s.targets[k].class_names : s.class_names;
            // A single sigmoid output predicts class 1 with probability p: both classes are reported.
            if (c.classification && c.width == 1 && c.classes.size() < 2) c.classes = {"0", "1"};
            for (const auto& n : c.classes) c.quoted.push_back(csv_quote(n)), c.json_classes.push_back(json_quote(n));
            c.json_key = json_quote(c.name.empty() ? "prediction" : c.name) + ":";
            c.json_proba_key = json_quote(c.name.empty() ? "probabilities" : c.name + "_probabilities") + ":{";
            outs_.push_back(std::move(c));
        }
    }

    /// Name each following row (an image's path): a first CSV column `path`, a JSON key "path".
    void set_row_names(const std::vector<std::string>* names) { rows_ = names; }

    void header(bool named = false) {
        if (o_.output_format != "csv") return;
        std::string h = named ? "path" : "";
        for (const auto& c : outs_) {
            const std::string base = c.name.empty() ? "prediction" : c.name;
            auto col = [&](const std::string& t) { h += (h.empty() ? "" : ",") + t; };
            if (c.classification) {
                col(c.name.empty() ? base : csv_quote(base));
                if (o_.proba)
                    for (const auto& n : c.classes) col(c.name.empty() ? csv_quote(n) : csv_quote(c.name + ":" + n));
            } else if (c.width == 1) {
                col(c.name.empty() ? base : csv_quote(base));
            } else {
                for (int64_t j = 0; j < c.width; ++j) col(csv_quote(base + "_" + std::to_string(j)));
            }
        }
        write_(h + "\n");
    }

    void batch(const Matrix& p) {
        std::string& out = out_;
        out.clear();
        const bool csv = o_.output_format == "csv";
        for (Eigen::Index i = 0; i < p.rows(); ++i) {
            bool first = true;
            if (rows_) {
                const std::string& n = (*rows_)[size_t(i)];
                out += csv ? csv_quote(n) : "{\"path\":" + json_quote(n);
                first = false;
            } else if (!csv) {
                out += '{';
            }
            for (const auto& c : outs_) {
                if (!first) out += ',';
                first = false;
                if (csv) write_csv(c, p, i, out);
                else write_json(c, p, i, out);
            }
            out += csv ? "\n" : "}\n";
        }
        write_(out);
    }

private:
    static int predicted_class(const OutputColumns& c, const Matrix& p, Eigen::Index i) {
        if (c.width == 1) return p(i, c.offset) > 0.5f ? 1 : 0;
        Eigen::Index j;
        p.row(i).segment(c.offset, c.width).maxCoeff(&j);
        return int(j);
    }
    template <class F>
    static void probabilities(const OutputColumns& c, const Matrix& p, Eigen::Index i, F&& emit) {
        if (c.width == 1) {
            emit(0, 1.0 - double(p(i, c.offset)));
            emit(1, double(p(i, c.offset)));
        } else {
            for (int64_t j = 0; j < c.width; ++j) emit(size_t(j), double(p(i, c.offset + j)));
        }
    }
    void write_csv(const OutputColumns& c, const Matrix& p, Eigen::Index i, std::string& out) const {
        char num[32];
        if (c.classification) {
            out += c.quoted[size_t(predicted_class(c, p, i))];
            if (o_.proba) probabilities(c, p, i, [&](size_t, double v) {
                std::snprintf(num, sizeof num, ",%.6g", v);
                out += num;
            });
            return;
        }
        for (int64_t j = 0; j < c.width; ++j) out += (j ? "," : "") + format_number(p(i, c.offset + j));
    }
    void write_json(const OutputColumns& c, const Matrix& p, Eigen::Index i, std::string& out) const {
        char num[32];
        out += c.json_key;
        if (c.classification) {
            out += c.json_classes[size_t(predicted_class(c, p, i))];
            if (o_.proba) {
                out += ',';
                out += c.json_proba_key;
                probabilities(c, p, i, [&](size_t k, double v) {
                    std::snprintf(num, sizeof num, "%.6g", v);
                    if (k) out += ',';
                    out += c.json_classes[k];
                    out += ':';
                    out += num;
                });
                out += '}';
            }
        } else if (c.width == 1) {
            out += format_number(p(i, c.offset));
        } else {
            out += '[';
            for (int64_t j = 0; j < c.width; ++j) out += (j ? "," : "") + format_number(p(i, c.offset + j));
            out += ']';
        }
    }
    const PredictOptions& o_;
    const std::function<void(const std::string&)>& write_;
    const std::vector<std::string>* rows_ = nullptr;
    std::vector<OutputColumns> outs_;
    std::string out_;  // reused per batch
};

/// Image files: one, a folder of them (and its class sub-folders), or a list of paths one a line.
template <class RunModel>
PredictStats predict_images(SavedRun& run, const PredictOptions& opt, Writer& w, RunModel& run_model, bool folder,
                            PredictStats& stats) {
    const Shape in = run.model.input_shape();
    if (in.size() != 3 || (in[2] != 1 && in[2] != 3 && in[2] != 4))
        throw DataError(opt.input + ": image input needs a model that takes images (height, width, 1, 3 or 4 "
                        "channels); this one takes " + shape_str(in));
    std::vector<std::string> paths;
    if (folder) {
        paths = list_images(opt.input);
        for (const auto& sub : list_subfolders(opt.input))  // an image_folder layout: its classes too
            for (const auto& p : list_images(sub)) paths.push_back(p);
        if (paths.empty()) throw DataError(opt.input + ": no .png, .jpg, .jpeg or .bmp files in the folder");
    } else if (is_image_file(opt.input)) {
        paths.push_back(opt.input);
    } else {  // a list of paths, one a line (standard input or a text file)
        const std::string text = read_input(opt.input);
        size_t start = 0;
        while (start < text.size()) {
            size_t end = text.find('\n', start);
            if (end == std::string::npos) end = text.size();
            std::string p = text.substr(start, end - start);
            while (!p.empty() && (p.back() == '\r' || p.back() == ' ')) p.pop_back();
            if (!p.empty()) paths.push_back(p);
            start = end + 1;
        }
    }
    const int64_t h = in[0], wd = in[1], c = in[2], width = h * wd * c;
    const int bs = std::max(1, opt.batch_size);
    w.header(true);
    Matrix batch(bs, width);
    std::vector<std::string> names;
    for (size_t i = 0; i < paths.size(); i += size_t(bs)) {
        const size_t n = std::min(paths.size() - i, size_t(bs));
        names.assign(paths.begin() + long(i), paths.begin() + long(i + n));
        for (size_t k = 0; k < n; ++k) {
            Image img = decode_image(read_file(names[k]), names[k], int(c));
            resize_bilinear(img, h, wd, batch.row(Eigen::Index(k)).data());
        }
        Matrix x = batch.topRows(Eigen::Index(n));
        apply_scaling(run.schema.scaling, x);
        w.set_row_names(&names);
        run_model(x);
        w.set_row_names(nullptr);
    }
    return stats;
}

}  // namespace

PredictStats predict_stream(SavedRun& run, const PredictOptions& opt, const std::function<void(const std::string&)>& write) {
    const DataSchema& s = run.schema;
    if (s.format == "timeseries") return predict_forecast(run, opt, write);
    Writer w(run, opt, write);
    const int bs = std::max(1, opt.batch_size);
    Matrix batch(bs, s.width), out;
    PredictStats stats;
    long long& rows = stats.rows;
    int filled = 0;
    auto run_model = [&](const ConstView& x) {
        const auto t0 = std::chrono::steady_clock::now();
        run.model.predict(x, out);
        stats.model_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        w.batch(out);
        rows += x.rows();
    };
    auto flush = [&] {
        if (filled == 0) return;
        apply_scaling(s.scaling, batch);  // rows past `filled` are stale but harmless
        run_model(batch.topRows(filled));
        filled = 0;
    };

    // Raw text: a sentence a line, or the text column of a CSV / JSON file. An .npy (or --input-format
    // npy) holds token ids already vectorized, as the model's input rows (e.g. for an exported model).
    const bool text_ids = s.format == "text" && (opt.input_format == "npy" ||
                                                 (opt.input_format == "auto" && ends_with(opt.input, ".npy")));
    if (s.format == "text" && !text_ids) {
        std::string fmt = opt.input_format;
        if (fmt == "auto")
            fmt = ends_with(opt.input, ".csv") || ends_with(opt.input, ".tsv") || ends_with(opt.input, ".csv.gz") ? "csv"
                  : ends_with(opt.input, ".json") || ends_with(opt.input, ".jsonl") || ends_with(opt.input, ".ndjson")
                      ? "jsonl"
                      : "text";
        if (fmt != "text" && fmt != "csv" && fmt != "jsonl")
            throw ConfigError("--input-format " + fmt + ": a text model reads text (one a line), csv, jsonl, or npy (token ids)");
        TextVectorizer vec(s.text);
        w.header();
        if (fmt != "text") {
            DataSourceConfig src;
            src.format = "text";
            src.path = opt.input;
            src.text_column = s.text.column;
            src.delimiter = ends_with(opt.input, ".tsv") ? '\t' : s.delimiter;
            src.header = s.header;
            src.where = opt.input;
            for (const TextRow& r : read_text_rows(src, false, nullptr, fmt == "csv" ? "csv" : "json")) {
                vec.encode(r.text, batch.row(filled).data());
                if (++filled == bs) flush();
            }
            flush();
            return stats;
        }
        InputStream in(opt.input);
        const std::string name = in.display();
        long long lineno = 0;
        auto handle = [&](std::string& text) {
            ++lineno;
            if (!text.empty() && text.back() == '\r') text.pop_back();
            check_utf8(text, name, lineno);
            vec.encode(text, batch.row(filled).data());
            if (++filled == bs) flush();
        };
        for_each_line(in, name, handle);
        flush();
        return stats;
    }

    std::string fmt = opt.input_format;
    struct stat st {};
    const bool folder = opt.input != "-" && ::stat(opt.input.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    if (fmt == "auto" && (folder || is_image_file(opt.input))) fmt = "images";
    if (fmt == "images") return predict_images(run, opt, w, run_model, folder, stats);
    auto input = std::make_unique<InputStream>(opt.input);
    const std::string name = input->display();
    if (fmt == "auto") {
        if (ends_with(opt.input, ".npy")) fmt = "npy";
        else if (ends_with(opt.input, "ubyte") || ends_with(opt.input, "ubyte.gz") || ends_with(opt.input, ".idx"))
            fmt = "idx";
        else if (ends_with(opt.input, ".jsonl") || ends_with(opt.input, ".ndjson")) fmt = "jsonl";
        else {
            int c = input->peek_byte();
            fmt = (c == '{' || c == '[') ? "jsonl" : "csv";
        }
    }
    w.header();

    if (fmt == "npy" || fmt == "idx") {  // whole arrays: predict straight from blocks of rows
        input.reset();
        Matrix x = fmt == "npy" ? read_npy_features(opt.input) : read_idx_images(opt.input);
        if (x.cols() != s.width)
            throw DataError(name + ": " + std::to_string(x.cols()) + " values per sample, the model takes " +
                            std::to_string(s.width));
        for (Eigen::Index i = 0; i < x.rows(); ++i)
            if (!x.row(i).allFinite())
                throw DataError(name + ": sample " + std::to_string(i + 1) + " has a non-finite value");
        apply_scaling(s.scaling, x);
        for (Eigen::Index i = 0; i < x.rows(); i += bs) run_model(x.middleRows(i, std::min<Eigen::Index>(bs, x.rows() - i)));
        return stats;
    }

    if (fmt == "csv" && s.format != "csv") {
        // A model trained on arrays (IDX, .npy, image folders): each CSV row holds one sample's raw
        // values (e.g. pixels 0..255, before the run's preprocessing), with or without a header.
        CsvReader reader(std::move(input), ',');
        CsvRecord rec;
        bool first = true;
        while (reader.next(rec)) {
            double v;
            if (first && !rec.fields.empty() && !parse_number(rec.fields[0].text, v)) {
                first = false;  // a header row
                continue;
            }
            first = false;
            const std::string at = name + ":" + std::to_string(rec.line);
            if (int64_t(rec.fields.size()) != s.width)
                throw DataError(at + ": " + std::to_string(rec.fields.size()) + " values, the model takes " +
                                std::to_string(s.width) + " per row, shape " + shape_str(run.model.input_shape()));
            for (size_t k = 0; k < rec.fields.size(); ++k) {
                if (!parse_number(rec.fields[k].text, v) || !std::isfinite(v))
                    throw DataError(at + ":" + std::to_string(rec.fields[k].col) + ": " + quote_input(rec.fields[k].text) +
                                    " is not a finite number");
                batch(filled, Eigen::Index(k)) = float(v);
            }
            if (++filled == bs) flush();
        }
        flush();
        return stats;
    }

    if (fmt == "csv") {
        CsvReader reader(std::move(input), s.delimiter);
        CsvRecord rec;
        std::vector<std::string> header;
        if (s.header) {
            if (!reader.next(rec)) return stats;
            for (auto& f : rec.fields) header.push_back(f.text);
        }
        CsvEncoder enc(s, header, name, false);
        while (reader.next(rec)) {
            enc.encode(rec, batch.row(filled).data());
            if (++filled == bs) flush();
        }
        flush();
        return stats;
    }

    if (fmt != "jsonl") throw ConfigError("unknown input format '" + fmt + "' (csv, jsonl, npy, idx)");
    // JSON lines: an object of column → value (CSV-trained models), or an array of the model's inputs.
    std::vector<std::string> cols;
    for (const auto& c : s.columns) cols.push_back(c.name);
    CsvEncoder enc(s, s.format == "csv" && s.header ? cols : std::vector<std::string>{}, name, false);
    long long lineno = 0;
    auto handle = [&](const std::string& text) {
        ++lineno;
        if (text.find_first_not_of(" \t\r") == std::string::npos) return;
        JsonValue v;
        try {
            v = parse_json(text);
        } catch (const std::exception& e) {
            throw DataError(name + ":" + std::to_string(lineno) + ": " + e.what());
        }
        const std::string where = name + ":" + std::to_string(lineno);
        if (s.format == "csv") {
            CsvRecord rec;
            rec.line = lineno;
            auto text_of = [&](const JsonValue& x) -> std::string {
                if (x.type == JsonValue::Type::Null) return "";
                if (x.is_string()) return x.text;
                if (x.is_number()) return x.text;
                if (x.type == JsonValue::Type::Bool) return x.boolean ? "true" : "false";
                throw DataError(where + ": values must be numbers, strings or null");
            };
            if (v.is_object()) {
                for (const auto& c : cols) {
                    const JsonValue* x = v.find(c);
                    if (!x) throw DataError(where + ": missing key \"" + c + "\"");
                    rec.fields.push_back({text_of(*x), 1});
                }
                if (!s.header) {  // headerless models: place values by their training positions
                    std::vector<CsvField> f(size_t(s.input_columns));
                    for (size_t k = 0; k < s.columns.size(); ++k) f[size_t(s.columns[k].index)] = rec.fields[k];
                    rec.fields = f;
                }
            } else if (v.is_array()) {
                for (const auto& x : v.items) rec.fields.push_back({text_of(x), 1});
            } else {
                throw DataError(where + ": expected a JSON object or array");
            }
            enc.encode(rec, batch.row(filled).data());
        } else {
            const JsonValue* arr = v.is_array() ? &v : v.find("features");
            if (!arr || !arr->is_array())
                throw DataError(where + ": expected an array of " + std::to_string(s.width) + " numbers");
            if (int64_t(arr->items.size()) != s.width)
                throw DataError(where + ": " + std::to_string(arr->items.size()) + " values, the model takes " +
                                std::to_string(s.width));
            for (size_t k = 0; k < arr->items.size(); ++k) {
                const JsonValue& x = arr->items[k];
                if (!x.is_number() || !std::isfinite(x.number))
                    throw DataError(where + ": value " + std::to_string(k + 1) + " is not a finite number");
                batch(filled, Eigen::Index(k)) = float(x.number);
            }
        }
        if (++filled == bs) flush();
    };
    for_each_line(*input, name, handle);
    flush();
    return stats;
}

}  // namespace nnctl
