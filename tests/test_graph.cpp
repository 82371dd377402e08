// Model graphs: named inputs, merges, blocks, fan-out. The whole model's gradients are checked against
// central differences, which exercises the reverse topological order and the summing of gradients
// where one output feeds several layers.
#include <doctest/doctest.h>

#include <cmath>

#include "config/parse.hpp"
#include "config/registry.hpp"
#include "core/error.hpp"
#include "support/gradcheck.hpp"
#include "train/experiment.hpp"
#include "train/trainer.hpp"

using namespace nnctl;
using namespace nnctl::test;

namespace {
const char* kData = "data:\n  train: {format: synthetic, samples: 20, features: 8, classes: 2}\n";
const char* kLoss = "loss: mean_squared_error\n";

/// Worst relative error of dL/dθ (every weight) for L = Σ out ⊙ R, through the model's forward/backward.
double model_grad_error(Sequential& m, const Matrix& x, uint64_t seed, std::string& where) {
    const Matrix r = random_matrix(x.rows(), shape_size(m.output_shape()), seed);
    auto loss = [&] {
        const Matrix& y = m.forward(x, ForwardContext{});
        return double((y.cast<double>().array() * r.cast<double>().array()).sum());
    };
    loss();
    m.backward(x, r);
    std::vector<ParamRef> ps = m.params();
    std::vector<Matrix> grads;
    for (auto& p : ps) grads.push_back(*p.grad);
    double worst = 0;
    const double h = 1e-3;
    for (size_t k = 0; k < ps.size(); ++k) {
        Matrix& w = *ps[k].value;
        for (Eigen::Index i = 0; i < w.size(); ++i) {
            const float o = w.data()[i];
            w.data()[i] = float(o + h);
            const double lp = loss();
            w.data()[i] = float(o - h);
            const double lm = loss();
            w.data()[i] = o;
            const double num = (lp - lm) / (2 * h), an = grads[k].data()[i];
            const double err = std::fabs(num - an) / std::max(1e-2, std::fabs(num) + std::fabs(an));
            if (err > worst) worst = err, where = ps[k].name + "[" + std::to_string(i) + "]";
        }
    }
    return worst;
}

Sequential model_of(const std::string& model_yaml, const Shape& input, ExperimentConfig* out = nullptr) {
    ExperimentConfig c = parse_config(std::string(kData) + model_yaml + kLoss, "g.yaml");
    if (out) *out = c;
    return build_model(c.layers, input, 3, c.model_inputs);
}
}  // namespace

TEST_CASE("a graph with fan-out, residuals and every kind of merge passes a whole-model gradient check") {
    // `stem` feeds four layers; `wide` feeds a reshape (which shares its buffer) and a merge.
    Sequential m = model_of(
        "model:\n  layers:\n"
        "    - {type: dense, units: 6, activation: tanh, name: stem}\n"
        "    - {type: dense, units: 6, activation: tanh, name: a}\n"
        "    - {type: add, inputs: [stem, a], name: res}\n"
        "    - {type: dense, units: 6, activation: tanh, inputs: stem, name: b}\n"
        "    - {type: multiply, inputs: [res, b, stem], name: gate}\n"
        "    - {type: subtract, inputs: [gate, stem], name: diff}\n"
        "    - {type: dense, units: 6, name: wide, inputs: input}\n"
        "    - {type: reshape, target_shape: [3, 2], name: grid, inputs: wide}\n"
        "    - {type: reshape, target_shape: [3, 2], name: grid2, inputs: diff}\n"
        "    - {type: concatenate, axis: 1, inputs: [grid, grid2], name: cat}\n"
        "    - {type: flatten, name: flat}\n"
        "    - {type: average, inputs: [flat, flat], name: same_twice}\n"
        "    - {type: dense, units: 12, inputs: wide, name: wide12}\n"
        "    - {type: maximum, inputs: [same_twice, wide12, flat], name: top}\n"
        "    - {type: dense, units: 3, activation: tanh}\n",
        {8});
    CHECK(!m.is_chain());
    const Matrix x = random_matrix(4, 8, 11);
    std::string where;
    const double e = model_grad_error(m, x, 12, where);
    INFO("worst at " << where);
    CHECK(e < 2e-2);
}

