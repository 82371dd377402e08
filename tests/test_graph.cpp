// Model graphs: named inputs, merges, blocks, fan-out. The whole model's gradients are checked against
// central differences, which exercises the reverse topological order and the summing of gradients
// where one output feeds several layers.
#include <doctest/doctest.h>

#include <cmath>

#include "config/parse.hpp"
#include "config/registry.hpp"
#include "core/error.hpp"
#include "support/gradcheck.hpp"

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
