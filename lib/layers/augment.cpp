#include "layers/augment.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "layers/window.hpp"

namespace nnctl {

namespace {
constexpr double kPi = 3.14159265358979323846;

/// A pixel index outside [0, n) mapped back as the fill mode says; −1 means "use fill_value".
int64_t fill_index(int64_t i, int64_t n, const std::string& mode) {
    if (i >= 0 && i < n) return i;
    if (mode == "constant") return -1;
    if (mode == "nearest") return i < 0 ? 0 : n - 1;
    if (n == 1) return 0;
    if (mode == "wrap") return ((i % n) + n) % n;
    // reflect, as TensorFlow: (d c b a | a b c d | d c b a), the edge pixel repeated.
    const int64_t period = 2 * n;
    int64_t k = ((i % period) + period) % period;
    return k < n ? k : period - 1 - k;
}

/// Up to four (input pixel, weight) pairs that make one output pixel.
struct Taps {
    int64_t at[4];
    double w[4];
    int n = 0;
};

Taps taps_at(double xi, double yi, int64_t h, int64_t w, const std::string& fill, bool bilinear) {
    Taps t;
    auto add = [&](int64_t x, int64_t y, double weight) {
        if (weight == 0.0) return;
        const int64_t fx = fill_index(x, w, fill), fy = fill_index(y, h, fill);
        t.at[t.n] = (fx < 0 || fy < 0) ? -1 : fy * w + fx;
        t.w[t.n++] = weight;
    };
    if (!bilinear) {
        add(int64_t(std::floor(xi + 0.5)), int64_t(std::floor(yi + 0.5)), 1.0);
        return t;
    }
    const double x0 = std::floor(xi), y0 = std::floor(yi), fx = xi - x0, fy = yi - y0;
    const int64_t ix = int64_t(x0), iy = int64_t(y0);
    add(ix, iy, (1 - fx) * (1 - fy));
    add(ix + 1, iy, fx * (1 - fy));
    add(ix, iy + 1, (1 - fx) * fy);
    add(ix + 1, iy + 1, fx * fy);
    return t;
}

double uniform_in(Rng& rng, const std::array<double, 2>& r) { return r[0] + (r[1] - r[0]) * rng.uniform(); }
}  // namespace

std::string Augment::type() const {
    switch (opt_.kind) {
        case Kind::Flip: return "random_flip";
        case Kind::Translation: return "random_translation";
        case Kind::Rotation: return "random_rotation";
        case Kind::Zoom: return "random_zoom";
        case Kind::Contrast: return "random_contrast";
    }
    return "";
}

Shape Augment::build(const Shape& input, Rng&) {
    spatial_dims(type(), input, 2, h_, w_, c_);
    shape_ = input;
    return shape_;
}

Augment::Affine Augment::draw(Rng& rng) const {
    const double cx = double(w_ - 1) / 2, cy = double(h_ - 1) / 2;
    Affine a{1, 0, 0, 0, 1, 0};
    switch (opt_.kind) {
        case Kind::Flip: {
            const bool both = opt_.mode == "horizontal_and_vertical";
            if ((both || opt_.mode == "horizontal") && rng.uniform() < 0.5) a[0] = -1, a[2] = double(w_ - 1);
            if ((both || opt_.mode == "vertical") && rng.uniform() < 0.5) a[4] = -1, a[5] = double(h_ - 1);
            break;
        }
        case Kind::Translation: {  // positive: content moves down / right
            const double dy = uniform_in(rng, opt_.height) * double(h_), dx = uniform_in(rng, opt_.width) * double(w_);
            a[2] = -dx, a[5] = -dy;
            break;
        }
        case Kind::Rotation: {  // a fraction of a full turn; positive: counter-clockwise
            const double t = uniform_in(rng, opt_.height) * 2 * kPi, c = std::cos(t), s = std::sin(t);
            // input − centre = R · (output − centre), in image coordinates (row axis pointing down).
            a = {c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy};
            break;
        }
        case Kind::Zoom: {  // positive: zoom out (a wider part of the input fills the output)
            const double zy = 1 + uniform_in(rng, opt_.height);
            const double zx = opt_.width_given ? 1 + uniform_in(rng, opt_.width) : zy;
            a = {zx, 0, cx - zx * cx, 0, zy, cy - zy * cy};
            break;
        }
        case Kind::Contrast: break;
    }
    return a;
}

void Augment::forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) {
    last_training_ = ctx.training;
    if (!ctx.training) {
        y = x;
        return;
    }
    if (!ctx.rng) throw Error(type() + ": training forward pass without a random generator");
    const int64_t batch = x.rows(), pixels = h_ * w_, c = c_;
    const SampleStreams streams(ctx);
    y.resize(batch, x.cols());
    if (opt_.kind == Kind::Contrast) {
        factors_.resize(size_t(batch));
        means_.resize(batch, c);
        const float lo = float(opt_.value_range[0]), hi = float(opt_.value_range[1]);
        for (int64_t s = 0; s < batch; ++s) {
            Rng rng = streams(s);
            const double f = factors_[size_t(s)] = uniform_in(rng, opt_.height);
            const float* in = x.data() + s * x.outerStride();
            float* out = y.data() + s * y.cols();
            for (int64_t ch = 0; ch < c; ++ch) {
                double m = 0;
                for (int64_t p = 0; p < pixels; ++p) m += in[p * c + ch];
                m /= double(pixels);
                means_(s, ch) = float(m);
                for (int64_t p = 0; p < pixels; ++p)
                    out[p * c + ch] = std::clamp(float((in[p * c + ch] - m) * f + m), lo, hi);
            }
        }
        return;
    }
    maps_.resize(size_t(batch));
    const bool bilinear = opt_.interpolation == "bilinear";
    const float fill = float(opt_.fill_value);
    for (int64_t s = 0; s < batch; ++s) {
        Rng rng = streams(s);
        const Affine a = maps_[size_t(s)] = draw(rng);
        const float* in = x.data() + s * x.outerStride();
        float* out = y.data() + s * y.cols();
        for (int64_t row = 0; row < h_; ++row)
            for (int64_t col = 0; col < w_; ++col) {
                const Taps t = taps_at(a[0] * double(col) + a[1] * double(row) + a[2],
                                       a[3] * double(col) + a[4] * double(row) + a[5], h_, w_, opt_.fill_mode, bilinear);
                float* o = out + (row * w_ + col) * c;
                for (int64_t ch = 0; ch < c; ++ch) {
                    double v = 0;
                    for (int k = 0; k < t.n; ++k) v += t.w[k] * (t.at[k] < 0 ? fill : in[t.at[k] * c + ch]);
                    o[ch] = float(v);
                }
            }
    }
}

