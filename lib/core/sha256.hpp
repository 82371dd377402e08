#pragma once
#include <cstdint>
#include <string>

namespace nnctl {

/// SHA-256 (FIPS 180-4), incremental.
class Sha256 {
public:
    Sha256();
    void update(const void* data, size_t n);
    /// Lower-case hex digest; the object is spent afterwards.
    std::string hex();

private:
    void block(const unsigned char* p);
    uint32_t h_[8];
    unsigned char buf_[64];
    size_t used_ = 0;
    uint64_t bits_ = 0;
};

/// Hex SHA-256 of a file's bytes (as stored: a .gz file is hashed compressed). Throws DataError.
std::string sha256_file(const std::string& path, uint64_t* size = nullptr);

}  // namespace nnctl
