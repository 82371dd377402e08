#include <yaml-cpp/yaml.h>

#include <cmath>

#include "config/parse.hpp"
#include "core/json.hpp"
#include "layers/registry.hpp"
#include "core/json.hpp"

namespace nnctl {

namespace {

// Numbers as the shortest text that reads back the same (so the file is stable and diffable).
// Exponents get a mantissa dot ("1.0e-07") so YAML 1.1 readers (PyYAML) also see a float.
YAML::Emitter& num(YAML::Emitter& e, double v) {
    std::string s = format_number(v);
    auto pos = s.find('e');
    if (pos != std::string::npos && s.find('.') == std::string::npos) s.insert(pos, ".0");
    return e << s;
}

void emit_kv(YAML::Emitter& e, const char* k, double v) {
    e << YAML::Key << k << YAML::Value;
    num(e, v);
}

void emit_source(YAML::Emitter& e, const DataSourceConfig& s, bool train = false) {
    e << YAML::BeginMap << YAML::Key << "format" << YAML::Value << s.format;
    if (s.format == "synthetic") {
        e << YAML::Key << "samples" << YAML::Value << s.samples;
        e << YAML::Key << "features" << YAML::Value << s.features;
        e << YAML::Key << "task" << YAML::Value << s.task;
        if (s.task == "classification") e << YAML::Key << "classes" << YAML::Value << s.classes;
        else {
            e << YAML::Key << "outputs" << YAML::Value << s.outputs;
            emit_kv(e, "noise", s.noise);
        }
        e << YAML::Key << "seed" << YAML::Value << s.seed;
    } else if (s.format == "csv") {
        e << YAML::Key << "path" << YAML::Value << s.path;
        if (s.target_list.empty()) e << YAML::Key << "target" << YAML::Value << s.target;
        else e << YAML::Key << "target" << YAML::Value << YAML::Flow << s.target_list;
        if (!s.feature_columns.empty()) e << YAML::Key << "features" << YAML::Value << YAML::Flow << s.feature_columns;
        if (!s.categorical.empty()) e << YAML::Key << "categorical" << YAML::Value << YAML::Flow << s.categorical;
        e << YAML::Key << "delimiter" << YAML::Value << std::string(1, s.delimiter);
        e << YAML::Key << "header" << YAML::Value << s.header;
        e << YAML::Key << "missing" << YAML::Value << s.missing;
    } else if (s.format == "timeseries") {
        e << YAML::Key << "path" << YAML::Value << s.path;
        if (!s.date_column.empty()) e << YAML::Key << "date" << YAML::Value << s.date_column;
        if (!s.feature_columns.empty()) e << YAML::Key << "features" << YAML::Value << YAML::Flow << s.feature_columns;
        if (!s.target_columns.empty()) e << YAML::Key << "targets" << YAML::Value << YAML::Flow << s.target_columns;
        // 0 / empty: taken from the training source (validation and test series).
        if (s.sequence_length > 0) e << YAML::Key << "sequence_length" << YAML::Value << s.sequence_length;
        if (s.sequence_stride > 0) e << YAML::Key << "sequence_stride" << YAML::Value << s.sequence_stride;
        if (s.sampling_rate > 0) e << YAML::Key << "sampling_rate" << YAML::Value << s.sampling_rate;
        if (s.horizon > 0) e << YAML::Key << "horizon" << YAML::Value << s.horizon;
        if (s.season > 0) e << YAML::Key << "season" << YAML::Value << s.season;
        if (!s.scale.empty()) e << YAML::Key << "scale" << YAML::Value << s.scale;
        e << YAML::Key << "missing" << YAML::Value << s.missing;
        e << YAML::Key << "delimiter" << YAML::Value << std::string(1, s.delimiter);
    } else if (s.format == "text") {
        e << YAML::Key << "path" << YAML::Value << s.path;
        e << YAML::Key << "text" << YAML::Value << s.text_column;
        if (!s.target.empty()) e << YAML::Key << "target" << YAML::Value << s.target;
        e << YAML::Key << "delimiter" << YAML::Value << std::string(1, s.delimiter);
        e << YAML::Key << "header" << YAML::Value << s.header;
        e << YAML::Key << "missing" << YAML::Value << s.missing;
        e << YAML::Key << "deduplicate" << YAML::Value << s.deduplicate;
        if (train) {  // the vectorizer: fitted on the training rows, so given there only
            e << YAML::Key << "standardize" << YAML::Value << s.standardize;
            e << YAML::Key << "split" << YAML::Value << s.split;
            e << YAML::Key << "output_mode" << YAML::Value << s.output_mode;
            e << YAML::Key << "ngrams" << YAML::Value << s.ngrams;
            if (s.max_tokens > 0) e << YAML::Key << "max_tokens" << YAML::Value << s.max_tokens;
            if (s.output_sequence_length > 0)
                e << YAML::Key << "output_sequence_length" << YAML::Value << s.output_sequence_length;
            if (s.pad_to_max_tokens) e << YAML::Key << "pad_to_max_tokens" << YAML::Value << true;
        }
    } else if (s.format == "idx") {
        e << YAML::Key << "images" << YAML::Value << s.images;
        e << YAML::Key << "labels" << YAML::Value << s.labels;
    } else if (s.format == "image_folder") {
        e << YAML::Key << "path" << YAML::Value << s.path;
        e << YAML::Key << "image_size" << YAML::Value << YAML::Flow << YAML::BeginSeq << s.image_height << s.image_width
          << YAML::EndSeq;
        e << YAML::Key << "color_mode" << YAML::Value << s.color_mode;
        e << YAML::Key << "on_error" << YAML::Value << s.on_error;
    } else if (s.format == "npy") {
        e << YAML::Key << "features" << YAML::Value << s.features_path;
        e << YAML::Key << "targets" << YAML::Value << s.targets_path;
    }
    if (s.max_samples > 0) e << YAML::Key << "max_samples" << YAML::Value << s.max_samples;
    if (s.take > 0) e << YAML::Key << "take" << YAML::Value << s.take;
    if (!s.class_names.empty()) e << YAML::Key << "class_names" << YAML::Value << YAML::Flow << s.class_names;
    if (!s.keep_classes.empty()) e << YAML::Key << "keep_classes" << YAML::Value << YAML::Flow << s.keep_classes;
    e << YAML::EndMap;
}

void emit_activation(YAML::Emitter& e, const ActivationFn& a) {
    if (a.name == "leaky_relu" || (a.name == "elu" && a.alpha != 1.0)) {
        e << YAML::Flow << YAML::BeginMap << YAML::Key << "type" << YAML::Value << a.name;
        emit_kv(e, "alpha", a.alpha);
        e << YAML::EndMap;
    } else {
        e << a.name;
    }
}

void emit_initializer(YAML::Emitter& e, const InitializerSpec& s) {
    if (s.type == "constant") {
        e << YAML::Flow << YAML::BeginMap << YAML::Key << "type" << YAML::Value << s.type;
        emit_kv(e, "value", s.value);
        e << YAML::EndMap;
    } else if (s.type == "random_normal") {
        e << YAML::Flow << YAML::BeginMap << YAML::Key << "type" << YAML::Value << s.type;
        emit_kv(e, "mean", s.mean);
        emit_kv(e, "stddev", s.stddev);
        e << YAML::EndMap;
    } else if (s.type == "random_uniform") {
        e << YAML::Flow << YAML::BeginMap << YAML::Key << "type" << YAML::Value << s.type;
        emit_kv(e, "minval", s.minval);
        emit_kv(e, "maxval", s.maxval);
        e << YAML::EndMap;
    } else {
        e << s.type;
    }
}

void emit_regularizer(YAML::Emitter& e, const char* key, const RegularizerSpec& r) {
    if (!r.active()) return;
    e << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginMap;
    if (r.l1 != 0.0) emit_kv(e, "l1", r.l1);
    if (r.l2 != 0.0) emit_kv(e, "l2", r.l2);
    e << YAML::EndMap;
}

void emit_schedule(YAML::Emitter& e, const ScheduleSpec& s) {
    e << YAML::Key << "learning_rate" << YAML::Value;
    if (s.type == "constant") {
        num(e, s.initial_learning_rate);
        return;
    }
    e << YAML::BeginMap << YAML::Key << "type" << YAML::Value << s.type;
    if (s.type == "piecewise_constant") {
        e << YAML::Key << "boundaries" << YAML::Value << YAML::Flow << s.boundaries;
        e << YAML::Key << "values" << YAML::Value << YAML::Flow << YAML::BeginSeq;
        for (double v : s.values) num(e, v);
        e << YAML::EndSeq;
    } else {
        emit_kv(e, "initial_learning_rate", s.initial_learning_rate);
        e << YAML::Key << "decay_steps" << YAML::Value << s.decay_steps;
        if (s.type == "exponential_decay") {
            emit_kv(e, "decay_rate", s.decay_rate);
            e << YAML::Key << "staircase" << YAML::Value << s.staircase;
        } else {
            emit_kv(e, "alpha", s.alpha);
            if (s.warmup_target >= 0) {
                e << YAML::Key << "warmup_steps" << YAML::Value << s.warmup_steps;
                emit_kv(e, "warmup_target", s.warmup_target);
            }
        }
    }
    e << YAML::EndMap;
}

/// One layer option, as its kind is written (regularizers only when active).
void emit_option(YAML::Emitter& e, const OptionSpec& o, const OptionValue& v) {
    if (o.kind == OptionKind::Regularizer) return emit_regularizer(e, o.key.c_str(), v.regularizer);
    e << YAML::Key << o.key << YAML::Value;
    if (v.null) {
        e << YAML::Null;
        return;
    }
    switch (o.kind) {
        case OptionKind::Integer: e << static_cast<long long>(std::llround(v.number)); break;
        case OptionKind::Number: num(e, v.number); break;
        case OptionKind::Boolean: e << (v.number != 0); break;
        case OptionKind::Choice:
        case OptionKind::Text: e << v.text; break;
        case OptionKind::Activation: emit_activation(e, v.activation); break;
        case OptionKind::Initializer: emit_initializer(e, v.initializer); break;
        case OptionKind::Regularizer: break;
        case OptionKind::Layer: {
            e << YAML::BeginMap << YAML::Key << "type" << YAML::Value << v.layer.type;
            if (const LayerSchema* inner = find_layer_schema(v.layer.type))
                for (const auto& io : inner->options) emit_option(e, io, v.layer.options->get(io.key));
            e << YAML::EndMap;
            break;
        }
        case OptionKind::IntPairs:  // always the explicit form: [[before, after], ...]
            e << YAML::Flow << YAML::BeginSeq;
            for (size_t i = 0; i + 1 < v.list.size(); i += 2)
                e << YAML::Flow << YAML::BeginSeq << static_cast<long long>(std::llround(v.list[i]))
                  << static_cast<long long>(std::llround(v.list[i + 1])) << YAML::EndSeq;
            e << YAML::EndSeq;
            break;
        case OptionKind::NumberTuple:
            if (v.list.size() == 1) {
                num(e, v.list[0]);
                break;
            }
            [[fallthrough]];
        case OptionKind::IntTuple:
        case OptionKind::IntList:
            e << YAML::Flow << YAML::BeginSeq;
            for (double x : v.list) {
                if (o.kind == OptionKind::NumberTuple) num(e, x);
                else e << static_cast<long long>(std::llround(x));
            }
            e << YAML::EndSeq;
            break;
    }
}

void to_json(const YAML::Node& n, JsonWriter& j) {
    if (n.IsMap()) {
        j.begin_object();
        for (auto it = n.begin(); it != n.end(); ++it) {
            j.key(it->first.Scalar());
            to_json(it->second, j);
        }
        j.end_object();
    } else if (n.IsSequence()) {
        j.begin_array();
        for (const auto& x : n) to_json(x, j);
        j.end_array();
    } else if (n.IsNull()) {
        j.null();
    } else {
        const std::string& s = n.Scalar();
        bool b;
        double d;
        if (n.Tag() == "!") j.value(s);  // quoted in the YAML: a string
        else if (s == "true" || s == "false") j.value(s == "true");
        else if (YAML::convert<double>::decode(n, d) && !s.empty() && s.find_first_of("0123456789") != std::string::npos)
            j.raw(format_number(d));
        else if (YAML::convert<bool>::decode(n, b) && (s == "True" || s == "False")) j.value(b);
        else j.value(s);
    }
}

void flatten(const YAML::Node& n, const std::string& path, std::map<std::string, std::string>& out) {
    if (n.IsMap())
        for (const auto& kv : n) flatten(kv.second, path.empty() ? kv.first.as<std::string>() : path + "." + kv.first.as<std::string>(), out);
    else if (n.IsSequence())
        for (size_t i = 0; i < n.size(); ++i) flatten(n[i], path + "." + std::to_string(i), out);
    else if (n.IsScalar())
        out[path] = n.Scalar();
}

}  // namespace

std::map<std::string, std::string> flatten_yaml(const std::string& yaml) {
    std::map<std::string, std::string> out;
    flatten(YAML::Load(yaml), "", out);
    return out;
}

std::string yaml_to_json(const std::string& yaml) {
    JsonWriter j;
    to_json(YAML::Load(yaml), j);
    return j.str();
}

std::string emit_config(const ExperimentConfig& c) {
    YAML::Emitter e;
    e << YAML::BeginMap;
    e << YAML::Key << "name" << YAML::Value << c.name;
    e << YAML::Key << "seed" << YAML::Value << c.seed;

    e << YAML::Key << "data" << YAML::Value << YAML::BeginMap;
    e << YAML::Key << "train" << YAML::Value;
    emit_source(e, c.data.train, true);
    if (c.data.validation) {
        e << YAML::Key << "validation" << YAML::Value;
        emit_source(e, *c.data.validation);
    } else {
        emit_kv(e, "validation_split", c.data.validation_split);
    }
    if (c.data.test) {
        e << YAML::Key << "test" << YAML::Value;
        emit_source(e, *c.data.test);
    } else {
        emit_kv(e, "test_split", c.data.test_split);
    }
    e << YAML::Key << "split_shuffle" << YAML::Value << c.data.split_shuffle;
    {  // data.limits only when some differ from the defaults
        const ReadLimits def, &l = c.data.limits;
        if (l.line_bytes != def.line_bytes || l.field_bytes != def.field_bytes || l.columns != def.columns ||
            l.gzip_ratio != def.gzip_ratio || l.image_pixels != def.image_pixels) {
            e << YAML::Key << "limits" << YAML::Value << YAML::Flow << YAML::BeginMap;
            e << YAML::Key << "line_bytes" << YAML::Value << l.line_bytes << YAML::Key << "field_bytes" << YAML::Value << l.field_bytes;
            e << YAML::Key << "columns" << YAML::Value << l.columns;
            emit_kv(e, "gzip_ratio", l.gzip_ratio);
            e << YAML::Key << "image_pixels" << YAML::Value << l.image_pixels << YAML::EndMap;
        }
    }
    if (c.data.preprocess == "rescale") {
        e << YAML::Key << "preprocess" << YAML::Value << YAML::Flow << YAML::BeginMap;
        emit_kv(e, "rescale", c.data.rescale);
        e << YAML::EndMap;
    } else {
        e << YAML::Key << "preprocess" << YAML::Value << c.data.preprocess;
    }
    e << YAML::EndMap;

    e << YAML::Key << "model" << YAML::Value << YAML::BeginMap;
    if (!c.input_shape.empty()) e << YAML::Key << "input_shape" << YAML::Value << YAML::Flow << c.input_shape;
    if (!c.model_inputs.empty()) {
        e << YAML::Key << "inputs" << YAML::Value << YAML::BeginSeq;
        for (const auto& mi : c.model_inputs)
            e << YAML::Flow << YAML::BeginMap << YAML::Key << "name" << YAML::Value << mi.name << YAML::Key << "shape"
              << YAML::Value << YAML::Flow << mi.shape << YAML::EndMap;
        e << YAML::EndSeq;
    }
    if (c.init_from.present()) {
        e << YAML::Key << "init_from" << YAML::Value << YAML::BeginMap;
        e << YAML::Key << "path" << YAML::Value << c.init_from.path;
        e << YAML::Key << "layers" << YAML::Value;
        if (c.init_from.all) e << "all";
        else e << YAML::Flow << c.init_from.layers;
        e << YAML::Key << "strict" << YAML::Value << c.init_from.strict;
        e << YAML::EndMap;
    }
    e << YAML::Key << "layers" << YAML::Value << YAML::BeginSeq;
    for (const auto& l : c.layers) {
        e << YAML::BeginMap;
        e << YAML::Key << "type" << YAML::Value << l.type;
        e << YAML::Key << "name" << YAML::Value << l.name;
        if (l.inputs.size() == 1) e << YAML::Key << "inputs" << YAML::Value << l.inputs[0];
        else if (!l.inputs.empty()) e << YAML::Key << "inputs" << YAML::Value << YAML::Flow << l.inputs;
        if (const LayerSchema* schema = find_layer_schema(l.type))
            for (const auto& o : schema->options) emit_option(e, o, l.options.get(o.key));
        if (!l.trainable) e << YAML::Key << "trainable" << YAML::Value << false;
        e << YAML::EndMap;
    }
    e << YAML::EndSeq;
    if (!c.outputs.empty()) {
        e << YAML::Key << "outputs" << YAML::Value << YAML::Flow << YAML::BeginSeq;
        for (const auto& o : c.outputs) e << o.layer;
        e << YAML::EndSeq;
    }
    e << YAML::EndMap;

    auto emit_loss = [&](const Loss& l) {
        e << YAML::BeginMap << YAML::Key << "type" << YAML::Value << l.type;
        if (l.is_classification()) e << YAML::Key << "from_logits" << YAML::Value << l.from_logits;
        if (l.type == "huber") emit_kv(e, "delta", l.delta);
        e << YAML::EndMap;
    };
    auto emit_metrics = [&](const std::vector<MetricSpec>& ms) {
        e << YAML::BeginSeq;
        for (const auto& m : ms) {
            if (m.type == "top_k_accuracy")
                e << YAML::Flow << YAML::BeginMap << YAML::Key << "type" << YAML::Value << m.type << YAML::Key << "k"
                  << YAML::Value << m.k << YAML::EndMap;
            else
                e << m.type;
        }
        e << YAML::EndSeq;
    };
    e << YAML::Key << "loss" << YAML::Value;
    if (c.outputs.empty()) {
        emit_loss(c.loss);
    } else {
        e << YAML::BeginMap;
        for (const auto& o : c.outputs) e << YAML::Key << o.layer << YAML::Value, emit_loss(o.loss);
        e << YAML::EndMap << YAML::Key << "loss_weights" << YAML::Value << YAML::BeginMap;
        for (const auto& o : c.outputs) e << YAML::Key << o.layer << YAML::Value, num(e, o.loss_weight);
        e << YAML::EndMap;
    }

    const auto& o = c.optimizer;
    e << YAML::Key << "optimizer" << YAML::Value << YAML::BeginMap << YAML::Key << "type" << YAML::Value << o.type;
    emit_schedule(e, o.learning_rate);
    if (o.type == "sgd") {
        emit_kv(e, "momentum", o.momentum);
        e << YAML::Key << "nesterov" << YAML::Value << o.nesterov;
    } else if (o.type == "adam" || o.type == "adamw" || o.type == "nadam") {
        emit_kv(e, "beta_1", o.beta_1);
        emit_kv(e, "beta_2", o.beta_2);
        emit_kv(e, "epsilon", o.epsilon);
        if (o.type != "nadam") e << YAML::Key << "amsgrad" << YAML::Value << o.amsgrad;
        if (o.type == "adamw") emit_kv(e, "weight_decay", o.weight_decay);
    } else if (o.type == "rmsprop") {
        emit_kv(e, "rho", o.rho);
        emit_kv(e, "momentum", o.momentum);
        emit_kv(e, "epsilon", o.epsilon);
        e << YAML::Key << "centered" << YAML::Value << o.centered;
    } else if (o.type == "adagrad") {
        emit_kv(e, "initial_accumulator_value", o.initial_accumulator_value);
        emit_kv(e, "epsilon", o.epsilon);
    }
    if (o.clipnorm > 0) emit_kv(e, "clipnorm", o.clipnorm);
    if (o.global_clipnorm > 0) emit_kv(e, "global_clipnorm", o.global_clipnorm);
    if (o.clipvalue > 0) emit_kv(e, "clipvalue", o.clipvalue);
    e << YAML::EndMap;

    e << YAML::Key << "metrics" << YAML::Value;
    if (c.outputs.empty()) {
        emit_metrics(c.metrics);
    } else {
        e << YAML::BeginMap;
        for (const auto& o : c.outputs) e << YAML::Key << o.layer << YAML::Value, emit_metrics(o.metrics);
        e << YAML::EndMap;
    }

    const auto& t = c.training;
    e << YAML::Key << "training" << YAML::Value << YAML::BeginMap;
    if (t.stages.empty()) {
        e << YAML::Key << "epochs" << YAML::Value << t.epochs;
    } else {
        e << YAML::Key << "stages" << YAML::Value << YAML::BeginSeq;
        for (const auto& g : t.stages) {
            e << YAML::Flow << YAML::BeginMap << YAML::Key << "epochs" << YAML::Value << g.epochs;
            if (g.learning_rate > 0) emit_kv(e, "learning_rate", g.learning_rate);
            if (!g.unfreeze.empty()) e << YAML::Key << "unfreeze" << YAML::Value << YAML::Flow << g.unfreeze;
            if (!g.freeze.empty()) e << YAML::Key << "freeze" << YAML::Value << YAML::Flow << g.freeze;
            e << YAML::EndMap;
        }
        e << YAML::EndSeq;
    }
    e << YAML::Key << "batch_size" << YAML::Value << t.batch_size;
    e << YAML::Key << "shuffle" << YAML::Value << t.shuffle;
    e << YAML::Key << "checkpoint" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "every" << YAML::Value
      << t.checkpoint_every << YAML::EndMap;
    if (t.early_stopping.enabled) {
        const auto& s = t.early_stopping;
        e << YAML::Key << "early_stopping" << YAML::Value << YAML::BeginMap;
        e << YAML::Key << "monitor" << YAML::Value << s.monitor;
        e << YAML::Key << "patience" << YAML::Value << s.patience;
        emit_kv(e, "min_delta", s.min_delta);
        e << YAML::Key << "restore_best_weights" << YAML::Value << s.restore_best_weights;
        e << YAML::Key << "mode" << YAML::Value << s.mode;
        e << YAML::Key << "start_from_epoch" << YAML::Value << s.start_from_epoch;
        e << YAML::EndMap;
    }
    if (t.reduce_lr_on_plateau.enabled) {
        const auto& s = t.reduce_lr_on_plateau;
        e << YAML::Key << "reduce_lr_on_plateau" << YAML::Value << YAML::BeginMap;
        e << YAML::Key << "monitor" << YAML::Value << s.monitor;
        emit_kv(e, "factor", s.factor);
        e << YAML::Key << "patience" << YAML::Value << s.patience;
        emit_kv(e, "min_delta", s.min_delta);
        e << YAML::Key << "cooldown" << YAML::Value << s.cooldown;
        emit_kv(e, "min_lr", s.min_lr);
        e << YAML::Key << "mode" << YAML::Value << s.mode;
        e << YAML::EndMap;
    }
    e << YAML::EndMap;
    e << YAML::EndMap;
    return std::string(e.c_str()) + "\n";
}

}  // namespace nnctl
