#include "config/yaml_doc.hpp"

#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <sstream>

#include <yaml-cpp/eventhandler.h>

#include "core/limits.hpp"
#include "core/error.hpp"
#include "core/fileio.hpp"

namespace nnctl {

namespace {
std::string at(const std::string& file, long line, long col) {
    return file + ":" + std::to_string(line) + ":" + std::to_string(col);
}
std::string mark_of(const std::string& file, const YAML::Mark& m) { return at(file, m.line + 1, m.column + 1); }

/// Counts documents and where each starts (its first node), building nothing.
struct DocumentCounter : YAML::EventHandler {
    std::vector<YAML::Mark> starts;  ///< document starts
    std::vector<YAML::Mark> nodes;   ///< each document's first node
    void node(const YAML::Mark& m) {
        if (nodes.size() < starts.size()) nodes.push_back(m);
    }
    void OnDocumentStart(const YAML::Mark& m) override { starts.push_back(m); }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& m, YAML::anchor_t) override { node(m); }
    void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { node(m); }
    void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t, const std::string&) override { node(m); }
    void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
        node(m);
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
        node(m);
    }
    void OnMapEnd() override {}
};
}  // namespace

YamlDoc::YamlDoc(const std::string& text, std::string filename, std::set<std::string> chain)
    : filename_(std::move(filename)) {
    root_ = YAML::Node(YAML::NodeType::Map);
    if (!prescan(text)) return;
    // Documents are counted with the event parser first: yaml-cpp 0.7's LoadAll never returns on a
    // stray ',' ']' or '}' at the top level (it yields the same empty document forever).
    YAML::Node doc;
    try {
        std::istringstream in(text);
        YAML::Parser parser(in);
        DocumentCounter counter;
        while (counter.starts.size() < 2 && parser.HandleNextDocument(counter)) {
            const auto& st = counter.starts;
            if (st.size() == 2 && (st[1].pos == st[0].pos || std::string(",]}").find(text[size_t(st[1].pos)]) != std::string::npos)) {
                errors_.push_back(mark_of(filename_, st[1]) + ": invalid YAML: unexpected '" +
                                  std::string(1, text[size_t(st[1].pos)]) + "' outside a [list] or {mapping}");
                return;
            }
        }
        if (counter.starts.size() > 1) {
            const YAML::Mark& m = counter.nodes.size() > 1 ? counter.nodes[1] : counter.starts[1];
            errors_.push_back(mark_of(filename_, m) + ": more than one YAML document ('---'): a config "
                              "is one document");
            return;
        }
        doc = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        std::string loc = e.mark.is_null() ? filename_ : mark_of(filename_, e.mark);
        // yaml-cpp says only "bad file" when its own recursion limit trips.
        std::string msg = e.msg == "bad file" ? "nested too deeply (more than " + std::to_string(kMaxDepth) + " levels)" : e.msg;
        errors_.push_back(loc + ": invalid YAML: " + msg);
        return;
    }
    std::vector<YAML::Node> docs = {doc};
    if (docs[0].IsNull()) {
        errors_.push_back(filename_ + ":1:1: the config is empty (expected a mapping with at least data and model)");
        return;
    }
    if (!docs[0].IsMap()) {
        errors_.push_back(filename_ + ":1:1: the config must be a mapping of keys (data, model, loss, ...)");
        return;
    }
    long budget = kNodeBudget;
    check_structure(docs[0], "", 0, budget);
    if (!errors_.empty()) return;
    root_ = docs[0];
    chain.insert(filename_);
    resolve_extends(chain);
}

bool YamlDoc::prescan(const std::string& t) {
    long line = 1, col = 1;
    bool at_line_start = true;
    for (size_t i = 0; i < t.size();) {
        unsigned char c = static_cast<unsigned char>(t[i]);
        size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
        bool ok = len > 0 && i + len <= t.size();
        for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(t[i + k]) >> 6) == 0x2;
        if (ok && len == 2) ok = c >= 0xC2;  // no overlong forms
        if (ok && len == 3) {
            unsigned char c1 = static_cast<unsigned char>(t[i + 1]);
            ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0);  // overlong, surrogates
        }
        if (ok && len == 4) {
            unsigned char c1 = static_cast<unsigned char>(t[i + 1]);
            ok = c <= 0xF4 && !(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 >= 0x90);
        }
        if (!ok) {
            errors_.push_back(at(filename_, line, col) + ": invalid UTF-8 (byte 0x" +
                              std::string(1, "0123456789abcdef"[c >> 4]) + std::string(1, "0123456789abcdef"[c & 15]) +
                              "): save the file as UTF-8");
            return false;
        }
        if (c == '\t' && at_line_start) {
            errors_.push_back(at(filename_, line, col) + ": a tab in indentation: YAML indents with spaces only "
                              "(replace the tab with spaces)");
            return false;
        }
        if (c == '\n') {
            ++line, col = 1;
            at_line_start = true;
        } else {
            ++col;
            if (c != ' ') at_line_start = false;
        }
        i += len;
    }
    return true;
}

