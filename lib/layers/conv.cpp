#include "layers/conv.hpp"

#include <algorithm>
#include <cstring>

#include "core/error.hpp"
#include "core/parallel.hpp"

namespace nnctl {

namespace {
void relu_mask(float* __restrict dz, const uint8_t* __restrict on, const float* __restrict dy, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dz[i] = on[i] ? dy[i] : 0.0f;
}
void positive(uint8_t* __restrict on, const float* __restrict y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) on[i] = y[i] > 0.0f;
}
/// out[j] = Σ_r m[r·f + j], summed over r in order.
void add_row(float* __restrict out, const float* __restrict row, int64_t f) {
    for (int64_t j = 0; j < f; ++j) out[j] += row[j];
}
void column_sums(float* out, const float* m, int64_t rows, int64_t f) {
    for (int64_t j = 0; j < f; ++j) out[j] = 0.0f;
    for (int64_t r = 0; r < rows; ++r) add_row(out, m + r * f, f);
}
}  // namespace

Shape Conv::build(const Shape& input, Rng& rng) {
    int64_t h, w, c;
    spatial_dims(type(), input, opt_.rank, h, w, c);
    auto two = [&](const std::vector<int64_t>& v) {
        return opt_.rank == 2 ? v : std::vector<int64_t>{1, v[0]};
    };
    win_ = make_window(type(), h, w, c, two(opt_.kernel_size), two(opt_.strides), two(opt_.dilation_rate), opt_.padding);
    out_ = opt_.rank == 2 ? Shape{win_.out_h, win_.out_w, opt_.filters} : Shape{win_.out_w, opt_.filters};
    const int64_t taps = win_.kh * win_.kw, k = taps * c;
    w_.resize(k, opt_.filters);
    // Keras' fans for a convolution: receptive field × channels in / out.
    initialize(w_, opt_.kernel_initializer, k, taps * opt_.filters, rng);
    gw_.setZero(k, opt_.filters);
    if (opt_.use_bias) {
        b_.resize(1, opt_.filters);
        initialize(b_, opt_.bias_initializer, k, taps * opt_.filters, rng);
        gb_.setZero(1, opt_.filters);
    }
    return out_;
}

bool Conv::needs_z() const {
    const std::string& n = opt_.activation.name;
    return !is(n, "linear") && !is(n, "relu");
}

int64_t Conv::chunk_samples() const {
    // About 512 patch rows a chunk: the chunk's patches and their gradient stay in L2 between the products
    // that read them. Depends only on the shapes, so results do not depend on the thread count.
    return std::max<int64_t>(1, 512 / std::max<int64_t>(1, win_.positions()));
}

void Conv::forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) {
    const int64_t batch = x.rows(), pos = win_.positions(), k = w_.rows(), f = opt_.filters;
    const bool relu = is(opt_.activation.name, "relu");
    Matrix& pre = needs_z() ? z_ : y;
    pre.resize(batch, pos * f);
    const int64_t per = chunk_samples(), chunks = (batch + per - 1) / per;
    const float* bias = opt_.use_bias ? b_.data() : nullptr;
    // Training with relu: which outputs are positive, one byte each, taken while the chunk is in
    // cache; the backward pass reads these instead of the 4-byte outputs (a quarter of the traffic).
    const bool keep_mask = relu && ctx.training;
    if (keep_mask) on_.resize(size_t(batch * pos * f));
    const bool pointwise = win_.kh == 1 && win_.kw == 1 && win_.sh == 1 && win_.sw == 1 && win_.pad_t == 0 &&
                           win_.pad_l == 0 && x.outerStride() == x.cols();
    parallel_for(chunks, [&](int64_t ci) {
        const int64_t s0 = ci * per, n = std::min(per, batch - s0);
        const float* patches = x.data() + s0 * x.outerStride();  // a 1×1 kernel: the input is the patches
        thread_local std::vector<float> p;
        if (!pointwise) {
            p.resize(size_t(n * pos * k));
            im2col(win_, x.data() + s0 * x.outerStride(), x.outerStride(), n, p.data());
            patches = p.data();
        }
        gemm(n * pos, k, f, patches, k, 1, w_.data(), f, pre.data() + s0 * pos * f, f, bias, relu);
        if (keep_mask) positive(on_.data() + s0 * pos * f, pre.data() + s0 * pos * f, n * pos * f);
    });
    mask_valid_ = keep_mask;
    if (needs_z()) {  // other activations run over channels (softmax: per position, as Keras)
        Eigen::Map<const Matrix> z(z_.data(), batch * pos, f);
        opt_.activation.forward(z, act_);
        y.resize(batch, pos * f);
        std::memcpy(y.data(), act_.data(), sizeof(float) * size_t(y.size()));
    }
}

