#include "core/error.hpp"
#include "core/tensor.hpp"

#include <mutex>

namespace nnctl {

namespace {
std::mutex g_warn_mutex;
std::function<void(const std::string&)> g_warn;
}  // namespace

void set_warning_handler(std::function<void(const std::string&)> handler) {
    std::lock_guard<std::mutex> lock(g_warn_mutex);
    g_warn = std::move(handler);
}

void warn(const std::string& message) {
    std::lock_guard<std::mutex> lock(g_warn_mutex);
    if (g_warn) g_warn(message);
}

int64_t shape_size(const Shape& s) {
    int64_t n = 1;
    for (auto d : s) n *= d;
    return n;
}

std::string shape_str(const Shape& s) {
    std::string out = "(None";
    for (auto d : s) out += ", " + std::to_string(d);
    return out + ")";
}

}  // namespace nnctl