namespace {
/// A path short enough to read: the first components, then the last.
std::string short_path(const std::string& path) {
    size_t dots = size_t(std::count(path.begin(), path.end(), '.'));
    if (dots < 8) return path;
    size_t cut = 0;
    for (int i = 0; i < 4; ++i) cut = path.find('.', cut + 1);
    return path.substr(0, cut) + "...";
}
}  // namespace

void YamlDoc::check_structure(const YAML::Node& n, const std::string& path, int depth, long& budget) {
    thread_local std::vector<YAML::Node> ancestors;
    if (!errors_.empty()) return;
    for (const auto& a : ancestors)
        if (n.is(a)) {
            errors_.push_back(mark_of(filename_, n.Mark()) + ": " + short_path(path) +
                              ": a recursive alias (the value contains itself)");
            return;
        }
    if (--budget < 0) {
        errors_.push_back(mark_of(filename_, n.Mark()) + ": the document expands to more than " +
                          std::to_string(kNodeBudget) + " values through aliases (a recursive alias or an " +
                          "'alias bomb'?)");
        return;
    }
    if (depth > kMaxDepth) {
        errors_.push_back(mark_of(filename_, n.Mark()) + ": " + (path.empty() ? "" : short_path(path) + ": ") +
                          "nested more than " + std::to_string(kMaxDepth) + " levels deep");
        return;
    }
    if (n.IsMap() || n.IsSequence()) ancestors.push_back(n);
    struct Pop {
        bool active;
        ~Pop() {
            if (active) ancestors.pop_back();
        }
    } pop{n.IsMap() || n.IsSequence()};
    if (n.IsMap()) {
        std::map<std::string, YAML::Mark> seen;
        for (auto it = n.begin(); it != n.end(); ++it) {
            if (!it->first.IsScalar()) {
                errors_.push_back(mark_of(filename_, it->first.Mark()) + ": " + (path.empty() ? "" : path + ": ") +
                                  "keys must be plain names, not lists or mappings");
                return;
            }
            const std::string k = it->first.Scalar();
            const std::string p = path.empty() ? k : path + "." + k;
            if (k == "<<") {
                errors_.push_back(mark_of(filename_, it->first.Mark()) + ": " + p + ": merge keys (<<) are not " +
                                  "supported; share settings with 'extends: base.yaml' instead");
                return;
            }
            auto [pos, fresh] = seen.emplace(k, it->first.Mark());
            if (!fresh) {
                errors_.push_back(mark_of(filename_, it->first.Mark()) + ": " + p + ": duplicate key '" + k +
                                  "' (first at line " + std::to_string(pos->second.line + 1) + ")");
                return;
            }
            check_structure(it->second, p, depth + 1, budget);
        }
    } else if (n.IsSequence()) {
        for (size_t i = 0; i < n.size(); ++i)
            check_structure(n[i], (path.empty() ? "" : path + ".") + std::to_string(i), depth + 1, budget);
    }
}

namespace {
/// over deep-merged onto base (maps merge key by key; anything else in `over` replaces).
/// Records in `from_base` the paths whose values come from the base document.
YAML::Node merge(const YAML::Node& base, const YAML::Node& over, const std::string& path,
                 std::vector<std::string>& from_base) {
    if (!base.IsMap() || !over.IsMap()) return over;
    YAML::Node out(YAML::NodeType::Map);
    for (auto it = base.begin(); it != base.end(); ++it) {
        const std::string k = it->first.Scalar();
        const std::string p = path.empty() ? k : path + "." + k;
        if (over[k]) out[k] = merge(it->second, over[k], p, from_base);
        else {
            out[k] = it->second;
            from_base.push_back(p);
        }
    }
    for (auto it = over.begin(); it != over.end(); ++it) {
        const std::string k = it->first.Scalar();
        if (!base[k]) out[k] = it->second;
    }
    return out;
}
}  // namespace

