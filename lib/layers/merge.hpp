#pragma once
#include "layers/layer.hpp"
#include "layers/options.hpp"

namespace nnctl {

/// A layer of several inputs (Keras' merging layers): `add`, `subtract`, `multiply`, `average`,
/// `maximum`, `minimum`, `concatenate`, `dot`. It is built and run through the multi-input calls of
/// Layer; the one-input calls are an error (a graph that gives a merge one input is refused first).
class Merge : public Layer {
public:
    enum class Op { Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot };
    struct Options {
        Op op = Op::Add;
        int64_t axis = -1;              ///< concatenate: Keras' axis (0 is the batch; -1 the last)
        std::vector<int64_t> axes{-1, -1};  ///< dot: the contracted axis of each input
        bool normalize = false;         ///< dot: L2-normalise along the axes first (cosine similarity)
    };
    explicit Merge(Options o) : o_(std::move(o)) {}
    static LayerSchema schema(Op op);
    std::string type() const override;

    int min_inputs() const override { return 2; }
    int max_inputs() const override { return o_.op == Op::Subtract || o_.op == Op::Dot ? 2 : 64; }
    Shape build(const Shape& input, Rng& rng) override;
    Shape build_multi(const std::vector<Shape>& inputs, Rng& rng) override;
    Shape output_shape() const override { return out_; }
    void forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) override;
    void backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) override;
    void forward_multi(const std::vector<ConstView>& xs, Matrix& y, const ForwardContext& ctx) override;
    void backward_multi(const std::vector<ConstView>& xs, const ConstView& y, const ConstView& dy,
                        const std::vector<Matrix*>& dxs) override;
    MaskFlow mask_flow() const override;
    std::unique_ptr<Layer> clone() const override { return std::make_unique<Merge>(*this); }

private:
    /// dot: input k's sample as a matrix whose columns are the contracted axis (a view when the axis
    /// is already last, else a transposed copy), and back.
    void dot_operand(const ConstView& x, Eigen::Index row, int k, Matrix& m) const;
    void dot_scatter(const Matrix& m, int k, float* out) const;
    /// Both operands of sample `row` into a_ and b_ (normalised when asked).
    void dot_operands(const std::vector<ConstView>& xs, Eigen::Index row);

    Options o_;
    std::vector<Shape> in_;
    Shape out_;
    // concatenate: per sample, `outer` blocks; input k adds `inner_[k]` values to each block
    int64_t outer_ = 1;
    std::vector<int64_t> inner_;
    // dot: the contracted axis (0 or 1 of the sample) of each input
    int dot_axis_[2] = {0, 0};
    Matrix a_, b_, da_, db_, na_, nb_;  // dot scratch
    RowVector scale_a_, scale_b_;
};

}  // namespace nnctl
