#include "layers/merge.hpp"

#include <cmath>

#include "core/error.hpp"

namespace nnctl {

namespace {
const char* op_name(Merge::Op op) {
    switch (op) {
        case Merge::Op::Add: return "add";
        case Merge::Op::Subtract: return "subtract";
        case Merge::Op::Multiply: return "multiply";
        case Merge::Op::Average: return "average";
        case Merge::Op::Maximum: return "maximum";
        case Merge::Op::Minimum: return "minimum";
        case Merge::Op::Concatenate: return "concatenate";
        case Merge::Op::Dot: return "dot";
    }
    return "?";
}

std::string shapes_text(const std::vector<Shape>& s) {
    std::string t;
    for (size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + shape_str(s[i]);
    return t;
}

/// Keras' axis of a (batch, ...) tensor as an axis of the sample, or -1 when out of range.
int sample_axis(int64_t axis, size_t rank) {
    const int64_t r = int64_t(rank);
    if (axis > 0 && axis <= r) return int(axis - 1);
    if (axis < 0 && axis >= -r) return int(r + axis);
    return -1;
}

constexpr float kNormEps = 1e-12f;  // tf.math.l2_normalize's epsilon on the squared norm
}  // namespace

std::string Merge::type() const { return op_name(o_.op); }

Shape Merge::build(const Shape&, Rng&) {
    throw ConfigError(type() + " merges several inputs: give it `inputs: [a, b]` (names of earlier layers or model inputs)");
}

void Merge::forward(const ConstView&, Matrix&, const ForwardContext&) {
    throw Error("internal: " + type() + " run with one input");
}

void Merge::backward(const ConstView&, const ConstView&, const ConstView&, Matrix*) {
    throw Error("internal: " + type() + " run with one input");
}

MaskFlow Merge::mask_flow() const {
    if (o_.op == Op::Dot) return MaskFlow::Drop;
    // Joining along the time axis of a sequence makes a longer sequence: its mask is not the inputs'.
    if (o_.op == Op::Concatenate && !in_.empty() && in_[0].size() >= 2 && sample_axis(o_.axis, in_[0].size()) == 0)
        return MaskFlow::Drop;
    return MaskFlow::Keep;
}

Shape Merge::build_multi(const std::vector<Shape>& inputs, Rng&) {
    const std::string t = type();
    if (int(inputs.size()) < min_inputs() || int(inputs.size()) > max_inputs())
        throw ConfigError(t + " takes " + (max_inputs() == 2 ? "exactly 2" : "at least 2") + " inputs, got " +
                          std::to_string(inputs.size()));
    in_ = inputs;
    if (o_.op == Op::Concatenate) {
        const size_t rank = inputs[0].size();
        const int ax = sample_axis(o_.axis, rank);
        if (ax < 0)
            throw ConfigError("concatenate: axis " + std::to_string(o_.axis) + " is out of range for inputs of shape " +
                              shape_str(inputs[0]));
        out_ = inputs[0];
        out_[size_t(ax)] = 0;
        for (const auto& s : inputs) {
            bool ok = s.size() == rank;
            for (size_t d = 0; ok && d < rank; ++d) ok = int(d) == ax || s[d] == inputs[0][d];
            if (!ok)
                throw ConfigError("concatenate: inputs of shapes " + shapes_text(inputs) + " differ on an axis other than " +
                                  std::to_string(o_.axis) + " (the one joined)");
            out_[size_t(ax)] += s[size_t(ax)];
        }
        outer_ = 1;
        for (int d = 0; d < ax; ++d) outer_ *= inputs[0][size_t(d)];
        inner_.clear();
        for (const auto& s : inputs) inner_.push_back(shape_size(s) / outer_);
        return out_;
    }
    if (o_.op == Op::Dot) {
        if (inputs[0].size() != inputs[1].size() || inputs[0].empty() || inputs[0].size() > 2)
            throw ConfigError("dot: takes two inputs of the same rank, (None, n) or (None, a, b); got " + shapes_text(inputs));
        Shape free;
        int64_t contracted[2];
        for (int k = 0; k < 2; ++k) {
            const int ax = sample_axis(o_.axes[size_t(k)], inputs[size_t(k)].size());
            if (ax < 0)
                throw ConfigError("dot: axes[" + std::to_string(k) + "] = " + std::to_string(o_.axes[size_t(k)]) +
                                  " is out of range for an input of shape " + shape_str(inputs[size_t(k)]));
            dot_axis_[k] = ax;
            contracted[k] = inputs[size_t(k)][size_t(ax)];
            if (inputs[size_t(k)].size() == 2) free.push_back(inputs[size_t(k)][size_t(1 - ax)]);
        }
        if (contracted[0] != contracted[1])
            throw ConfigError("dot: the contracted axes have different sizes (" + std::to_string(contracted[0]) + " and " +
                              std::to_string(contracted[1]) + ") for inputs " + shapes_text(inputs));
        out_ = free.empty() ? Shape{1} : free;
        return out_;
    }
    for (const auto& s : inputs)
        if (s != inputs[0])
            throw ConfigError(t + ": inputs have shapes " + shapes_text(inputs) + "; " + t + " needs the same shape for each");
    out_ = inputs[0];
    return out_;
}

void Merge::dot_operand(const ConstView& x, Eigen::Index row, int k, Matrix& m) const {
    const Shape& s = in_[size_t(k)];
    const int64_t p = s.size() == 2 ? s[0] : 1, q = s.back();
    Eigen::Map<const Matrix> xs(x.row(row).data(), p, q);
    if (s.size() == 1 || dot_axis_[k] == 1) m = xs;  // (free × contracted)
    else m = xs.transpose();
}

void Merge::dot_scatter(const Matrix& m, int k, float* out) const {
    const Shape& s = in_[size_t(k)];
    const int64_t p = s.size() == 2 ? s[0] : 1, q = s.back();
    Eigen::Map<Matrix> xs(out, p, q);
    if (s.size() == 1 || dot_axis_[k] == 1) xs = m;
    else xs = m.transpose();
}

namespace {
/// Rows of m scaled to unit L2 norm (the norm floored at sqrt(eps)); `inv` keeps 1/norm per row.
void normalize_rows(Matrix& m, RowVector& inv) {
    inv.resize(m.rows());
    for (Eigen::Index i = 0; i < m.rows(); ++i) {
        const float sq = m.row(i).squaredNorm();
        inv(i) = 1.0f / std::sqrt(std::max(sq, kNormEps));
        m.row(i) *= inv(i);
    }
}
/// Backward of normalize_rows: dn (gradient at the normalised rows n) → the gradient at the raw rows.
void normalize_rows_backward(const Matrix& n, const RowVector& inv, Matrix& dn) {
    for (Eigen::Index i = 0; i < n.rows(); ++i) {
        const float unit = 1.0f / inv(i);
        if (unit * unit > kNormEps) dn.row(i) = (dn.row(i) - n.row(i) * n.row(i).dot(dn.row(i))) * inv(i);
        else dn.row(i) *= inv(i);
    }
}
}  // namespace

void Merge::dot_operands(const std::vector<ConstView>& xs, Eigen::Index row) {
    dot_operand(xs[0], row, 0, a_);
    dot_operand(xs[1], row, 1, b_);
    if (o_.normalize) normalize_rows(a_, scale_a_), normalize_rows(b_, scale_b_);
}

void Merge::forward_multi(const std::vector<ConstView>& xs, Matrix& y, const ForwardContext&) {
    const Eigen::Index batch = xs[0].rows();
    y.resize(batch, shape_size(out_));
    switch (o_.op) {
        case Op::Add:
        case Op::Average:
            y = xs[0];
            for (size_t k = 1; k < xs.size(); ++k) y += xs[k];
            if (o_.op == Op::Average) y *= 1.0f / float(xs.size());
            return;
        case Op::Subtract: y = xs[0] - xs[1]; return;
        case Op::Multiply:
            y = xs[0];
            for (size_t k = 1; k < xs.size(); ++k) y.array() *= xs[k].array();
            return;
        case Op::Maximum:
            y = xs[0];
            for (size_t k = 1; k < xs.size(); ++k) y = y.cwiseMax(xs[k]);
            return;
        case Op::Minimum:
            y = xs[0];
            for (size_t k = 1; k < xs.size(); ++k) y = y.cwiseMin(xs[k]);
            return;
        case Op::Concatenate:
            for (Eigen::Index r = 0; r < batch; ++r) {
                float* out = y.row(r).data();
                for (int64_t b = 0; b < outer_; ++b)
                    for (size_t k = 0; k < xs.size(); ++k) {
                        const float* src = xs[k].row(r).data() + b * inner_[k];
                        out = std::copy(src, src + inner_[k], out);
                    }
            }
            return;
        case Op::Dot:
            for (Eigen::Index r = 0; r < batch; ++r) {
                dot_operands(xs, r);
                Eigen::Map<Matrix>(y.row(r).data(), a_.rows(), b_.rows()).noalias() = a_ * b_.transpose();
            }
            return;
    }
}

void Merge::backward_multi(const std::vector<ConstView>& xs, const ConstView& y, const ConstView& dy,
                           const std::vector<Matrix*>& dxs) {
    const Eigen::Index batch = dy.rows();
    for (size_t k = 0; k < dxs.size(); ++k)
        if (dxs[k]) dxs[k]->resize(batch, xs[k].cols());
    switch (o_.op) {
        case Op::Add:
        case Op::Average: {
            const float s = o_.op == Op::Average ? 1.0f / float(xs.size()) : 1.0f;
            for (auto* d : dxs)
                if (d) *d = dy * s;
            return;
        }
        case Op::Subtract:
            if (dxs[0]) *dxs[0] = dy;
            if (dxs[1]) *dxs[1] = -dy;
            return;
        case Op::Multiply:
            for (size_t k = 0; k < xs.size(); ++k) {
                if (!dxs[k]) continue;
                *dxs[k] = dy;
                for (size_t j = 0; j < xs.size(); ++j)
                    if (j != k) dxs[k]->array() *= xs[j].array();
            }
            return;
        case Op::Maximum:
        case Op::Minimum:
            // The gradient goes to the first input holding the extreme value (ties: the earliest).
            for (auto* d : dxs)
                if (d) d->setZero();
            for (Eigen::Index r = 0; r < batch; ++r)
                for (Eigen::Index c = 0; c < dy.cols(); ++c)
                    for (size_t k = 0; k < xs.size(); ++k)
                        if (xs[k](r, c) == y(r, c)) {
                            if (dxs[k]) (*dxs[k])(r, c) = dy(r, c);
                            break;
                        }
            return;
        case Op::Concatenate:
            for (Eigen::Index r = 0; r < batch; ++r) {
                const float* g = dy.row(r).data();
                for (int64_t b = 0; b < outer_; ++b)
                    for (size_t k = 0; k < xs.size(); ++k) {
                        if (dxs[k]) std::copy(g, g + inner_[k], dxs[k]->row(r).data() + b * inner_[k]);
                        g += inner_[k];
                    }
            }
            return;
        case Op::Dot:
            for (Eigen::Index r = 0; r < batch; ++r) {
                dot_operands(xs, r);
                Eigen::Map<const Matrix> g(dy.row(r).data(), a_.rows(), b_.rows());
                da_.noalias() = g * b_;
                db_.noalias() = g.transpose() * a_;
                if (o_.normalize) normalize_rows_backward(a_, scale_a_, da_), normalize_rows_backward(b_, scale_b_, db_);
                if (dxs[0]) dot_scatter(da_, 0, dxs[0]->row(r).data());
                if (dxs[1]) dot_scatter(db_, 1, dxs[1]->row(r).data());
            }
            return;
    }
}

LayerSchema Merge::schema(Op op) {
    LayerSchema s;
    s.type = op_name(op);
    switch (op) {
        case Op::Add: s.doc = "Element-wise sum of its inputs (same shapes), e.g. a residual connection"; break;
        case Op::Subtract: s.doc = "First input minus the second (same shapes)"; break;
        case Op::Multiply: s.doc = "Element-wise product of its inputs (same shapes), e.g. a gate"; break;
        case Op::Average: s.doc = "Element-wise mean of its inputs (same shapes)"; break;
        case Op::Maximum: s.doc = "Element-wise maximum of its inputs (same shapes)"; break;
        case Op::Minimum: s.doc = "Element-wise minimum of its inputs (same shapes)"; break;
        case Op::Concatenate: s.doc = "Joins its inputs along one axis (the other axes must match)"; break;
        case Op::Dot: s.doc = "Dot products of two inputs along the given axes (cosine similarity with normalize)"; break;
    }
    if (op == Op::Concatenate)
        s.options = {opt_int("axis", -1, "the axis joined, as in Keras (-1: the last; 0 is the batch and is refused)")
                         .range(-8, 8)};
    if (op == Op::Dot)
        s.options = {opt_ints("axes", 2, -1, "the contracted axis of each input (an integer: the same for both)")
                         .range(-3, 3),
                     opt_bool("normalize", false, "L2-normalise both inputs along the axes first (cosine similarity)")};
    s.make = [op](const LayerOptions& o) -> std::unique_ptr<Layer> {
        Options m;
        m.op = op;
        if (op == Op::Concatenate) m.axis = o.integer("axis");
        if (op == Op::Dot) {
            m.axes = o.ints("axes");
            m.normalize = o.flag("normalize");
        }
        return std::make_unique<Merge>(m);
    };
    if (op == Op::Concatenate)
        s.check = [](const LayerOptions& o) -> std::vector<OptionProblem> {
            if (o.integer("axis") == 0) return {{"axis", "axis 0 is the batch: concatenate joins samples' axes (1, 2, ... or -1)"}};
            return {};
        };
    if (op == Op::Dot)
        s.check = [](const LayerOptions& o) -> std::vector<OptionProblem> {
            for (auto a : o.ints("axes"))
                if (a == 0) return {{"axes", "axis 0 is the batch: dot contracts samples' axes (1, 2 or -1)"}};
            return {};
        };
    return s;
}

}  // namespace nnctl
