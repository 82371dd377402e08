#include "model/onnx_export.hpp"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <map>

#include "core/error.hpp"
#include "layers/normalization.hpp"

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

    std::map<std::string, ParamRef> params;
    for (auto& p : m.params()) params.emplace(p.name, p);
    auto param = [&](const std::string& layer, const std::string& what) -> const ParamRef* {
        auto it = params.find(layer + "." + what);
        return it == params.end() ? nullptr : &it->second;
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
            const bool two = t.back() == 'd' && t[t.size() - 2] == '2';
            onnx::NodeProto* n = nullptr;
            out = b.op(t.find("max") != std::string::npos ? "ReduceMax" : "ReduceMean", {v}, name, &n);
            GraphBuilder::ints(n, "axes", two ? std::vector<int64_t>{1, 2} : std::vector<int64_t>{1});
            GraphBuilder::integer(n, "keepdims", l.options.flag("keepdims") ? 1 : 0);
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
                              "reshape, conv1d/2d, max/average pooling, global pooling, batch_normalization, merges "
                              "other than dot)");
        }
        value[i] = out;
    }
    // What predict returns: probabilities when the run's loss took logits.
    std::string y = value.at(int(layers.size()) - 1);
    if (run.cfg.loss.from_logits) {
        ActivationFn a;
        a.name = run.cfg.loss.type == "binary_crossentropy" ? "sigmoid" : "softmax";
        y = b.activation(y, a, "output_activation");
    }
    if (shape_size(m.output_shape()) != 0 && m.output_shape().size() > 1)
        y = b.op("Reshape", {y, b.int_constant("output/shape", {-1, shape_size(m.output_shape())})}, "output");
    b.node("Identity", {y}, "output");
    onnx::ValueInfoProto* out = g.add_output();
    out->set_name("output");
    auto* ot = out->mutable_type()->mutable_tensor_type();
    ot->set_elem_type(onnx::TensorProto::FLOAT);
    ot->mutable_shape()->add_dim()->set_dim_param("batch");
    ot->mutable_shape()->add_dim()->set_dim_value(shape_size(m.output_shape()));
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
