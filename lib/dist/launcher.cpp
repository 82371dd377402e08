// What the environment says about an MPI launch, read before (and without) MPI.
#include <cstdlib>
#include <initializer_list>

#include "dist/mpi.hpp"

namespace nnctl {

namespace {
const char* first_set(std::initializer_list<const char*> names) {
    for (const char* n : names)
        if (const char* v = std::getenv(n); v && *v) return v;
    return nullptr;
}
}  // namespace

bool launched_by_mpi() { return first_set({"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"}) != nullptr; }

int launcher_rank() {
    const char* v = first_set({"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"});
    return v ? std::atoi(v) : 0;
}

int launcher_size() {
    const char* v = first_set({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"});
    return v ? std::atoi(v) : 0;
}

int launcher_local_size() {
    const char* v = first_set({"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"});
    return v && std::atoi(v) > 0 ? std::atoi(v) : 1;
}

}  // namespace nnctl
