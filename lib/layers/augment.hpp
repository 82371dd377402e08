#pragma once
#include <array>
#include <vector>

#include "layers/layer.hpp"
#include "layers/options.hpp"

namespace nnctl {

/// Keras' image augmentation layers, active only in training (identity at inference) and drawn
/// per sample from the training random stream, so the same seed gives the same augmentations:
/// random_flip, random_translation, random_rotation and random_zoom resample each (h, w, c) image
/// through an affine map of its pixel grid (fill_mode reflect | wrap | nearest | constant,
/// interpolation bilinear | nearest, as Keras); random_contrast scales each channel about its mean.
class Augment : public Layer {
public:
    enum class Kind { Flip, Translation, Rotation, Zoom, Contrast };
    struct Options {
        Kind kind = Kind::Flip;
        std::string mode = "horizontal_and_vertical";  ///< flip
        std::array<double, 2> height{0, 0}, width{0, 0};  ///< translation/zoom ranges (lower, upper); rotation, contrast: height
        bool width_given = true;  ///< zoom: false keeps the aspect ratio (width zoom = height zoom)
        std::string fill_mode = "reflect";
        std::string interpolation = "bilinear";
        double fill_value = 0.0;
        std::array<double, 2> value_range{0, 255};  ///< contrast: outputs are clipped to it
    };
    explicit Augment(Options o) : opt_(std::move(o)) {}
    std::string type() const override;
    static LayerSchema schema(Kind kind);
    Shape build(const Shape& input, Rng& rng) override;
    Shape output_shape() const override { return shape_; }
    void forward(const ConstView& x, Matrix& y, const ForwardContext& ctx) override;
    void backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) override;
    std::unique_ptr<Layer> clone() const override { return std::make_unique<Augment>(*this); }

private:
    /// Input coordinates of output pixel (col, row): (a0·col + a1·row + a2, a3·col + a4·row + a5).
    using Affine = std::array<double, 6>;
    Affine draw(Rng& rng) const;
    Options opt_;
    Shape shape_;
    int64_t h_ = 1, w_ = 1, c_ = 1;
    bool last_training_ = false;
    std::vector<Affine> maps_;       // geometric kinds: per sample of the last training pass
    std::vector<double> factors_;    // contrast: per sample
    Matrix means_;                   // contrast: per sample and channel
};

}  // namespace nnctl
