#include "layers/pool.hpp"

#include <algorithm>
#include <limits>

#include "core/error.hpp"
#include "core/parallel.hpp"

namespace nnctl {

namespace {
/// Samples per parallel chunk: enough work to be worth a thread, independent of the thread count.
int64_t chunk_of(int64_t per_sample) { return std::max<int64_t>(1, 65536 / std::max<int64_t>(1, per_sample)); }

template <class F>
void over_samples(int64_t batch, int64_t per_sample, F&& f) {
    const int64_t per = chunk_of(per_sample), chunks = (batch + per - 1) / per;
    parallel_for(chunks, [&](int64_t c) {
        for (int64_t s = c * per, e = std::min(batch, s + per); s < e; ++s) f(s);
    });
}
}  // namespace

std::string Pool::type() const {
    return std::string(opt_.max ? "max" : "average") + "_pooling" + (opt_.rank == 2 ? "2d" : "1d");
}

Shape Pool::build(const Shape& input, Rng&) {
    int64_t h, w, c;
    spatial_dims(type(), input, opt_.rank, h, w, c);
    auto two = [&](const std::vector<int64_t>& v) { return opt_.rank == 2 ? v : std::vector<int64_t>{1, v[0]}; };
    const auto& strides = opt_.strides.empty() ? opt_.pool_size : opt_.strides;
    win_ = make_window(type(), h, w, c, two(opt_.pool_size), two(strides), {1, 1}, opt_.padding);
    out_ = opt_.rank == 2 ? Shape{win_.out_h, win_.out_w, c} : Shape{win_.out_w, c};
    return out_;
}

void Pool::forward(const ConstView& x, Matrix& y, const ForwardContext&) {
    const int64_t batch = x.rows(), c = win_.channels, out_size = win_.positions() * c;
    y.resize(batch, out_size);
    if (opt_.max) argmax_.resize(size_t(batch * out_size));
    over_samples(batch, win_.in_size(), [&](int64_t s) {
        const float* xs = x.data() + s * x.outerStride();
        float* ys = y.data() + s * out_size;
        int32_t* am = opt_.max ? argmax_.data() + s * out_size : nullptr;
        for (int64_t oh = 0; oh < win_.out_h; ++oh)
            for (int64_t ow = 0; ow < win_.out_w; ++ow) {
                float* o = ys + (oh * win_.out_w + ow) * c;
                int32_t* a = am ? am + (oh * win_.out_w + ow) * c : nullptr;
                const int64_t h0 = std::max<int64_t>(0, oh * win_.sh - win_.pad_t);
                const int64_t h1 = std::min(win_.in_h, oh * win_.sh - win_.pad_t + win_.kh);
                const int64_t w0 = std::max<int64_t>(0, ow * win_.sw - win_.pad_l);
                const int64_t w1 = std::min(win_.in_w, ow * win_.sw - win_.pad_l + win_.kw);
                if (opt_.max) {
                    std::fill(o, o + c, -std::numeric_limits<float>::infinity());
                    for (int64_t ch = 0; ch < c; ++ch) a[ch] = int32_t((h0 * win_.in_w + w0) * c + ch);
                    for (int64_t ih = h0; ih < h1; ++ih)
                        for (int64_t iw = w0; iw < w1; ++iw) {
                            const int32_t off = int32_t((ih * win_.in_w + iw) * c);
                            const float* v = xs + off;
                            for (int64_t ch = 0; ch < c; ++ch)
                                if (v[ch] > o[ch]) o[ch] = v[ch], a[ch] = off + int32_t(ch);
                        }
                } else {
                    std::fill(o, o + c, 0.0f);
                    for (int64_t ih = h0; ih < h1; ++ih)
                        for (int64_t iw = w0; iw < w1; ++iw) {
                            const float* v = xs + (ih * win_.in_w + iw) * c;
                            for (int64_t ch = 0; ch < c; ++ch) o[ch] += v[ch];
                        }
                    const float inv = 1.0f / float((h1 - h0) * (w1 - w0));
                    for (int64_t ch = 0; ch < c; ++ch) o[ch] *= inv;
                }
            }
    });
}

void Pool::backward(const ConstView& x, const ConstView&, const ConstView& dy, Matrix* dx) {
    if (!dx) return;
    const int64_t batch = x.rows(), c = win_.channels, out_size = win_.positions() * c;
    dx->setZero(batch, win_.in_size());
    over_samples(batch, win_.in_size(), [&](int64_t s) {
        const float* g = dy.data() + s * dy.outerStride();
        float* d = dx->data() + s * dx->cols();
        if (opt_.max) {
            const int32_t* am = argmax_.data() + s * out_size;
            for (int64_t i = 0; i < out_size; ++i) d[am[i]] += g[i];
            return;
        }
        for (int64_t oh = 0; oh < win_.out_h; ++oh)
            for (int64_t ow = 0; ow < win_.out_w; ++ow) {
                const float* go = g + (oh * win_.out_w + ow) * c;
                const int64_t h0 = std::max<int64_t>(0, oh * win_.sh - win_.pad_t);
                const int64_t h1 = std::min(win_.in_h, oh * win_.sh - win_.pad_t + win_.kh);
                const int64_t w0 = std::max<int64_t>(0, ow * win_.sw - win_.pad_l);
                const int64_t w1 = std::min(win_.in_w, ow * win_.sw - win_.pad_l + win_.kw);
                const float inv = 1.0f / float((h1 - h0) * (w1 - w0));
                for (int64_t ih = h0; ih < h1; ++ih)
                    for (int64_t iw = w0; iw < w1; ++iw) {
                        float* di = d + (ih * win_.in_w + iw) * c;
                        for (int64_t ch = 0; ch < c; ++ch) di[ch] += go[ch] * inv;
                    }
            }
    });
}

LayerSchema Pool::schema(bool max, int rank) {
    LayerSchema s;
    s.type = std::string(max ? "max" : "average") + "_pooling" + (rank == 2 ? "2d" : "1d");
    s.doc = std::string(max ? "Maximum" : "Mean") + " over each window of " +
            (rank == 2 ? "(height, width, channels) inputs, per channel" : "(steps, features) inputs, per feature");
    s.options = {
        opt_ints("pool_size", rank, 2, "window size"),
        opt_ints("strides", rank, 1, "step between windows (null: pool_size)").or_null(),
        opt_choice("padding", "valid", {"valid", "same"}, "valid: no padding; same: output ceil(input / strides)"),
    };
    s.make = [max, rank](const LayerOptions& o) -> std::unique_ptr<Layer> {
        Options p;
        p.max = max;
        p.rank = rank;
        p.pool_size = o.ints("pool_size");
        if (!o.is_null("strides")) p.strides = o.ints("strides");
        p.padding = o.text("padding");
        return std::make_unique<Pool>(p);
    };
    return s;
}

std::string GlobalPool::type() const {
    return std::string("global_") + (max_ ? "max" : "average") + "_pooling" + (rank_ == 2 ? "2d" : "1d");
}

Shape GlobalPool::build(const Shape& input, Rng&) {
    int64_t h, w, c;
    spatial_dims(type(), input, rank_, h, w, c);
    positions_ = h * w;
    channels_ = c;
    out_ = keepdims_ ? (rank_ == 2 ? Shape{1, 1, c} : Shape{1, c}) : Shape{c};
    return out_;
}

void GlobalPool::forward(const ConstView& x, Matrix& y, const ForwardContext&) {
    const int64_t batch = x.rows(), c = channels_;
    y.resize(batch, c);
    if (max_) argmax_.resize(size_t(batch * c));
    over_samples(batch, positions_ * c, [&](int64_t s) {
        const float* xs = x.data() + s * x.outerStride();
        float* o = y.data() + s * c;
        if (max_) {
            int32_t* a = argmax_.data() + s * c;
            for (int64_t ch = 0; ch < c; ++ch) o[ch] = xs[ch], a[ch] = int32_t(ch);
            for (int64_t p = 1; p < positions_; ++p)
                for (int64_t ch = 0; ch < c; ++ch)
                    if (xs[p * c + ch] > o[ch]) o[ch] = xs[p * c + ch], a[ch] = int32_t(p * c + ch);
        } else {
            std::fill(o, o + c, 0.0f);
            for (int64_t p = 0; p < positions_; ++p)
                for (int64_t ch = 0; ch < c; ++ch) o[ch] += xs[p * c + ch];
            const float inv = 1.0f / float(positions_);
            for (int64_t ch = 0; ch < c; ++ch) o[ch] *= inv;
        }
    });
}

void GlobalPool::backward(const ConstView& x, const ConstView&, const ConstView& dy, Matrix* dx) {
    if (!dx) return;
    const int64_t batch = x.rows(), c = channels_;
    dx->setZero(batch, positions_ * c);
    over_samples(batch, positions_ * c, [&](int64_t s) {
        const float* g = dy.data() + s * dy.outerStride();
        float* d = dx->data() + s * dx->cols();
        if (max_) {
            const int32_t* a = argmax_.data() + s * c;
            for (int64_t ch = 0; ch < c; ++ch) d[a[ch]] += g[ch];
            return;
        }
        const float inv = 1.0f / float(positions_);
        for (int64_t p = 0; p < positions_; ++p)
            for (int64_t ch = 0; ch < c; ++ch) d[p * c + ch] = g[ch] * inv;
    });
}

LayerSchema GlobalPool::schema(bool max, int rank) {
    LayerSchema s;
    s.type = std::string("global_") + (max ? "max" : "average") + "_pooling" + (rank == 2 ? "2d" : "1d");
    s.doc = std::string(max ? "Maximum" : "Mean") + " over all " + (rank == 2 ? "positions" : "steps") +
            ", per channel: (" + (rank == 2 ? "h, w, " : "steps, ") + "c) → (c)";
    s.options = {opt_bool("keepdims", false, rank == 2 ? "keep the output as (1, 1, c)" : "keep the output as (1, c)")};
    s.make = [max, rank](const LayerOptions& o) -> std::unique_ptr<Layer> {
        return std::make_unique<GlobalPool>(max, rank, o.flag("keepdims"));
    };
    return s;
}

}  // namespace nnctl