template <class DzOf>
void Conv::backward_chunks(const ConstView& x, Matrix* dx, DzOf&& dz_of) {
    const int64_t batch = x.rows(), pos = win_.positions(), k = w_.rows(), f = opt_.filters;
    const int64_t per = chunk_samples(), chunks = (batch + per - 1) / per;
    const bool grads = trainable();
    if (grads) {
        part_w_.resize(chunks, k * f);
        if (opt_.use_bias) part_b_.resize(chunks, f);
    }
    if (dx) {
        dx->setZero(batch, win_.in_size());
        wt_ = w_.transpose();
    }
    parallel_for(chunks, [&](int64_t ci) {
        const int64_t s0 = ci * per, n = std::min(per, batch - s0), rows = n * pos;
        thread_local std::vector<float> p, dp, buffer;
        const float* dzc = dz_of(s0, n, buffer);
        if (grads) {
            p.resize(size_t(rows * k));
            im2col(win_, x.data() + s0 * x.outerStride(), x.outerStride(), n, p.data());
            // Σ over the chunk's positions of patchᵀ · dz: aᵀ through swapped strides.
            gemm(k, rows, f, p.data(), 1, k, dzc, f, part_w_.data() + ci * k * f, f);
            if (opt_.use_bias) column_sums(part_b_.data() + ci * f, dzc, rows, f);
        }
        if (dx) {
            dp.resize(size_t(rows * k));
            gemm(rows, f, k, dzc, f, 1, wt_.data(), k, dp.data(), k);
            col2im(win_, dp.data(), n, dx->data() + s0 * dx->cols(), dx->cols());
        }
    });
    if (grads) {
        Eigen::Map<RowVector> gw(gw_.data(), k * f);
        gw = part_w_.row(0);
        for (int64_t c = 1; c < chunks; ++c) gw += part_w_.row(c);
        if (opt_.use_bias) {
            gb_ = part_b_.row(0);
            for (int64_t c = 1; c < chunks; ++c) gb_ += part_b_.row(c);
        }
    }
}

void Conv::backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) {
    const int64_t batch = x.rows(), pos = win_.positions(), f = opt_.filters;
    // dz: (batch·positions × filters), the gradient at the pre-activation.
    const float* dz = dy.data();
    const bool relu = is(opt_.activation.name, "relu");
    if (needs_z()) {
        Eigen::Map<const Matrix> z(z_.data(), batch * pos, f), a(y.data(), batch * pos, f), g(dy.data(), batch * pos, f);
        opt_.activation.backward(z, a, g, dz_);
        dz = dz_.data();
    }
    backward_chunks(x, dx, [&](int64_t s0, int64_t n, std::vector<float>& masked) -> const float* {
        const int64_t rows = n * pos;
        if (!relu) return dz + s0 * pos * f;
        // The chunk's dz where it is used, in cache: no batch-sized buffer written and read back.
        masked.resize(size_t(rows * f));
        if (mask_valid_) {
            relu_mask(masked.data(), on_.data() + s0 * pos * f, dy.data() + s0 * pos * f, rows * f);
        } else {  // a backward pass after an inference forward (tests): from the outputs
            const float* yv = y.data() + s0 * pos * f;
            const float* g = dy.data() + s0 * pos * f;
            for (int64_t i = 0; i < rows * f; ++i) masked[size_t(i)] = yv[i] > 0.0f ? g[i] : 0.0f;
        }
        return masked.data();
    });
}

bool Conv::can_fuse(const Pool& pool) const {
    const std::string& a = opt_.activation.name;
    return (is(a, "relu") || is(a, "linear")) && pool.tiles() && pool.window().in_h == win_.out_h &&
           pool.window().in_w == win_.out_w && pool.window().channels == opt_.filters;
}

void Conv::forward_pooled(const ConstView& x, Pool& pool, Matrix& pooled, const ForwardContext&) {
    const int64_t batch = x.rows(), pos = win_.positions(), k = w_.rows(), f = opt_.filters;
    const bool relu = is(opt_.activation.name, "relu");
    const int64_t out = pool.window().positions() * f;
    pooled.resize(batch, out);
    pool.prepare_taps(batch);
    mask_valid_ = false;
    const int64_t per = chunk_samples(), chunks = (batch + per - 1) / per;
    const float* bias = opt_.use_bias ? b_.data() : nullptr;
    parallel_for(chunks, [&](int64_t ci) {
        const int64_t s0 = ci * per, n = std::min(per, batch - s0);
        thread_local std::vector<float> p, yc;
        p.resize(size_t(n * pos * k));
        yc.resize(size_t(n * pos * f));
        im2col(win_, x.data() + s0 * x.outerStride(), x.outerStride(), n, p.data());
        gemm(n * pos, k, f, p.data(), k, 1, w_.data(), f, yc.data(), f, bias, relu);
        for (int64_t j = 0; j < n; ++j) pool.pool_sample(yc.data() + j * pos * f, pooled.data() + (s0 + j) * out, s0 + j);
    });
}

