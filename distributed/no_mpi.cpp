// Mpi in a build without MPI: one process, and a clear refusal to be one of several.
#include <cstdio>
#include <cstdlib>

#include <adjoint/core/error.hpp>
#include <adjoint/distributed/mpi.hpp>

#include <fmt/format.h>

#include "launch.hpp"

namespace adjoint {

bool mpi_built() { return false; }

Mpi::Mpi(int&, char**&) : world_(single_process()) {
    if (const int n = launcher_world_size(); n > 1)
        throw Error(fmt::format(
            "this build of adjoint has no MPI, so this process cannot join the {} that mpirun started: install "
            "Open MPI (scripts/setup does) and build again (meson finds it)",
            n));
}

Mpi::~Mpi() = default;

void Mpi::abort(const std::string& program, const std::string& message, int code) const {
    fmt::print(stderr, "{}: {}\n", program, message);
    std::fflush(stderr);
    std::exit(code);
}

}  // namespace adjoint
