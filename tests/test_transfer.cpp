// Transfer learning: model.init_from (by tensor name and shape, strict and not), frozen layers
// (batch normalization in inference mode), and training.stages (unfreeze, learning rate, one history).
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "config/parse.hpp"
#include "core/error.hpp"
#include "core/fileio.hpp"
#include "model/safetensors.hpp"
#include "support/fixtures.hpp"
#include "train/experiment.hpp"

using namespace nnctl;

namespace {

const char* kData = "data:\n  train: {format: synthetic, samples: 200, features: 6, classes: 3, seed: 4}\n";

std::string config(const std::string& layers, const std::string& model_extra = "", const std::string& training = "epochs: 2") {
    return std::string(kData) + "model:\n" + model_extra + "  layers:\n" + layers +
           "loss: sparse_categorical_crossentropy\noptimizer: {type: adam, learning_rate: 0.01}\n"
           "training: {" + training + ", batch_size: 20}\n";
}

const char* kLayers =
    "    - {type: dense, name: body, units: 8, activation: relu}\n"
    "    - {type: batch_normalization, name: norm}\n"
    "    - {type: dense, name: head, units: 3, activation: softmax}\n";

/// The model's weights as safetensors in a temporary file.
std::string save_weights(Sequential& m) {
    std::vector<NamedTensor> t;
    for (const auto& p : m.params()) t.push_back({p.name, stored_shape(p), p.value->data()});
    return test::temp_file(safetensors_bytes(t), ".safetensors");
}

Matrix weight(Sequential& m, const std::string& name) {
    for (const auto& p : m.params())
        if (p.name == name) return *p.value;
    FAIL("no weight " << name);
    return {};
}

Experiment prepare(const std::string& yaml, uint64_t seed = 42) {
    ExperimentConfig c = parse_config(yaml, "t.yaml");
    c.seed = seed;
    return prepare_experiment(c);
}

}  // namespace

TEST_CASE("init_from: the chosen layers' weights by name, the others keep their initialization") {
    Experiment a = prepare(config(kLayers), 1);
    run_experiment(a);
    const std::string file = save_weights(a.model);
    Experiment fresh = prepare(config(kLayers), 2);
    Experiment b = prepare(config(kLayers, "  init_from: {path: " + file + ", layers: [body, norm]}\n"), 2);
    CHECK(weight(b.model, "body.kernel") == weight(a.model, "body.kernel"));
    CHECK(weight(b.model, "norm.moving_mean") == weight(a.model, "norm.moving_mean"));
    CHECK(weight(b.model, "head.kernel") == weight(fresh.model, "head.kernel"));
    CHECK(weight(b.model, "head.kernel") != weight(a.model, "head.kernel"));
    // All layers, from a run directory.
    const std::string dir = test::temp_file("", "_run");
    std::remove(dir.c_str());
    make_dirs(dir);
    write_file_atomic(dir + "/model.safetensors", read_file(file));
    Experiment c = prepare(config(kLayers, "  init_from: " + dir + "\n"), 3);
    CHECK(weight(c.model, "head.kernel") == weight(a.model, "head.kernel"));
}

TEST_CASE("init_from: a missing or mis-shaped tensor is an error naming it, or skipped with a warning") {
    Experiment a = prepare(config(kLayers), 1);
    const std::string file = save_weights(a.model);
    const std::string wider = "    - {type: dense, name: body, units: 8, activation: relu}\n"
                              "    - {type: batch_normalization, name: norm}\n"
                              "    - {type: dense, name: extra, units: 4}\n"
                              "    - {type: dense, name: head, units: 3, activation: softmax}\n";
    std::string msg = test::error_of([&] { prepare(config(wider, "  init_from: {path: " + file + "}\n")); });
    CHECK(msg.find("model.init_from: 3 weights cannot be loaded") == 0);
    CHECK(msg.find("no tensor 'extra.kernel' [8, 4] in " + file) != std::string::npos);
    CHECK(msg.find("tensor 'head.kernel' has shape [8, 3] in " + file + ", the model needs [4, 3]") != std::string::npos);
    std::vector<std::string> warnings;
    set_warning_handler([&](const std::string& w) { warnings.push_back(w); });
    Experiment b = prepare(config(wider, "  init_from: {path: " + file + ", strict: false}\n"));
    set_warning_handler(nullptr);
    CHECK(warnings.size() == 3);
    CHECK(weight(b.model, "body.kernel") == weight(a.model, "body.kernel"));
    CHECK(test::error_of([&] { prepare(config(kLayers, "  init_from: /no/such/run\n")); }).find("not found") !=
          std::string::npos);
    // Names are checked with the config, at their place.
    CHECK(test::error_of([&] { parse_config(config(kLayers, "  init_from: {path: x, layers: [body, haed]}\n"), "t.yaml"); })
              .find("t.yaml:4:39: model.init_from.layers.1: no layer named 'haed' in the model (layers: body, norm, head)") !=
          std::string::npos);
}

