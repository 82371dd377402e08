#include "core/sha256.hpp"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.hpp"

namespace nnctl {

struct Sha256::Ctx {
    EVP_MD_CTX* md = nullptr;
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
    ctx_->md = EVP_MD_CTX_new();
    if (!ctx_->md || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1)
        throw Error("internal: OpenSSL could not start a SHA-256 digest");
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_->md); }

void Sha256::update(const void* data, size_t n) {
    if (EVP_DigestUpdate(ctx_->md, data, n) != 1) throw Error("internal: OpenSSL's SHA-256 update failed");
}

std::string Sha256::hex() {
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_->md, d, &len) != 1 || len != 32) throw Error("internal: OpenSSL's SHA-256 failed");
    char out[65];
    for (unsigned i = 0; i < len; ++i) std::snprintf(out + 2 * i, 3, "%02x", d[i]);
    return std::string(out, 64);
}

std::string sha256_file(const std::string& path, uint64_t* size) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) throw DataError(path + ": cannot open: " + std::strerror(errno));
    Sha256 h;
    char buf[1 << 16];
    uint64_t total = 0;
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) {
        h.update(buf, n);
        total += n;
    }
    bool bad = std::ferror(f);
    std::fclose(f);
    if (bad) throw DataError(path + ": read error");
    if (size) *size = total;
    return h.hex();
}

}  // namespace nnctl
