// Fuzzing the config pipeline (read → parse → validate → build): seeded from the example configs,
// mutated (byte flips, truncation, key swaps, deep nesting, alias games) a fixed number of times.
// No crash, no hang, no sanitizer report (CI runs this under ASan+UBSan); every failure is a
// ConfigError whose every line starts with a location.
#include <doctest/doctest.h>

#include <dirent.h>

#include <string>
#include <vector>

#include "config/parse.hpp"
#include "config/registry.hpp"
#include "core/error.hpp"
#include "core/fileio.hpp"
#include "core/rng.hpp"

using namespace nnctl;

namespace {
const std::string kSrc = NNCTL_SOURCE_DIR;

std::vector<std::string> example_configs() {
    std::vector<std::string> out;
    for (const char* dir : {"/configs", "/configs/seed"}) {
        DIR* d = ::opendir((kSrc + dir).c_str());
        if (!d) continue;
        while (dirent* e = ::readdir(d)) {
            std::string n = e->d_name;
            if (n.size() > 5 && n.compare(n.size() - 5, 5, ".yaml") == 0) out.push_back(kSrc + dir + "/" + n);
        }
        ::closedir(d);
    }
    return out;
}

std::string mutate(std::string s, Rng& rng) {
    const int kind = rng.below(8);
    if (s.empty()) return "{";
    const size_t at = size_t(rng.below(int(s.size())));
    static const char* tokens[] = {":", "-", "[", "]", "{", "}", ",", "&a", "*a", "<<: *a", "\n", "\t", "  ",
                                   "'", "\"", "#", "---", "!!str", ".nan", "1e999", "-1", "0", "007", "?",
                                   "\xff", "\xc3", "type: dense", "units:", "layers:", "~", "|", ">"};
    switch (kind) {
        case 0: s[at] = char(rng.below(256)); break;                        // byte flip
        case 1: s.resize(at); break;                                        // truncation
        case 2: s.insert(at, tokens[rng.below(int(sizeof tokens / sizeof *tokens))]); break;
        case 3: {                                                           // swap two lines
            std::vector<std::string> lines;
            size_t p = 0;
            while (p <= s.size()) {
                size_t q = s.find('\n', p);
                lines.push_back(s.substr(p, q == std::string::npos ? std::string::npos : q - p));
                if (q == std::string::npos) break;
                p = q + 1;
            }
            if (lines.size() > 1) std::swap(lines[size_t(rng.below(int(lines.size())))], lines[size_t(rng.below(int(lines.size())))]);
            s.clear();
            for (size_t i = 0; i < lines.size(); ++i) s += lines[i] + (i + 1 < lines.size() ? "\n" : "");
            break;
        }
        case 4: {                                                           // deep nesting
            int depth = 1 + rng.below(200);
            s.insert(at, std::string(size_t(depth), '[') + std::string(size_t(depth), ']'));
            break;
        }
        case 5:                                                             // alias games
            s = "x: &a [" + std::string("*a, ") + "1]\n" + s;
            break;
        case 6: s.erase(at, size_t(rng.below(20))); break;                   // deletion
        default: s.insert(at, s.substr(size_t(rng.below(int(s.size()))), size_t(rng.below(40)))); break;  // duplication
    }
    return s;
}

bool located(const std::string& line) {
    // "file:LINE:COL: ...", "file: ..." (whole-file problems) or "--set ...".
    if (line.rfind("--set ", 0) == 0) return true;
    return line.find("fuzz.yaml") == 0 || line.find(kSrc) == 0 || line.find('/') == 0;
}
}  // namespace

TEST_CASE("fuzz: mutated configs never crash and always fail with located errors") {
    const auto configs = example_configs();
    REQUIRE(configs.size() >= 8);
    Rng rng(20261128);
    int parsed = 0, refused = 0;
    for (const auto& path : configs) {
        const std::string original = read_file(path);
        for (int i = 0; i < 1500; ++i) {
            std::string text = original;
            const int rounds = 1 + rng.below(3);
            for (int r = 0; r < rounds; ++r) text = mutate(text, rng);
            try {
                ExperimentConfig c;
                try {
                    c = parse_config(text, "fuzz.yaml");
                } catch (const std::bad_alloc&) {
                    FAIL("bad_alloc parsing: " << text);
                }
                ++parsed;
                // Build what was accepted (small enough to allocate), as training would.
                double params = 0;
                int64_t width = 8;
                for (const auto& l : c.layers) {
                    if (l.type == "dense") {
                        const int64_t units = l.options.integer("units");
                        params += double(width + 1) * double(units), width = units;
                    }
                }
                if (params < 5e6) {
                    try {
                        build_model(c.layers, {8}, c.seed);
                    } catch (const ConfigError&) {
                    } catch (const std::bad_alloc&) {
                        FAIL("bad_alloc building: " << text);
                    }
                }
            } catch (const ConfigError& e) {
                ++refused;
                std::string msg = e.what();
                size_t start = 0;
                while (start < msg.size()) {
                    size_t nl = msg.find('\n', start);
                    std::string line = msg.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
                    INFO("config " << path << " mutation " << i << ":\n" << text);
                    CHECK_MESSAGE(located(line), "error without a location: " << line);
                    if (nl == std::string::npos) break;
                    start = nl + 1;
                }
            }
        }
    }
    MESSAGE("fuzz: " << parsed << " mutated configs accepted, " << refused << " refused");
    CHECK(refused > 100);
}
