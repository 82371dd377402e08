#pragma once
#include <functional>
#include <stdexcept>
#include <string>

namespace nnctl {

/// Base of every error the library throws; `exit_code()` is what the CLI returns for it.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& msg) : std::runtime_error(msg) {}
    virtual int exit_code() const { return 1; }
};

/// Bad configuration or usage (exit 2). The message carries `file:line:col: key.path: problem`.
class ConfigError : public Error {
public:
    using Error::Error;
    int exit_code() const override { return 2; }
};

/// A layer that cannot take the shape its input has (exit 2); `layer` is its index in the model.
class LayerBuildError : public ConfigError {
public:
    LayerBuildError(size_t index, const std::string& msg) : ConfigError(msg), layer(index) {}
    size_t layer;
};

/// Bad or unreadable input data (exit 3).
class DataError : public Error {
public:
    using Error::Error;
    int exit_code() const override { return 3; }
};

/// Training produced a non-finite loss (exit 4).
class DivergedError : public Error {
public:
    using Error::Error;
    int exit_code() const override { return 4; }
};

/// A file could not be written or read for reasons of the system (exit 5).
class IoError : public Error {
public:
    using Error::Error;
    int exit_code() const override { return 5; }
};

/// The run was interrupted by a signal (exit 130).
class InterruptedError : public Error {
public:
    using Error::Error;
    int exit_code() const override { return 130; }
};

/// Warnings reach the user through a handler the CLI installs (the library never prints); without
/// one they are dropped. Safe to call from any thread.
void set_warning_handler(std::function<void(const std::string&)> handler);
void warn(const std::string& message);

}  // namespace nnctl