TEST_CASE("a convolution read by two layers is not fused with its pooling, and both paths get gradients") {
    Sequential m = model_of(
        "model:\n  input_shape: [6, 6, 1]\n  layers:\n"
        "    - {type: conv2d, filters: 2, kernel_size: 3, padding: same, activation: tanh, name: c}\n"
        "    - {type: max_pooling2d, pool_size: 2, name: p}\n"
        "    - {type: conv2d, filters: 2, kernel_size: 2, strides: 2, inputs: c, name: c2}\n"
        "    - {type: add, inputs: [p, c2]}\n"
        "    - {type: conv2d, filters: 2, kernel_size: 3, padding: same, name: c3}\n"
        "    - {type: max_pooling2d, pool_size: 3}\n"  // c3 → pool: the fused pair
        "    - {type: flatten}\n"
        "    - {type: dense, units: 2}\n",
        {6, 6, 1});
    Matrix x = random_matrix(2, 36, 21);
    std::string where;
    const double e = model_grad_error(m, x, 22, where);
    INFO("worst at " << where);
    CHECK(e < 3e-2);
}

TEST_CASE("named model inputs take the features in order; two-input gradients and errors") {
    ExperimentConfig c;
    Sequential m = model_of(
        "model:\n  inputs:\n    - {name: table, shape: [4]}\n    - {name: grid, shape: [2, 2]}\n  layers:\n"
        "    - {type: dense, units: 3, activation: tanh, inputs: table, name: t}\n"
        "    - {type: flatten, inputs: grid, name: g}\n"
        "    - {type: dense, units: 3, activation: tanh, name: gd}\n"
        "    - {type: concatenate, inputs: [t, gd, g]}\n"
        "    - {type: dense, units: 2}\n",
        {8}, &c);
    REQUIRE(c.model_inputs.size() == 2);
    CHECK(m.input_names() == std::vector<std::string>{"table", "grid"});
    CHECK(m.output_shape() == Shape{2});
    const Matrix x = random_matrix(3, 8, 31);
    std::string where;
    CHECK(model_grad_error(m, x, 32, where) < 2e-2);
    // Changing a feature of the grid input changes the output only through g and gd (the second input).
    Matrix y0 = m.forward(x, ForwardContext{});
    Matrix x2 = x;
    x2(0, 5) += 0.5f;
    Matrix y1 = m.forward(x2, ForwardContext{});
    CHECK((y1.row(0) - y0.row(0)).norm() > 0);
    CHECK((y1.bottomRows(2) - y0.bottomRows(2)).norm() == 0);
    CHECK_THROWS_WITH_AS(build_model(c.layers, {9}, 1, c.model_inputs),
                         doctest::Contains("model.inputs hold 8 values per sample (table (None, 4) + grid (None, 2, 2))"),
                         ConfigError);
}

