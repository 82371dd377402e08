// Finite-difference gradient checks for every registered layer, activation, loss and regularizer.
// Each registry name must have a case here: the coverage tests fail when a new component lacks one.
#include <doctest/doctest.h>

#include <functional>
#include <map>

#include "config/registry.hpp"
#include "layers/activation_layer.hpp"
#include "layers/attention.hpp"
#include "layers/augment.hpp"
#include "layers/dense.hpp"
#include "layers/dropout.hpp"
#include "layers/merge.hpp"
#include "layers/conv.hpp"
#include "layers/normalization.hpp"
#include "layers/pool.hpp"
#include "layers/spatial.hpp"
#include "layers/recurrent.hpp"
#include "layers/reshape.hpp"
#include "layers/sequence.hpp"
#include "support/gradcheck.hpp"

using namespace nnctl;
using namespace nnctl::test;

namespace {
constexpr double kTol = 2e-2;

ActivationFn act(const std::string& name) {
    ActivationFn a;
    a.name = name;
    a.alpha = activation_default_alpha(name);
    return a;
}

void expect_ok(const GradReport& r, const std::string& what) {
    INFO(what << ": worst relative error " << r.worst << " at " << r.where);
    CHECK(r.worst < kTol);
}

// A merge layer of `op` on inputs of these shapes. `apart`: inputs offset from each other so that no
// two are within the finite-difference step (a maximum's kink).
void merge_case(Merge::Op op, const std::vector<Shape>& shapes, uint64_t seed, bool apart = false, int64_t axis = -1,
                std::vector<int64_t> axes = {-1, -1}, bool normalize = false) {
    Merge::Options o;
    o.op = op;
    o.axis = axis;
    o.axes = axes;
    o.normalize = normalize;
    Merge m(o);
    m.set_name("merge");
    std::vector<Matrix> xs;
    for (size_t k = 0; k < shapes.size(); ++k)
        xs.push_back(random_matrix(3, shape_size(shapes[k]), seed + k, 0.2));
    if (apart)  // interleave which input holds the extreme: input k is largest in column k mod n
        for (size_t k = 0; k < xs.size(); ++k)
            for (Eigen::Index c = 0; c < xs[k].cols(); ++c)
                xs[k].col(c).array() += 0.6f * float((c + Eigen::Index(k)) % Eigen::Index(xs.size()));
    const GradReport r = check_layer_multi(m, 3, shapes, seed, apart ? &xs : nullptr);
    expect_ok(r, m.type() + " of " + std::to_string(shapes.size()) + " inputs");
}

// Every padding × stride × dilation combination a convolution supports, at rank 1 or 2.
void conv_cases(int rank) {
    const std::vector<std::string> pads = rank == 2 ? std::vector<std::string>{"valid", "same"}
                                                    : std::vector<std::string>{"valid", "same", "causal"};
    const std::vector<std::pair<int64_t, int64_t>> stride_dilation = {{1, 1}, {2, 1}, {1, 2}};
    uint64_t seed = 100 + uint64_t(rank) * 50;
    for (const auto& pad : pads)
        for (auto [s, d] : stride_dilation)
            for (const char* a : {"linear", "tanh"}) {  // relu's fused path: checked against linear + relu
                Conv::Options o;
                o.rank = rank;
                o.filters = 3;
                o.kernel_size = rank == 2 ? std::vector<int64_t>{3, 2} : std::vector<int64_t>{3};
                o.strides.assign(size_t(rank), s);
                o.dilation_rate.assign(size_t(rank), d);
                o.padding = pad;
                o.activation = act(a);
                o.bias_initializer.type = "random_uniform";
                Conv c(o);
                c.set_name("conv");
                const Shape in = rank == 2 ? Shape{6, 5, 2} : Shape{7, 2};
                expect_ok(check_layer(c, 3, in, ++seed),
                          "conv" + std::to_string(rank) + "d " + pad + " strides " + std::to_string(s) + " dilation " +
                              std::to_string(d) + " " + a);
            }
    Conv::Options nb;  // no bias, 1×1 (the pointwise path that skips im2col)
    nb.rank = rank;
    nb.filters = 2;
    nb.kernel_size.assign(size_t(rank), 1);
    nb.strides.assign(size_t(rank), 1);
    nb.dilation_rate.assign(size_t(rank), 1);
    nb.use_bias = false;
    Conv c(nb);
    expect_ok(check_layer(c, 2, rank == 2 ? Shape{3, 3, 4} : Shape{4, 3}, seed + 7), "pointwise conv without bias");
}

void pool_cases(bool max, int rank) {
    // Seeds whose random inputs have no two values within the finite-difference step in a window
    // (a near-tie makes the numeric gradient of a max meaningless).
    uint64_t seed = 500 + (max ? 0 : 40) + uint64_t(rank) * 10;
    for (const char* pad : {"valid", "same"})
        for (int64_t s : {0, 1, 2}) {  // 0: strides = pool_size
            Pool::Options o;
            o.max = max;
            o.rank = rank;
            o.pool_size = rank == 2 ? std::vector<int64_t>{2, 3} : std::vector<int64_t>{3};
            if (s) o.strides.assign(size_t(rank), s);
            o.padding = pad;
            Pool p(o);
            expect_ok(check_layer(p, 2, rank == 2 ? Shape{5, 7, 2} : Shape{8, 3}, ++seed),
                      p.type() + " " + pad + " strides " + std::to_string(s));
        }
}

void global_pool_cases(bool max, int rank) {
    for (bool keep : {false, true}) {
        GlobalPool g(max, rank, keep);
        expect_ok(check_layer(g, 3, rank == 2 ? Shape{3, 4, 2} : Shape{5, 3}, 400 + uint64_t(rank) + (keep ? 9 : 0)),
                  g.type() + (keep ? " keepdims" : ""));
    }
    if (rank == 1) {  // padded steps are skipped
        Matrix mask = Matrix::Ones(3, 5);
        mask.block(1, 3, 1, 2).setZero();
        mask.row(2).setZero();  // all padding: output 0, no gradient
        GlobalPool g(max, 1, false);
        GradCase c;
        c.mask = &mask;
        expect_ok(check_layer(g, 3, {5, 3}, 420, c), g.type() + " masked");
    }
}

// A (batch × steps) mask: sample 0 whole, sample 1 padded at the end, sample 2 padded at the start.
Matrix step_mask(int batch, int steps) {
    Matrix m = Matrix::Ones(batch, steps);
    if (batch > 1) m.block(1, steps - 2, 1, 2).setZero();
    if (batch > 2) m(2, 0) = 0;
    return m;
}

Recurrent::Options rnn_options(Recurrent::Cell cell, int64_t units, bool seq, bool back) {
    Recurrent::Options o;
    o.cell = cell;
    o.units = units;
    o.activation = act("tanh");
    o.recurrent_activation = act("sigmoid");
    o.return_sequences = seq;
    o.go_backwards = back;
    o.bias_initializer.type = "random_uniform";
    o.bias_initializer.minval = -0.5;
    o.bias_initializer.maxval = 0.5;
    return o;
}

// Every direction × output mode, with and without a mask, plus the options that change the equations.
void recurrent_cases(Recurrent::Cell cell) {
    const Matrix mask = step_mask(3, 5);
    uint64_t seed = 900 + uint64_t(cell) * 40;
    const std::string t = Recurrent::type_name(cell);
    for (bool seq : {false, true})
        for (bool back : {false, true})
            for (bool masked : {false, true}) {
                Recurrent r(rnn_options(cell, 3, seq, back));
                r.set_name(t);
                GradCase c;
                c.mask = masked ? &mask : nullptr;
                expect_ok(check_layer(r, 3, {5, 2}, ++seed, c),
                          t + (seq ? " sequences" : " last") + (back ? " backwards" : "") + (masked ? " masked" : ""));
            }
    auto variant = [&](const std::string& what, auto change, bool training = false) {
        Recurrent::Options o = rnn_options(cell, 4, true, false);
        change(o);
        Recurrent r(o);
        r.set_name(t);
        GradCase c;
        c.training = training;
        c.mask = &mask;
        expect_ok(check_layer(r, 3, {5, 3}, ++seed, c), t + " " + what);
    };
    variant("without bias", [](Recurrent::Options& o) { o.use_bias = false; });
    variant("relu", [](Recurrent::Options& o) { o.activation = act("relu"); });
    variant("dropout and recurrent dropout (masks fixed per sequence)", [](Recurrent::Options& o) {
        o.dropout = 0.3;
        o.recurrent_dropout = 0.4;
    }, true);
    if (cell == Recurrent::Cell::Gru) variant("reset_after false", [](Recurrent::Options& o) { o.reset_after = false; });
    if (cell == Recurrent::Cell::Gru)
        variant("reset_after false with recurrent dropout", [](Recurrent::Options& o) {
            o.reset_after = false;
            o.recurrent_dropout = 0.4;
        }, true);
    if (cell != Recurrent::Cell::Simple)
        variant("relu gates", [](Recurrent::Options& o) { o.recurrent_activation = act("relu"); });
    if (cell == Recurrent::Cell::Lstm) variant("linear gates", [](Recurrent::Options& o) { o.recurrent_activation = act("linear"); });
}

// One case per layer type.
const std::map<std::string, std::function<void()>>& layer_cases() {
    static const std::map<std::string, std::function<void()>> cases = {
        {"dense",
         [] {
             for (const char* a : {"linear", "relu", "tanh", "gelu", "softmax"}) {
                 Dense::Options o;
                 o.units = 5;
                 o.activation = act(a);
                 o.bias_initializer.type = "random_uniform";
                 Dense d(o);
                 d.set_name("dense");
                 expect_ok(check_layer(d, 3, {4}, 11), std::string("dense+") + a);
             }
             Dense::Options nb;
             nb.units = 3;
             nb.use_bias = false;
             Dense d(nb);
             expect_ok(check_layer(d, 2, {6}, 12), "dense without bias");
         }},
        {"activation",
         [] {
             for (const auto& a : activation_names()) {
                 ActivationLayer l(act(a));
                 expect_ok(check_layer(l, 3, {5}, 21, false, 2.0), "activation " + a);
             }
         }},
        {"dropout",
         [] {
             Dropout d(0.4);
             expect_ok(check_layer(d, 4, {6}, 31, true), "dropout (training)");
             Dropout e(0.4);
             expect_ok(check_layer(e, 4, {6}, 32, false), "dropout (inference)");
         }},
        {"flatten",
         [] {
             Reshape f({});
             expect_ok(check_layer(f, 2, {3, 2, 2}, 33), "flatten");
             CHECK(f.output_shape() == Shape{12});
         }},
        {"conv2d", [] { conv_cases(2); }},
        {"conv1d", [] { conv_cases(1); }},
        {"max_pooling2d", [] { pool_cases(true, 2); }},
        {"average_pooling2d", [] { pool_cases(false, 2); }},
        {"max_pooling1d", [] { pool_cases(true, 1); }},
        {"average_pooling1d", [] { pool_cases(false, 1); }},
        {"global_average_pooling2d", [] { global_pool_cases(false, 2); }},
        {"global_max_pooling2d", [] { global_pool_cases(true, 2); }},
        {"global_average_pooling1d", [] { global_pool_cases(false, 1); }},
        {"global_max_pooling1d", [] { global_pool_cases(true, 1); }},
        {"batch_normalization",
         [] {
             for (bool center : {true, false})
                 for (bool scale : {true, false}) {
                     BatchNorm::Options o;
                     o.center = center, o.scale = scale;
                     o.gamma_initializer.type = "random_uniform";  // not all ones: γ enters the gradient
                     o.gamma_initializer.minval = 0.5, o.gamma_initializer.maxval = 1.5;
                     o.beta_initializer.type = "random_uniform";
                     BatchNorm t(o), i(o);
                     const std::string what = std::string("batch_normalization center=") + (center ? "1" : "0") +
                                              " scale=" + (scale ? "1" : "0");
                     expect_ok(check_layer(t, 4, {3, 2, 3}, 41, true), what + " (training: batch statistics)");
                     expect_ok(check_layer(i, 3, {5}, 42, false), what + " (inference: moving statistics)");
                 }
         }},
        {"layer_normalization",
         [] {
             for (bool scale : {true, false}) {
                 LayerNorm::Options o;
                 o.scale = scale;
                 o.gamma_initializer.type = "random_uniform";
                 o.beta_initializer.type = "random_uniform";
                 LayerNorm l(o);
                 expect_ok(check_layer(l, 3, {4, 5}, 43), std::string("layer_normalization scale=") + (scale ? "1" : "0"));
             }
         }},
        {"spatial_dropout2d",
         [] {
             SpatialDropout d(0.5, 2);
             expect_ok(check_layer(d, 3, {2, 3, 4}, 44, true), "spatial_dropout2d (training)");
         }},
        {"spatial_dropout1d",
         [] {
             SpatialDropout d(0.5, 1);
             expect_ok(check_layer(d, 3, {5, 4}, 45, true), "spatial_dropout1d (training)");
         }},
        {"zero_padding2d",
         [] {
             ZeroPadding z({1, 2, 0, 3}, 2);
             expect_ok(check_layer(z, 2, {3, 2, 2}, 46), "zero_padding2d");
             CHECK(z.output_shape() == Shape{6, 5, 2});
         }},
        {"zero_padding1d",
         [] {
             ZeroPadding z({2, 1}, 1);
             expect_ok(check_layer(z, 2, {3, 2}, 47), "zero_padding1d");
             CHECK(z.output_shape() == Shape{6, 2});
         }},
        {"random_flip",
         [] {
             Augment::Options o;
             expect_ok(check_layer(*std::make_unique<Augment>(o), 4, {3, 4, 2}, 48, true), "random_flip");
         }},
        {"random_translation",
         [] {
             for (const char* fill : {"reflect", "wrap", "nearest", "constant"}) {
                 Augment::Options o;
                 o.kind = Augment::Kind::Translation;
                 o.height = {-0.3, 0.3}, o.width = {-0.4, 0.2};
                 o.fill_mode = fill;
                 Augment a(o);
                 expect_ok(check_layer(a, 3, {5, 4, 2}, 49, true), std::string("random_translation ") + fill);
             }
         }},
        {"random_rotation",
         [] {
             for (const char* interp : {"bilinear", "nearest"}) {
                 Augment::Options o;
                 o.kind = Augment::Kind::Rotation;
                 o.height = {-0.2, 0.2};
                 o.interpolation = interp;
                 Augment a(o);
                 expect_ok(check_layer(a, 3, {5, 6, 1}, 50, true), std::string("random_rotation ") + interp);
             }
         }},
        {"random_zoom",
         [] {
             Augment::Options o;
             o.kind = Augment::Kind::Zoom;
             o.height = {-0.3, 0.3}, o.width_given = false;
             Augment a(o);
             expect_ok(check_layer(a, 3, {6, 5, 2}, 51, true), "random_zoom");
         }},
        {"random_contrast",
         [] {
             Augment::Options o;
             o.kind = Augment::Kind::Contrast;
             o.height = {0.5, 1.5};
             o.value_range = {-100, 100};
             Augment a(o);
             expect_ok(check_layer(a, 3, {3, 3, 2}, 52, true), "random_contrast");
         }},
        {"reshape",
         [] {
             Reshape r({-1, 3});
             expect_ok(check_layer(r, 2, {2, 3, 1}, 34), "reshape");
             CHECK(r.output_shape() == Shape{2, 3});
         }},
        {"simple_rnn", [] { recurrent_cases(Recurrent::Cell::Simple); }},
        {"lstm", [] { recurrent_cases(Recurrent::Cell::Lstm); }},
        {"gru", [] { recurrent_cases(Recurrent::Cell::Gru); }},
        {"bidirectional",
         [] {
             const Matrix mask = step_mask(3, 4);
             uint64_t seed = 1100;
             for (const char* merge : {"concat", "sum", "mul", "ave"})
                 for (bool seq : {false, true})
                     for (bool masked : {false, true}) {
                         auto inner = std::make_unique<Recurrent>(rnn_options(Recurrent::Cell::Gru, 3, seq, false));
                         Bidirectional b(std::move(inner), merge);
                         b.set_name("bidirectional");
                         GradCase c;
                         c.mask = masked ? &mask : nullptr;
                         expect_ok(check_layer(b, 3, {4, 2}, ++seed, c), std::string("bidirectional ") + merge +
                                                                            (seq ? " sequences" : "") + (masked ? " masked" : ""));
                     }
             Bidirectional l(std::make_unique<Recurrent>(rnn_options(Recurrent::Cell::Lstm, 2, true, false)), "concat");
             l.set_name("bidirectional");
             expect_ok(check_layer(l, 2, {3, 2}, 1200), "bidirectional lstm");
         }},
        {"time_distributed",
         [] {
             Dense::Options o;
             o.units = 3;
             o.activation = act("tanh");
             o.bias_initializer.type = "random_uniform";
             TimeDistributed td(std::make_unique<Dense>(o));
             td.set_name("time_distributed");
             expect_ok(check_layer(td, 3, {4, 2}, 1300), "time_distributed dense");
             TimeDistributed tc(std::make_unique<Conv>([] {
                 Conv::Options c;
                 c.rank = 1;
                 c.filters = 2;
                 c.kernel_size = {2};
                 c.strides = {1};
                 c.dilation_rate = {1};
                 return c;
             }()));
             expect_ok(check_layer(tc, 2, {3, 4, 2}, 1301), "time_distributed conv1d over (steps, length, channels)");
         }},
        {"embedding",
         [] {
             for (bool mask_zero : {false, true}) {
                 Embedding::Options o;
                 o.input_dim = 6;
                 o.output_dim = 3;
                 o.mask_zero = mask_zero;
                 Embedding e(o);
                 e.set_name("embedding");
                 Matrix ids(3, 4);
                 ids << 1, 2, 2, 0, 5, 4, 3, 1, 0, 0, 5, 5;  // repeated ids: their gradients add up
                 GradCase c;
                 c.x = &ids;
                 c.check_input = false;  // ids are not differentiable
                 expect_ok(check_layer(e, 3, {4}, 1400, c), mask_zero ? "embedding mask_zero" : "embedding");
             }
         }},
        {"multi_head_attention",
         [] {
             const Matrix mask = step_mask(3, 4);
             uint64_t seed = 1600;
             for (bool causal : {false, true})
                 for (bool masked : {false, true})
                     for (bool bias : {true, false}) {
                         MultiHeadAttention::Options o;
                         o.num_heads = 2;
                         o.key_dim = 3;
                         o.value_dim = bias ? 2 : 0;
                         o.output_dim = bias ? 5 : 0;
                         o.use_bias = bias;
                         o.use_causal_mask = causal;
                         o.bias_initializer.type = "random_uniform";
                         MultiHeadAttention m(o);
                         m.set_name("mha");
                         GradCase c;
                         c.mask = masked ? &mask : nullptr;
                         expect_ok(check_layer(m, 3, {4, 3}, ++seed, c),
                                   std::string("multi_head_attention") + (causal ? " causal" : "") +
                                       (masked ? " masked" : "") + (bias ? " value_dim/output_shape" : " no bias"));
                     }
             MultiHeadAttention::Options o;  // dropout on the weights: the same stream in every pass
             o.num_heads = 2;
             o.key_dim = 2;
             o.dropout = 0.3;
             MultiHeadAttention d(o);
             d.set_name("mha");
             expect_ok(check_layer(d, 2, {3, 4}, 1650, true), "multi_head_attention dropout");
             // Cross-attention: a query of 3 steps attends over a value of 5 (its mask pads steps),
             // with the key the value or a third input of its own features.
             const Matrix vmask = step_mask(3, 5);
             for (int inputs : {2, 3}) {
                 MultiHeadAttention::Options x;
                 x.num_heads = 2;
                 x.key_dim = 2;
                 x.value_dim = 3;
                 x.bias_initializer.type = "random_uniform";
                 MultiHeadAttention cross(x);
                 cross.set_name("cross");
                 std::vector<Shape> shapes = {{3, 4}, {5, 2}};
                 if (inputs == 3) shapes.push_back({5, 3});
                 std::vector<const Matrix*> masks = {nullptr, &vmask, nullptr};
                 masks.resize(size_t(inputs));
                 expect_ok(check_layer_multi(cross, 3, shapes, 1660 + uint64_t(inputs), nullptr, &masks),
                           "multi_head_attention cross, " + std::to_string(inputs) + " inputs, value mask");
             }
         }},
        {"transformer_encoder",
         [] {
             const Matrix mask = step_mask(3, 4);
             uint64_t seed = 1800;
             for (bool first : {false, true})
                 for (bool masked : {false, true}) {
                     TransformerEncoder::Options o;
                     o.intermediate_dim = 5;
                     o.num_heads = 2;
                     o.norm_first = first;
                     o.activation = act("tanh");  // smooth, for finite differences
                     o.bias_initializer.type = "random_uniform";
                     TransformerEncoder t(o);
                     t.set_name("encoder");
                     GradCase c;
                     c.mask = masked ? &mask : nullptr;
                     // Two layer norms put float32 central differences' noise (~3e-4) near the size of
                     // the smallest gradients here, so elements are checked loosely; test_attention.cpp
                     // checks every tensor's directional derivative to 1e-3.
                     const GradReport r = check_layer(t, 3, {4, 4}, ++seed, c);
                     INFO("transformer_encoder" << (first ? " norm_first" : "") << (masked ? " masked" : "") << ": worst "
                                                << r.worst << " at " << r.where);
                     CHECK(r.worst < 0.1);
                 }
             TransformerEncoder::Options o;
             o.intermediate_dim = 3;
             o.num_heads = 2;
             o.dropout = 0.2;
             o.activation = act("tanh");
             TransformerEncoder d(o);
             d.set_name("encoder");
             const GradReport r = check_layer(d, 2, {3, 4}, 1850, true);
             INFO("transformer_encoder dropout: worst " << r.worst << " at " << r.where);
             CHECK(r.worst < 0.1);
         }},
        {"position_embedding",
         [] {
             PositionEmbedding p(6, InitializerSpec{"glorot_uniform"});
             p.set_name("pos");
             expect_ok(check_layer(p, 3, {4, 2}, 1700), "position_embedding (4 of 6 positions)");
         }},
        {"add", [] { merge_case(Merge::Op::Add, {{3, 2}, {3, 2}, {3, 2}}, 1900); }},
        {"subtract", [] { merge_case(Merge::Op::Subtract, {{5}, {5}}, 1901); }},
        {"multiply", [] { merge_case(Merge::Op::Multiply, {{2, 3}, {2, 3}, {2, 3}}, 1902); }},
        {"average", [] { merge_case(Merge::Op::Average, {{4}, {4}, {4}}, 1903); }},
        {"maximum", [] { merge_case(Merge::Op::Maximum, {{6}, {6}, {6}}, 1904, true); }},
        {"minimum", [] { merge_case(Merge::Op::Minimum, {{6}, {6}}, 1905, true); }},
        {"concatenate",
         [] {
             merge_case(Merge::Op::Concatenate, {{3, 2}, {3, 4}}, 1906);             // last axis
             merge_case(Merge::Op::Concatenate, {{2, 3}, {4, 3}, {1, 3}}, 1907, false, 1);  // the time axis
             merge_case(Merge::Op::Concatenate, {{2, 2, 1}, {2, 2, 3}}, 1908);       // channels of an image
         }},
        {"dot",
         [] {
             merge_case(Merge::Op::Dot, {{5}, {5}}, 1910);
             merge_case(Merge::Op::Dot, {{5}, {5}}, 1911, false, -1, {-1, -1}, true);  // cosine similarity
             merge_case(Merge::Op::Dot, {{3, 4}, {2, 4}}, 1912, false, -1, {2, 2});     // (T1, T2) scores
             merge_case(Merge::Op::Dot, {{3, 4}, {3, 2}}, 1913, false, -1, {1, 1}, true);
             merge_case(Merge::Op::Dot, {{3, 4}, {4, 2}}, 1914, false, -1, {2, 1});
         }},
        {"sine_position_encoding",
         [] {
             SinePositionEncoding p(10000);
             expect_ok(check_layer(p, 2, {3, 4}, 1720), "sine_position_encoding");
         }},
        {"masking",
         [] {
             Masking m(7.0);  // nothing equals 7: every step passes, the gradient is the identity
             expect_ok(check_layer(m, 2, {4, 3}, 1500), "masking");
             Matrix x = random_matrix(2, 12, 1501);
             x.block(0, 3, 1, 3).setZero();  // step 1 of sample 0 is padding: no gradient reaches it
             Masking z(0.0);
             GradCase c;
             c.x = &x;
             c.check_input = false;
             expect_ok(check_layer(z, 2, {4, 3}, 1502, c), "masking with a padded step");
         }},
    };
    return cases;
}

Matrix softmax_rows(const Matrix& z) {
    Matrix p(z.rows(), z.cols());
    act("softmax").forward(z, p);
    return p;
}

Matrix one_hot(const std::vector<int>& labels, int k) {
    Matrix t = Matrix::Zero(Eigen::Index(labels.size()), k);
    for (size_t i = 0; i < labels.size(); ++i) t(Eigen::Index(i), labels[i]) = 1.0f;
    return t;
}

const std::map<std::string, std::function<void()>>& loss_cases() {
    static const std::map<std::string, std::function<void()>> cases = {
        {"mean_squared_error",
         [] {
             expect_ok(check_loss(Loss{"mean_squared_error"}, random_matrix(4, 3, 1), random_matrix(4, 3, 2)), "mse");
         }},
        {"mean_absolute_error",
         [] {
             // Predictions away from the targets: |e| has a kink at 0.
             Matrix t = random_matrix(4, 3, 3);
             Matrix p = t + random_matrix(4, 3, 4, 1.0, 0.1);
             expect_ok(check_loss(Loss{"mean_absolute_error"}, p, t), "mae");
         }},
        {"huber",
         [] {
             Loss l{"huber"};
             l.delta = 0.5;
             Matrix t = random_matrix(5, 3, 5);
             Matrix p = t + random_matrix(5, 3, 6, 1.5, 0.05);  // both sides of delta
             expect_ok(check_loss(l, p, t), "huber");
         }},
        {"binary_crossentropy",
         [] {
             Matrix t = (random_matrix(4, 2, 7).array() > 0).cast<float>().matrix();
             Matrix p = (random_matrix(4, 2, 8, 0.4).array() + 0.5f).matrix();
             expect_ok(check_loss(Loss{"binary_crossentropy"}, p, t), "bce on probabilities");
             Loss logits{"binary_crossentropy", true};
             expect_ok(check_loss(logits, random_matrix(4, 2, 9, 3.0), t), "bce from logits");
         }},
        {"categorical_crossentropy",
         [] {
             Matrix t = one_hot({0, 2, 1, 3}, 4);
             Matrix soft = (t * 0.7f).array() + 0.075f;  // label smoothing-like soft targets
             Matrix p = softmax_rows(random_matrix(4, 4, 10));
             expect_ok(check_loss(Loss{"categorical_crossentropy"}, p, t), "cce on probabilities");
             expect_ok(check_loss(Loss{"categorical_crossentropy"}, p, soft), "cce soft targets");
             // Un-normalised probabilities: Keras divides by the row sum first.
             Matrix q = (p.array() * 1.3f).matrix();
             expect_ok(check_loss(Loss{"categorical_crossentropy"}, q, t), "cce unnormalised");
             Loss logits{"categorical_crossentropy", true};
             expect_ok(check_loss(logits, random_matrix(4, 4, 11, 3.0), soft), "cce from logits");
         }},
        {"sparse_categorical_crossentropy",
         [] {
             Matrix t(3, 1);
             t << 2, 0, 1;
             Matrix p = softmax_rows(random_matrix(3, 3, 12));
             expect_ok(check_loss(Loss{"sparse_categorical_crossentropy"}, p, t), "sparse cce");
             Loss logits{"sparse_categorical_crossentropy", true};
             expect_ok(check_loss(logits, random_matrix(3, 3, 13, 3.0), t), "sparse cce from logits");
         }},
    };
    return cases;
}

const std::map<std::string, std::function<void()>>& regularizer_cases() {
    static const std::map<std::string, std::function<void()>> cases = {
        {"l1", [] { expect_ok(check_regularizer({0.03, 0.0}, random_matrix(4, 5, 20, 1.0, 0.01)), "l1"); }},
        {"l2", [] { expect_ok(check_regularizer({0.0, 0.05}, random_matrix(4, 5, 21)), "l2"); }},
        {"l1_l2", [] { expect_ok(check_regularizer({0.02, 0.04}, random_matrix(4, 5, 22, 1.0, 0.01)), "l1_l2"); }},
    };
    return cases;
}

template <class Map>
void run_all(const std::vector<std::string>& registered, const Map& cases, const char* kind) {
    for (const auto& name : registered) {
        INFO(kind << " '" << name << "'");
        auto it = cases.find(name);
        REQUIRE_MESSAGE(it != cases.end(), "registered " << kind << " '" << name << "' has no gradient-check case");
        it->second();
    }
}
}  // namespace

