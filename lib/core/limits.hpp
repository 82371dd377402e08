#pragma once
#include <cstdint>
#include <string>

namespace nnctl {

/// What a data file may hold before it is refused (exit 3) rather than read: limits that a hostile
/// or damaged file cannot get around, checked while reading, so that memory stays bounded by the
/// limit and not by the input. The ones a legitimate large dataset could reach are config keys
/// (data.limits.*); the defaults leave room for any dataset these formats usually carry.
struct ReadLimits {
    int64_t line_bytes = int64_t(64) << 20;   ///< one CSV record / JSON line / text line
    int64_t field_bytes = int64_t(16) << 20;  ///< one CSV field
    int64_t columns = 1'000'000;               ///< fields in one CSV record
    double gzip_ratio = 500;                   ///< decompressed / compressed bytes, past the first 16 MiB
    int64_t image_pixels = int64_t(1) << 26;   ///< width × height of one image (67,108,864), from its header
};

/// The limits in force for this process (the defaults until set_read_limits).
const ReadLimits& read_limits();
void set_read_limits(const ReadLimits& l);

/// A piece of input quoted for a message: 'text' when short, else its first 60 characters (cut on a
/// UTF-8 boundary) and its size, 'xxxx…' (20,000,000 bytes), so that a message never repeats a
/// huge value. Control characters are shown as \xNN.
std::string quote_input(const std::string& s);

/// 20000000 → "20,000,000", for sizes in messages.
std::string thousands(int64_t n);

}  // namespace nnctl