TEST_CASE("blocks: each copy has its own layers and weights; references to a block take its last copy") {
    ExperimentConfig c;
    Sequential m = model_of(
        "model:\n  blocks:\n    res:\n"
        "      - {type: dense, units: 8, activation: relu, name: d}\n"
        "      - {type: add, inputs: [input, d], name: sum}\n"
        "  layers:\n"
        "    - {type: dense, units: 8, name: stem}\n"
        "    - {block: res, repeat: 3, name: enc}\n"
        "    - {type: concatenate, inputs: [enc, stem]}\n"
        "    - {type: dense, units: 1}\n",
        {8}, &c);
    std::vector<std::string> names;
    for (const auto& l : c.layers) names.push_back(l.name);
    CHECK(names == std::vector<std::string>{"stem", "enc_1/d", "enc_1/sum", "enc_2/d", "enc_2/sum", "enc_3/d",
                                            "enc_3/sum", "concatenate_1", "dense_1"});
    CHECK(c.layers[2].inputs == std::vector<std::string>{"stem", "enc_1/d"});
    CHECK(c.layers[4].inputs == std::vector<std::string>{"enc_1/sum", "enc_2/d"});
    CHECK(c.layers[7].inputs == std::vector<std::string>{"enc_3/sum", "stem"});
    // Three different kernels (each copy initialised from its own stream).
    std::vector<ParamRef> ps = m.params();
    const Matrix* k1 = nullptr;
    const Matrix* k2 = nullptr;
    for (auto& p : ps) {
        if (p.name == "enc_1/d.kernel") k1 = p.value;
        if (p.name == "enc_2/d.kernel") k2 = p.value;
    }
    REQUIRE(k1);
    REQUIRE(k2);
    CHECK((*k1 - *k2).norm() > 0.1f);
    // The resolved config (blocks expanded, inputs explicit) parses back to the same graph.
    ExperimentConfig back = parse_config(emit_config(c), "resolved.yaml");
    REQUIRE(back.layers.size() == c.layers.size());
    for (size_t i = 0; i < c.layers.size(); ++i) {
        CHECK(back.layers[i].name == c.layers[i].name);
        CHECK(back.layers[i].inputs == c.layers[i].inputs);
    }
}

