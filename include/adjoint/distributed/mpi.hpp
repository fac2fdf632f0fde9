// MPI for data-parallel training: the library's start and end, and its world as a
// Communicator. A program launched by mpirun makes one Mpi for its whole life:
//
//   ad::Mpi mpi(argc, argv);                        // MPI_Init_thread
//   ad::Sequential model({.seed = 1, .distributed = mpi.world()});
//   ...                                             // rank 0 alone prints and saves
//
// adjoint builds with MPI when meson finds it (Open MPI: scripts/setup installs it); a
// build without it still has this header, and Mpi then refuses to start with more than
// one process, saying why.
#pragma once

#include <memory>
#include <string>

#include <adjoint/core/communicator.hpp>

namespace adjoint {

class Mpi {
public:
    // MPI_Init_thread with MPI_THREAD_SERIALIZED (the communicator lets one thread in at a
    // time). Throws if MPI is already initialised, or if this build has no MPI and the
    // process is one of several that mpirun started.
    Mpi(int& argc, char**& argv);
    // MPI_Finalize; or, when an exception is leaving the scope (this rank failed, and the
    // others may wait for it in a collective), MPI_Abort, which ends every rank.
    ~Mpi();
    Mpi(const Mpi&) = delete;
    Mpi& operator=(const Mpi&) = delete;

    // MPI_COMM_WORLD (this process alone in a build without MPI).
    std::shared_ptr<Communicator> world() const { return world_; }

    // Prints "<program>: rank R of P: <message>" on stderr and ends every process of the
    // job (MPI_Abort): what a rank does when it cannot go on, so that the others stop
    // instead of waiting for it in a collective. In one process: prints and exits.
    [[noreturn]] void abort(const std::string& program, const std::string& message, int code = 1) const;

private:
    std::shared_ptr<Communicator> world_;
};

// Whether this build of adjoint has MPI.
bool mpi_built();
// Whether mpirun (Open MPI, MPICH or a PMI launcher) started this process as one of
// several: the launchers' environment says so.
bool launched_by_mpirun();

}  // namespace adjoint
