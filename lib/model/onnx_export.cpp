#include "model/onnx_export.hpp"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <map>

#include "core/error.hpp"
#include "layers/normalization.hpp"
#include "layers/recurrent.hpp"

namespace nnctl {

namespace {

/// Builds the ONNX graph: initializers, nodes and fresh value names.
class GraphBuilder {
public:
    explicit GraphBuilder(onnx::GraphProto& g) : g_(g) {}

    std::string fresh(const std::string& base) { return base + "/" + std::to_string(++counter_); }

    /// A float initializer of `dims` from `values` (row-major).
    std::string constant(const std::string& base, const std::vector<int64_t>& dims, const float* values) {
        const std::string name = fresh(base);
        onnx::TensorProto* t = g_.add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::FLOAT);
        int64_t n = 1;
        for (auto d : dims) t->add_dims(d), n *= d;
        t->set_raw_data(std::string(reinterpret_cast<const char*>(values), size_t(n) * sizeof(float)));
        return name;
    }
    std::string constant(const std::string& base, const std::vector<int64_t>& dims, const std::vector<float>& v) {
        return constant(base, dims, v.data());
    }
    std::string int_constant(const std::string& base, const std::vector<int64_t>& values) {
        const std::string name = fresh(base);
        onnx::TensorProto* t = g_.add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::INT64);
        t->add_dims(int64_t(values.size()));
        for (auto v : values) t->add_int64_data(v);
        return name;
    }

    onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& in, const std::string& out) {
        onnx::NodeProto* n = g_.add_node();
        n->set_op_type(op);
        n->set_name(out);
        for (const auto& i : in) n->add_input(i);
        n->add_output(out);
        return n;
    }
    /// One-output node, output named fresh from `base`.
    std::string op(const std::string& op_type, const std::vector<std::string>& in, const std::string& base,
                   onnx::NodeProto** made = nullptr) {
        const std::string out = fresh(base);
        onnx::NodeProto* n = node(op_type, in, out);
        if (made) *made = n;
        return out;
    }

    /// A node with several outputs, named fresh from `base`.
    std::vector<std::string> op_multi(const std::string& op_type, const std::vector<std::string>& in, size_t outputs,
                                      const std::string& base, onnx::NodeProto** made) {
        std::vector<std::string> outs;
        onnx::NodeProto* n = g_.add_node();
        n->set_op_type(op_type);
        for (const auto& i : in) n->add_input(i);
        for (size_t k = 0; k < outputs; ++k) outs.push_back(fresh(base)), n->add_output(outs.back());
        n->set_name(outs[0]);
        *made = n;
        return outs;
    }
    std::string transpose(const std::string& x, const std::vector<int64_t>& perm, const std::string& base) {
        onnx::NodeProto* n = nullptr;
        const std::string out = op("Transpose", {x}, base, &n);
        ints(n, "perm", perm);
        return out;
    }
    /// A reduction over `axes` (opset 13: an input of ReduceSum, an attribute of the others).
    std::string reduce(const std::string& op_type, const std::string& x, const std::vector<int64_t>& axes, bool keepdims,
                       const std::string& base) {
        onnx::NodeProto* n = nullptr;
        const bool input = op_type == "ReduceSum";
        const std::string out = op(op_type, input ? std::vector<std::string>{x, int_constant(base + "/axes", axes)}
                                                  : std::vector<std::string>{x}, base, &n);
        if (!input) ints(n, "axes", axes);
        integer(n, "keepdims", keepdims ? 1 : 0);
        return out;
    }
    std::string reshape_to(const std::string& x, const std::vector<int64_t>& dims, const std::string& base) {
        return op("Reshape", {x, int_constant(base + "/shape", dims)}, base);
    }
    std::string scalar(const std::string& base, float v) { return constant(base, {}, &v); }
    std::string cast(const std::string& x, int to, const std::string& base) {
        onnx::NodeProto* n = nullptr;
        const std::string out = op("Cast", {x}, base, &n);
        integer(n, "to", to);
        return out;
    }
    static void strings(onnx::NodeProto* n, const std::string& name, const std::vector<std::string>& v) {
        onnx::AttributeProto* a = n->add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::STRINGS);
        for (const auto& x : v) a->add_strings(x);
    }
    static void text(onnx::NodeProto* n, const std::string& name, const std::string& v) {
        onnx::AttributeProto* a = n->add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::STRING);
        a->set_s(v);
    }

    static void ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
        onnx::AttributeProto* a = n->add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::INTS);
        for (auto x : v) a->add_ints(x);
    }
    static void integer(onnx::NodeProto* n, const std::string& name, int64_t v) {
        onnx::AttributeProto* a = n->add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::INT);
        a->set_i(v);
    }
    static void real(onnx::NodeProto* n, const std::string& name, float v) {
        onnx::AttributeProto* a = n->add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::FLOAT);
        a->set_f(v);
    }

    std::string reshape(const std::string& x, const Shape& sample, const std::string& base) {
        std::vector<int64_t> dims = {-1};
        for (auto d : sample) dims.push_back(d);
        return op("Reshape", {x, int_constant(base + "/shape", dims)}, base);
    }
    /// (N, spatial..., C) ↔ (N, C, spatial...).
    std::string to_channels_first(const std::string& x, size_t rank, const std::string& base) {
        onnx::NodeProto* n = nullptr;
        const std::string out = op("Transpose", {x}, base, &n);
        std::vector<int64_t> perm = {0, int64_t(rank) + 1};
        for (size_t d = 1; d <= rank; ++d) perm.push_back(int64_t(d));
        ints(n, "perm", perm);
        return out;
    }
    std::string to_channels_last(const std::string& x, size_t rank, const std::string& base) {
        onnx::NodeProto* n = nullptr;
        const std::string out = op("Transpose", {x}, base, &n);
        std::vector<int64_t> perm = {0};
        for (size_t d = 2; d <= rank + 1; ++d) perm.push_back(int64_t(d));
        perm.push_back(1);
        ints(n, "perm", perm);
        return out;
    }

    /// Keras' activation `a` applied to x (identity for linear).
    std::string activation(const std::string& x, const ActivationFn& a, const std::string& base) {
        const std::string& n = a.name;
        onnx::NodeProto* node_ = nullptr;
        if (n == "linear") return x;
        if (n == "relu") return op("Relu", {x}, base);
        if (n == "sigmoid") return op("Sigmoid", {x}, base);
        if (n == "tanh") return op("Tanh", {x}, base);
        if (n == "softplus") return op("Softplus", {x}, base);
        if (n == "softmax") {
            const std::string out = op("Softmax", {x}, base, &node_);
            integer(node_, "axis", -1);
            return out;
        }
        if (n == "leaky_relu") {
            const std::string out = op("LeakyRelu", {x}, base, &node_);
            real(node_, "alpha", float(a.alpha));
            return out;
        }
        if (n == "elu") {
            const std::string out = op("Elu", {x}, base, &node_);
            real(node_, "alpha", float(a.alpha));
            return out;
        }
        if (n == "selu") return op("Selu", {x}, base);  // ONNX's defaults are Keras' constants
        if (n == "swish") return op("Mul", {x, op("Sigmoid", {x}, base)}, base);
        if (n == "gelu") {  // exact: x · Φ(x) = 0.5 · x · (1 + erf(x / √2))
            const float inv_sqrt2 = float(1.0 / std::sqrt(2.0)), half = 0.5f, one = 1.0f;
            const std::string e = op("Erf", {op("Mul", {x, constant(base + "/c", {}, &inv_sqrt2)}, base)}, base);
            const std::string p = op("Add", {e, constant(base + "/one", {}, &one)}, base);
            return op("Mul", {op("Mul", {x, p}, base), constant(base + "/half", {}, &half)}, base);
        }
        throw ConfigError("export: activation '" + n + "' has no ONNX form here");
    }

