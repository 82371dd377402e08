#include "data/input.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "core/error.hpp"
#include "core/limits.hpp"

namespace nnctl {

InputStream::InputStream(const std::string& path) : path_(path) {
    int fd = path == "-" ? ::dup(STDIN_FILENO) : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw DataError(display() + ": cannot open: " + std::strerror(errno));
    gzFile g = ::gzdopen(fd, "rb");
    if (!g) {
        ::close(fd);
        throw DataError(display() + ": cannot open: out of memory");
    }
    ::gzbuffer(g, 1 << 17);
    gz_ = g;
}

InputStream::~InputStream() {
    if (gz_) ::gzclose_r(static_cast<gzFile>(gz_));
}

int InputStream::peek_byte() {
    if (pushback_ < 0) {
        char c;
        pushback_ = -2;  // read() must not drain a pushback that is being filled
        size_t got = read(&c, 1);
        pushback_ = got ? static_cast<unsigned char>(c) : -1;
        if (!got) return -1;
    }
    return pushback_;
}

size_t InputStream::read(char* buf, size_t n) {
    gzFile g = static_cast<gzFile>(gz_);
    size_t total = 0;
    if (pushback_ >= 0 && n > 0) {
        buf[total++] = char(pushback_);
        pushback_ = -1;
    }
    while (total < n) {
        unsigned chunk = unsigned(std::min<size_t>(n - total, 1u << 30));
        int got = ::gzread(g, buf + total, chunk);
        if (got < 0) {
            int err = 0;
            const char* msg = ::gzerror(g, &err);
            throw DataError(display() + ": " + (err == Z_BUF_ERROR ? std::string("truncated gzip data")
                                                                    : std::string("corrupt gzip data: ") + msg));
        }
        if (got == 0) {
            int err = 0;
            ::gzerror(g, &err);
            // zlib reports a stream that ends mid-member only here, after the last read.
            if (err == Z_BUF_ERROR) throw DataError(display() + ": truncated gzip data");
            if (err != Z_OK) throw DataError(display() + ": corrupt gzip data");
            break;
        }
        total += size_t(got);
        out_ += uint64_t(got);
        // A decompression bomb is stopped while it expands, not after: the output so far against
        // the compressed bytes read so far.
        if (out_ > (uint64_t(16) << 20) && !::gzdirect(g)) {
            const double ratio = double(out_) / double(std::max<long>(1, long(::gzoffset(g))));
            if (ratio > read_limits().gzip_ratio) {
                char b[32];
                std::snprintf(b, sizeof b, "%.0f", read_limits().gzip_ratio);
                throw DataError(display() + ": gzip data expanding more than " + b + " times (" + std::to_string(out_ >> 20) +
                                " MiB from " + std::to_string(::gzoffset(g) >> 10) +
                                " KiB so far): a damaged file or a decompression bomb? (data.limits.gzip_ratio)");
            }
        }
    }
    return total;
}

bool InputStream::compressed() const { return ::gzdirect(static_cast<gzFile>(gz_)) == 0; }

void InputStream::read_exact(char* buf, size_t n, const std::string& what) {
    size_t got = read(buf, n);
    if (got != n)
        throw DataError(display() + ": file ends early while reading " + what + " (got " + std::to_string(got) +
                        " of " + std::to_string(n) + " bytes)");
}

std::string read_input(const std::string& path) {
    InputStream in(path);
    std::string out;
    char buf[1 << 16];
    for (size_t n; (n = in.read(buf, sizeof buf)) > 0;) out.append(buf, n);
    return out;
}

}  // namespace nnctl