TEST_CASE("graph problems are config errors at the config's line and column") {
    auto error_of = [](const std::string& model) {
        try {
            parse_config(std::string(kData) + model + kLoss, "g.yaml");
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(error_of("model:\n  layers:\n    - {type: dense, units: 2, inputs: dense_1}\n")
              .find("g.yaml:5:7: model.layers.0: the layers' inputs form a cycle: dense_1 → dense_1") != std::string::npos);
    CHECK(error_of("model:\n  layers:\n    - {type: dense, units: 2}\n    - {type: add, inputs: [dense_1, inptu]}\n")
              .find("g.yaml:6:37: model.layers.1.inputs: layer 'add_1' takes an input 'inptu' that is neither a layer nor "
                    "a model input (did you mean 'input'?") != std::string::npos);
    CHECK(error_of("model:\n  inputs: [{name: a, shape: [4]}, {name: b, shape: [4]}]\n  layers:\n"
                   "    - {type: dense, units: 2, inputs: a}\n")
              .find("g.yaml:4:35: model.inputs.1: model input 'b' is not used by any layer") != std::string::npos);
    CHECK(error_of("model:\n  layers:\n    - {type: dense, units: 2}\n    - {type: dense, units: 2, inputs: [input, dense_1]}\n")
              .find("dense takes 1 input, got 2") != std::string::npos);
    CHECK(error_of("model:\n  blocks:\n    b: [{block: b}]\n  layers:\n    - {block: b}\n")
              .find("a block cannot contain another block") != std::string::npos);
    CHECK(error_of("model:\n  input_shape: [4]\n  inputs: [{name: a, shape: [4]}]\n  layers:\n    - {type: dense, units: 2}\n")
              .find("give either model.input_shape or model.inputs") != std::string::npos);
}

TEST_CASE("cross-attention between two named sequence inputs passes a whole-model gradient check") {
    ExperimentConfig c;
    Sequential m = model_of(
        "model:\n  inputs:\n    - {name: question, shape: [3, 2]}\n    - {name: passage, shape: [5, 2]}\n  layers:\n"
        "    - {type: conv1d, filters: 4, kernel_size: 1, activation: tanh, inputs: passage, name: memory}\n"
        "    - {type: multi_head_attention, num_heads: 2, key_dim: 2, inputs: [question, memory], name: cross}\n"
        "    - {type: multi_head_attention, num_heads: 1, key_dim: 2, inputs: [cross, memory, passage], name: cross2}\n"
        "    - {type: global_average_pooling1d}\n"
        "    - {type: dense, units: 2}\n",
        {16}, &c);
    CHECK(m.layer(1).output_shape() == Shape{3, 2});
    const Matrix x = random_matrix(2, 16, 41);
    std::string where;
    const double e = model_grad_error(m, x, 42, where);
    INFO("worst at " << where);
    CHECK(e < 2e-2);
}

namespace {
const char* kTwoTargets =
    "data:\n  train: {format: csv, path: p.csv, target: [species, mass]}\n";
}  // namespace

TEST_CASE("several outputs: forward puts them side by side, backward splits the gradient, fused heads") {
    // `trunk` feeds both heads and a third output reads a head too (an output that is also an input).
    ExperimentConfig c = parse_config("data:\n  train: {format: csv, path: p.csv, target: [species, mass, mix]}\n"
                                          "model:\n  outputs: [species, mass, mix]\n  layers:\n"
                                          "    - {type: dense, units: 6, activation: tanh, name: trunk}\n"
                                          "    - {type: dense, units: 3, activation: softmax, name: species}\n"
                                          "    - {type: dense, units: 1, inputs: trunk, name: mass}\n"
                                          "    - {type: dense, units: 2, activation: tanh, inputs: species, name: mix}\n"
                                          "loss: {species: sparse_categorical_crossentropy, mass: mse, mix: mse}\n"
                                          "loss_weights: {mass: 0.5}\nmetrics: {species: [accuracy], mass: [mae]}\n",
                                      "g.yaml");
    REQUIRE(c.outputs.size() == 3);
    CHECK(c.outputs[0].loss.type == "sparse_categorical_crossentropy");
    CHECK(c.outputs[1].loss.type == "mean_squared_error");
    CHECK(c.outputs[1].loss_weight == 0.5);
    CHECK(c.outputs[2].loss_weight == 1.0);
    CHECK(c.outputs[0].metrics.size() == 1);
    CHECK(c.outputs[2].metrics.empty());
    Sequential m = build_model(c.layers, {5}, 3, {}, c.outputs);
    CHECK(m.output_shape() == Shape{6});
    CHECK(m.output_offset(1) == 3);
    CHECK(m.output_offset(2) == 4);
    const Matrix x = random_matrix(4, 5, 12);
    std::string where;
    CHECK(model_grad_error(m, x, 41, where) < 2e-2);
    // The side-by-side output is each layer's own output: species' probabilities, and mix computed from them.
    const Matrix y = m.forward(x, ForwardContext{});
    CHECK((y.leftCols(3).rowwise().sum().array() - 1.0f).abs().maxCoeff() < 1e-6);
    const Matrix* wk = nullptr;
    const Matrix* wb = nullptr;
    for (auto& p : m.params()) {
        if (p.name == "mix.kernel") wk = p.value;
        if (p.name == "mix.bias") wb = p.value;
    }
    REQUIRE((wk && wb));
    const Matrix mix = ((y.leftCols(3) * *wk).rowwise() + wb->row(0)).array().tanh().matrix();
    CHECK((y.rightCols(2) - mix).cwiseAbs().maxCoeff() < 1e-6);
    // The species softmax is read by `mix`, so it is not fused; a head nothing reads is.
    CHECK_FALSE(m.fuse_output_activation("softmax", 0));
    ExperimentConfig c2 = parse_config(std::string(kTwoTargets) +
                                           "model:\n  outputs: [species, mass]\n  layers:\n"
                                           "    - {type: dense, units: 6, activation: tanh, name: trunk}\n"
                                           "    - {type: dense, units: 3, activation: softmax, name: species}\n"
                                           "    - {type: dense, units: 1, inputs: trunk, name: mass}\n"
                                           "loss: mse\n",
                                       "g.yaml");
    CHECK(c2.outputs[0].loss.type == "mean_squared_error");  // one loss serves every output
    Sequential m2 = build_model(c2.layers, {5}, 3, {}, c2.outputs);
    const Matrix p = m2.forward(x, ForwardContext{});
    REQUIRE(m2.fuse_output_activation("softmax", 0));
    Matrix logits = m2.forward(x, ForwardContext{}), probs;
    m2.apply_output_activation(logits, probs);
    CHECK((probs - p).cwiseAbs().maxCoeff() < 1e-6);
    CHECK(logits.rightCols(1) == p.rightCols(1));
}

TEST_CASE("several outputs: config errors name the file, line and key") {
    auto err = [](const std::string& yaml) {
        try {
            parse_config(yaml, "o.yaml");
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    const std::string layers =
        "  layers:\n    - {type: dense, units: 6, name: trunk}\n    - {type: dense, units: 3, name: species}\n"
        "    - {type: dense, units: 1, inputs: trunk, name: mass}\n";
    CHECK(err(std::string(kTwoTargets) + "model:\n  outputs: [species, mas]\n" + layers + "loss: mse\n") ==
          "o.yaml:4:22: model.outputs.1: no layer named 'mas' (did you mean 'mass'? layers: trunk, species, mass)");
    CHECK(err(std::string(kTwoTargets) + "model:\n  outputs: [species, mass]\n" + layers + "loss: {species: mse}\n") ==
          "o.yaml:9:7: loss: missing a loss for output 'mass' (outputs: species, mass)");
    CHECK(err(std::string(kTwoTargets) + "model:\n  outputs: [species, mass]\n" + layers +
              "loss: mse\nloss_weights: [1, 2, 3]\n") ==
          "o.yaml:10:15: loss_weights: expected 2 weights, one per output (species, mass), got 3");
    CHECK(err("data:\n  train: {format: csv, path: p.csv, target: species}\nmodel:\n  outputs: [species, mass]\n" +
              layers + "loss: mse\n") ==
          "o.yaml:2:45: data.train.target: the model has 2 outputs (species, mass): give one target column for each, in "
          "that order, e.g. target: [species, body_mass_g]");
    CHECK(err(std::string(kData) + "model:\n  outputs: [species, mass]\n" + layers + "loss: mse\n") ==
          "o.yaml:2:10: data.train: a model with several outputs (species, mass) reads its targets from a csv source, "
          "one target column per output (target: [a, b]); this source is synthetic");
    CHECK(err(std::string(kTwoTargets) + "model:\n  layers:\n    - {type: dense, units: 2}\nloss: mse\n") ==
          "o.yaml:2:45: data.train.target: a list of target columns needs a model with as many outputs "
          "(model.outputs: [a, b]); this model has one output");
    CHECK(err(std::string(kData) + "model:\n  outputs: [trunk]\n" + layers + "loss: mse\nloss_weights: {trunk: 1}\n")
              .find("model.outputs: a single output must be the last layer") != std::string::npos);
}

TEST_CASE("several outputs: the loss is the weighted sum of each output's loss, and so is its gradient") {
    // Three heads side by side in a (5 × 6) output: 3 softmax logits, 1 sigmoid logit, 2 values.
    std::vector<OutputHead> heads(3);
    heads[0].name = "a", heads[0].loss = Loss("sparse_categorical_crossentropy", true), heads[0].width = 3;
    heads[1].name = "b", heads[1].loss = Loss("binary_crossentropy", true), heads[1].width = 1, heads[1].offset = 3;
    heads[2].name = "c", heads[2].loss = Loss("mean_squared_error"), heads[2].width = 2, heads[2].offset = 4;
    heads[1].weight = 0.3, heads[2].weight = 2.0;
    Dataset d;
    d.x = random_matrix(5, 2, 1);
    d.targets.resize(3);
    d.targets[0].labels = {0, 2, 1, 1, 0}, d.targets[0].num_classes = 3;
    d.targets[1].labels = {1, 0, 0, 1, 1}, d.targets[1].num_classes = 2;
    d.targets[2].y = random_matrix(5, 2, 2);
    const Matrix t = encode_heads(d, heads);
    REQUIRE(t.cols() == 4);  // class index, 0/1, two values
    CHECK(heads[2].target_offset == 2);
    Sequential m;  // only for HeadScores' output activations (none fused: logits are given)
    HeadScores hs(m, heads, false);
    Matrix out = random_matrix(5, 6, 3), dout;
    const double total = hs.batch_loss(out, t, &dout);
    double want = 0.0;
    for (const auto& h : heads)
        want += h.weight * h.loss.compute(out.middleCols(h.offset, h.width), t.middleCols(h.target_offset, h.target_width), nullptr);
    CHECK(total == doctest::Approx(want).epsilon(1e-12));
    // dL/d(out) against central differences of the weighted total.
    const float h = 1e-3f;
    double worst = 0.0;
    for (Eigen::Index i = 0; i < out.size(); ++i) {
        HeadScores probe(m, heads, false);
        const float o = out.data()[i];
        out.data()[i] = o + h;
        const double lp = probe.batch_loss(out, t, nullptr);
        out.data()[i] = o - h;
        const double lm = probe.batch_loss(out, t, nullptr);
        out.data()[i] = o;
        worst = std::max(worst, std::fabs((lp - lm) / (2.0 * h) - double(dout.data()[i])));
    }
    CHECK(worst < 2e-4);
    Logs logs{{"loss", total}};
    hs.append_logs(logs);
    REQUIRE(logs.size() == 4);
    CHECK(logs[1].first == "a_loss");
    CHECK(logs[3].first == "c_loss");
    CHECK(logs[2].second == doctest::Approx(heads[1].loss.compute(out.middleCols(3, 1), t.middleCols(1, 1), nullptr)));
}

TEST_CASE("several outputs: training logs each output, and a loss weight of 0 leaves an output's own layers alone") {
    // Two heads on a shared trunk; head `b` weighs 0, so its own dense layer never gets a gradient.
    ExperimentConfig c = parse_config(std::string(kTwoTargets) +
                                          "model:\n  outputs: [species, mass]\n  layers:\n"
                                          "    - {type: dense, units: 6, activation: tanh, name: trunk}\n"
                                          "    - {type: dense, units: 3, activation: softmax, name: species}\n"
                                          "    - {type: dense, units: 1, inputs: trunk, name: mass}\n"
                                          "loss: {species: sparse_categorical_crossentropy, mass: mse}\n"
                                          "loss_weights: {mass: 0}\nmetrics: {species: [accuracy], mass: [mae]}\n"
                                          "optimizer: {type: adam, learning_rate: 0.01}\ntraining: {epochs: 3, batch_size: 8}\n",
                                      "g.yaml");
    Sequential m = build_model(c.layers, {5}, 3, {}, c.outputs);
    std::vector<OutputHead> heads = model_heads(m, c);
    CHECK(heads[0].loss.from_logits);  // the species softmax fused into its loss
    CHECK(heads[1].offset == 3);
    Dataset d;
    d.x = random_matrix(40, 5, 4);
    d.targets.resize(2);
    for (int i = 0; i < 40; ++i) d.targets[0].labels.push_back(i % 3);
    d.targets[0].num_classes = 3;
    d.targets[1].y = random_matrix(40, 1, 5);
    const Dataset val = d.subset({0, 1, 2, 3, 4, 5, 6, 7});
    Matrix before_mass, before_species;
    for (auto& p : m.params()) {
        if (p.name == "mass.kernel") before_mass = *p.value;
        if (p.name == "species.kernel") before_species = *p.value;
    }
    auto opt = make_optimizer(c.optimizer);
    Trainer tr(m, heads, *opt, c.training, 9);
    TrainResult r = tr.fit(d, &val);
    REQUIRE(r.history.size() == 3);
    std::vector<std::string> keys;
    for (const auto& [k, v] : r.history[0].values) keys.push_back(k);
    CHECK(keys == std::vector<std::string>{"loss", "species_loss", "mass_loss", "species_accuracy", "mass_mae", "val_loss",
                                           "val_species_loss", "val_mass_loss", "val_species_accuracy", "val_mass_mae"});
    // With mass weighing 0 the total is the species loss (no penalties here).
    CHECK(log_value(r.history[2].values, "val_loss") == doctest::Approx(log_value(r.history[2].values, "val_species_loss")));
    for (auto& p : m.params()) {
        if (p.name == "mass.kernel") CHECK((*p.value - before_mass).norm() == 0);
        if (p.name == "species.kernel") CHECK((*p.value - before_species).norm() > 0);
    }
}