TEST_CASE("a frozen layer's weights and batch statistics do not change; stages unfreeze it at their learning rate") {
    const std::string frozen = "    - {type: dense, name: body, units: 8, activation: relu, trainable: false}\n"
                               "    - {type: batch_normalization, name: norm, trainable: false}\n"
                               "    - {type: dense, name: head, units: 3, activation: softmax}\n";
    Experiment one = prepare(config(frozen));
    const Matrix body = weight(one.model, "body.kernel"), mean = weight(one.model, "norm.moving_mean"),
                 head = weight(one.model, "head.kernel");
    run_experiment(one);
    CHECK(weight(one.model, "body.kernel") == body);
    CHECK(weight(one.model, "norm.moving_mean") == mean);  // inference mode, as Keras' frozen BatchNormalization
    CHECK(weight(one.model, "head.kernel") != head);

    Experiment two = prepare(config(frozen, "",
                                    "stages: [{epochs: 2}, {epochs: 3, unfreeze: [body, norm], learning_rate: 1.0e-3}]"));
    std::vector<std::string> messages;
    std::vector<int> begun;
    TrainCallbacks cb;
    cb.on_message = [&](const std::string& m) { messages.push_back(m); };
    cb.on_epoch_begin = [&](int e, int total) { begun.push_back(e * 100 + total); };
    ExperimentResult r = run_experiment(two, cb);
    REQUIRE(r.train.history.size() == 5);
    for (int e = 0; e < 5; ++e) CHECK(r.train.history[size_t(e)].epoch == e + 1);
    CHECK(begun == std::vector<int>{105, 205, 305, 405, 505});
    CHECK(r.train.history[1].learning_rate == doctest::Approx(0.01));
    CHECK(r.train.history[4].learning_rate == doctest::Approx(1e-3));
    CHECK(weight(two.model, "body.kernel") != body);
    CHECK(weight(two.model, "norm.moving_mean") != mean);
    REQUIRE(messages.size() >= 2);
    CHECK(messages[1].find("stage 2/2: 3 epochs, unfrozen: body norm, learning rate 0.001") == 0);

    // The first stage alone is the single-stage run: same seed, same weights.
    Experiment first = prepare(config(frozen, "", "stages: [{epochs: 2}]"));
    run_experiment(first);
    Experiment plain = prepare(config(frozen));
    run_experiment(plain);
    CHECK(weight(first.model, "head.kernel") == weight(plain.model, "head.kernel"));
}

TEST_CASE("training.stages in the config: errors at their place, and the resolved config keeps them") {
    CHECK(test::error_of([&] { parse_config(config(kLayers, "", "epochs: 3, stages: [{epochs: 1}]"), "t.yaml"); })
              .find("give either epochs or stages") != std::string::npos);
    CHECK(test::error_of([&] { parse_config(config(kLayers, "", "stages: [{epochs: 1, unfreeze: [bdy]}]"), "t.yaml"); })
              .find("training.stages.0.unfreeze.0: no layer named 'bdy'") != std::string::npos);
    CHECK(test::error_of([&] { parse_config(config(kLayers, "", "stages: [{learning_rate: 0.1}]"), "t.yaml"); })
              .find("missing key 'epochs'") != std::string::npos);
    ExperimentConfig c = parse_config(
        config(kLayers, "  init_from: {path: /x.safetensors, layers: [body], strict: false}\n",
               "stages: [{epochs: 2}, {epochs: 1, unfreeze: [body], freeze: [head], learning_rate: 1.0e-4}]"),
        "t.yaml");
    CHECK(c.training.epochs == 3);
    ExperimentConfig again = parse_config(emit_config(c), "resolved.yaml");
    REQUIRE(again.training.stages.size() == 2);
    CHECK(again.training.stages[1].unfreeze == std::vector<std::string>{"body"});
    CHECK(again.training.stages[1].freeze == std::vector<std::string>{"head"});
    CHECK(again.training.stages[1].learning_rate == doctest::Approx(1e-4));
    CHECK(again.init_from.path == "/x.safetensors");
    CHECK(!again.init_from.all);
    CHECK(!again.init_from.strict);
}
