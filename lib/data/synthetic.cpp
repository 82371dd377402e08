#include "core/rng.hpp"
#include "data/dataset.hpp"

namespace nnctl {

// Classification (the product brief's example): X uniform in [0,1) drawn row-major from stream
// `seed` (24-bit floats), labels uniform in [0, classes) from stream `seed + 1`.
// Regression: the same X; y = X·W + noise, W (features × outputs) uniform in [−1, 1) from stream
// `seed + 1`, noise normal(0, noise) from stream `seed + 2` — learnable, so examples converge.
Dataset make_synthetic(const DataSourceConfig& src) {
    Dataset d;
    const Eigen::Index n = src.samples, f = src.features;
    d.x.resize(n, f);
    Rng rx(src.seed);
    for (Eigen::Index i = 0; i < d.x.size(); ++i) d.x.data()[i] = rx.uniform24();
    for (Eigen::Index j = 0; j < f; ++j) d.feature_names.push_back("x" + std::to_string(j));
    if (src.task == "classification") {
        Rng ry(src.seed + 1);
        d.num_classes = int(src.classes);
        d.labels.resize(size_t(n));
        for (auto& l : d.labels) l = ry.below(int(src.classes));
        for (int c = 0; c < d.num_classes; ++c) d.class_names.push_back(std::to_string(c));
    } else {
        Rng rw(src.seed + 1), rn(src.seed + 2);
        Matrix w(f, src.outputs);
        for (Eigen::Index i = 0; i < w.size(); ++i) w.data()[i] = float(2.0 * rw.uniform() - 1.0);
        d.y = d.x * w;
        for (Eigen::Index i = 0; i < d.y.size(); ++i) d.y.data()[i] += float(src.noise * rn.normal());
    }
    return d;
}

}  // namespace nnctl
