#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nnctl {

/// The processes that train one model together (data parallelism, Horovod's design): every rank
/// holds the whole model and computes on its shard of each batch; the collectives below combine
/// what the shards computed.
///
/// Every sum is taken in rank order 0, 1, ..., N-1, whatever the timing, and every rank receives
/// the same bits: ranks that start with the same weights keep the same weights, and two runs with
/// the same N are byte-identical. (MPI_Allreduce does not promise either: its association order
/// is the implementation's choice and may differ between ranks.)
class Communicator {
public:
    virtual ~Communicator() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    /// In place: data[i] becomes Σ over ranks (in rank order) of each rank's data[i]. Every rank
    /// passes the same n.
    virtual void sum(float* data, size_t n) = 0;
    virtual void sum(double* data, size_t n) = 0;
    /// Every rank's `mine` (any length, possibly empty) concatenated in rank order, on every rank.
    virtual void gather(const float* mine, size_t n, std::vector<float>& all) = 0;
    /// What the collectives run on, for logs and --version ("Open MPI v4.1.4", "threads").
    virtual std::string describe() const = 0;
};

/// Rows [lo, hi) of a batch of `rows` that rank r of n computes: contiguous shards in rank order,
/// sizes differing by at most one.
inline int64_t shard_begin(int64_t rows, int rank, int ranks) { return rows * rank / ranks; }

/// N communicators for N threads of one process (tests, and a check of the collectives without
/// MPI): make_thread_group(4)[r] is rank r's; each must be used by one thread only.
std::vector<std::unique_ptr<Communicator>> make_thread_group(int ranks);

}  // namespace nnctl
