#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace nnctl {

/// A file or standard input ("-"), gunzipped transparently when it is gzip data (by content, not
/// by name). Errors, including a truncated or corrupt gzip stream, are DataErrors naming the path,
/// and so is gzip data that expands more than read_limits().gzip_ratio times (past its first 16 MiB).
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
    /// Whether the data is gzip-compressed (known once something was read).
    bool compressed() const;
    /// Name for messages: the path, or "<stdin>".
    std::string display() const { return path_ == "-" ? "<stdin>" : path_; }

private:
    std::string path_;
    void* gz_ = nullptr;  // gzFile
    int pushback_ = -1;
    uint64_t out_ = 0;    // bytes handed out (decompressed), for the gzip ratio limit
};

/// The whole (decompressed) contents.
std::string read_input(const std::string& path);

}  // namespace nnctl
