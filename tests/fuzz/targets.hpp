#pragma once
// The fuzz targets: one per reader of files a user downloads from anywhere. Each takes the bytes of
// one file and reads it as nnctl would (through load_data with a fixed config, or the reader
// itself). A reader may refuse the file with an nnctl::Error (that is its job); anything else
// (a crash, a sanitizer report, another exception, a hang, memory past the fuzzer's limit) is a
// finding. Built as libFuzzer executables (NNCTL_FUZZ) and replayed over the committed corpora by
// the normal test suite.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nnctl::fuzz {

struct Target {
    const char* name;
    void (*run)(const uint8_t* data, size_t size);
};

/// Every target, by name (the corpus folder tests/fuzz/corpus/NAME holds its seeds).
const std::vector<Target>& targets();
const Target* find_target(const std::string& name);

}  // namespace nnctl::fuzz
