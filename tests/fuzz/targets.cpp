#include "targets.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <map>
#include <string>

#include "config/parse.hpp"
#include "config/registry.hpp"
#include "core/error.hpp"
#include "core/fileio.hpp"
#include "core/json_value.hpp"
#include "data/dataset.hpp"
#include "data/image.hpp"
#include "data/input.hpp"
#include "model/safetensors.hpp"

namespace nnctl::fuzz {

namespace {

/// A private scratch folder (in memory when /dev/shm is there), removed at exit: the readers take paths.
std::string g_scratch;
const std::string& scratch() {
    if (g_scratch.empty()) {
        const std::string base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        g_scratch = base + "/nnctl-fuzz-" + std::to_string(::getpid());
        make_dirs(g_scratch);
        std::atexit([] { remove_tree(g_scratch); });
    }
    return g_scratch;
}

std::string put(const std::string& name, const uint8_t* data, size_t size) {
    const std::string path = scratch() + "/" + name;
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) throw IoError("cannot write " + path);
    if (size) std::fwrite(data, 1, size, f);
    std::fclose(f);
    return path;
}

/// Load the data a config describes, the fuzzed file at FILE; an nnctl::Error is a refusal. The
/// config is parsed once per data section (the file's path never changes), so the fuzzer's time
/// goes to the reader.
void load(const std::string& data_section, const std::string& file) {
    static std::map<std::string, ExperimentConfig> parsed;
    auto it = parsed.find(data_section);
    if (it == parsed.end()) {
        std::string yaml = data_section;
        for (size_t at; (at = yaml.find("FILE")) != std::string::npos;) yaml.replace(at, 4, file);
        yaml += "model: {layers: [{type: dense, units: 2, activation: softmax}]}\nloss: sparse_categorical_crossentropy\n";
        it = parsed.emplace(data_section, parse_config(yaml, "fuzz.yaml")).first;
    }
    try {
        load_data(it->second.data, true, 1);
    } catch (const Error&) {
    }
}

void csv(const uint8_t* d, size_t n) {
    load("data: {train: {format: csv, path: FILE, target: label}, test_split: 0.25}\n", put("in.csv", d, n));
}

void timeseries(const uint8_t* d, size_t n) {
    load("data:\n  train: {format: timeseries, path: FILE, date: date, targets: y, sequence_length: 3, horizon: 1, missing: interpolate}\n"
         "  test_split: 0.25\n",
         put("series.csv", d, n));
}

void text_csv(const uint8_t* d, size_t n) {
    load("data: {train: {format: text, path: FILE, text: text, target: label, max_tokens: 50}, test_split: 0.25}\n",
         put("text.csv", d, n));
}

void jsonl(const uint8_t* d, size_t n) {
    load("data: {train: {format: text, path: FILE, text: text, target: label, max_tokens: 50}, test_split: 0.25}\n",
         put("rows.jsonl", d, n));
    try {  // and the JSON parser itself, on the whole file (it reports bad JSON as std::runtime_error)
        parse_json(std::string(reinterpret_cast<const char*>(d), n));
    } catch (const std::runtime_error&) {
    }
}

void npy(const uint8_t* d, size_t n) {
    const std::string f = put("in.npy", d, n);
    try {
        read_npy_features(f);
    } catch (const Error&) {
    }
    load("data: {train: {format: npy, features: FILE, targets: FILE}}\n", f);
}

void idx(const uint8_t* d, size_t n) {
    const std::string f = put("in.idx", d, n);
    try {
        read_idx_images(f);
    } catch (const Error&) {
    }
    load("data: {train: {format: idx, images: FILE, labels: FILE}}\n", f);
}

void gzip(const uint8_t* d, size_t n) {  // damaged gzip streams, through the reader every format uses
    try {
        read_input(put("in.gz", d, n));
    } catch (const Error&) {
    }
}

void safetensors(const uint8_t* d, size_t n) {
    try {
        std::map<std::string, std::string> meta;
        read_safetensors(std::string(reinterpret_cast<const char*>(d), n), "fuzz.safetensors", &meta);
    } catch (const Error&) {
    }
}

void image(const uint8_t* d, size_t n) {  // PNG (libpng), JPEG (libjpeg-turbo) and BMP, by content
    const std::string bytes(reinterpret_cast<const char*>(d), n);
    for (int channels : {1, 3}) try {
            decode_image(bytes, "fuzz.img", channels, 1 << 20);
        } catch (const Error&) {
        }
}

void config(const uint8_t* d, size_t n) {  // read → parse → validate → build, as train does
    try {
        const ExperimentConfig c = parse_config(std::string(reinterpret_cast<const char*>(d), n), "fuzz.yaml");
        double params = 0;
        int64_t width = 8;
        for (const auto& l : c.layers)
            if (l.type == "dense") {
                const int64_t units = l.options.integer("units");
                params += double(width + 1) * double(units), width = units;
            } else {
                params += 1e6;  // other layers: build only small stacks
            }
        if (params < 5e6) build_model(c.layers, {8}, c.seed);
    } catch (const Error&) {
    }
}

}  // namespace

const std::vector<Target>& targets() {
    static const std::vector<Target> all = {
        {"csv", csv},           {"timeseries", timeseries}, {"text_csv", text_csv}, {"jsonl", jsonl},
        {"npy", npy},           {"idx", idx},               {"gzip", gzip},         {"safetensors", safetensors},
        {"image", image},       {"config", config},
    };
    return all;
}

const Target* find_target(const std::string& name) {
    for (const auto& t : targets())
        if (name == t.name) return &t;
    return nullptr;
}

}  // namespace nnctl::fuzz
