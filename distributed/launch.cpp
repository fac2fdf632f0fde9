// What a launcher tells a process through its environment; the same with or without MPI.
#include <cstdlib>
#include <string_view>

#include <adjoint/distributed/mpi.hpp>

#include "launch.hpp"

namespace adjoint {

int launcher_world_size() {
    // Open MPI's mpirun, then MPICH's Hydra and other PMI launchers.
    for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
        const char* v = std::getenv(var);
        if (!v) continue;
        char* end = nullptr;
        const long n = std::strtol(v, &end, 10);
        if (end != v && *end == '\0' && n > 0 && n < (1 << 24)) return static_cast<int>(n);
    }
    return 0;
}

bool launched_by_mpirun() { return launcher_world_size() > 0; }

}  // namespace adjoint
