#pragma once
#include <cstdint>
#include <vector>

#include "layers/layer.hpp"
#include "layers/options.hpp"
#include "layers/window.hpp"

namespace nnctl {

/// Keras' MaxPooling2D / AveragePooling2D (rank 2, (h, w, c)) and the 1-D versions ((steps, c)).
/// Max pooling ignores padding; average pooling divides by the number of input values inside the
/// window (padding excluded), as TensorFlow does.
class Pool : public Layer {
public:
    struct Options {
        bool max = true;
        int rank = 2;
        std::vector<int64_t> pool_size{2, 2};
        std::vector<int64_t> strides;  ///< empty: pool_size
        std::string padding = "valid";
    };
    explicit Pool(Options o) : opt_(std::move(o)) {}
    std::string type() const override;
    static LayerSchema schema(bool max, int rank);
    Shape build(const Shape& input, Rng& rng) override;
    Shape output_shape() const override { return out_; }
    /// x: (batch × h·w·c) → y: (batch × oh·ow·c)
    void forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) override;
    void backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) override;
    std::unique_ptr<Layer> clone() const override { return std::make_unique<Pool>(*this); }

    /// Max pooling whose windows tile the input (strides = pool_size, valid): its own fast path,
    /// and the one a preceding convolution can run inside its own loop (Conv::forward_pooled).
    bool tiles() const {
        return opt_.max && win_.sh == win_.kh && win_.sw == win_.kw && win_.out_h * win_.kh <= win_.in_h &&
               win_.out_w * win_.kw <= win_.in_w;
    }
    const Window& window() const { return win_; }
    /// For the fused path: room for a batch's taps, then one sample at a time (tiles() only).
    void prepare_taps(int64_t batch) { tap_.resize(batch, win_.positions() * win_.channels); }
    void pool_sample(const float* x, float* y, int64_t s);
    /// Sample s's input gradient d (every value written) from its output gradient g: each window's
    /// gradient goes to the tap its maximum came from. With a gate (the pooled outputs of a relu
    /// convolution), a window whose maximum is not positive passes nothing: every pre-activation
    /// in it was ≤ 0. tiles() only.
    void unpool_sample(int64_t s, const float* g, const float* gate, float* d) const;

private:
    Options opt_;
    Window win_;
    Shape out_;
    Matrix tap_;  // max: where each output came from (tiles: the tap i·kw + j; else the position ih·in_w + iw)
};

/// Keras' GlobalAveragePooling2D / GlobalMaxPooling2D and the 1-D versions: one value per
/// channel over all positions; (c), or (1, 1, c) / (1, c) with keepdims.
class GlobalPool : public Layer {
public:
    GlobalPool(bool max, int rank, bool keepdims) : max_(max), rank_(rank), keepdims_(keepdims) {}
    std::string type() const override;
    static LayerSchema schema(bool max, int rank);
    Shape build(const Shape& input, Rng& rng) override;
    Shape output_shape() const override { return out_; }
    void forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) override;
    void backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) override;
    std::unique_ptr<Layer> clone() const override { return std::make_unique<GlobalPool>(*this); }

private:
    bool max_;
    int rank_;
    bool keepdims_;
    int64_t positions_ = 1, channels_ = 1;
    Shape out_;
    std::vector<int32_t> argmax_;
    const Matrix* mask_ = nullptr;  // 1-D: the steps' mask of the last forward (padding skipped, as Keras)
};

}  // namespace nnctl
