// MPI_COMM_WORLD as nnctl's Communicator (Open MPI from Debian's libopenmpi-dev). Built only with
// NNCTL_MPI; mpi_stub.cpp stands in otherwise.
#include "dist/mpi.hpp"

// The C API only: Open MPI's mpi.h otherwise pulls its deprecated C++ bindings into C++ code.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <climits>
#include <cstdlib>
#include <vector>

#include "core/error.hpp"

namespace nnctl {

namespace {

void check(int rc, const char* what) {
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    throw Error(std::string(what) + " failed: " + std::string(msg, size_t(len)));
}

template <class T>
MPI_Datatype type_of();
template <>
MPI_Datatype type_of<float>() { return MPI_FLOAT; }
template <>
MPI_Datatype type_of<double>() { return MPI_DOUBLE; }

class MpiComm : public Communicator {
public:
    MpiComm() {
        MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
        MPI_Comm_size(MPI_COMM_WORLD, &size_);
        // Errors come back as codes (and become exceptions) instead of aborting inside MPI.
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    }
    int rank() const override { return rank_; }
    int size() const override { return size_; }
    void sum(float* data, size_t n) override { sum_impl(data, n); }
    void sum(double* data, size_t n) override { sum_impl(data, n); }
    void gather(const float* mine, size_t n, std::vector<float>& all) override {
        if (n > size_t(INT_MAX) / size_t(size_)) throw Error("MPI gather of " + std::to_string(n) + " values: too large");
        int count = int(n);
        counts_.resize(size_t(size_));
        check(MPI_Allgather(&count, 1, MPI_INT, counts_.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather");
        offsets(counts_, displs_);
        all.resize(size_t(displs_.back() + counts_.back()));
        check(MPI_Allgatherv(mine, count, MPI_FLOAT, all.data(), counts_.data(), displs_.data(), MPI_FLOAT, MPI_COMM_WORLD),
              "MPI_Allgatherv");
    }
    std::string describe() const override { return mpi_library_version(); }

private:
    static void offsets(const std::vector<int>& counts, std::vector<int>& displs) {
        displs.assign(counts.size(), 0);
        for (size_t r = 1; r < counts.size(); ++r) displs[r] = displs[r - 1] + counts[r - 1];
    }
    // A reduce-scatter and an allgather written with MPI's exchanges, so that each element is
    // summed once, on the rank that owns its chunk, in rank order: rank r owns elements
    // [n·r/N, n·(r+1)/N); it receives every rank's copy of its chunk (MPI_Alltoallv), adds them
    // in rank order, and every rank then gathers the sums (MPI_Allgatherv). Each rank sends and
    // receives 2·(N−1)/N·n values, as a ring allreduce does. Small buffers take one allgather.
    template <class T>
    void sum_impl(T* data, size_t n) {
        if (size_ == 1 || n == 0) return;
        if (n > size_t(INT_MAX)) throw Error("MPI sum of " + std::to_string(n) + " values: too large");
        const MPI_Datatype type = type_of<T>();
        const int N = size_;
        std::vector<T>& recv = buffer<T>();
        if (n < size_t(4096)) {
            recv.resize(n * size_t(N));
            check(MPI_Allgather(data, int(n), type, recv.data(), int(n), type, MPI_COMM_WORLD), "MPI_Allgather");
            for (size_t i = 0; i < n; ++i) {
                T acc = recv[i];
                for (int r = 1; r < N; ++r) acc += recv[size_t(r) * n + i];
                data[i] = acc;
            }
            return;
        }
        auto begin = [&](int r) { return int(shard_begin(int64_t(n), r, N)); };
        const int lo = begin(rank_), mine = begin(rank_ + 1) - lo;
        send_counts_.resize(size_t(N)), send_displs_.resize(size_t(N));
        recv_counts_.assign(size_t(N), mine), recv_displs_.resize(size_t(N));
        for (int r = 0; r < N; ++r) {
            send_displs_[size_t(r)] = begin(r);
            send_counts_[size_t(r)] = begin(r + 1) - begin(r);
            recv_displs_[size_t(r)] = r * mine;
        }
        recv.resize(size_t(N) * size_t(mine));
        check(MPI_Alltoallv(data, send_counts_.data(), send_displs_.data(), type, recv.data(), recv_counts_.data(),
                            recv_displs_.data(), type, MPI_COMM_WORLD),
              "MPI_Alltoallv");
        std::vector<T>& part = part_buffer<T>();
        part.resize(size_t(mine));
        for (int i = 0; i < mine; ++i) {
            T acc = recv[size_t(i)];
            for (int r = 1; r < N; ++r) acc += recv[size_t(r) * size_t(mine) + size_t(i)];
            part[size_t(i)] = acc;
        }
        check(MPI_Allgatherv(part.data(), mine, type, data, send_counts_.data(), send_displs_.data(), type, MPI_COMM_WORLD),
              "MPI_Allgatherv");
    }
    template <class T>
    std::vector<T>& buffer();
    template <class T>
    std::vector<T>& part_buffer();

    int rank_ = 0, size_ = 1;
    std::vector<int> counts_, displs_, send_counts_, send_displs_, recv_counts_, recv_displs_;
    std::vector<float> fbuf_, fpart_;
    std::vector<double> dbuf_, dpart_;
};
template <>
std::vector<float>& MpiComm::buffer<float>() { return fbuf_; }
template <>
std::vector<double>& MpiComm::buffer<double>() { return dbuf_; }
template <>
std::vector<float>& MpiComm::part_buffer<float>() { return fpart_; }
template <>
std::vector<double>& MpiComm::part_buffer<double>() { return dpart_; }

MpiComm* world = nullptr;


}  // namespace

bool built_with_mpi() { return true; }

std::string mpi_library_version() {
    char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(v, &len);
    std::string s(v, size_t(len));
    if (const size_t nl = s.find_first_of("\r\n"); nl != std::string::npos) s.resize(nl);
    if (const size_t comma = s.find(','); comma != std::string::npos) s.resize(comma);  // "Open MPI v4.1.4"
    return s;
}

Communicator& mpi_world() {
    if (!world) {
        int provided = 0;
        check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
        // (FUNNELED: only the main thread calls MPI; the library's worker threads never do)
        if (provided < MPI_THREAD_FUNNELED) throw Error("the MPI library does not support MPI_THREAD_FUNNELED");
        world = new MpiComm();
        std::atexit([] { mpi_finalize(); });
    }
    return *world;
}

bool mpi_active() { return world != nullptr; }

void mpi_abort(int code) {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
}

void mpi_finalize() {
    int done = 0;
    MPI_Finalized(&done);
    if (world && !done) MPI_Finalize();
}

}  // namespace nnctl
