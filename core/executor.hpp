// Executes a compiled Plan whose placeholders and variables are bound. Steps become TBB
// tasks as soon as the steps they wait for are done (inter-op parallelism); kernels split
// their own work with parallel_chunks (intra-op). Both run in the caller's task_arena.
#pragma once

#include <vector>

#include <tbb/task_arena.h>

#include "plan.hpp"

namespace adjoint {

// Runs the compute phase, then (if it succeeded) the update phase, and copies each fetched value into
// `results` (already sized to the fetches; see Tensor::assign_copy). A kernel's
// exception becomes an adjoint::Error naming the node; when several fail, the first in
// plan order among those that ran is reported (once one fails no new step starts, so
// which others ran, and so which is reported, may depend on the scheduling).
struct ExecuteOptions {
    bool profile = false;         // each step's kernel time is added to its PlanStep figures
    bool trace = false;           // each step's PlanStep::trace_* are set
    bool check_numerics = false;  // SessionOptions::check_numerics (the plan must have been
                                  // compiled with it: its snapshots then cover every write)
};
void execute(const Graph& g, Plan& plan, tbb::task_arena& arena, std::vector<Tensor>& results,
             const ExecuteOptions& options = {});

}  // namespace adjoint
