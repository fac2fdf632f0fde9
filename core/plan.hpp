// Plan: what one kind of run needs, compiled once per (fetches, feed types) and cached by
// the Session. compile() prunes the graph to the nodes the fetches need, orders them, gives
// every value a concrete shape (the batch size comes from the feeds), and assigns buffers
// by liveness so that a buffer is reused once the last reader of its value is done.
//
// A run has two phases. Phase::compute computes everything that does not depend on a
// write to a variable; Phase::update runs the writers (assigns, optimizers' fused updates)
// and what reads their results. So no variable changes unless every other kernel succeeded, and every
// read of a variable happens before it is written. A step may also hold scratch memory
// (OpBase::workspace_bytes), taken from the same buffer pool for that step alone.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <adjoint/core/graph.hpp>

namespace adjoint {

// The two phases of a run, in order.
enum class Phase : std::uint8_t { compute, update };
inline constexpr std::size_t phase_count = 2;

struct FeedType {
    NodeId node;
    TypedShape type;  // concrete
};

struct PlanStep {
    NodeId node;
    const OpBase* op;
    std::size_t first_input, input_count;  // into Plan::input_ptrs
    std::size_t output;                    // index into Plan::values
    std::vector<std::size_t> successors;   // steps of the same phase that wait for this one
    std::uint32_t predecessors = 0;        // how many steps of the same phase it waits for
    Phase phase = Phase::compute;
    std::vector<std::size_t> fetch_positions;  // where its value goes in the results
    std::span<std::byte> workspace;            // scratch (OpBase::workspace_bytes), in a pooled buffer
    bool view = false;  // its value is a view of input 0's buffer (OpBase::is_view): no kernel runs
    // Filled by profiled runs only; each step runs once per run, so no two threads
    // update the same step's figures.
    std::int64_t calls = 0;
    double seconds = 0;
    // Filled by traced runs: the last run's start and end (steady_clock) and thread.
    std::chrono::steady_clock::time_point trace_start{}, trace_end{};
    int trace_thread = -1;
};

class Plan {
public:
    // Throws adjoint::Error naming the node or placeholder at fault.
    // `targets` are run but not returned (assigns, typically).
    // `snapshot_writes`: keep a snapshot of every variable the run writes, whatever the
    // plan (check_numerics restores them when an update makes NaN or infinity).
    static std::unique_ptr<Plan> compile(const Graph& g, std::span<const NodeId> fetches,
                                         std::span<const NodeId> targets, std::span<const FeedType> feeds,
                                         bool snapshot_writes = false);

    std::size_t step_count() const { return steps.size(); }
    std::size_t buffer_count() const { return buffers.size(); }
    // Bytes of all intermediate buffers (feeds, variables and fetched copies excluded).
    std::size_t peak_bytes() const { return peak; }
    // Bytes the same values would take without any reuse.
    std::size_t unshared_bytes() const { return unshared; }
    std::int64_t batch_size() const { return batch; }
    const std::vector<PlanStep>& plan_steps() const { return steps; }

    // Where the values bound at each run go (indices into values).
    struct Binding {
        std::size_t value;
        NodeId node;
    };

    std::vector<PlanStep> steps;
    std::vector<Tensor> values;             // one per needed node
    std::vector<const Tensor*> input_ptrs;  // steps' inputs, pointing into values
    // assign_targets: values that are a variable's own storage (assigns, and values
    // computed in place into the variable they are assigned to).
    std::vector<Binding> placeholders, variables, assign_targets;
    struct LeafFetch {
        std::size_t value, position;
    };
    std::vector<LeafFetch> leaf_fetches;  // fetched placeholders, variables, constants
    // When the update phase also computes from updated values (a fetch downstream of an
    // assign), a kernel there may fail after variables were written: a copy of each
    // variable the run writes is taken before the phase and put back if it fails. Copies
    // made once, with the plan. (Writers and element-wise kernels never fail; but with
    // check_numerics they may make NaN, so every such plan has them.)
    struct Snapshot {
        std::size_t value;  // the variable, in values
        Tensor copy;
    };
    std::vector<Snapshot> snapshots;
    std::vector<Tensor> buffers;
    std::unique_ptr<std::atomic<std::uint32_t>[]> pending;    // per step, reset each run
    std::array<std::vector<std::size_t>, phase_count> roots;  // steps of each phase with no predecessor
    std::int64_t batch = -1;
    std::size_t peak = 0, unshared = 0;
};

}  // namespace adjoint
