#include "layers/pool.hpp"

#include <algorithm>
#include <limits>

#include "core/error.hpp"
#include "core/parallel.hpp"

namespace nnctl {

namespace {
/// Samples per parallel chunk: enough work to be worth a thread, independent of the thread count.
int64_t chunk_of(int64_t per_sample) { return std::max<int64_t>(1, 65536 / std::max<int64_t>(1, per_sample)); }

/// o[i] = max(o[i], v[i]), remembering in t[i] the position of the first maximum (NaN inputs are
/// passed over). Positions are kept as floats (exact below 2^24) so the loop vectorizes as blends.
void max_into(float* __restrict o, float* __restrict t, const float* __restrict v, float pos, int64_t c) {
    for (int64_t i = 0; i < c; ++i) {
        const bool more = v[i] > o[i];
        o[i] = more ? v[i] : o[i];
        t[i] = more ? pos : t[i];
    }
}
void add_into(float* __restrict o, const float* __restrict v, int64_t c) {
    for (int64_t i = 0; i < c; ++i) o[i] += v[i];
}
void add_scaled(float* __restrict d, const float* __restrict g, float k, int64_t c) {
    for (int64_t i = 0; i < c; ++i) d[i] += g[i] * k;
}
/// The gradient of each window's maximum goes to the input it came from (position `pos` here).
void route_max_add(float* __restrict d, const float* __restrict t, float pos, const float* __restrict g, int64_t c) {
    for (int64_t i = 0; i < c; ++i) d[i] += t[i] == pos ? g[i] : 0.0f;
}

/// Max pooling over windows that tile one sample without overlap (strides = pool_size, valid):
/// y and t (the tap i·kw + j of each maximum) for every output, one pass over the input rows.
void max_tiles(const Window& w, const float* __restrict x, float* __restrict y, float* __restrict t) {
    const int64_t c = w.channels, row = w.in_w * c;
    for (int64_t oh = 0; oh < w.out_h; ++oh)
        for (int64_t ow = 0; ow < w.out_w; ++ow) {
            float* __restrict o = y + (oh * w.out_w + ow) * c;
            float* __restrict ot = t + (oh * w.out_w + ow) * c;
            const float* base = x + oh * w.kh * row + ow * w.kw * c;
            if (w.kh == 2 && w.kw == 2) {  // the usual case, all in registers: pure selects vectorize
                const float *__restrict a = base, *__restrict b = base + c, *__restrict p = base + row,
                                                 *__restrict q = base + row + c;
                for (int64_t ch = 0; ch < c; ++ch) {
                    // Strict comparisons: a tie goes to the earlier tap, as a scan in order keeps it.
                    const bool top = b[ch] > a[ch], bottom = q[ch] > p[ch];
                    const float m1 = top ? b[ch] : a[ch], m2 = bottom ? q[ch] : p[ch];
                    const float t1 = top ? 1.0f : 0.0f, t2 = bottom ? 3.0f : 2.0f;
                    const bool second = m2 > m1;
                    o[ch] = second ? m2 : m1;
                    ot[ch] = second ? t2 : t1;
                }
                continue;
            }
            for (int64_t ch = 0; ch < c; ++ch) o[ch] = base[ch], ot[ch] = 0.0f;
            for (int64_t i = 0; i < w.kh; ++i)
                for (int64_t j = i == 0 ? 1 : 0; j < w.kw; ++j) {
                    const float* __restrict v = base + i * row + j * c;
                    const float tap = float(i * w.kw + j);
                    for (int64_t ch = 0; ch < c; ++ch) {
                        const bool more = v[ch] > o[ch];
                        o[ch] = more ? v[ch] : o[ch];
                        ot[ch] = more ? tap : ot[ch];
                    }
                }
        }
}

/// The adjoint of max_tiles: each input gets its window's gradient where it was the maximum, else
/// 0 (written, not added: no zeroing pass first); rows and columns past the last window get 0.
template <bool Gated>
void max_tiles_backward(const Window& w, const float* __restrict t, const float* __restrict g, const float* __restrict m,
                        float* __restrict d) {
    const int64_t c = w.channels, row = w.in_w * c;
    for (int64_t oh = 0; oh < w.out_h; ++oh) {
        for (int64_t i = 0; i < w.kh; ++i) {
            float* __restrict dr = d + (oh * w.kh + i) * row;
            for (int64_t ow = 0; ow < w.out_w; ++ow) {
                const int64_t o = (oh * w.out_w + ow) * c;
                const float* __restrict gt = t + o;
                const float* __restrict gg = g + o;
                const float* __restrict gm = m + (Gated ? o : 0);
                for (int64_t j = 0; j < w.kw; ++j) {
                    float* __restrict di = dr + (ow * w.kw + j) * c;
                    const float tap = float(i * w.kw + j);
                    for (int64_t ch = 0; ch < c; ++ch) {
                        const bool on = gt[ch] == tap && (!Gated || gm[ch] > 0.0f);
                        di[ch] = on ? gg[ch] : 0.0f;
                    }
                }
            }
            std::fill(dr + w.out_w * w.kw * c, dr + row, 0.0f);
        }
    }
    std::fill(d + w.out_h * w.kh * row, d + w.in_h * row, 0.0f);
}

template <class F>
void over_samples(int64_t batch, int64_t per_sample, F&& f) {
    const int64_t per = chunk_of(per_sample), chunks = (batch + per - 1) / per;
    parallel_for(chunks, [&](int64_t c) {
        for (int64_t s = c * per, e = std::min(batch, s + per); s < e; ++s) f(s);
    });
}
}  // namespace

void Pool::pool_sample(const float* x, float* y, int64_t s) { max_tiles(win_, x, y, tap_.data() + s * tap_.cols()); }

void Pool::unpool_sample(int64_t s, const float* g, const float* gate, float* d) const {
    const float* t = tap_.data() + s * tap_.cols();
    if (gate) max_tiles_backward<true>(win_, t, g, gate, d);
    else max_tiles_backward<false>(win_, t, g, nullptr, d);
}

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
    if (opt_.max) tap_.resize(batch, out_size);
    over_samples(batch, win_.in_size(), [&](int64_t s) {
        const float* xs = x.data() + s * x.outerStride();
        float* ys = y.data() + s * out_size;
        float* ts = opt_.max ? tap_.data() + s * out_size : nullptr;
        if (tiles()) return max_tiles(win_, xs, ys, ts);
        for (int64_t oh = 0; oh < win_.out_h; ++oh)
            for (int64_t ow = 0; ow < win_.out_w; ++ow) {
                const int64_t at = (oh * win_.out_w + ow) * c;
                float* o = ys + at;
                const int64_t h0 = std::max<int64_t>(0, oh * win_.sh - win_.pad_t);
                const int64_t h1 = std::min(win_.in_h, oh * win_.sh - win_.pad_t + win_.kh);
                const int64_t w0 = std::max<int64_t>(0, ow * win_.sw - win_.pad_l);
                const int64_t w1 = std::min(win_.in_w, ow * win_.sw - win_.pad_l + win_.kw);
                if (opt_.max) {
                    std::fill(o, o + c, -std::numeric_limits<float>::infinity());
                    std::fill(ts + at, ts + at + c, float(h0 * win_.in_w + w0));
                    for (int64_t ih = h0; ih < h1; ++ih)
                        for (int64_t iw = w0; iw < w1; ++iw)
                            max_into(o, ts + at, xs + (ih * win_.in_w + iw) * c, float(ih * win_.in_w + iw), c);
                    continue;
                }
                std::fill(o, o + c, 0.0f);
                for (int64_t ih = h0; ih < h1; ++ih)
                    for (int64_t iw = w0; iw < w1; ++iw) add_into(o, xs + (ih * win_.in_w + iw) * c, c);
                const float inv = 1.0f / float((h1 - h0) * (w1 - w0));
                for (int64_t ch = 0; ch < c; ++ch) o[ch] *= inv;
            }
    });
}