void Augment::backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) {
    if (!dx) return;
    if (!last_training_) {
        *dx = dy;
        return;
    }
    const int64_t batch = dy.rows(), pixels = h_ * w_, c = c_;
    if (opt_.kind == Kind::Contrast) {
        dx->resize(batch, dy.cols());
        const float lo = float(opt_.value_range[0]), hi = float(opt_.value_range[1]);
        for (int64_t s = 0; s < batch; ++s) {
            const double f = factors_[size_t(s)];
            const float* in = x.data() + s * x.outerStride();
            const float* g = dy.data() + s * dy.outerStride();
            float* d = dx->data() + s * dx->cols();
            for (int64_t ch = 0; ch < c; ++ch) {
                // y = clip(f·x + (1 − f)·mean): where not clipped, dy reaches x directly and via the mean.
                double through_mean = 0;
                for (int64_t p = 0; p < pixels; ++p) {
                    const double v = (in[p * c + ch] - means_(s, ch)) * f + means_(s, ch);
                    if (v >= lo && v <= hi) through_mean += g[p * c + ch];
                }
                through_mean *= (1 - f) / double(pixels);
                for (int64_t p = 0; p < pixels; ++p) {
                    const double v = (in[p * c + ch] - means_(s, ch)) * f + means_(s, ch);
                    d[p * c + ch] = float(((v >= lo && v <= hi) ? f * g[p * c + ch] : 0.0) + through_mean);
                }
            }
        }
        (void)y;
        return;
    }
    dx->setZero(batch, dy.cols());
    const bool bilinear = opt_.interpolation == "bilinear";
    for (int64_t s = 0; s < batch; ++s) {
        const Affine& a = maps_[size_t(s)];
        const float* g = dy.data() + s * dy.outerStride();
        float* d = dx->data() + s * dx->cols();
        for (int64_t row = 0; row < h_; ++row)
            for (int64_t col = 0; col < w_; ++col) {
                const Taps t = taps_at(a[0] * double(col) + a[1] * double(row) + a[2],
                                       a[3] * double(col) + a[4] * double(row) + a[5], h_, w_, opt_.fill_mode, bilinear);
                const float* go = g + (row * w_ + col) * c;
                for (int k = 0; k < t.n; ++k) {
                    if (t.at[k] < 0) continue;
                    float* di = d + t.at[k] * c;
                    for (int64_t ch = 0; ch < c; ++ch) di[ch] += float(t.w[k]) * go[ch];
                }
            }
    }
}

