#pragma once
#include <string>
#include <utility>
#include <vector>

namespace nnctl {

/// The images of a Keras-style folder: root/<class name>/*.png|jpg|jpeg|bmp. Classes are the
/// sub-folders' names, sorted; files are sorted within each class (hidden entries skipped).
struct ImageFolderListing {
    std::vector<std::string> class_names;
    std::vector<std::pair<std::string, int>> files;  ///< path and class index, class by class
};

/// Throws DataError when the folder is missing, has no class sub-folders or no images.
ImageFolderListing list_image_folder(const std::string& root);
/// Image files directly in `dir` (not recursive), sorted; for predict on a folder.
std::vector<std::string> list_images(const std::string& dir);
/// Names in `dir`, sorted, hidden ones (".x") skipped; DataError when it cannot be read.
std::vector<std::string> folder_entries(const std::string& dir);
bool is_directory(const std::string& path);
/// Sub-folders of `dir` (paths), sorted, hidden ones skipped.
std::vector<std::string> list_subfolders(const std::string& dir);

}  // namespace nnctl
