#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace nnctl {

/// SHA-256 (FIPS 180-4), incremental, through OpenSSL's EVP digest interface.
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    void update(const void* data, size_t n);
    /// Lower-case hex digest; the object is spent afterwards.
    std::string hex();

private:
    struct Ctx;
    std::unique_ptr<Ctx> ctx_;
};

/// Hex SHA-256 of a file's bytes (as stored: a .gz file is hashed compressed). Throws DataError.
std::string sha256_file(const std::string& path, uint64_t* size = nullptr);

}  // namespace nnctl
