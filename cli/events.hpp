#pragma once
#include <string>

#include "core/json.hpp"

namespace nnctl::cli {

/// `--events FILE|-`: one JSON object per line, appended to FILE (created if needed; several runs
/// may share it) or written to stdout, each line written at once (one write(2), no buffering) so
/// that `tail -f` or another program sees it as it happens. Every line starts with
/// {"event": KIND, "time": UTC ISO 8601 with milliseconds, "elapsed": seconds since the stream opened, ...}.
class EventStream {
public:
    EventStream() = default;
    /// `target` empty: no events (every call is a no-op). Throws IoError when FILE cannot be opened.
    explicit EventStream(const std::string& target);
    EventStream(const EventStream&) = delete;
    EventStream& operator=(const EventStream&) = delete;
    ~EventStream();
    bool on() const { return fd_ >= 0; }

    /// A writer whose object is already open with "event", "time" and "elapsed"; add keys, then emit().
    JsonWriter begin(const char* event) const;
    /// Close the object and write it as one line. A failed write (a full disk, a closed pipe) stops the
    /// stream with a warning; it never stops the run.
    void emit(JsonWriter& j);

private:
    int fd_ = -1;
    bool owned_ = false;
    double t0_ = 0.0;
};

}  // namespace nnctl::cli
