#include "config/yaml_doc.hpp"

#include <cctype>

namespace nnctl {

YamlDoc::YamlDoc(const std::string& text, std::string filename) : filename_(std::move(filename)) {
    try {
        root_ = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        std::string loc = filename_;
        if (!e.mark.is_null()) loc += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
        errors_.push_back(loc + ": invalid YAML: " + e.msg);
        root_ = YAML::Node(YAML::NodeType::Map);
        return;
    }
    if (root_.IsNull()) {
        errors_.push_back(filename_ + ":1:1: the config is empty (expected a mapping with at least data and model)");
        root_ = YAML::Node(YAML::NodeType::Map);
    } else if (!root_.IsMap()) {
        errors_.push_back(filename_ + ":1:1: the config must be a mapping of keys (data, model, loss, ...)");
        root_ = YAML::Node(YAML::NodeType::Map);
    }
}

namespace {
bool all_digits(const std::string& s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    return true;
}
}  // namespace

void YamlDoc::apply_set(const std::string& assignment) {
    const std::string flag = "--set " + assignment;
    auto eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0) {
        errors_.push_back(flag + ": expected PATH=VALUE (e.g. --set optimizer.learning_rate=0.01)");
        return;
    }
    const std::string path = assignment.substr(0, eq), value = assignment.substr(eq + 1);
    std::vector<std::string> parts;
    size_t start = 0;
    for (;;) {
        auto dot = path.find('.', start);
        parts.push_back(path.substr(start, dot - start));
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    YAML::Node parsed;
    try {
        parsed = YAML::Load(value);
    } catch (const YAML::Exception& e) {
        errors_.push_back(flag + ": the value is not valid YAML: " + e.msg);
        return;
    }
    // Walk down, creating maps as needed; list items by index or (for layers) by name.
    YAML::Node cur = root_;
    std::string norm;
    for (size_t i = 0; i < parts.size(); ++i) {
        const std::string& key = parts[i];
        if (key.empty()) {
            errors_.push_back(flag + ": empty component in the path");
            return;
        }
        const bool last = i + 1 == parts.size();
        std::string seg = key;
        if (cur.IsSequence()) {
            size_t idx = cur.size();
            if (all_digits(key)) {
                idx = std::stoul(key);
            } else {
                for (size_t j = 0; j < cur.size(); ++j)
                    if (cur[j].IsMap() && cur[j]["name"] && cur[j]["name"].IsScalar() &&
                        cur[j]["name"].Scalar() == key)
                        idx = j;
            }
            if (idx >= cur.size()) {
                errors_.push_back(flag + ": " + (norm.empty() ? "" : norm + ": ") + "no item '" + key + "' (the list has " +
                                  std::to_string(cur.size()) + " items; use an index 0.." +
                                  std::to_string(cur.size() ? cur.size() - 1 : 0) + " or a layer name)");
                return;
            }
            seg = std::to_string(idx);
            norm += (norm.empty() ? "" : ".") + seg;
            if (last) {
                cur[idx] = parsed;
            } else {
                YAML::Node next = cur[idx];
                cur.reset(next);
            }
            continue;
        }
        if (!cur.IsMap()) {
            if (cur.IsNull()) {
                cur = YAML::Node(YAML::NodeType::Map);
            } else {
                errors_.push_back(flag + ": '" + norm + "' is a single value, not a section");
                return;
            }
        }
        norm += (norm.empty() ? "" : ".") + seg;
        if (last) {
            cur[key] = parsed;
        } else {
            if (!cur[key]) cur[key] = YAML::Node(YAML::NodeType::Map);
            YAML::Node next = cur[key];
            cur.reset(next);
        }
    }
    overridden_[norm] = flag;
}

std::string YamlDoc::where(const YAML::Node& node, const std::string& path) const {
    for (const auto& [p, flag] : overridden_)
        if (path == p || (path.size() > p.size() && path.compare(0, p.size(), p) == 0 && path[p.size()] == '.'))
            return flag;
    if (node && node.IsDefined() && !node.Mark().is_null())
        return filename_ + ":" + std::to_string(node.Mark().line + 1) + ":" + std::to_string(node.Mark().column + 1);
    return filename_;
}

void YamlDoc::error(const YAML::Node& node, const std::string& path, const std::string& problem) {
    error_at(where(node, path), path, problem);
}

void YamlDoc::error_at(const std::string& location, const std::string& path, const std::string& problem) {
    errors_.push_back(location + ": " + (path.empty() ? "" : path + ": ") + problem);
}

}  // namespace nnctl
