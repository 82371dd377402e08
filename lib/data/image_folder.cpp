#include "data/image_folder.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "core/error.hpp"
#include "core/fileio.hpp"
#include "core/parallel.hpp"
#include "data/dataset.hpp"
#include "data/image.hpp"

namespace nnctl {

bool is_directory(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::vector<std::string> folder_entries(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (!d) throw DataError(dir + ": cannot open the folder (" + std::strerror(errno) + ")");
    while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') out.emplace_back(e->d_name);
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}


std::vector<std::string> list_images(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& name : folder_entries(dir)) {
        const std::string p = dir + "/" + name;
        if (is_image_file(name) && !is_directory(p)) out.push_back(p);
    }
    return out;
}

std::vector<std::string> list_subfolders(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& name : folder_entries(dir))
        if (is_directory(dir + "/" + name)) out.push_back(dir + "/" + name);
    return out;
}

ImageFolderListing list_image_folder(const std::string& root) {
    if (!is_directory(root)) throw DataError(root + ": not a folder (an image_folder source is a folder with one sub-folder per class)");
    ImageFolderListing l;
    for (const auto& name : folder_entries(root))
        if (is_directory(root + "/" + name)) l.class_names.push_back(name);
    if (l.class_names.empty())
        throw DataError(root + ": no class sub-folders (expected " + root + "/<class name>/<image files>)");
    for (size_t c = 0; c < l.class_names.size(); ++c)
        for (const auto& f : list_images(root + "/" + l.class_names[c])) l.files.emplace_back(f, int(c));
    if (l.files.empty())
        throw DataError(root + ": no .png, .jpg, .jpeg or .bmp files in its " + std::to_string(l.class_names.size()) +
                        " class folders");
    return l;
}

Dataset load_image_folder(const DataSourceConfig& src) {
    ImageFolderListing l = list_image_folder(src.path);
    if (!src.class_names.empty()) {  // as Keras: the classes to use, in this order; each must be a sub-folder
        std::vector<int> to(l.class_names.size(), -1);
        for (size_t k = 0; k < src.class_names.size(); ++k) {
            auto it = std::find(l.class_names.begin(), l.class_names.end(), src.class_names[k]);
            if (it == l.class_names.end()) {
                std::string have;
                for (const auto& c : l.class_names) have += (have.empty() ? "" : ", ") + c;
                throw DataError(src.where + ": class_names: '" + src.class_names[k] + "' is not a sub-folder of " +
                                src.path + " (it has: " + have + ")");
            }
            to[size_t(it - l.class_names.begin())] = int(k);
        }
        std::vector<std::pair<std::string, int>> files;
        for (const auto& [f, c] : l.files)
            if (to[size_t(c)] >= 0) files.emplace_back(f, to[size_t(c)]);
        std::stable_sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
        l.files = std::move(files);
        l.class_names = src.class_names;
        if (l.files.empty()) throw DataError(src.path + ": the classes in class_names hold no images");
    }
    const int channels = src.color_mode == "grayscale" ? 1 : src.color_mode == "rgba" ? 4 : 3;
    const int64_t h = src.image_height, w = src.image_width, width = h * w * channels;
    const int64_t n = int64_t(l.files.size());
    Matrix x(n, width);
    std::vector<std::string> errors(static_cast<size_t>(n));
    std::atomic<bool> failed{false};
    // Decoding is most of the time: files spread over the threads, each row written by one.
    parallel_for(n, [&](int64_t i) {
        if (failed && src.on_error != "skip") return;
        const std::string& path = l.files[size_t(i)].first;
        try {
            Image img = decode_image(read_file(path), path, channels);
            resize_bilinear(img, h, w, x.row(i).data());
        } catch (const std::exception& e) {
            errors[size_t(i)] = e.what();
            failed = true;
        }
    });
    std::vector<int> keep;
    int64_t skipped = 0;
    std::string first;
    for (int64_t i = 0; i < n; ++i) {
        if (errors[size_t(i)].empty()) {
            keep.push_back(int(i));
            continue;
        }
        if (src.on_error != "skip") throw DataError(errors[size_t(i)] + " (on_error: skip passes over unreadable images)");
        if (first.empty()) first = errors[size_t(i)];
        ++skipped;
    }
    if (skipped)
        warn(src.path + ": skipped " + std::to_string(skipped) + " of " + std::to_string(n) +
             " images that could not be read (on_error: skip); the first: " + first);
    if (keep.empty()) throw DataError(src.path + ": none of the " + std::to_string(n) + " images could be read");
    Dataset d;
    std::vector<double> labels;
    for (int i : keep) labels.push_back(double(l.files[size_t(i)].second));
    if (int64_t(keep.size()) == n) {
        d.x = std::move(x);  // nothing skipped: no second copy of every image
    } else {
        d.x.resize(int64_t(keep.size()), width);
        for (size_t k = 0; k < keep.size(); ++k) d.x.row(int64_t(k)) = x.row(keep[k]);
    }
    d.shape = {h, w, channels};
    for (int64_t j = 0; j < width; ++j) d.feature_names.push_back("pixel" + std::to_string(j));
    labels_from_integers(d, labels, l.class_names, src.path);
    return d;
}

}  // namespace nnctl
