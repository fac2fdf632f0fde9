// Internal to distributed/.
#pragma once

namespace adjoint {

// The process count a launcher's environment gives (OMPI_COMM_WORLD_SIZE, PMI_SIZE,
// PMIX_SIZE), or 0 when no launcher started this process.
int launcher_world_size();

}  // namespace adjoint