private:
    onnx::GraphProto& g_;
    int counter_ = 0;
};

/// Keras' padding of one spatial axis: (before, after).
std::pair<int64_t, int64_t> pads_of(const std::string& padding, int64_t in, int64_t k, int64_t s, int64_t d) {
    const int64_t span = (k - 1) * d + 1;
    if (padding == "causal") return {span - 1, 0};
    if (padding != "same") return {0, 0};
    const int64_t out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>((out - 1) * s + span - in, 0);
    return {total / 2, total - total / 2};
}

std::vector<int64_t> pads_attr(const std::string& padding, const Shape& in_shape, const std::vector<int64_t>& k,
                               const std::vector<int64_t>& s, const std::vector<int64_t>& d) {
    std::vector<int64_t> before, after;
    for (size_t a = 0; a < k.size(); ++a) {
        auto [b, e] = pads_of(padding, in_shape[a], k[a], s[a], d.empty() ? 1 : d[a]);
        before.push_back(b), after.push_back(e);
    }
    before.insert(before.end(), after.begin(), after.end());
    return before;
}

using Params = std::map<std::string, ParamRef>;

const ParamRef* find_param(const Params& ps, const std::string& name) {
    auto it = ps.find(name);
    return it == ps.end() ? nullptr : &it->second;
}
const ParamRef& need_param(const Params& ps, const std::string& name) {
    const ParamRef* p = find_param(ps, name);
    if (!p) throw Error("internal: export: no weight " + name);
    return *p;
}

/// x·kernel (+ bias) for an x of shape (..., in) and a kernel stored (in, out).
std::string emit_dense(GraphBuilder& b, const std::string& x, const ParamRef& k, const ParamRef* bias,
                       const std::string& base) {
    std::string out = b.op("MatMul", {x, b.constant(k.name, {k.value->rows(), k.value->cols()}, k.value->data())}, base);
    if (bias) out = b.op("Add", {out, b.constant(bias->name, {int64_t(bias->value->size())}, bias->value->data())}, base);
    return out;
}

