// nnctl built without MPI (NNCTL_MPI=OFF, or no MPI found): the same functions, saying so.
#include <cstdlib>

#include "core/error.hpp"
#include "dist/mpi.hpp"

namespace nnctl {

bool built_with_mpi() { return false; }
std::string mpi_library_version() { return ""; }

Communicator& mpi_world() {
    throw Error("this nnctl was built without MPI, so it cannot train across processes (rebuild with Open MPI "
                "installed: apt-get install libopenmpi-dev openmpi-bin; cmake -DNNCTL_MPI=ON)");
}
bool mpi_active() { return false; }
void mpi_abort(int code) { std::_Exit(code); }
void mpi_finalize() {}

}  // namespace nnctl
