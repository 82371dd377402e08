#include "regularizers/regularizer.hpp"

namespace nnctl {

const std::vector<std::string>& regularizer_names() {
    static const std::vector<std::string> names = {"l1", "l2", "l1_l2"};
    return names;
}

double RegularizerSpec::penalty(const ConstView& w) const {
    double p = 0.0;
    if (l1 != 0.0) p += l1 * double(w.cwiseAbs().sum());
    if (l2 != 0.0) p += l2 * double(w.squaredNorm());
    return p;
}

void RegularizerSpec::add_gradient(const ConstView& w, Matrix& g) const {
    if (l1 != 0.0) g.array() += float(l1) * w.array().sign();
    if (l2 != 0.0) g.array() += float(2.0 * l2) * w.array();
}

}  // namespace nnctl
