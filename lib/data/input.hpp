#pragma once
#include <cstddef>
#include <string>

namespace nnctl {

/// A file or standard input ("-"), gunzipped transparently when it is gzip data (by content, not
/// by name). Errors, including a truncated or corrupt gzip stream, are DataErrors naming the path.
class InputStream {
public:
    explicit InputStream(const std::string& path);
    ~InputStream();
    InputStream(const InputStream&) = delete;
    InputStream& operator=(const InputStream&) = delete;

    /// The next byte without consuming it, or −1 at the end.
    int peek_byte();
    /// Up to n bytes into buf; 0 at the end of the data.
    size_t read(char* buf, size_t n);
    /// Exactly n bytes, or a DataError saying what was being read ("header", "image 12", ...).
    void read_exact(char* buf, size_t n, const std::string& what);
    const std::string& path() const { return path_; }
    /// Name for messages: the path, or "<stdin>".
    std::string display() const { return path_ == "-" ? "<stdin>" : path_; }

private:
    std::string path_;
    void* gz_ = nullptr;  // gzFile
    int pushback_ = -1;
};

/// The whole (decompressed) contents.
std::string read_input(const std::string& path);

}  // namespace nnctl
