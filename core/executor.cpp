#include "executor.hpp"

#include <adjoint/core/numerics.hpp>

#include <chrono>
#include <mutex>
#include <optional>

#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include "check_numerics.hpp"

namespace adjoint {

namespace {

struct Run {
    Run(const Graph& graph, Plan& p, std::vector<Tensor>& r, const ExecuteOptions& o)
        : g(graph), plan(p), results(r), options(o) {}

    const Graph& g;
    Plan& plan;
    std::vector<Tensor>& results;
    ExecuteOptions options;
    tbb::task_group tasks;
    std::atomic<bool> failed{false};
    std::mutex error_mutex;
    std::size_t error_step = static_cast<std::size_t>(-1);
    std::string error;

    void fail(std::size_t step, const std::string& message) {
        std::lock_guard lock(error_mutex);
        if (step < error_step) {
            error_step = step;
            error = message;
        }
        failed = true;
    }

    // check_numerics: the first step in plan order whose value, or a variable it
    // overwrites, holds NaN or infinity. The phase goes on (so which step that is does not
    // depend on the scheduling); the run then fails.
    std::size_t non_finite_step = static_cast<std::size_t>(-1);
    std::string non_finite;

    void check_numerics(std::size_t s, const Inputs& x, const Tensor& y) {
        const PlanStep& step = plan.steps[s];
        std::size_t which = 0;
        bool bad = !all_finite(y);
        for (std::size_t i = 1; !bad && i < step.op->writes_variables(); ++i)
            if (!all_finite(x[i])) bad = true, which = i;
        if (!bad) return;
        std::lock_guard lock(error_mutex);
        if (s > non_finite_step) return;
        non_finite_step = s;
        std::optional<std::size_t> in_place;  // an input y was computed into (a variable an assign keeps)
        for (std::size_t i = step.op->writes_variables(); i < x.size(); ++i)
            if (y.nbytes() > 0 && x[i].raw() == y.raw()) in_place = i;
        non_finite =
            non_finite_report(g, g.node(step.node), {plan.input_ptrs.data() + step.first_input, step.input_count},
                              which == 0 ? y : x[which], which, in_place);
    }

    void compute(std::size_t s) {
        PlanStep& step = plan.steps[s];
        Inputs x({plan.input_ptrs.data() + step.first_input, step.input_count}, step.workspace);
        Tensor& y = plan.values[step.output];
        // A value without elements has nothing to compute; its other dims may still be
        // huge, as in (2^62, 0), and a kernel walking its rows would not end.
        // A view's bytes are its input's (OpBase::is_view): nothing to compute or check.
        const bool work = y.numel() != 0 && !step.view;
        if (options.trace) {
            step.trace_thread = tbb::this_task_arena::current_thread_index();
            step.trace_start = std::chrono::steady_clock::now();
        }
        if (work && options.profile) {
            const auto t0 = std::chrono::steady_clock::now();
            step.op->forward(x, y);
            step.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            ++step.calls;
        } else if (work) {
            step.op->forward(x, y);
        }
        if (options.trace) step.trace_end = std::chrono::steady_clock::now();
        if (options.check_numerics && !step.view) check_numerics(s, x, y);
        for (std::size_t pos : step.fetch_positions) results[pos].assign_copy(y);
    }

    // Runs step s, then whatever became ready: the first such step on this thread (a
    // chain of small ops costs no task spawns), the others as new tasks.
    void run_from(std::size_t s) {
        while (!failed.load(std::memory_order_relaxed)) {
            try {
                compute(s);
            } catch (const std::exception& ex) {
                const Node& n = g.node(plan.steps[s].node);
                fail(s, fmt::format("{} \"{}\" (built at {}) failed: {}", n.op_name(), n.name, where(n.built_at),
                                    ex.what()));
                return;
            }
            std::size_t next = static_cast<std::size_t>(-1);
            for (std::size_t t : plan.steps[s].successors) {
                if (plan.pending[t].fetch_sub(1, std::memory_order_acq_rel) != 1) continue;
                if (next == static_cast<std::size_t>(-1)) next = t;
                else tasks.run([this, t] { run_from(t); });
            }
            if (next == static_cast<std::size_t>(-1)) return;
            s = next;
        }
    }

    void phase(Phase ph) {
        for (std::size_t s = 0; s < plan.steps.size(); ++s)
            plan.pending[s].store(plan.steps[s].predecessors, std::memory_order_relaxed);
        for (std::size_t s : plan.roots[static_cast<std::size_t>(ph)]) tasks.run([this, s] { run_from(s); });
        tasks.wait();
    }
};

}  // namespace

void execute(const Graph& g, Plan& plan, tbb::task_arena& arena, std::vector<Tensor>& results,
             const ExecuteOptions& options) {
    // Fetched leaves are copied first: a fetched variable shows its value before any assign.
    for (const auto& f : plan.leaf_fetches) results[f.position].assign_copy(plan.values[f.value]);
    Run run(g, plan, results, options);
    const auto non_finite = [&] { return run.non_finite_step != static_cast<std::size_t>(-1); };
    arena.execute([&] {
        run.phase(Phase::compute);
        if (run.failed || non_finite()) return;
        // Variables as they were, for an update phase that may fail (Plan::snapshots).
        for (Plan::Snapshot& s : plan.snapshots) s.copy.copy_from(plan.values[s.value]);
        run.phase(Phase::update);
        if (run.failed || non_finite())
            for (const Plan::Snapshot& s : plan.snapshots) plan.values[s.value].copy_from(s.copy);
    });
    // Both a kernel's failure and a non-finite value: the earlier step's, in plan order.
    if (run.failed && (!non_finite() || run.error_step < run.non_finite_step)) throw Error(run.error);
    if (non_finite()) throw Error(run.non_finite);
}

}  // namespace adjoint
