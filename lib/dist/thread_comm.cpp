// A communicator for threads of one process: the same collectives as MPI's, on shared memory, so
// unit tests check N-rank training without launching processes.
#include <condition_variable>
#include <mutex>

#include "dist/comm.hpp"

namespace nnctl {

namespace {

/// State shared by a group's threads: a reusable barrier and one posted buffer per rank.
struct Shared {
    explicit Shared(int n) : ranks(n), posted(size_t(n)), lengths(size_t(n)) {}
    int ranks;
    std::mutex mu;
    std::condition_variable cv;
    int arrived = 0;
    uint64_t generation = 0;
    std::vector<const void*> posted;
    std::vector<size_t> lengths;

    void barrier() {
        std::unique_lock<std::mutex> lock(mu);
        const uint64_t gen = generation;
        if (++arrived == ranks) {
            arrived = 0;
            ++generation;
            cv.notify_all();
            return;
        }
        cv.wait(lock, [&] { return generation != gen; });
    }
};

class ThreadComm : public Communicator {
public:
    ThreadComm(std::shared_ptr<Shared> s, int rank) : s_(std::move(s)), rank_(rank) {}
    int rank() const override { return rank_; }
    int size() const override { return s_->ranks; }
    void sum(float* data, size_t n) override { sum_impl(data, n); }
    void sum(double* data, size_t n) override { sum_impl(data, n); }
    void gather(const float* mine, size_t n, std::vector<float>& all) override {
        post(mine, n);
        all.clear();
        for (int r = 0; r < s_->ranks; ++r) {
            const float* p = static_cast<const float*>(s_->posted[size_t(r)]);
            all.insert(all.end(), p, p + s_->lengths[size_t(r)]);
        }
        s_->barrier();  // everyone has read the posted buffers before they change
    }
    std::string describe() const override { return "threads"; }

private:
    void post(const void* p, size_t n) {
        {
            std::lock_guard<std::mutex> lock(s_->mu);
            s_->posted[size_t(rank_)] = p;
            s_->lengths[size_t(rank_)] = n;
        }
        s_->barrier();
    }
    template <class T>
    void sum_impl(T* data, size_t n) {
        std::vector<T> mine(data, data + n);
        post(mine.data(), n);
        for (size_t i = 0; i < n; ++i) {
            T acc = static_cast<const T*>(s_->posted[0])[i];
            for (int r = 1; r < s_->ranks; ++r) acc += static_cast<const T*>(s_->posted[size_t(r)])[i];
            data[i] = acc;
        }
        s_->barrier();
    }
    std::shared_ptr<Shared> s_;
    int rank_;
};

}  // namespace

std::vector<std::unique_ptr<Communicator>> make_thread_group(int ranks) {
    auto shared = std::make_shared<Shared>(ranks);
    std::vector<std::unique_ptr<Communicator>> out;
    for (int r = 0; r < ranks; ++r) out.push_back(std::make_unique<ThreadComm>(shared, r));
    return out;
}

}  // namespace nnctl