void YamlDoc::resolve_extends(std::set<std::string> chain) {
    YAML::Node ext = root_["extends"];
    if (!ext) return;
    if (!ext.IsScalar() || ext.Scalar().empty()) {
        errors_.push_back(mark_of(filename_, ext.Mark()) + ": extends: expected the path of a base config");
        return;
    }
    std::string base = ext.Scalar();
    if (base[0] != '/') {
        auto slash = filename_.find_last_of('/');
        if (slash != std::string::npos) base = filename_.substr(0, slash + 1) + base;
    }
    char buf[PATH_MAX];
    const std::string key = ::realpath(base.c_str(), buf) ? std::string(buf) : base;
    std::set<std::string> seen_real;
    for (const auto& f : chain) seen_real.insert(::realpath(f.c_str(), buf) ? std::string(buf) : f);
    if (seen_real.count(key)) {
        errors_.push_back(mark_of(filename_, ext.Mark()) + ": extends: '" + ext.Scalar() + "' is already being read " +
                          "(a cycle of extends)");
        return;
    }
    std::string text;
    try {
        text = read_file(base);
    } catch (const Error&) {
        errors_.push_back(mark_of(filename_, ext.Mark()) + ": extends: cannot read '" + base + "'");
        return;
    }
    YamlDoc parent(text, base, chain);
    if (!parent.errors().empty()) {
        errors_.insert(errors_.end(), parent.errors_.begin(), parent.errors_.end());
        return;
    }
    YAML::Node own(YAML::NodeType::Map);
    for (auto it = root_.begin(); it != root_.end(); ++it)
        if (it->first.Scalar() != "extends") own[it->first.Scalar()] = it->second;
    std::vector<std::string> from_base;
    root_ = merge(parent.root_, own, "", from_base);
    for (const auto& p : from_base) provenance_[p] = parent.file_of(p);
    // Deeper inherited paths keep the file their own base recorded.
    for (const auto& [p, f] : parent.provenance_)
        for (const auto& b : from_base)
            if (p == b || (p.size() > b.size() && p.compare(0, b.size(), b) == 0 && p[b.size()] == '.'))
                provenance_[p] = f;
}

void YamlDoc::set_search_space(const std::string& path) {
    std::string text;
    try {
        text = read_file(path);
    } catch (const Error&) {
        errors_.push_back(path + ": cannot read the search space file");
        return;
    }
    YamlDoc sd(text, path);
    if (!sd.errors().empty()) {
        errors_.insert(errors_.end(), sd.errors_.begin(), sd.errors_.end());
        return;
    }
    YAML::Node space = sd.root_["space"] ? sd.root_["space"] : sd.root_;
    if (!root_["search"]) root_["search"] = YAML::Node(YAML::NodeType::Map);
    YAML::Node search = root_["search"];
    if (sd.root_["space"])  // a file with more search settings (strategy, cv, ...) contributes them too
        for (auto it = sd.root_.begin(); it != sd.root_.end(); ++it) search[it->first.Scalar()] = it->second;
    else
        search["space"] = space;
    provenance_["search.space"] = path;
}

std::string YamlDoc::file_of(const std::string& path) const {
    std::string best;
    const std::string* file = &filename_;
    for (const auto& [p, f] : provenance_)
        if ((path == p || (path.size() > p.size() && path.compare(0, p.size(), p) == 0 && path[p.size()] == '.')) &&
            p.size() >= best.size()) {
            best = p;
            file = &f;
        }
    return *file;
}

namespace {
bool all_digits(const std::string& s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    return true;
}
}  // namespace

void YamlDoc::apply_set(const std::string& assignment, const std::string& label) {
    const std::string flag = label.empty() ? "--set " + assignment : label;
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
            } else {  // by layer name: given, or the default type_N the parser will assign
                std::map<std::string, int> count;
                for (size_t j = 0; j < cur.size(); ++j) {
                    if (!cur[j].IsMap()) continue;
                    std::string name;
                    if (cur[j]["name"] && cur[j]["name"].IsScalar()) name = cur[j]["name"].Scalar();
                    else if (cur[j]["type"] && cur[j]["type"].IsScalar())
                        name = cur[j]["type"].Scalar() + "_" + std::to_string(++count[cur[j]["type"].Scalar()]);
                    if (name == key) idx = j;
                }
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
    if (node && node.IsDefined() && !node.Mark().is_null()) return mark_of(file_of(path), node.Mark());
    return file_of(path);
}

void YamlDoc::error(const YAML::Node& node, const std::string& path, const std::string& problem) {
    error_at(where(node, path), path, problem);
}

void YamlDoc::error_at(const std::string& location, const std::string& path, const std::string& problem) {
    // A path is made of the file's keys: one that is huge is cut as any quoted input is.
    const std::string p = path.size() > 200 ? quote_input(path) : path;
    errors_.push_back(location + ": " + (p.empty() ? "" : p + ": ") + problem);
}

}  // namespace nnctl