void Pool::backward(const ConstView& x, const ConstView&, const ConstView& dy, Matrix* dx) {
    if (!dx) return;
    const int64_t batch = x.rows(), c = win_.channels, out_size = win_.positions() * c;
    // Windows that tile the input without overlap (strides = pool_size, valid) write each input
    // gradient once: no zeroing pass over dx first (it is the largest buffer of a CNN's backward).
    if (tiles()) dx->resize(batch, win_.in_size());
    else dx->setZero(batch, win_.in_size());
    over_samples(batch, win_.in_size(), [&](int64_t s) {
        const float* g = dy.data() + s * dy.outerStride();
        float* d = dx->data() + s * dx->cols();
        const float* ts = opt_.max ? tap_.data() + s * out_size : nullptr;
        if (tiles()) return unpool_sample(s, g, nullptr, d);
        for (int64_t oh = 0; oh < win_.out_h; ++oh)
            for (int64_t ow = 0; ow < win_.out_w; ++ow) {
                const int64_t at = (oh * win_.out_w + ow) * c;
                const float* go = g + at;
                const int64_t h0 = std::max<int64_t>(0, oh * win_.sh - win_.pad_t);
                const int64_t h1 = std::min(win_.in_h, oh * win_.sh - win_.pad_t + win_.kh);
                const int64_t w0 = std::max<int64_t>(0, ow * win_.sw - win_.pad_l);
                const int64_t w1 = std::min(win_.in_w, ow * win_.sw - win_.pad_l + win_.kw);
                const float inv = 1.0f / float((h1 - h0) * (w1 - w0));
                for (int64_t ih = h0; ih < h1; ++ih)
                    for (int64_t iw = w0; iw < w1; ++iw) {
                        float* di = d + (ih * win_.in_w + iw) * c;
                        const float tap = float(ih * win_.in_w + iw);
                        if (opt_.max) route_max_add(di, ts + at, tap, go, c);
                        else add_scaled(di, go, inv, c);
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

void GlobalPool::forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) {
    const int64_t batch = x.rows(), c = channels_;
    mask_ = rank_ == 1 && ctx.mask && ctx.mask->cols() == positions_ ? ctx.mask : nullptr;
    y.resize(batch, c);
    if (max_) argmax_.resize(size_t(batch * c));
    over_samples(batch, positions_ * c, [&](int64_t s) {
        const float* xs = x.data() + s * x.outerStride();
        const float* m = mask_ ? mask_->data() + s * positions_ : nullptr;
        float* o = y.data() + s * c;
        if (max_) {
            int32_t* a = argmax_.data() + s * c;
            bool any = false;
            for (int64_t p = 0; p < positions_; ++p) {
                if (m && m[p] == 0.0f) continue;  // padding
                for (int64_t ch = 0; ch < c; ++ch)
                    if (!any || xs[p * c + ch] > o[ch]) o[ch] = xs[p * c + ch], a[ch] = int32_t(p * c + ch);
                any = true;
            }
            if (!any)  // every step padded: 0, with no gradient
                for (int64_t ch = 0; ch < c; ++ch) o[ch] = 0.0f, a[ch] = -1;
        } else {
            std::fill(o, o + c, 0.0f);
            int64_t count = 0;
            for (int64_t p = 0; p < positions_; ++p) {
                if (m && m[p] == 0.0f) continue;
                ++count;
                for (int64_t ch = 0; ch < c; ++ch) o[ch] += xs[p * c + ch];
            }
            const float inv = count ? 1.0f / float(count) : 0.0f;
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
            for (int64_t ch = 0; ch < c; ++ch)
                if (a[ch] >= 0) d[a[ch]] += g[ch];
            return;
        }
        const float* m = mask_ ? mask_->data() + s * positions_ : nullptr;
        int64_t count = positions_;
        if (m) {
            count = 0;
            for (int64_t p = 0; p < positions_; ++p) count += m[p] != 0.0f;
        }
        const float inv = count ? 1.0f / float(count) : 0.0f;
        for (int64_t p = 0; p < positions_; ++p) {
            if (m && m[p] == 0.0f) continue;
            for (int64_t ch = 0; ch < c; ++ch) d[p * c + ch] = g[ch] * inv;
        }
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