/// Keras' LayerNormalization over the last axis: (x − mean) / √(var + ε) · γ + β (either optional).
std::string emit_layer_norm(GraphBuilder& b, const std::string& x, const ParamRef* gamma, const ParamRef* beta,
                            double eps, const std::string& base) {
    const std::string mean = b.reduce("ReduceMean", x, {-1}, true, base);
    const std::string d = b.op("Sub", {x, mean}, base);
    const std::string var = b.reduce("ReduceMean", b.op("Mul", {d, d}, base), {-1}, true, base);
    std::string y = b.op("Div", {d, b.op("Sqrt", {b.op("Add", {var, b.scalar(base + "/epsilon", float(eps))}, base)}, base)}, base);
    if (gamma) y = b.op("Mul", {y, b.constant(gamma->name, {int64_t(gamma->value->size())}, gamma->value->data())}, base);
    if (beta) y = b.op("Add", {y, b.constant(beta->name, {int64_t(beta->value->size())}, beta->value->data())}, base);
    return y;
}

/// Keras' MultiHeadAttention (weights PREFIX.query.kernel ...): queries (batch, T, Dq), keys and values
/// (batch, S, ·). `key_mask` (batch, S) of 0/1 or empty. As nnctl computes it, a query whose keys are
/// all masked gets zero weights (its output is the output bias).
std::string emit_attention(GraphBuilder& b, const Params& ps, const std::string& prefix, const std::string& xq,
                           const std::string& xk, const std::string& xv, const std::string& key_mask, int64_t T,
                           int64_t S, bool causal) {
    const ParamRef& wq = need_param(ps, prefix + ".query.kernel");
    const ParamRef& wv = need_param(ps, prefix + ".value.kernel");
    const Shape qs = stored_shape(wq), vs = stored_shape(wv);  // (Dq, H, K), (Dv, H, V)
    const int64_t H = qs[1], K = qs[2], V = vs[2];
    auto proj = [&](const std::string& x, const char* what, int64_t steps, int64_t width, const std::vector<int64_t>& perm) {
        const std::string p = emit_dense(b, x, need_param(ps, prefix + "." + what + ".kernel"),
                                         find_param(ps, prefix + "." + what + ".bias"), prefix + "/" + what);
        return b.transpose(b.reshape_to(p, {-1, steps, H, width}, prefix + "/" + what), perm, prefix + "/" + what);
    };
    const std::string q = proj(xq, "query", T, K, {0, 2, 1, 3});  // (B, H, T, K)
    const std::string k = proj(xk, "key", S, K, {0, 2, 3, 1});    // (B, H, K, S)
    const std::string v = proj(xv, "value", S, V, {0, 2, 1, 3});  // (B, H, S, V)
    const std::string base = prefix + "/scores";
    std::string sc = b.op("Mul", {b.op("MatMul", {q, k}, base), b.scalar(base + "/scale", float(1.0 / std::sqrt(double(K))))}, base);
    if (causal) {  // keys after the query step are left out
        std::vector<float> c(size_t(T * S), 0.0f);
        for (int64_t i = 0; i < T; ++i)
            for (int64_t j = i + 1; j < S; ++j) c[size_t(i * S + j)] = -1e9f;
        sc = b.op("Add", {sc, b.constant(base + "/causal", {T, S}, c)}, base);
    }
    std::string m4;
    if (!key_mask.empty()) {  // padded keys: −1e9 before the softmax, and exactly 0 after it
        m4 = b.reshape_to(key_mask, {-1, 1, 1, S}, base + "/mask");
        const std::string neg = b.op("Mul", {b.op("Sub", {m4, b.scalar(base + "/one", 1.0f)}, base), b.scalar(base + "/big", 1e9f)}, base);
        sc = b.op("Add", {sc, neg}, base);
    }
    onnx::NodeProto* n = nullptr;
    std::string a = b.op("Softmax", {sc}, base, &n);
    GraphBuilder::integer(n, "axis", -1);
    if (!m4.empty()) a = b.op("Mul", {a, m4}, base);
    std::string c = b.transpose(b.op("MatMul", {a, v}, base), {0, 2, 1, 3}, base);  // (B, T, H, V)
    c = b.reshape_to(c, {-1, T, H * V}, base);
    return emit_dense(b, c, need_param(ps, prefix + ".attention_output.kernel"),
                      find_param(ps, prefix + ".attention_output.bias"), prefix + "/attention_output");
}

/// ONNX's name for a recurrent layer's activation (its LSTM/GRU/RNN ops take these).
std::string rnn_activation(const ActivationFn& a, const std::string& layer) {
    if (a.name == "sigmoid") return "Sigmoid";
    if (a.name == "tanh") return "Tanh";
    if (a.name == "relu") return "Relu";
    throw ConfigError(layer + ": export: recurrent activation '" + a.name + "' has no ONNX form here (sigmoid, tanh, relu)");
}

