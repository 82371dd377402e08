#pragma once
#include <yaml-cpp/yaml.h>

#include <map>
#include <string>
#include <vector>

namespace nnctl {

/// A YAML document plus where its values came from, and the errors found while reading it.
/// Internal to lib/config (the only code that sees yaml-cpp).
class YamlDoc {
public:
    /// Parse `text`; a syntax error is recorded (with its 1-based location) rather than thrown.
    YamlDoc(const std::string& text, std::string filename);
    /// Apply one `PATH=VALUE` override; problems are recorded against the flag.
    void apply_set(const std::string& assignment);

    YAML::Node& root() { return root_; }
    const std::string& filename() const { return filename_; }
    /// "file:line:col" of `node` (1-based), or "--set PATH=VALUE" when the path was overridden;
    /// `node` may be null (a missing key): then `parent`'s location is used.
    std::string where(const YAML::Node& node, const std::string& path) const;
    void error(const YAML::Node& node, const std::string& path, const std::string& problem);
    void error_at(const std::string& location, const std::string& path, const std::string& problem);
    const std::vector<std::string>& errors() const { return errors_; }

private:
    std::string filename_;
    YAML::Node root_;
    std::map<std::string, std::string> overridden_;  // normalized path → the flag as given
    std::vector<std::string> errors_;
};

}  // namespace nnctl
