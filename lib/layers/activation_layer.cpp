#include "layers/activation_layer.hpp"

namespace nnctl {

void ActivationLayer::backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) {
    if (dx) fn_.backward(x, y, dy, *dx);
}

}  // namespace nnctl

namespace nnctl {

LayerSchema ActivationLayer::schema() {
    LayerSchema s;
    s.type = "activation";
    s.doc = "Applies an activation function elementwise (softmax: over the last axis)";
    s.options = {opt_activation("activation", "linear", "the function").needed("e.g. relu")};
    s.make = [](const LayerOptions& o) -> std::unique_ptr<Layer> {
        return std::make_unique<ActivationLayer>(o.activation("activation"));
    };
    return s;
}

}  // namespace nnctl