TEST_CASE("every layer type passes a finite-difference gradient check") {
    run_all(layer_types(), layer_cases(), "layer");
}

TEST_CASE("every activation passes a finite-difference gradient check") {
    // The activation layer case walks activation_names(); dense cases cover the fused path.
    REQUIRE(layer_cases().count("activation") == 1);
    CHECK(activation_names().size() == 11);
}

TEST_CASE("every loss passes a finite-difference gradient check") { run_all(loss_names(), loss_cases(), "loss"); }

TEST_CASE("every regularizer passes a finite-difference gradient check") {
    run_all(regularizer_names(), regularizer_cases(), "regularizer");
}

TEST_CASE("a wrong gradient is caught by the checker") {
    // Guard against a checker that cannot fail: a layer whose backward is off by a factor.
    struct Broken : Layer {
        Shape s;
        std::string type() const override { return "broken"; }
        Shape build(const Shape& in, Rng&) override { return s = in; }
        Shape output_shape() const override { return s; }
        void forward(const ConstView& x, Matrix& y, const ForwardContext&) override { y = x.array().square().matrix(); }
        void backward(const ConstView& x, const ConstView&, const ConstView& dy, Matrix* dx) override {
            *dx = (dy.array() * x.array() * 1.5f).matrix();  // should be 2x
        }
        std::unique_ptr<Layer> clone() const override { return std::make_unique<Broken>(*this); }
    } b;
    CHECK(check_layer(b, 2, {3}, 5).worst > 0.1);
}

