// training.checkpoint: everything needed to continue a run exactly, in one safetensors file.
#include <cstdio>
#include <cstdlib>

#include "core/error.hpp"
#include "core/fileio.hpp"
#include "core/json.hpp"
#include "core/json_value.hpp"
#include "train/experiment.hpp"

namespace nnctl {

namespace {

/// Doubles as C99 hex floats: exact, where a decimal shortened for reading would not be.
std::string exact(double v) {
    char b[40];
    std::snprintf(b, sizeof b, "%a", v);
    return b;
}
double from_exact(const JsonValue* v, const char* what) {
    if (!v || !v->is_string()) throw DataError(std::string("checkpoint: missing '") + what + "'");
    return std::strtod(v->text.c_str(), nullptr);
}

void write_history(JsonWriter& j, const std::vector<EpochLog>& h) {
    j.begin_array();
    for (const auto& e : h) {
        j.begin_object().key("epoch").value(e.epoch).key("seconds").value(exact(e.seconds));
        j.key("learning_rate").value(exact(e.learning_rate)).key("values").begin_array();
        for (const auto& [k, v] : e.values) j.begin_array().value(k).value(exact(v)).end_array();
        j.end_array().end_object();
    }
    j.end_array();
}

std::vector<EpochLog> read_history(const JsonValue* a) {
    std::vector<EpochLog> out;
    if (!a || !a->is_array()) throw DataError("checkpoint: missing a history");
    for (const auto& e : a->items) {
        EpochLog l;
        const JsonValue* ep = e.find("epoch");
        if (!ep || !ep->is_number()) throw DataError("checkpoint: an epoch without a number");
        l.epoch = int(ep->number);
        l.seconds = from_exact(e.find("seconds"), "seconds");
        l.learning_rate = from_exact(e.find("learning_rate"), "learning_rate");
        const JsonValue* vs = e.find("values");
        if (!vs || !vs->is_array()) throw DataError("checkpoint: an epoch without values");
        for (const auto& kv : vs->items) {
            if (!kv.is_array() || kv.items.size() != 2 || !kv.items[0].is_string())
                throw DataError("checkpoint: a malformed logged value");
            l.values.emplace_back(kv.items[0].text, from_exact(&kv.items[1], "a value"));
        }
        out.push_back(std::move(l));
    }
    return out;
}

}  // namespace

void write_checkpoint(const std::string& dir, const Checkpoint& c, Sequential& model) {
    std::vector<NamedTensor> tensors;
    const std::vector<ParamRef> params = model.params();
    for (const auto& p : params) tensors.push_back({"model/" + p.name, stored_shape(p), p.value->data()});
    std::vector<std::pair<std::string, const Matrix*>> slots;
    std::vector<std::pair<std::string, double>> scalars;
    if (c.optimizer) c.optimizer->export_state(slots, scalars);
    for (const auto& [k, m] : slots) tensors.push_back({"optimizer/" + k, {m->rows(), m->cols()}, m->data()});
    for (size_t i = 0; i < c.trainer.best_weights.size() && i < params.size(); ++i) {
        const Matrix& m = c.trainer.best_weights[i];
        tensors.push_back({"best/" + params[i].name, {m.rows(), m.cols()}, m.data()});
    }
    const TrainerSnapshot& t = c.trainer;
    JsonWriter j;
    j.begin_object().key("format").value("nnctl checkpoint 1");
    j.key("stage").value(c.stage).key("offset").value(c.offset).key("epochs_done").value(t.epochs_done);
    j.key("rng").value(std::to_string(t.rng));
    j.key("es_best").value(exact(t.es_best)).key("es_wait").value(t.es_wait).key("best_epoch").value(t.best_epoch);
    j.key("rp_best").value(exact(t.rp_best)).key("rp_wait").value(t.rp_wait).key("rp_cooldown").value(t.rp_cooldown);
    j.key("stopped_early").value(t.stopped_early).key("best_weights").value(!t.best_weights.empty());
    j.key("optimizer").begin_object();
    for (const auto& [k, v] : scalars) j.key(k).value(exact(v));
    j.end_object();
    j.key("history");
    write_history(j, t.history);
    j.key("earlier");
    write_history(j, c.earlier);
    j.key("config").value(c.config);
    j.end_object();
    const std::string bytes = safetensors_bytes(tensors, {{"format", "nnctl checkpoint"}, {"state", j.str()}});
    // The previous checkpoint stays until the new one is in place: a kill at any moment leaves one.
    const std::string path = dir + "/checkpoint.safetensors", prev = dir + "/checkpoint.prev.safetensors";
    if (path_exists(path) && std::rename(path.c_str(), prev.c_str()) != 0)
        throw IoError(path + ": cannot keep the previous checkpoint");
    write_file_atomic(path, bytes);
}

bool read_checkpoint(const std::string& dir, Sequential& model, Checkpoint& out) {
    const std::string path = dir + "/checkpoint.safetensors", prev = dir + "/checkpoint.prev.safetensors";
    std::vector<std::string> tries;
    if (path_exists(path)) tries.push_back(path);
    if (path_exists(prev)) tries.push_back(prev);
    if (tries.empty()) return false;
    std::string problems;
    for (const auto& f : tries) {
        try {
            std::map<std::string, std::string> meta;
            const std::vector<LoadedTensor> ts = read_safetensors(read_file(f), f, &meta);
            if (meta["format"] != "nnctl checkpoint") throw DataError(f + ": not an nnctl checkpoint");
            const JsonValue s = parse_json(meta["state"]);
            Checkpoint c;
            auto integer = [&](const char* k) {
                const JsonValue* v = s.find(k);
                if (!v || !v->is_number()) throw DataError(f + ": checkpoint without '" + k + "'");
                return int(v->number);
            };
            c.stage = integer("stage"), c.offset = integer("offset");
            TrainerSnapshot& t = c.trainer;
            t.epochs_done = integer("epochs_done");
            const JsonValue* rng = s.find("rng");
            if (!rng || !rng->is_string()) throw DataError(f + ": checkpoint without its random state");
            t.rng = std::strtoull(rng->text.c_str(), nullptr, 10);
            t.es_best = from_exact(s.find("es_best"), "es_best"), t.es_wait = integer("es_wait");
            t.best_epoch = integer("best_epoch");
            t.rp_best = from_exact(s.find("rp_best"), "rp_best"), t.rp_wait = integer("rp_wait");
            t.rp_cooldown = integer("rp_cooldown");
            const JsonValue* se = s.find("stopped_early");
            t.stopped_early = se && se->boolean;
            t.history = read_history(s.find("history"));
            c.earlier = read_history(s.find("earlier"));
            if (const JsonValue* o = s.find("optimizer"); o && o->is_object())
                for (const auto& [k, v] : o->members) c.optimizer_scalars[k] = from_exact(&v, k.c_str());
            const JsonValue* cfg = s.find("config");
            if (cfg && cfg->is_string()) c.config = cfg->text;
            // The tensors: the model's weights (by name and shape), the optimizer's slots, the restore point.
            std::vector<LoadedTensor> weights;
            std::map<std::string, const LoadedTensor*> best;
            for (const auto& x : ts) {
                if (x.name.rfind("model/", 0) == 0) {
                    LoadedTensor w = x;
                    w.name = x.name.substr(6);
                    weights.push_back(std::move(w));
                } else if (x.name.rfind("optimizer/", 0) == 0) {
                    if (x.shape.size() != 2) throw DataError(f + ": " + x.name + ": not a matrix");
                    Matrix m(x.shape[0], x.shape[1]);
                    std::copy(x.data.begin(), x.data.end(), m.data());
                    c.optimizer_tensors[x.name.substr(10)] = std::move(m);
                } else if (x.name.rfind("best/", 0) == 0) {
                    best[x.name.substr(5)] = &x;
                }
            }
            load_weights(model, weights, f);
            if (const JsonValue* bw = s.find("best_weights"); bw && bw->boolean)
                for (const auto& p : model.params()) {
                    auto it = best.find(p.name);
                    if (it == best.end()) throw DataError(f + ": the early-stopping weights lack " + p.name);
                    Matrix m(p.value->rows(), p.value->cols());
                    if (size_t(m.size()) != it->second->data.size()) throw DataError(f + ": " + p.name + ": wrong size");
                    std::copy(it->second->data.begin(), it->second->data.end(), m.data());
                    t.best_weights.push_back(std::move(m));
                }
            if (f == prev && !problems.empty()) warn("the newest checkpoint is damaged (" + problems + "); using the previous one");
            out = std::move(c);
            return true;
        } catch (const Error& e) {
            problems += (problems.empty() ? "" : "; ") + std::string(e.what());
        }
    }
    throw DataError(dir + ": no usable checkpoint: " + problems);
}

}  // namespace nnctl
