#include "layers/reshape.hpp"

#include "core/error.hpp"

namespace nnctl {

namespace {
std::string list_str(const Shape& s) {
    std::string t = "[";
    for (size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
    return t + "]";
}
}  // namespace

LayerSchema Reshape::flatten_schema() {
    LayerSchema s;
    s.type = "flatten";
    s.doc = "Flattens each sample to one axis: (h, w, c) → (h·w·c)";
    s.make = [](const LayerOptions&) -> std::unique_ptr<Layer> { return std::make_unique<Reshape>(Shape{}); };
    return s;
}

Shape Reshape::build(const Shape& input, Rng&) {
    const int64_t total = shape_size(input);
    if (target_.empty()) return out_ = {total};  // flatten
    int64_t known = 1;
    int infer = -1;
    for (size_t i = 0; i < target_.size(); ++i) {
        if (target_[i] == -1) {
            if (infer >= 0) throw ConfigError("reshape: only one entry of target_shape may be -1");
            infer = int(i);
        } else {
            known *= target_[i];
        }
    }
    out_ = target_;
    if (infer >= 0) {
        if (known == 0 || total % known != 0)
            throw ConfigError("reshape: cannot fit the input " + shape_str(input) + " (" + std::to_string(total) +
                              " values) into target_shape " + list_str(target_));
        out_[size_t(infer)] = total / known;
    }
    if (shape_size(out_) != total)
        throw ConfigError("reshape: target_shape " + list_str(target_) + " holds " + std::to_string(shape_size(out_)) +
                          " values per sample, the input " + shape_str(input) + " has " + std::to_string(total));
    return out_;
}

LayerSchema Reshape::schema() {
    LayerSchema s;
    s.type = "reshape";
    s.doc = "Reshapes each sample to target_shape (same values, row-major order)";
    s.options = {opt_int_list("target_shape", "the new per-sample shape; one entry may be -1 (inferred)")
                     .needed("the new per-sample shape, e.g. [28, 28, 1]")
                     .range(-1, 1 << 30)};
    s.check = [](const LayerOptions& o) {
        std::vector<OptionProblem> p;
        int minus = 0;
        for (auto d : o.ints("target_shape")) {
            if (d == 0) p.push_back({"target_shape", "entries must be at least 1 (or -1 for one inferred entry)"});
            minus += d == -1;
        }
        if (minus > 1) p.push_back({"target_shape", "only one entry may be -1"});
        return p;
    };
    s.make = [](const LayerOptions& o) -> std::unique_ptr<Layer> {
        Shape t;
        for (auto d : o.ints("target_shape")) t.push_back(d);
        return std::make_unique<Reshape>(t);
    };
    return s;
}

}  // namespace nnctl