namespace {
/// A Keras factor: f alone means [−f, f]; [lower, upper] as given.
std::array<double, 2> factor_range(const std::vector<double>& v) {
    if (v.size() == 1) return {-std::fabs(v[0]), std::fabs(v[0])};
    return {v[0], v[1]};
}

std::vector<OptionProblem> check_range(const LayerOptions& o, const std::string& key) {
    std::vector<OptionProblem> p;
    const auto& v = o.numbers(key);
    if (v.size() == 2 && v[0] > v[1]) p.push_back({key, "the lower bound exceeds the upper bound"});
    return p;
}

std::vector<OptionSpec> resample_options() {
    return {
        opt_choice("fill_mode", "reflect", {"reflect", "wrap", "nearest", "constant"},
                   "points outside the image: reflect (d c b a | a b c d), wrap, nearest edge, or fill_value"),
        opt_choice("interpolation", "bilinear", {"bilinear", "nearest"}, "how pixels between grid points are read"),
        opt_number("fill_value", 0.0, "the value outside the image with fill_mode: constant"),
    };
}

void read_resample(const LayerOptions& o, Augment::Options& a) {
    a.fill_mode = o.text("fill_mode");
    a.interpolation = o.text("interpolation");
    a.fill_value = o.number("fill_value");
}
}  // namespace

