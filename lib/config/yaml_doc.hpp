#pragma once
#include <yaml-cpp/yaml.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace nnctl {

/// A YAML document plus where its values came from, and the errors found while reading it.
/// Internal to lib/config (the only code that sees yaml-cpp).
///
/// Besides yaml-cpp's own syntax errors it refuses what yaml-cpp lets through: invalid UTF-8, tabs
/// in indentation, more than one document, duplicate keys, merge keys (<<), aliases that are
/// recursive or expand past a node budget, and nesting deeper than a sane limit. It resolves
/// `extends: base.yaml` (relative to the file; chains allowed, cycles refused) by deep-merging the
/// document over its base, lists replaced, and remembers which file each value came from.
class YamlDoc {
public:
    static constexpr int kMaxDepth = 64;
    static constexpr long kNodeBudget = 100000;

    /// Parse `text`; problems are recorded (with 1-based locations) rather than thrown.
    /// `chain` holds the files already being read by `extends` (cycle detection).
    YamlDoc(const std::string& text, std::string filename, std::set<std::string> chain = {});
    /// Take the search space from another file (`--space`): its `space:` mapping, or the whole file.
    void set_search_space(const std::string& path);
    /// Apply one `PATH=VALUE` override; problems (with it, and with the values it sets) are
    /// recorded against `label`, by default the flag as given (`--set PATH=VALUE`).
    void apply_set(const std::string& assignment, const std::string& label = "");

    YAML::Node& root() { return root_; }
    const std::string& filename() const { return filename_; }
    /// "file:line:col" of `node` (1-based), or "--set PATH=VALUE" when the path was overridden;
    /// for a null node (a missing key) the file alone. The file is the one the value came from.
    std::string where(const YAML::Node& node, const std::string& path) const;
    void error(const YAML::Node& node, const std::string& path, const std::string& problem);
    void error_at(const std::string& location, const std::string& path, const std::string& problem);
    const std::vector<std::string>& errors() const { return errors_; }

private:
    bool prescan(const std::string& text);
    void check_structure(const YAML::Node& n, const std::string& path, int depth, long& budget);
    void resolve_extends(std::set<std::string> chain);
    std::string file_of(const std::string& path) const;

    std::string filename_;
    YAML::Node root_;
    std::map<std::string, std::string> overridden_;  // normalized path → the flag as given
    std::map<std::string, std::string> provenance_;  // path → file, for values inherited via extends
    std::vector<std::string> errors_;
};

}  // namespace nnctl