/// ONNX's LSTM / GRU / RNN over x (batch, T, F) for one direction or both (`cells`: forward, then
/// backward). Keras' gate blocks (LSTM i f c o; GRU z r h) are reordered to ONNX's (i o f c; z r h);
/// `seq_lens` (int32, batch) or empty. Returns Y (T, directions, batch, units) and Y_h (directions,
/// batch, units).
std::pair<std::string, std::string> emit_recurrent(GraphBuilder& b, const Params& ps, const std::vector<const Recurrent*>& cells,
                                                   const std::string& direction, const std::string& x,
                                                   const std::string& seq_lens, const std::string& base) {
    using Cell = Recurrent::Cell;
    const Recurrent::Options& o = cells[0]->options();
    const int G = o.cell == Cell::Lstm ? 4 : o.cell == Cell::Gru ? 3 : 1;
    const std::vector<int> perm = o.cell == Cell::Lstm ? std::vector<int>{0, 3, 1, 2} : std::vector<int>{0, 1, 2};
    const int64_t n = o.units, D = int64_t(cells.size());
    const ParamRef& k0 = need_param(ps, cells[0]->name() + ".kernel");
    const int64_t F = k0.value->rows();
    std::vector<float> W(size_t(D * G * n * F)), R(size_t(D * G * n * n)), B(size_t(D * 2 * G * n), 0.0f);
    bool any_bias = false;
    for (int64_t d = 0; d < D; ++d) {
        const std::string& nm = cells[size_t(d)]->name();
        const Matrix& k = *need_param(ps, nm + ".kernel").value;            // (F, G·n)
        const Matrix& r = *need_param(ps, nm + ".recurrent_kernel").value;  // (n, G·n)
        const ParamRef* bias = find_param(ps, nm + ".bias");                // (1 or 2, G·n)
        for (int g = 0; g < G; ++g)
            for (int64_t u = 0; u < n; ++u) {
                const int64_t row = g * n + u, col = perm[size_t(g)] * n + u;
                for (int64_t f = 0; f < F; ++f) W[size_t((d * G * n + row) * F + f)] = k(f, col);
                for (int64_t j = 0; j < n; ++j) R[size_t((d * G * n + row) * n + j)] = r(j, col);
                if (bias) {
                    any_bias = true;
                    B[size_t(d * 2 * G * n + row)] = (*bias->value)(0, col);
                    if (bias->value->rows() == 2) B[size_t(d * 2 * G * n + G * n + row)] = (*bias->value)(1, col);
                }
            }
    }
    const char* op = o.cell == Cell::Lstm ? "LSTM" : o.cell == Cell::Gru ? "GRU" : "RNN";
    std::vector<std::string> in = {b.transpose(x, {1, 0, 2}, base), b.constant(base + ".W", {D, G * n, F}, W),
                                   b.constant(base + ".R", {D, G * n, n}, R)};
    if (any_bias || !seq_lens.empty()) in.push_back(any_bias ? b.constant(base + ".B", {D, 2 * G * n}, B) : "");
    if (!seq_lens.empty()) in.push_back(seq_lens);
    onnx::NodeProto* node = nullptr;
    const auto outs = b.op_multi(op, in, 2, base, &node);
    GraphBuilder::integer(node, "hidden_size", n);
    GraphBuilder::text(node, "direction", direction);
    std::vector<std::string> acts;
    for (int64_t d = 0; d < D; ++d) {
        const std::string& nm = cells[size_t(d)]->name();
        if (o.cell != Cell::Simple) acts.push_back(rnn_activation(o.recurrent_activation, nm));
        acts.push_back(rnn_activation(o.activation, nm));
        if (o.cell == Cell::Lstm) acts.push_back(rnn_activation(o.activation, nm));
    }
    const bool defaults = o.activation.name == "tanh" && (o.cell == Cell::Simple || o.recurrent_activation.name == "sigmoid");
    if (!defaults) GraphBuilder::strings(node, "activations", acts);
    if (o.cell == Cell::Gru) GraphBuilder::integer(node, "linear_before_reset", o.reset_after ? 1 : 0);
    return {outs[0], outs[1]};
}

/// The steps of a (batch, T, ...) tensor in reverse order.
std::string reverse_steps(GraphBuilder& b, const std::string& x, int64_t T, int64_t axis, const std::string& base) {
    // A slice from the last step backwards (step −1), ending before step 0.
    return b.op("Slice", {x, b.int_constant(base + "/start", {T - 1}), b.int_constant(base + "/end", {-T - 1}),
                          b.int_constant(base + "/axes", {axis}), b.int_constant(base + "/steps", {-1})},
                base);
}

}  // namespace