void Conv::backward_pooled(const ConstView& x, const Pool& pool, const ConstView& pooled, const ConstView& dpooled,
                           Matrix* dx) {
    const int64_t pos = win_.positions(), f = opt_.filters;
    const bool relu = is(opt_.activation.name, "relu");
    backward_chunks(x, dx, [&](int64_t s0, int64_t n, std::vector<float>& dz) -> const float* {
        dz.resize(size_t(n * pos * f));
        for (int64_t j = 0; j < n; ++j) {
            const int64_t s = s0 + j;
            pool.unpool_sample(s, dpooled.data() + s * dpooled.outerStride(),
                               relu ? pooled.data() + s * pooled.outerStride() : nullptr, dz.data() + j * pos * f);
        }
        return dz.data();
    });
}

bool Conv::fold_affine(const RowVector& a, const RowVector& b) {
    if (!opt_.activation.is_linear() || a.size() != opt_.filters) return false;
    fold_columns(w_, b_, gb_, opt_.use_bias, a, b);
    return true;
}

std::vector<ParamRef> Conv::params() {
    Shape ks = opt_.rank == 2 ? Shape{win_.kh, win_.kw, win_.channels, opt_.filters}
                              : Shape{win_.kw, win_.channels, opt_.filters};
    std::vector<ParamRef> p;
    p.push_back({name() + ".kernel", &w_, &gw_, &opt_.kernel_regularizer, trainable(), ks});
    if (opt_.use_bias) p.push_back({name() + ".bias", &b_, &gb_, &opt_.bias_regularizer, trainable(), {opt_.filters}});
    return p;
}

namespace {
LayerSchema conv_schema(int rank) {
    LayerSchema s;
    s.type = rank == 2 ? "conv2d" : "conv1d";
    s.doc = rank == 2 ? "2-D convolution over (height, width, channels) inputs; kernel (kh, kw, in, filters)"
                      : "1-D convolution over (steps, features) inputs; kernel (k, in, filters)";
    std::vector<std::string> pads = {"valid", "same"};
    if (rank == 1) pads.push_back("causal");
    s.options = {
        opt_int("filters", 0, "output channels").needed("the number of output channels").range(1, 1 << 20),
        opt_ints("kernel_size", rank, 0, "window size").needed(rank == 2 ? "e.g. 3 or [3, 3]" : "e.g. 3"),
        opt_ints("strides", rank, 1, "step between windows"),
        opt_choice("padding", "valid", pads,
                   rank == 2 ? "valid: no padding; same: output size ceil(input / strides)"
                             : "valid: no padding; same: output ceil(input / strides); causal: pad before only"),
        opt_ints("dilation_rate", rank, 1, "spacing between kernel taps"),
        opt_activation("activation", "linear", "applied to conv(x) + bias"),
        opt_bool("use_bias", true, "add a bias per filter"),
        opt_initializer("kernel_initializer", "glorot_uniform", "initial kernel"),
        opt_initializer("bias_initializer", "zeros", "initial bias"),
        opt_regularizer("kernel_regularizer", "penalty on the kernel"),
        opt_regularizer("bias_regularizer", "penalty on the bias"),
    };
    s.check = [](const LayerOptions& o) {
        std::vector<OptionProblem> p;
        auto above_one = [](const std::vector<int64_t>& v) {
            return std::any_of(v.begin(), v.end(), [](int64_t x) { return x > 1; });
        };
        if (above_one(o.ints("strides")) && above_one(o.ints("dilation_rate")))
            p.push_back({"dilation_rate", "strides > 1 together with dilation_rate > 1 is not supported (as in Keras)"});
        return p;
    };
    s.make = [rank](const LayerOptions& o) -> std::unique_ptr<Layer> {
        Conv::Options c;
        c.rank = rank;
        c.filters = o.integer("filters");
        c.kernel_size = o.ints("kernel_size");
        c.strides = o.ints("strides");
        c.dilation_rate = o.ints("dilation_rate");
        c.padding = o.text("padding");
        c.activation = o.activation("activation");
        c.use_bias = o.flag("use_bias");
        c.kernel_initializer = o.initializer("kernel_initializer");
        c.bias_initializer = o.initializer("bias_initializer");
        c.kernel_regularizer = o.regularizer("kernel_regularizer");
        c.bias_regularizer = o.regularizer("bias_regularizer");
        return std::make_unique<Conv>(c);
    };
    return s;
}
}  // namespace

LayerSchema Conv::schema2d() { return conv_schema(2); }
LayerSchema Conv::schema1d() { return conv_schema(1); }

}  // namespace nnctl