LayerSchema Augment::schema(Kind kind) {
    LayerSchema s;
    std::vector<OptionSpec> resample = resample_options();
    switch (kind) {
        case Kind::Flip:
            s.type = "random_flip";
            s.doc = "Training only: flips each image left-right and/or up-down with probability 1/2";
            s.options = {opt_choice("mode", "horizontal_and_vertical", {"horizontal", "vertical", "horizontal_and_vertical"},
                                    "which flips may happen (each independently)")};
            s.make = [](const LayerOptions& o) -> std::unique_ptr<Layer> {
                Options a;
                a.kind = Kind::Flip;
                a.mode = o.text("mode");
                return std::make_unique<Augment>(a);
            };
            return s;
        case Kind::Translation:
            s.type = "random_translation";
            s.doc = "Training only: shifts each image by a random fraction of its height and width";
            s.options = {opt_numbers("height_factor", 2, {0}, "f: shift in [-f, f] of the height (positive: down), or [lower, upper]")
                             .needed("the vertical shift as a fraction of the height, e.g. 0.1")
                             .range(-1, 1),
                         opt_numbers("width_factor", 2, {0}, "f: shift in [-f, f] of the width (positive: right), or [lower, upper]")
                             .needed("the horizontal shift as a fraction of the width, e.g. 0.1")
                             .range(-1, 1)};
            s.options.insert(s.options.end(), resample.begin(), resample.end());
            s.check = [](const LayerOptions& o) {
                auto p = check_range(o, "height_factor");
                auto q = check_range(o, "width_factor");
                p.insert(p.end(), q.begin(), q.end());
                return p;
            };
            s.make = [](const LayerOptions& o) -> std::unique_ptr<Layer> {
                Options a;
                a.kind = Kind::Translation;
                a.height = factor_range(o.numbers("height_factor"));
                a.width = factor_range(o.numbers("width_factor"));
                read_resample(o, a);
                return std::make_unique<Augment>(a);
            };
            return s;
        case Kind::Rotation:
            s.type = "random_rotation";
            s.doc = "Training only: rotates each image by a random fraction of a full turn";
            s.options = {opt_numbers("factor", 2, {0}, "f: angle in [-f, f] x 2 pi (positive: counter-clockwise), or [lower, upper]")
                             .needed("the rotation as a fraction of a full turn, e.g. 0.05")
                             .range(-1, 1)};
            s.options.insert(s.options.end(), resample.begin(), resample.end());
            s.check = [](const LayerOptions& o) { return check_range(o, "factor"); };
            s.make = [](const LayerOptions& o) -> std::unique_ptr<Layer> {
                Options a;
                a.kind = Kind::Rotation;
                a.height = factor_range(o.numbers("factor"));
                read_resample(o, a);
                return std::make_unique<Augment>(a);
            };
            return s;
        case Kind::Zoom:
            s.type = "random_zoom";
            s.doc = "Training only: zooms each image in or out by a random factor";
            s.options = {opt_numbers("height_factor", 2, {0}, "f: zoom in [-f, f] (positive: zoom out), or [lower, upper]")
                             .needed("the zoom range, e.g. 0.1 or [-0.2, 0.1]")
                             .range(-1, 1, true, false),
                         opt_numbers("width_factor", 2, {0}, "as height_factor; null keeps the aspect ratio")
                             .or_null()
                             .range(-1, 1, true, false)};
            s.options.insert(s.options.end(), resample.begin(), resample.end());
            s.check = [](const LayerOptions& o) {
                auto p = check_range(o, "height_factor");
                if (!o.is_null("width_factor")) {
                    auto q = check_range(o, "width_factor");
                    p.insert(p.end(), q.begin(), q.end());
                }
                return p;
            };
            s.make = [](const LayerOptions& o) -> std::unique_ptr<Layer> {
                Options a;
                a.kind = Kind::Zoom;
                a.height = factor_range(o.numbers("height_factor"));
                a.width_given = !o.is_null("width_factor");
                if (a.width_given) a.width = factor_range(o.numbers("width_factor"));
                read_resample(o, a);
                return std::make_unique<Augment>(a);
            };
            return s;
        case Kind::Contrast:
            s.type = "random_contrast";
            s.doc = "Training only: scales each channel about its mean by a factor in [1 - lower, 1 + upper]";
            s.options = {opt_numbers("factor", 2, {0}, "f: contrast factor in [1 - f, 1 + f], or [lower, upper]")
                             .needed("the contrast range, e.g. 0.2")
                             .range(0, 1),
                         opt_numbers("value_range", 2, {0, 255}, "outputs are clipped to [low, high] (Keras: [0, 255]; "
                                                                  "[0, 1] for rescaled pixels)")};
            s.check = [](const LayerOptions& o) {
                std::vector<OptionProblem> p;
                if (o.numbers("value_range").size() != 2 || o.numbers("value_range")[0] >= o.numbers("value_range")[1])
                    p.push_back({"value_range", "expected [low, high] with low < high"});
                return p;
            };
            s.make = [](const LayerOptions& o) -> std::unique_ptr<Layer> {
                Options a;
                a.kind = Kind::Contrast;
                const auto& f = o.numbers("factor");
                const double lower = f[0], upper = f.size() == 2 ? f[1] : f[0];
                a.height = {1 - lower, 1 + upper};
                a.value_range = {o.numbers("value_range")[0], o.numbers("value_range")[1]};
                return std::make_unique<Augment>(a);
            };
            return s;
    }
    return s;
}

}  // namespace nnctl
