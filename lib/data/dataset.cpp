#include "data/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.hpp"
#include "core/limits.hpp"
#include "core/rng.hpp"
#include "data/text.hpp"
#include "data/timeseries.hpp"

namespace nnctl {

Dataset Dataset::subset(const std::vector<int>& idx) const {
    Dataset d;
    d.num_classes = num_classes;
    d.class_names = class_names;
    d.feature_names = feature_names;
    d.shape = shape;
    d.x.resize(Eigen::Index(idx.size()), x.cols());
    for (size_t i = 0; i < idx.size(); ++i) d.x.row(Eigen::Index(i)) = x.row(idx[i]);
    // The targets: this set's own, and each output's (whose x is empty).
    auto targets_of = [&](const Dataset& from, Dataset& to) {
        if (from.is_classification()) {
            to.labels.resize(idx.size());
            for (size_t i = 0; i < idx.size(); ++i) to.labels[i] = from.labels[size_t(idx[i])];
        } else if (from.y.rows() > 0) {
            to.y.resize(Eigen::Index(idx.size()), from.y.cols());
            for (size_t i = 0; i < idx.size(); ++i) to.y.row(Eigen::Index(i)) = from.y.row(idx[i]);
        }
    };
    targets_of(*this, d);
    for (const Dataset& t : targets) {
        Dataset part;
        part.num_classes = t.num_classes;
        part.class_names = t.class_names;
        targets_of(t, part);
        d.targets.push_back(std::move(part));
    }
    return d;
}

std::vector<int> kept_rows(int n, const DataSourceConfig& src, uint64_t seed) {
    std::vector<int> idx(static_cast<size_t>(n));
    std::iota(idx.begin(), idx.end(), 0);
    if (src.max_samples > 0 && src.max_samples < n) {
        idx.resize(size_t(src.max_samples));
    } else if (src.take > 0 && src.take < n) {
        Rng rng(seed);
        idx = permutation(n, rng);
        idx.resize(size_t(src.take));
        std::sort(idx.begin(), idx.end());  // keep the file's order
    }
    return idx;
}

void limit_rows(Dataset& d, const DataSourceConfig& src, uint64_t seed) {
    const int n = int(d.size());
    if ((src.max_samples > 0 && src.max_samples < n) || (src.take > 0 && src.take < n)) d = d.subset(kept_rows(n, src, seed));
}

std::vector<int> split_off(std::vector<int>& rows, double frac, bool shuffle, uint64_t seed, const char* what) {
    const int n = int(rows.size());
    const int k = int(std::floor(double(n) * frac));
    if (k <= 0 || k >= n)
        throw ConfigError(std::string("data.") + what + "_split " + std::to_string(frac) + " leaves " +
                          std::to_string(n - k) + " of " + std::to_string(n) + " rows for training and " +
                          std::to_string(k) + " for " + what);
    std::vector<int> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    if (shuffle) {
        Rng rng(seed);
        order = permutation(n, rng);
    }
    std::vector<int> keep, held;
    for (int i = 0; i < n; ++i) (i < n - k ? keep : held).push_back(rows[size_t(order[size_t(i)])]);
    rows = std::move(keep);
    return held;
}

void keep_classes(Dataset& d, const DataSourceConfig& src) {
    if (!d.is_classification())
        throw ConfigError(src.where + ": keep_classes needs class labels (the source has numeric targets)");
    std::vector<int> to(d.class_names.size(), -1);
    std::vector<std::string> names;
    for (size_t k = 0; k < src.keep_classes.size(); ++k) {
        const std::string& c = src.keep_classes[k];
        int idx = -1;
        for (size_t j = 0; j < d.class_names.size(); ++j)
            if (d.class_names[j] == c) idx = int(j);
        double v;
        if (idx < 0 && parse_number(c, v) && v >= 0 && v == std::floor(v) && v < double(d.class_names.size())) idx = int(v);
        if (idx < 0) {
            std::string have;
            for (const auto& n : d.class_names) have += (have.empty() ? "" : ", ") + n;
            throw ConfigError(src.where + ": keep_classes: '" + c + "' is not a class of the data (" + have +
                              "; or an index 0.." + std::to_string(d.class_names.size() - 1) + ")");
        }
        if (to[size_t(idx)] >= 0) throw ConfigError(src.where + ": keep_classes: '" + c + "' is listed twice");
        to[size_t(idx)] = int(k);
        names.push_back(d.class_names[size_t(idx)]);
    }
    std::vector<int> rows;
    for (size_t i = 0; i < d.labels.size(); ++i)
        if (to[size_t(d.labels[i])] >= 0) rows.push_back(int(i));
    if (rows.empty()) throw DataError(src.where + ": keep_classes leaves no rows");
    d = d.subset(rows);
    for (auto& l : d.labels) l = to[size_t(l)];
    d.class_names = names;
    d.num_classes = int(names.size());
}

Dataset load_source(const DataSourceConfig& src, bool want_classes, const DataSchema* fitted, DataSchema* fit_out,
                    uint64_t seed) {
    Dataset d;
    if (src.format == "synthetic") d = make_synthetic(src);
    else if (src.format == "csv") d = load_csv(src, want_classes, fitted, fit_out);
    else if (src.format == "idx") d = load_idx(src, want_classes);
    else if (src.format == "npy") d = load_npy(src, want_classes);
    else if (src.format == "image_folder") d = load_image_folder(src);
    else if (src.format == "timeseries")
        throw ConfigError(src.where + ": a timeseries source is windowed as a whole series (data.train)");
    else if (src.format == "text")
        throw ConfigError(src.where + ": a text source is vectorized with a vocabulary fitted on a text training source");
    else throw ConfigError(src.where + ": data format '" + src.format + "' is not supported");
    if (d.size() == 0) throw DataError(src.where + ": the data source has no rows");
    // A NaN or infinity in the data is the data's fault: said here, naming the file and the element,
    // rather than found later as a diverged training run. (CSV sources check their fields as they parse.)
    auto finite = [&](const Matrix& m, const std::string& file, const char* what) {
        for (Eigen::Index i = 0; i < m.size(); ++i)
            if (!std::isfinite(m.data()[i])) {
                const Eigen::Index r = i / m.cols(), c = i % m.cols();
                const float v = m.data()[i];
                throw DataError(file + ": " + what + " element " + std::to_string(i) + " (row " + std::to_string(r + 1) +
                                ", column " + std::to_string(c + 1) + ") is " + (std::isnan(v) ? "NaN" : v > 0 ? "+inf" : "-inf") +
                                ": the data holds a non-finite value (" + src.where + ")");
            }
    };
    const std::string xfile = src.format == "npy" ? src.features_path : src.path;
    finite(d.x, xfile.empty() ? src.where : xfile, "feature");
    if (src.format == "npy" && d.labels.empty()) finite(d.y, src.targets_path, "target");
    if (!src.keep_classes.empty()) keep_classes(d, src);
    limit_rows(d, src, seed);
    if (fit_out && src.format != "csv") {  // CSV fits its own schema (columns, categories)
        DataSchema s;
        s.format = src.format;
        s.width = d.x.cols();
        s.feature_names = d.feature_names;
        s.task = d.is_classification() ? "classification" : "regression";
        s.class_names = d.class_names;
        s.outputs = d.is_classification() ? 0 : d.y.cols();
        *fit_out = s;
    }
    return d;
}

namespace {
/// Split off `frac` of `from` (the last rows of a seeded shuffle, or the last rows in order).
Dataset carve(Dataset& from, double frac, bool shuffle, uint64_t seed, const char* what) {
    std::vector<int> keep(static_cast<size_t>(from.size()));
    std::iota(keep.begin(), keep.end(), 0);
    std::vector<int> held = split_off(keep, frac, shuffle, seed, what);
    Dataset out = from.subset(held);
    from = from.subset(keep);
    return out;
}

void check_compatible(const Dataset& train, const Dataset& other, const DataSourceConfig& src) {
    if (other.x.cols() != train.x.cols())
        throw DataError(src.where + ": has " + std::to_string(other.x.cols()) + " features, the training data " +
                        std::to_string(train.x.cols()));
    if (train.is_classification() != other.is_classification())
        throw DataError(src.where + ": target kind (classes or values) differs from the training data");
}

/// Give `d` the training data's class indices (sources other than CSV each number their own).
void align_classes(Dataset& d, const Dataset& train) {
    if (!d.is_classification() || d.size() == 0 || d.class_names == train.class_names) return;
    std::vector<int> map(d.class_names.size(), -1);
    for (size_t i = 0; i < d.class_names.size(); ++i)
        for (size_t j = 0; j < train.class_names.size(); ++j)
            if (d.class_names[i] == train.class_names[j]) map[i] = int(j);
    std::vector<bool> used(d.class_names.size(), false);
    for (int l : d.labels) used[size_t(l)] = true;
    for (size_t i = 0; i < map.size(); ++i)
        if (map[i] < 0 && used[i]) throw DataError("class " + quote_input(d.class_names[i]) + " does not occur in the training data");
    for (auto& l : d.labels) l = map[size_t(l)];
    d.class_names = train.class_names;
    d.num_classes = train.num_classes;
}
}  // namespace

DataSplits load_data(const DataConfig& cfg, bool want_classes, uint64_t seed) {
    set_read_limits(cfg.limits);  // every reader below checks them
    if (cfg.train.format == "timeseries") return load_timeseries_data(cfg, want_classes);  // split by time, unseeded
    if (cfg.train.format == "text") return load_text_data(cfg, want_classes, seed);  // vocabulary fitted after the splits
    DataSplits s;
    s.train = load_source(cfg.train, want_classes, nullptr, &s.schema, Rng::derive(seed, 11));
    if (cfg.test) {
        s.test = load_source(*cfg.test, want_classes, cfg.test->format == "csv" ? &s.schema : nullptr, nullptr,
                             Rng::derive(seed, 12));
        check_compatible(s.train, s.test, *cfg.test);
    } else if (cfg.test_split > 0.0) {
        s.test = carve(s.train, cfg.test_split, cfg.split_shuffle, Rng::derive(seed, 7), "test");
    }
    if (cfg.validation) {
        s.validation = load_source(*cfg.validation, want_classes,
                                   cfg.validation->format == "csv" ? &s.schema : nullptr, nullptr,
                                   Rng::derive(seed, 13));
        check_compatible(s.train, s.validation, *cfg.validation);
    } else if (cfg.validation_split > 0.0) {
        s.validation = carve(s.train, cfg.validation_split, cfg.split_shuffle, Rng::derive(seed, 8), "validation");
    }
    align_classes(s.validation, s.train);
    align_classes(s.test, s.train);
    // Preprocessing: fitted on the training rows only (after the splits), applied to every split.
    s.schema.scaling.kind = cfg.preprocess;
    s.schema.scaling.rescale = cfg.rescale;
    if (s.schema.scaling.active()) {
        fit_scaling(s.schema.scaling, s.train.x);
        apply_scaling(s.schema.scaling, s.train.x);
        if (s.validation.size()) apply_scaling(s.schema.scaling, s.validation.x);
        if (s.test.size()) apply_scaling(s.schema.scaling, s.test.x);
    }
    return s;
}

}  // namespace nnctl
