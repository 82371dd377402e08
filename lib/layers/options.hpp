#pragma once
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/initializers.hpp"
#include "layers/activations.hpp"
#include "regularizers/regularizer.hpp"

namespace nnctl {

class Layer;

/// The kinds of value a layer option takes. lib/config reads, checks and writes each kind one way,
/// so a layer declares its keys and never touches YAML.
enum class OptionKind {
    Integer,      ///< a whole number in [min, max]
    Number,       ///< a finite number in the range
    Boolean,
    Choice,       ///< one of `choices`
    Text,         ///< any string
    Activation,   ///< relu, {type: leaky_relu, alpha: 0.2}, ...
    Initializer,  ///< glorot_uniform, {type: constant, value: 0.1}, ...
    Regularizer,  ///< {l2: 0.01}, l1, ...
    IntTuple,     ///< an integer (repeated `tuple` times) or a list of `tuple` integers, as Keras' kernel_size
    NumberTuple,  ///< a number or a list of `tuple` numbers (the layer gives a lone number its meaning)
    IntList,      ///< a list of integers of any length (a shape), each in [min, max]
    IntPairs,     ///< (before, after) per axis, as Keras' padding/cropping: an integer (every side), one
                  ///< integer per axis, or one [before, after] pair per axis; stored before₀, after₀, ...
    Layer,        ///< a wrapped layer as a mapping {type: lstm, units: 32, ...} (bidirectional, time_distributed)
};

class LayerOptions;
/// A wrapped layer's type and options (OptionKind::Layer).
struct NestedLayer {
    std::string type;
    std::shared_ptr<const LayerOptions> options;
};

/// One option's value, of its option's kind.
struct OptionValue {
    bool null = false;          ///< a nullable option left unset (e.g. pooling strides: the pool size)
    double number = 0.0;        ///< Integer, Number, Boolean (0 or 1)
    std::string text;           ///< Choice, Text
    std::vector<double> list;   ///< IntTuple (always `tuple` long), NumberTuple, IntList
    ActivationFn activation;
    InitializerSpec initializer;
    RegularizerSpec regularizer;
    NestedLayer layer;          ///< Layer
};

/// One key of a layer's config: its kind, default, range and a one-line doc.
struct OptionSpec {
    std::string key;
    OptionKind kind = OptionKind::Number;
    std::string doc;
    OptionValue def;
    bool required = false;
    std::string required_hint;  ///< shown in "missing key 'units' (the layer's width)"
    bool nullable = false;      ///< `null` accepted (and the default when def.null)
    double min = -std::numeric_limits<double>::infinity();
    double max = std::numeric_limits<double>::infinity();
    bool min_open = false, max_open = false;  ///< range ends excluded
    int tuple = 0;                            ///< IntTuple / NumberTuple length
    std::vector<std::string> choices;         ///< Choice

    /// Values must lie in [lo, hi] (ends excluded when open).
    OptionSpec& range(double lo, double hi, bool lo_open = false, bool hi_open = false);
    /// The key must be given; `hint` says what it means in the missing-key message.
    OptionSpec& needed(std::string hint);
    /// `null` is accepted and is the default.
    OptionSpec& or_null();
    /// The range as text: "between 1 and 100", "in [0, 1)", "at least 1", "greater than 0".
    std::string range_text() const;
    /// The default as a user would write it in YAML ("glorot_uniform", "[1, 1]", "null", "—" when required).
    std::string default_text() const;
    /// The kind as shown in docs ("integer", "int or [int, int]", "valid | same", ...).
    std::string kind_text() const;
};

/// Option constructors, one per kind; each takes the key, the default and the one-line doc.
OptionSpec opt_int(const std::string& key, int64_t def, const std::string& doc);
OptionSpec opt_number(const std::string& key, double def, const std::string& doc);
OptionSpec opt_bool(const std::string& key, bool def, const std::string& doc);
OptionSpec opt_choice(const std::string& key, const std::string& def, std::vector<std::string> choices,
                      const std::string& doc);
OptionSpec opt_text(const std::string& key, const std::string& def, const std::string& doc);
OptionSpec opt_activation(const std::string& key, const std::string& def, const std::string& doc);
OptionSpec opt_initializer(const std::string& key, const std::string& def, const std::string& doc);
OptionSpec opt_regularizer(const std::string& key, const std::string& doc);
OptionSpec opt_ints(const std::string& key, int n, int64_t def, const std::string& doc);
OptionSpec opt_numbers(const std::string& key, int n, std::vector<double> def, const std::string& doc);
OptionSpec opt_int_list(const std::string& key, const std::string& doc);
/// `n` axes of (before, after) amounts, each side `def`.
OptionSpec opt_int_pairs(const std::string& key, int n, int64_t def, const std::string& doc);
/// A wrapped layer (required): its mapping is read with that layer type's own schema.
OptionSpec opt_layer(const std::string& key, const std::string& doc);

/// A layer's options as read from a config: every key of its schema, defaults filled in.
class LayerOptions {
public:
    void set(const std::string& key, OptionValue v);
    /// The value of `key`; throws Error when the schema has no such key (a programming error).
    const OptionValue& get(const std::string& key) const;
    OptionValue& get(const std::string& key);
    bool has(const std::string& key) const;
    int64_t integer(const std::string& key) const;
    double number(const std::string& key) const;
    bool flag(const std::string& key) const;
    const std::string& text(const std::string& key) const;
    std::vector<int64_t> ints(const std::string& key) const;
    const std::vector<double>& numbers(const std::string& key) const;
    bool is_null(const std::string& key) const { return get(key).null; }
    const ActivationFn& activation(const std::string& key) const { return get(key).activation; }
    const InitializerSpec& initializer(const std::string& key) const { return get(key).initializer; }
    const RegularizerSpec& regularizer(const std::string& key) const { return get(key).regularizer; }
    const NestedLayer& layer(const std::string& key) const { return get(key).layer; }
    const std::vector<std::pair<std::string, OptionValue>>& values() const { return values_; }

private:
    std::vector<std::pair<std::string, OptionValue>> values_;
};

/// A problem found by a layer's cross-option check: the key it concerns (empty: the layer) and what.
struct OptionProblem {
    std::string key;
    std::string problem;
};

/// Everything the config language, `validate`, `summary`, `nnctl layers` and the README know about a
/// layer type: its options and how to make one.
struct LayerSchema {
    std::string type;
    std::string doc;  ///< one line, as `nnctl layers` and the README show it
    std::vector<OptionSpec> options;
    std::function<std::unique_ptr<Layer>(const LayerOptions&)> make;
    /// Checks between options (optional), e.g. strides > 1 together with dilation_rate > 1.
    std::function<std::vector<OptionProblem>(const LayerOptions&)> check;

    const OptionSpec* find(const std::string& key) const;
    /// Every option at its default (required ones at their zero value); for tests and tools.
    LayerOptions defaults() const;
};

/// The keys every layer takes besides its own: type, name, trainable (and where they go in lists).
const std::vector<std::string>& common_layer_keys();

}  // namespace nnctl
