#pragma once
#include <map>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace nnctl {

/// Read, override (`--set PATH=VALUE` strings) and validate a config file. Every problem found is
/// reported at once in one ConfigError, one line each: `file:line:col: key.path: problem (hint)`.
ExperimentConfig load_config(const std::string& path, const std::vector<std::string>& sets = {},
                             const std::string& space_file = "");
/// The text of a config file; a ConfigError naming it when it cannot be read.
std::string read_config_text(const std::string& path);
/// The same from text already in memory; `filename` is used in messages and to resolve data paths.
/// With with_search false the `search:` section is left unread (and space_file ignored): for a
/// search's own trial configs, whose search section was validated once with the base config.
/// set_labels (empty, or one per set): how each set is named in messages instead of the flag.
ExperimentConfig parse_config(const std::string& text, const std::string& filename,
                              const std::vector<std::string>& sets = {}, const std::string& space_file = "",
                              bool with_search = true, const std::vector<std::string>& set_labels = {});

/// A data source given on the command line: `file.csv[.gz]`, `idx:IMAGES,LABELS`,
/// `npy:FEATURES,TARGETS`, or a YAML file holding one source mapping ({format: ..., ...}).
/// `schema_target` fills a CSV source's target (the trained model's target column).
DataSourceConfig parse_source_spec(const std::string& spec, const std::string& schema_target);

/// The fully resolved config (defaults filled in) as YAML that `load_config` reads back.
std::string emit_config(const ExperimentConfig& cfg);

/// A YAML document as JSON (scalars that read as booleans or numbers become JSON booleans/numbers).
std::string yaml_to_json(const std::string& yaml);

/// A YAML document's scalars by dotted path ("model.layers.0.units" → "16"), for listing the
/// differences between two configs.
std::map<std::string, std::string> flatten_yaml(const std::string& yaml);

/// Edit distance, for did-you-mean hints.
int edit_distance(const std::string& a, const std::string& b);

}  // namespace nnctl
