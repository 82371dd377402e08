#include "events.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <chrono>
#include <cstring>
#include <ctime>

#include "common.hpp"
#include "core/error.hpp"

namespace nnctl::cli {

namespace {
double now_seconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

EventStream::EventStream(const std::string& target) {
    if (target.empty()) return;
    t0_ = now_seconds();
    if (target == "-") {
        fd_ = STDOUT_FILENO;
        return;
    }
    fd_ = ::open(target.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) throw IoError("--events " + target + ": cannot open: " + std::strerror(errno));
    owned_ = true;
}

EventStream::~EventStream() {
    if (owned_ && fd_ >= 0) ::close(fd_);
}

JsonWriter EventStream::begin(const char* event) const {
    JsonWriter j;
    j.begin_object().key("event").value(event);
    const double t = now_seconds();
    const std::time_t s = std::time_t(t);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", std::gmtime(&s));
    char full[48];
    std::snprintf(full, sizeof full, "%s.%03dZ", buf, int((t - double(s)) * 1000.0) % 1000);
    j.key("time").value(std::string(full));
    j.key("elapsed").value(std::round((t - t0_) * 1000.0) / 1000.0);
    return j;
}

void EventStream::emit(JsonWriter& j) {
    if (fd_ < 0) return;
    j.end_object();
    const std::string line = j.str() + "\n";
    size_t off = 0;
    while (off < line.size()) {
        const ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            log().warn("--events: cannot write ({}); no more events", std::strerror(errno));
            if (owned_) ::close(fd_);
            fd_ = -1;
            return;
        }
        off += size_t(n);
    }
}

}  // namespace nnctl::cli
