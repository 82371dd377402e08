// nnctl layers [TYPE...]: the layer types and their options, from the layers' own schemas.
#include <iostream>

#include "commands.hpp"
#include "common.hpp"
#include "core/error.hpp"
#include "core/json.hpp"
#include "layers/registry.hpp"

namespace nnctl::cli {

namespace {
struct LayersOptions {
    std::vector<std::string> types;
    bool markdown = false;
    CommonOptions common;
};

std::string known_types() {
    std::string s;
    for (const auto& t : layer_types()) s += (s.empty() ? "" : ", ") + t;
    return s;
}

/// One line per option: "`units` (required)" or "`activation`=linear".
std::string options_brief(const LayerSchema& s) {
    std::string out;
    for (const auto& o : s.options) {
        out += out.empty() ? "" : ", ";
        out += "`" + o.key + "`";
        out += o.required ? " (required)" : "=" + o.default_text();
    }
    return out.empty() ? "—" : out;
}

void print_markdown() {
    std::cout << "| layer | what it does | options (default) |\n|---|---|---|\n";
    for (const auto& s : layer_schemas()) std::cout << "| `" << s.type << "` | " << s.doc << " | " << options_brief(s) << " |\n";
    std::cout << "\nEvery layer also takes `name` (default `TYPE_N`) and `trainable` (default true).\n";
}

void print_type(const LayerSchema& s) {
    std::cout << s.type << ": " << s.doc << "\n";
    if (s.options.empty()) std::cout << "  (no options)\n";
    for (const auto& o : s.options) {
        std::string range = o.range_text();
        std::string kind = o.kind_text();
        for (size_t p; (p = kind.find("\\|")) != std::string::npos;) kind.replace(p, 2, "|");
        std::cout << "  " << o.key << ": " << kind << (o.required ? ", required" : ", default " + o.default_text())
                  << (range.empty() ? "" : ", " + range) << "\n      " << o.doc << "\n";
    }
    std::cout << "  name: string, default " << s.type << "_N\n  trainable: boolean, default true\n";
}

void write_json(const std::vector<const LayerSchema*>& list) {
    JsonWriter j;
    j.begin_object().key("layers").begin_array();
    for (const auto* s : list) {
        j.begin_object().key("type").value(s->type).key("doc").value(s->doc).key("options").begin_array();
        for (const auto& o : s->options) {
            std::string kind = o.kind_text();
            for (size_t p; (p = kind.find("\\|")) != std::string::npos;) kind.replace(p, 2, "|");
            j.begin_object().key("key").value(o.key).key("kind").value(kind).key("required").value(o.required);
            j.key("default").value(o.default_text()).key("range").value(o.range_text()).key("doc").value(o.doc);
            j.end_object();
        }
        j.end_array().end_object();
    }
    j.end_array().end_object();
    std::cout << j.str() << std::endl;
}

int run_layers(LayersOptions& o) {
    apply_common_options(o.common);
    std::vector<const LayerSchema*> list;
    for (const auto& t : o.types) {
        const LayerSchema* s = find_layer_schema(t);
        if (!s) throw ConfigError("unknown layer type '" + t + "' (known: " + known_types() + ")");
        list.push_back(s);
    }
    if (o.types.empty())
        for (const auto& s : layer_schemas()) list.push_back(&s);
    if (o.common.json) write_json(list);
    else if (o.markdown) print_markdown();
    else if (o.types.empty())
        for (const auto* s : list) std::printf("%-28s %s\n", s->type.c_str(), s->doc.c_str());
    else
        for (const auto* s : list) print_type(*s);
    return 0;
}
}  // namespace

std::function<int()> register_layers(CLI::App& app) {
    auto o = std::make_shared<LayersOptions>();
    CLI::App* cmd = app.add_subcommand("layers", "List the layer types, or show one type's options and defaults");
    cmd->add_option("type", o->types, "Layer types to describe (default: list them all)")->type_name("TYPE");
    cmd->add_flag("--markdown", o->markdown, "Print the README's layer table (Markdown)");
    add_common_options(*cmd, o->common, false, "Print every type's options as one JSON document");
    cmd->footer("\nExample: nnctl layers conv2d\n" + std::string(kExitCodes));
    return [o] { return run_layers(*o); };
}

}  // namespace nnctl::cli
