// The fuzzers' seed corpora and every regression file a fuzzer found, replayed through the same
// targets by the normal test suite, so each CI run covers them even where libFuzzer is not built.
#include <doctest/doctest.h>

#include <dirent.h>

#include <string>
#include <vector>

#include "core/fileio.hpp"
#include "fuzz/targets.hpp"

using namespace nnctl;

namespace {
std::vector<std::string> files_in(const std::string& dir) {
    std::vector<std::string> out;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') out.push_back(dir + "/" + e->d_name);
        ::closedir(d);
    }
    return out;
}
}  // namespace

TEST_CASE("fuzz corpora: every seed and regression file is read or refused, never a crash") {
    const std::string root = std::string(NNCTL_SOURCE_DIR) + "/tests/fuzz";
    size_t total = 0;
    for (const auto& t : fuzz::targets()) {
        const auto seeds = files_in(root + "/corpus/" + t.name);
        CHECK_MESSAGE(seeds.size() >= 3, t.name << ": a seed corpus of valid and damaged files");
        auto all = seeds;
        for (const auto& f : files_in(root + "/regressions/" + t.name)) all.push_back(f);
        for (const auto& f : all) {
            INFO(t.name << ": " << f);
            const std::string bytes = read_file(f);
            CHECK_NOTHROW(t.run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
            ++total;
        }
    }
    MESSAGE("fuzz corpora: " << total << " files replayed");
}
