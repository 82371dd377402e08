#pragma once
#include <string>

namespace nnctl {

/// Write `bytes` to `path` atomically: a temporary file in the same directory, fsync, rename.
/// A reader (or a kill at any moment) sees either the old file or the new one, never a torn one.
/// Throws IoError naming the path on any failure, and leaves no temporary file behind.
void write_file_atomic(const std::string& path, const std::string& bytes);
/// Async-signal-safe: unlink the temporary file write_file_atomic is writing, if any (for a signal
/// handler about to _Exit: the target is untouched, and no half-written temporary is left behind).
void remove_pending_temp_file();

/// Whole file as bytes; throws DataError naming the path.
std::string read_file(const std::string& path);

/// mkdir -p; throws IoError.
void make_dirs(const std::string& path);

/// Whether anything (file, directory) exists at `path`.
bool path_exists(const std::string& path);

/// rm -r: remove `path` and everything under it; nothing when absent. Throws IoError.
void remove_tree(const std::string& path);

/// Create a fresh directory `base`, or `base-2`, `base-3`, ... if taken (atomic against parallel runs).
std::string make_unique_dir(const std::string& base);

}  // namespace nnctl
