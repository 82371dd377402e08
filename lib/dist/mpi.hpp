#pragma once
#include <string>

#include "dist/comm.hpp"

namespace nnctl {

/// Whether nnctl was built with MPI (the NNCTL_MPI CMake option).
bool built_with_mpi();
/// The MPI library's own version line ("Open MPI v4.1.4, ..."); empty without MPI.
std::string mpi_library_version();
/// Whether an MPI launcher started this process (mpirun's OMPI_COMM_WORLD_SIZE, or a PMI/PMIx
/// rank as srun --mpi=pmix and other launchers set), and its rank as announced there (0 when not
/// launched so). Both are read from the environment, before MPI is initialized.
bool launched_by_mpi();
int launcher_rank();
/// How many processes of the job the launcher placed on this machine (1 when not launched so):
/// the default thread count divides the cores among them.
int launcher_local_size();
/// The job's size as the launcher announces it (OMPI_COMM_WORLD_SIZE, PMI_SIZE); 0 when it says none.
int launcher_size();
/// MPI_COMM_WORLD as a Communicator, MPI initialized on the first call (and finalized at exit).
/// Throws Error when nnctl was built without MPI.
Communicator& mpi_world();
/// Whether mpi_world() has initialized MPI.
bool mpi_active();
/// End the whole job: every rank exits with `code` (MPI_Abort). Only after mpi_world().
[[noreturn]] void mpi_abort(int code);
/// MPI_Finalize when MPI was initialized (a clean exit of every rank).
void mpi_finalize();

}  // namespace nnctl
