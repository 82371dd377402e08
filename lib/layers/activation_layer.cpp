#include "layers/activation_layer.hpp"

namespace nnctl {

void ActivationLayer::backward(const ConstView& x, const ConstView& y, const ConstView& dy, Matrix* dx) {
    if (dx) fn_.backward(x, y, dy, *dx);
}

}  // namespace nnctl