std::string export_onnx(SavedRun& run) {
    Sequential& m = run.model;
    const auto& layers = run.cfg.layers;
    onnx::ModelProto model;
    model.set_ir_version(7);  // ONNX 1.7+, what opset 13 needs
    model.set_producer_name("nnctl");
    model.set_model_version(1);
    onnx::OperatorSetIdProto* opset = model.add_opset_import();
    opset->set_domain("");
    opset->set_version(13);
    onnx::GraphProto& g = *model.mutable_graph();
    g.set_name(run.cfg.name);
    GraphBuilder b(g);

    // The input: decoded rows (batch × features), as predict feeds the model.
    const int64_t width = shape_size(m.input_shape());
    onnx::ValueInfoProto* in = g.add_input();
    in->set_name("input");
    auto* tt = in->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    tt->mutable_shape()->add_dim()->set_dim_param("batch");
    tt->mutable_shape()->add_dim()->set_dim_value(width);
    std::string x = "input";
    const Scaling& sc = run.schema.scaling;
    if (sc.active()) {  // x' = (x − offset) · scale, per feature
        x = b.op("Sub", {x, b.constant("preprocess/offset", {width}, sc.offset)}, "preprocess");
        x = b.op("Mul", {x, b.constant("preprocess/scale", {width}, sc.scale)}, "preprocess");
    }
    // Model inputs: a column slice of the row each (several inputs), in its per-sample shape.
    std::map<int, std::string> value;  // layer index, or −1 − k for model input k → ONNX name (Keras layout)
    int64_t offset = 0;
    for (size_t k = 0; k < m.input_shapes().size(); ++k) {
        const Shape& s = m.input_shapes()[k];
        std::string v = x;
        if (m.input_shapes().size() > 1)
            v = b.op("Slice", {x, b.int_constant("slice/start", {offset}), b.int_constant("slice/end", {offset + shape_size(s)}),
                               b.int_constant("slice/axes", {1})},
                     m.input_names()[k]);
        if (s.size() > 1) v = b.reshape(v, s, m.input_names()[k]);
        value[-1 - int(k)] = v;
        offset += shape_size(s);
    }

    Params params;
    for (auto& p : m.params()) params.emplace(p.name, p);
    auto param = [&](const std::string& layer, const std::string& what) { return find_param(params, layer + "." + what); };
    // Padding masks (Keras' masking, from embedding's mask_zero): value → (batch, steps) float 0/1 tensor.
    std::map<int, std::string> mask;
    auto mask_of = [&](int s) {
        auto it = mask.find(s);
        return it == mask.end() ? std::string() : it->second;
    };
    // Recurrent layers take a mask as ONNX's sequence_lens (int32, batch): the count of unmasked steps,
    // which is exact when the padding is at the end of each sequence (as TextVectorization pads).
    auto seq_lens = [&](const std::string& mk, const std::string& base) {
        return mk.empty() ? mk : b.cast(b.reduce("ReduceSum", mk, {1}, false, base), onnx::TensorProto::INT32, base);
    };

    for (int i : m.order()) {
        const LayerConfig& l = layers[size_t(i)];
        const Layer& layer = m.layer(size_t(i));
        const std::string& t = l.type;
        const std::string name = l.name;
        std::vector<std::string> ins;
        std::vector<Shape> in_shapes;
        for (int s : m.layer_inputs(size_t(i))) {
            ins.push_back(value.at(s));
            in_shapes.push_back(s >= 0 ? m.layer(size_t(s)).output_shape() : m.input_shapes()[size_t(-1 - s)]);
        }
        const std::string& v = ins[0];
        const std::string in_mask = mask_of(m.layer_inputs(size_t(i))[0]);
        std::string out;
        if (t == "dense") {
            const ParamRef* k = param(name, "kernel");
            out = b.op("MatMul", {v, b.constant(name + ".kernel", {k->value->rows(), k->value->cols()}, k->value->data())}, name);
            if (const ParamRef* bias = param(name, "bias"))
                out = b.op("Add", {out, b.constant(name + ".bias", {bias->value->cols()}, bias->value->data())}, name);
            out = b.activation(out, l.options.activation("activation"), name);
        } else if (t == "activation") {
            out = b.activation(v, l.options.activation("activation"), name);
            if (out == v) out = b.op("Identity", {v}, name);
        } else if (t == "dropout" || t == "spatial_dropout1d" || t == "spatial_dropout2d" || t.rfind("random_", 0) == 0) {
            out = b.op("Identity", {v}, name);  // inference: identity
        } else if (t == "flatten" || t == "reshape") {
            out = b.reshape(v, layer.output_shape(), name);
        } else if (t == "conv2d" || t == "conv1d") {
            const size_t rank = t == "conv2d" ? 2 : 1;
            const ParamRef* k = param(name, "kernel");
            const Shape ks = stored_shape(*k);  // (kh, kw, in, out) / (k, in, out)
            const int64_t cin = ks[rank], cout = ks[rank + 1], taps = k->value->rows() / cin;
            std::vector<float> w(size_t(k->value->size()));  // → (out, in, kh, kw)
            for (int64_t o = 0; o < cout; ++o)
                for (int64_t c = 0; c < cin; ++c)
                    for (int64_t p = 0; p < taps; ++p) w[size_t((o * cin + c) * taps + p)] = (*k->value)(p * cin + c, o);
            std::vector<int64_t> wd = {cout, cin};
            for (size_t a = 0; a < rank; ++a) wd.push_back(ks[a]);
            std::vector<std::string> cin_ = {b.to_channels_first(v, rank, name), b.constant(name + ".kernel", wd, w)};
            if (const ParamRef* bias = param(name, "bias"))
                cin_.push_back(b.constant(name + ".bias", {bias->value->cols()}, bias->value->data()));
            onnx::NodeProto* n = nullptr;
            out = b.op("Conv", cin_, name, &n);
            const auto kernel = std::vector<int64_t>(ks.begin(), ks.begin() + long(rank));
            const auto strides = l.options.ints("strides"), dil = l.options.ints("dilation_rate");
            GraphBuilder::ints(n, "kernel_shape", kernel);
            GraphBuilder::ints(n, "strides", strides);
            GraphBuilder::ints(n, "dilations", dil);
            GraphBuilder::ints(n, "pads", pads_attr(l.options.text("padding"), in_shapes[0], kernel, strides, dil));
            out = b.activation(b.to_channels_last(out, rank, name), l.options.activation("activation"), name);
        } else if (t == "max_pooling2d" || t == "average_pooling2d" || t == "max_pooling1d" || t == "average_pooling1d") {
            const size_t rank = t.back() == 'd' && t[t.size() - 2] == '2' ? 2 : 1;
            const auto pool = l.options.ints("pool_size");
            const auto strides = l.options.is_null("strides") ? pool : l.options.ints("strides");
            onnx::NodeProto* n = nullptr;
            out = b.op(t[0] == 'm' ? "MaxPool" : "AveragePool", {b.to_channels_first(v, rank, name)}, name, &n);
            GraphBuilder::ints(n, "kernel_shape", pool);
            GraphBuilder::ints(n, "strides", strides);
            GraphBuilder::ints(n, "pads", pads_attr(l.options.text("padding"), in_shapes[0], pool, strides, {}));
            out = b.to_channels_last(out, rank, name);
        } else if (t.rfind("global_", 0) == 0) {
            const bool two = in_shapes[0].size() == 3, max = t.find("max") != std::string::npos;
            const bool keep = l.options.flag("keepdims");
            if (!two && !in_mask.empty()) {  // over the unmasked steps only; all masked: 0
                const std::string m3 = b.reshape_to(in_mask, {-1, in_shapes[0][0], 1}, name);
                const std::string count = b.reduce("ReduceSum", m3, {1}, keep, name);
                if (max) {
                    const std::string neg = b.op("Mul", {b.op("Sub", {m3, b.scalar(name + "/one", 1.0f)}, name), b.scalar(name + "/big", 1e30f)}, name);
                    out = b.reduce("ReduceMax", b.op("Add", {v, neg}, name), {1}, keep, name);
                    out = b.op("Mul", {out, b.op("Min", {count, b.scalar(name + "/one", 1.0f)}, name)}, name);
                } else {
                    out = b.reduce("ReduceSum", b.op("Mul", {v, m3}, name), {1}, keep, name);
                    out = b.op("Div", {out, b.op("Max", {count, b.scalar(name + "/one", 1.0f)}, name)}, name);
                }
            } else {
                out = b.reduce(max ? "ReduceMax" : "ReduceMean", v, two ? std::vector<int64_t>{1, 2} : std::vector<int64_t>{1}, keep, name);
            }
        } else if (t == "embedding") {  // a row of NAME.embeddings per token id
            const ParamRef* e = param(name, "embeddings");
            out = b.op("Gather", {b.constant(name + ".embeddings", {e->value->rows(), e->value->cols()}, e->value->data()),
                                  b.cast(v, onnx::TensorProto::INT64, name)}, name);
            if (l.options.flag("mask_zero")) {
                const std::string nz = b.op("Not", {b.op("Equal", {v, b.scalar(name + "/zero", 0.0f)}, name)}, name);
                mask[i] = b.cast(nz, onnx::TensorProto::FLOAT, name + "/mask");
            }
        } else if (t == "position_embedding" || t == "sine_position_encoding") {
            // Both add a fixed (steps, features) table once trained: read it off the layer at x = 0.
            auto copy = layer.clone();
            const Matrix zero = Matrix::Zero(1, shape_size(in_shapes[0]));
            Matrix table;
            copy->forward(zero, table, ForwardContext{false, nullptr});
            out = b.op("Add", {v, b.constant(name + ".table", {in_shapes[0][0], in_shapes[0][1]}, table.data())}, name);
        } else if (t == "layer_normalization") {
            out = emit_layer_norm(b, v, param(name, "gamma"), param(name, "beta"), l.options.number("epsilon"), name);
        } else if (t == "zero_padding1d" || t == "zero_padding2d") {
            const auto p = l.options.ints("padding");  // 1d: (before, after); 2d: (top, bottom, left, right)
            const std::vector<int64_t> pads = t == "zero_padding1d" ? std::vector<int64_t>{0, p[0], 0, 0, p[1], 0}
                                                                    : std::vector<int64_t>{0, p[0], p[2], 0, 0, p[1], p[3], 0};
            out = b.op("Pad", {v, b.int_constant(name + "/pads", pads)}, name);
        } else if (t == "lstm" || t == "gru" || t == "simple_rnn" || t == "bidirectional") {
            const auto* bi = dynamic_cast<const Bidirectional*>(&layer);
            const Recurrent& f = bi ? bi->forward_layer() : static_cast<const Recurrent&>(layer);
            const Recurrent::Options& ro = f.options();
            const int64_t T = in_shapes[0][0], n = ro.units;
            if (bi && ro.go_backwards)
                throw ConfigError(l.where + " (" + name + "): export: a bidirectional layer around go_backwards has no ONNX form here");
            std::vector<const Recurrent*> cells = {&f};
            if (bi) cells.push_back(&bi->backward_layer());
            // go_backwards: without a mask the steps are reversed and run forwards, so the outputs come in
            // Keras' processing order (and OpenCV, which runs no "reverse" direction, agrees); with a mask
            // ONNX's reverse direction starts at each sequence's last unmasked step.
            const bool flip = !bi && ro.go_backwards && in_mask.empty();
            const bool reverse = !bi && ro.go_backwards && !flip;
            const auto [Y, Yh] = emit_recurrent(b, params, cells, bi ? "bidirectional" : reverse ? "reverse" : "forward",
                                                flip ? reverse_steps(b, v, T, 1, name) : v, seq_lens(in_mask, name), name);
            const std::string merge = bi ? bi->merge_mode() : "concat";
            const int64_t dirs = int64_t(cells.size());
            // Keras: (batch, [T,] units), the directions side by side (concat) or combined.
            const bool seq = ro.return_sequences;
            std::string r = seq ? b.transpose(Y, {2, 0, 1, 3}, name) : b.transpose(Yh, {1, 0, 2}, name);  // (B, [T,] dirs, n)
            if (seq && reverse) r = reverse_steps(b, r, T, 1, name);  // Keras keeps the processing order
            const int64_t dax = seq ? 2 : 1;
            if (merge == "concat") r = b.reshape_to(r, seq ? std::vector<int64_t>{-1, T, dirs * n} : std::vector<int64_t>{-1, dirs * n}, name);
            else if (merge == "sum") r = b.reduce("ReduceSum", r, {dax}, false, name);
            else if (merge == "ave") r = b.reduce("ReduceMean", r, {dax}, false, name);
            else if (merge == "mul") r = b.reduce("ReduceProd", r, {dax}, false, name);
            else throw ConfigError(l.where + " (" + name + "): export: merge_mode '" + merge + "' has no ONNX form here");
            out = r;
        } else if (t == "multi_head_attention") {
            const Shape& qs = in_shapes[0];
            const std::string& val = ins.size() > 1 ? ins[1] : ins[0];
            const std::string& key = ins.size() > 2 ? ins[2] : val;
            const auto& li = m.layer_inputs(size_t(i));
            // Padded keys: self-attention's input mask; else the key's mask, or the value's (as nnctl runs it).
            std::string km = in_mask;
            if (ins.size() > 1) {
                km = ins.size() > 2 ? mask_of(li[2]) : std::string();
                if (km.empty()) km = mask_of(li[1]);
            }
            out = emit_attention(b, params, name, v, key, val, km, qs[0], in_shapes[ins.size() > 1 ? 1 : 0][0],
                                 l.options.flag("use_causal_mask"));
        } else if (t == "transformer_encoder") {
            const int64_t T = in_shapes[0][0];
            const double eps = l.options.number("layer_norm_epsilon");
            const bool pre = l.options.flag("norm_first");
            auto norm = [&](const std::string& x, const std::string& which) {
                return emit_layer_norm(b, x, param(name + "." + which, "gamma"), param(name + "." + which, "beta"), eps,
                                       name + "." + which);
            };
            const std::string a_in = pre ? norm(v, "self_attention_layer_norm") : v;
            std::string h = b.op("Add", {emit_attention(b, params, name + ".self_attention", a_in, a_in, a_in, in_mask, T, T, false), v}, name);
            if (!pre) h = norm(h, "self_attention_layer_norm");
            const std::string f_in = pre ? norm(h, "feedforward_layer_norm") : h;
            std::string f = emit_dense(b, f_in, need_param(params, name + ".feedforward_intermediate_dense.kernel"),
                                       param(name + ".feedforward_intermediate_dense", "bias"), name + "/intermediate");
            f = b.activation(f, l.options.activation("activation"), name + "/intermediate");
            f = emit_dense(b, f, need_param(params, name + ".feedforward_output_dense.kernel"),
                           param(name + ".feedforward_output_dense", "bias"), name + "/output");
            out = b.op("Add", {f, h}, name);
            if (!pre) out = norm(out, "feedforward_layer_norm");
        } else if (t == "dot") {
            const bool norm = l.options.flag("normalize");
            std::vector<std::string> xs = ins;
            const auto axes = l.options.ints("axes");
            const size_t rank = in_shapes[0].size();
            for (size_t k = 0; k < 2; ++k) {
                const int64_t ax = axes[k] < 0 ? int64_t(rank) + 1 + axes[k] : axes[k];  // of (batch, ...)
                if (norm) {  // x / √max(Σx², 1e-12) along the axis (tf.math.l2_normalize)
                    const std::string ss = b.reduce("ReduceSum", b.op("Mul", {xs[k], xs[k]}, name), {ax}, true, name);
                    xs[k] = b.op("Div", {xs[k], b.op("Sqrt", {b.op("Max", {ss, b.scalar(name + "/eps", 1e-12f)}, name)}, name)}, name);
                }
                // (a, b) samples as (batch, a, b): the first contracted on its last axis, the second on its first.
                if (rank == 2 && ax == (k == 0 ? 1 : 2)) xs[k] = b.transpose(xs[k], {0, 2, 1}, name);
            }
            if (rank == 1) out = b.reduce("ReduceSum", b.op("Mul", {xs[0], xs[1]}, name), {1}, true, name);
            else out = b.op("MatMul", {xs[0], xs[1]}, name);
        } else if (t == "batch_normalization") {
            RowVector a, c;
            static_cast<const BatchNorm&>(layer).inference_affine(a, c);
            // As ONNX's BatchNormalization over the channel axis (1): y = a·x + c folded from the
            // moving statistics (mean 0, variance 1, ε 0). Channels-last samples are transposed around it.
            const size_t rank = in_shapes[0].size() - 1;
            const std::vector<float> zeros(size_t(a.cols()), 0.0f), ones(size_t(a.cols()), 1.0f);
            const std::string xin = rank ? b.to_channels_first(v, rank, name) : v;
            onnx::NodeProto* n = nullptr;
            out = b.op("BatchNormalization",
                       {xin, b.constant(name + ".scale", {a.cols()}, a.data()), b.constant(name + ".offset", {c.cols()}, c.data()),
                        b.constant(name + ".mean", {a.cols()}, zeros), b.constant(name + ".variance", {a.cols()}, ones)},
                       name, &n);
            GraphBuilder::real(n, "epsilon", 0.0f);
            if (rank) out = b.to_channels_last(out, rank, name);
        } else if (t == "add" || t == "average" || t == "multiply" || t == "maximum" || t == "minimum") {
            const char* op = t == "multiply" ? "Mul" : t == "maximum" ? "Max" : t == "minimum" ? "Min" : "Add";
            out = ins[0];
            for (size_t j = 1; j < ins.size(); ++j) out = b.op(op, {out, ins[j]}, name);
            if (t == "average") {
                const float inv = 1.0f / float(ins.size());
                out = b.op("Mul", {out, b.constant(name + "/inv", {}, &inv)}, name);
            }
        } else if (t == "subtract") {
            out = b.op("Sub", {ins[0], ins[1]}, name);
        } else if (t == "concatenate") {
            onnx::NodeProto* n = nullptr;
            out = b.op("Concat", ins, name, &n);
            GraphBuilder::integer(n, "axis", l.options.integer("axis"));  // Keras counts the batch as 0, as ONNX does
        } else {
            throw ConfigError(l.where + " (" + name + "): export: layer type '" + t +
                              "' has no ONNX form in this version (exported: dense, activation, dropout, flatten, "
                              "reshape, conv1d/2d, max/average pooling, global pooling, zero padding, "
                              "batch/layer normalization, embedding, position embeddings, lstm, gru, simple_rnn, "
                              "bidirectional, multi_head_attention, transformer_encoder, merges)");
        }
        value[i] = out;
        switch (layer.mask_flow()) {
            case MaskFlow::Keep:
                if (!in_mask.empty()) mask[i] = in_mask;
                break;
            case MaskFlow::Make:
                if (!mask.count(i))
                    throw ConfigError(l.where + " (" + name + "): export: the padding mask of layer type '" + t +
                                      "' has no ONNX form here");
                break;
            case MaskFlow::Drop: break;
        }
    }
    // What predict returns, per output: probabilities when its loss took logits. One output is called
    // "output"; several are named by their layers, in model.outputs' order.
    const auto& outs = m.outputs();
    for (size_t k = 0; k < outs.size(); ++k) {
        std::string y = value.at(outs[k]);
        // (The config's loss: the layers above were written with the config's activations, unfused.)
        const Loss& loss = run.cfg.outputs.empty() ? run.cfg.loss : run.cfg.outputs[k].loss;
        const std::string oname = outs.size() == 1 ? "output" : layers[size_t(outs[k])].name;
        if (loss.from_logits) {
            ActivationFn a;
            a.name = loss.type == "binary_crossentropy" ? "sigmoid" : "softmax";
            y = b.activation(y, a, oname + "/activation");
        }
        const Shape& os = m.layer(size_t(outs[k])).output_shape();
        if (os.size() > 1) y = b.op("Reshape", {y, b.int_constant(oname + "/shape", {-1, shape_size(os)})}, oname);
        b.node("Identity", {y}, oname);
        onnx::ValueInfoProto* out = g.add_output();
        out->set_name(oname);
        auto* ot = out->mutable_type()->mutable_tensor_type();
        ot->set_elem_type(onnx::TensorProto::FLOAT);
        ot->mutable_shape()->add_dim()->set_dim_param("batch");
        ot->mutable_shape()->add_dim()->set_dim_value(shape_size(os));
    }
    try {
        onnx::checker::check_model(model);
    } catch (const std::exception& e) {
        throw Error(std::string("internal: the exported ONNX graph fails ONNX's checker: ") + e.what());
    }
    std::string bytes;
    if (!model.SerializeToString(&bytes)) throw Error("internal: could not serialize the ONNX model");
    return bytes;
}

}  // namespace nnctl
