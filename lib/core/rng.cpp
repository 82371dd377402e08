#include "core/rng.hpp"

#include <cmath>
#include <numeric>

namespace nnctl {

double Rng::normal() {
    double u1 = uniform();
    double u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

double Rng::truncated_normal() {
    for (;;) {
        double z = normal();
        if (std::fabs(z) <= 2.0) return z;
    }
}

uint64_t Rng::derive(uint64_t seed, uint64_t key) {
    Rng r(seed ^ (key * 0xD1B54A32D192ED03ULL + 0x8CB92BA72F3D8DD7ULL));
    r.next();
    return r.next();
}

std::vector<int> permutation(int n, Rng& rng) {
    std::vector<int> p(static_cast<size_t>(n));
    std::iota(p.begin(), p.end(), 0);
    for (int i = n - 1; i > 0; --i) {
        int j = int(rng.next() % uint64_t(i + 1));
        std::swap(p[size_t(i)], p[size_t(j)]);
    }
    return p;
}

}  // namespace nnctl