TEST_CASE("activation values match reference points") {
    auto at = [](const std::string& n, float x) {
        Matrix z(1, 1), y;
        z(0, 0) = x;
        act(n).forward(z, y);
        return double(y(0, 0));
    };
    CHECK(at("relu", -1.f) == 0.0);
    CHECK(at("leaky_relu", -2.f) == doctest::Approx(-0.6));
    CHECK(at("elu", -1.f) == doctest::Approx(std::expm1(-1.0)));
    CHECK(at("selu", 1.f) == doctest::Approx(1.0507009873554805));
    CHECK(at("gelu", 1.f) == doctest::Approx(0.8413447460685429));  // 1·Φ(1)
    CHECK(at("sigmoid", 0.f) == doctest::Approx(0.5));
    CHECK(at("softplus", 0.f) == doctest::Approx(std::log(2.0)));
    CHECK(at("swish", 1.f) == doctest::Approx(1.0 / (1.0 + std::exp(-1.0))));
    CHECK(at("sigmoid", -100.f) >= 0.0);  // no overflow
    Matrix z(1, 3), y;
    z << 1000.f, 1000.f, -1000.f;  // softmax stays finite on huge logits
    act("softmax").forward(z, y);
    CHECK(y(0, 0) == doctest::Approx(0.5));
    CHECK(y(0, 2) == 0.0f);
}
