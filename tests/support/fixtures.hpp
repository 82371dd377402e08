#pragma once
#include <unistd.h>

#include <fstream>
#include <functional>
#include <string>

#include "config/config.hpp"
#include "core/error.hpp"

namespace nnctl::test {

/// Write `bytes` to a fresh file under /tmp (named by process and counter); returns its path.
inline std::string temp_file(const std::string& bytes, const std::string& suffix = "") {
    static int n = 0;
    std::string p = "/tmp/nnctl_test_" + std::to_string(::getpid()) + "_" + std::to_string(n++) + suffix;
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
}

/// The message of the nnctl::Error `f` throws, or "(no error)".
inline std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

/// A CSV source as the config layer would build it; `where` stands for its config location.
inline DataSourceConfig csv_source(const std::string& path, const std::string& target, const std::string& where) {
    DataSourceConfig s;
    s.format = "csv";
    s.path = path;
    s.target = target;
    s.where = where;
    return s;
}

/// A data section with a synthetic classification training source of the given size.
inline DataConfig synthetic_data(int64_t samples, int64_t features, int64_t classes) {
    DataConfig c;
    c.train.format = "synthetic";
    c.train.samples = samples;
    c.train.features = features;
    c.train.classes = classes;
    return c;
}

}  // namespace nnctl::test
