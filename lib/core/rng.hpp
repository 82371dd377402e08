#pragma once
#include <cstdint>
#include <vector>

namespace nnctl {

/// SplitMix64: tiny, fast, splittable and identical on every platform, so the same seed gives the
/// same data, weights and shuffles everywhere (the reference scripts use the same generator).
class Rng {
public:
    explicit Rng(uint64_t seed = 0) : state_(seed) {}
    uint64_t next() {
        uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    /// Uniform float in [0, 1), 24 random bits (exact in float32).
    float uniform24() { return float(next() >> 40) * 0x1p-24f; }
    /// Uniform double in [0, 1), 53 random bits.
    double uniform() { return double(next() >> 11) * 0x1p-53; }
    /// Uniform integer in [0, n).
    int below(int n) { return int(((next() >> 32) * uint64_t(n)) >> 32); }
    /// Standard normal (Box–Muller; one draw pair per call, the second value is discarded for simplicity).
    double normal();
    /// Normal truncated to ±2 standard deviations (redrawn), as Keras' TruncatedNormal.
    double truncated_normal();
    /// A child generator whose stream depends only on this seed and `key`.
    static uint64_t derive(uint64_t seed, uint64_t key);
    /// The whole state (for checkpoints): set_state(state()) continues the same stream.
    uint64_t state() const { return state_; }
    void set_state(uint64_t s) { state_ = s; }

private:
    uint64_t state_;
};

/// A random permutation of 0..n-1 (Fisher–Yates).
std::vector<int> permutation(int n, Rng& rng);

}  // namespace nnctl
