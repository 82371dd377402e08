#include "core/fileio.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"

namespace nnctl {

namespace {
std::string dir_of(const std::string& path) {
    auto pos = path.find_last_of('/');
    return pos == std::string::npos ? "." : (pos == 0 ? "/" : path.substr(0, pos));
}
[[noreturn]] void fail(const std::string& what, const std::string& path) {
    throw IoError("cannot " + what + " '" + path + "': " + std::strerror(errno));
}
// The temporary file write_file_atomic is filling, for a signal handler that exits at once
// (remove_pending_temp_file). One slot: with several writers at a time it names the latest.
char g_pending[4096];
std::atomic<bool> g_pending_set{false};

void set_pending(const std::string& tmp) {
    if (tmp.size() >= sizeof g_pending) return;
    g_pending_set.store(false);
    std::memcpy(g_pending, tmp.c_str(), tmp.size() + 1);
    g_pending_set.store(true);
}
}  // namespace

void remove_pending_temp_file() {
    if (g_pending_set.load()) ::unlink(g_pending);
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
    struct stat existing {};
    if (::stat(path.c_str(), &existing) == 0 && !S_ISREG(existing.st_mode)) {
        errno = EEXIST;
        throw IoError("refusing to replace '" + path + "': it exists and is not a regular file");
    }
    std::string tmp = path + ".tmp." + std::to_string(::getpid());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fail("create", tmp);
    set_pending(tmp);
    struct Clear {
        ~Clear() { g_pending_set.store(false); }
    } clear;
    size_t off = 0;
    while (off < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            errno = e;
            fail("write", path);
        }
        off += size_t(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        errno = e;
        fail("write", path);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        errno = e;
        fail("rename into", path);
    }
    // Make the rename itself durable.
    int dfd = ::open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw DataError(path + ": cannot open: " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void make_dirs(const std::string& path) {
    if (path.empty()) return;
    std::string cur;
    size_t pos = 0;
    while (pos != std::string::npos) {
        pos = path.find('/', pos + 1);
        cur = path.substr(0, pos);
        if (cur.empty()) continue;
        if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) fail("create directory", cur);
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        fail("create directory", path);
    }
}

std::string make_unique_dir(const std::string& base) {
    make_dirs(dir_of(base));
    for (int i = 1; i < 100000; ++i) {
        std::string cand = i == 1 ? base : base + "-" + std::to_string(i);
        if (::mkdir(cand.c_str(), 0755) == 0) return cand;
        if (errno != EEXIST) fail("create directory", cand);
    }
    errno = EEXIST;
    fail("create directory", base);
}

}  // namespace nnctl

namespace nnctl {

bool path_exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

void remove_tree(const std::string& path) {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (ec) throw IoError("cannot remove '" + path + "': " + ec.message());
}

}  // namespace nnctl
