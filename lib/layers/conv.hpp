#pragma once
#include <cstdint>
#include <vector>

#include "core/initializers.hpp"
#include "layers/activations.hpp"
#include "layers/layer.hpp"
#include "layers/options.hpp"
#include "layers/pool.hpp"
#include "layers/window.hpp"

namespace nnctl {

/// Keras' Conv2D (rank 2, (h, w, c) inputs) and Conv1D (rank 1, (steps, features) inputs):
/// y = act(conv(x, kernel) + bias), channels last. The kernel is stored as Keras stores it,
/// (kh, kw, in, out) (Conv1D: (k, in, out)), which in row-major order is the (kh·kw·in × out)
/// matrix that multiplies im2col's patch rows: a batch's forward pass is one product per chunk of
/// samples, P (positions × kh·kw·in) · kernel.
class Conv : public Layer {
public:
    struct Options {
        int rank = 2;
        int64_t filters = 1;
        std::vector<int64_t> kernel_size{3, 3}, strides{1, 1}, dilation_rate{1, 1};
        std::string padding = "valid";  ///< valid | same | causal (1-D)
        ActivationFn activation;
        bool use_bias = true;
        InitializerSpec kernel_initializer;
        InitializerSpec bias_initializer{"zeros"};
        RegularizerSpec kernel_regularizer, bias_regularizer;
    };
    explicit Conv(Options o) : opt_(std::move(o)) {}
    std::string type() const override { return opt_.rank == 2 ? "conv2d" : "conv1d"; }
    static LayerSchema schema2d();
    static LayerSchema schema1d();
    Shape build(const Shape& input, Rng& rng) override;
    Shape output_shape() const override { return out_; }
    /// x: (batch × h·w·in) → y: (batch × oh·ow·filters)
    void forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) override;
    void backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) override;
    std::vector<ParamRef> params() override;
    bool fold_affine(const RowVector& a, const RowVector& b) override;

    /// Whether `pool` (the next layer) can run inside this layer's chunk loop: linear or relu
    /// here, and max pooling windows that tile this layer's output.
    bool can_fuse(const Pool& pool) const;
    /// This layer and the max pooling after it in one pass: each chunk's output stays in cache and is
    /// pooled straight into `pooled`; this layer's own output is never stored. Same values.
    void forward_pooled(const ConstView& x, Pool& pool, Matrix& pooled, const ForwardContext& ctx);
    /// The backward pass of the pair, from the gradient at the pooling's output: each window's
    /// gradient goes to its winning position (for relu, when the window's maximum is positive).
    void backward_pooled(const ConstView& x, const Pool& pool, const ConstView& pooled, const ConstView& dpooled,
                         Matrix* dx);
    std::unique_ptr<Layer> clone() const override { return std::make_unique<Conv>(*this); }
    const Window& window() const { return win_; }

private:
    /// The shared backward pass; dz_of(s0, n, buffer) gives the chunk's gradient at the pre-activation.
    template <class DzOf>
    void backward_chunks(const ConstView& x, Matrix* dx, DzOf&& dz_of);
    bool needs_z() const;
    int64_t chunk_samples() const;
    Options opt_;
    Window win_;
    Shape out_;
    Matrix w_, b_, gw_, gb_;
    Matrix z_, act_, dz_, wt_;        // pre-activation / activated (other activations), dz, kernelᵀ
    Matrix part_w_, part_b_;          // per-chunk weight gradients, summed in chunk order
    std::vector<uint8_t> on_;         // relu in training: output > 0, per element of the last forward
    bool mask_valid_ = false;
};

}  // namespace nnctl
