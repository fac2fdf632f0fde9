// Session: runs parts of a graph. It holds the variables' values between runs and caches
// one compiled Plan per (fetches, feed types), so a training loop compiles once.
#pragma once

#include <memory>
#include <type_traits>
#include <vector>

#include <adjoint/core/graph.hpp>
#include <adjoint/core/source_location.hpp>

namespace adjoint {

struct SessionOptions {
    int threads = 0;       // TBB threads for this session; 0 or more than the cores = all cores (or
                           // all a tbb::global_control allows beyond them)
    bool profile = false;  // time every kernel (see Session::profile)
    // Stop a run at the first node, in the plan's order, whose output (or a variable it
    // overwrites) holds NaN or infinity: the run throws an adjoint::Error naming the node
    // (id, name, op, the line that built it; forward, gradient of which node by which
    // rule, or update of which variable) with the statistics of its value and inputs, and
    // no variable is changed. Costs one pass over every value, and a copy of the written
    // variables per run (see BENCHMARKS.md); off, nothing.
    bool check_numerics = false;
};

// Kernel time of one node over the profiled runs of a Session.
struct NodeTiming {
    NodeId node = 0;
    std::int64_t calls = 0;
    double seconds = 0;
};

// One kernel of a traced run (Session::trace): which node, on which of the session's
// threads (0 = the thread that called run), and when, in microseconds since the trace
// began.
struct TraceEvent {
    NodeId node = 0;
    std::int64_t run = 0;  // the traced run it belongs to, from 0
    int thread = 0;
    double start_us = 0, duration_us = 0;
};

struct Feed {
    Expr node;     // a placeholder
    Tensor value;  // read in place during the run, never copied
};
using Feeds = std::vector<Feed>;

// What a compiled plan costs, for tests and benchmarks.
struct PlanInfo {
    std::size_t steps = 0, buffers = 0;
    std::size_t peak_bytes = 0;      // intermediate buffers after reuse
    std::size_t unshared_bytes = 0;  // the same values without reuse
    std::int64_t batch_size = -1;
};

class Session {
public:
    explicit Session(const Graph& graph, SessionOptions options = {});
    ~Session();
    Session(const Session&) = delete;  // it holds variables' values and compiled plans
    Session& operator=(const Session&) = delete;
    Session(Session&&) noexcept;  // a moved-from Session refuses every call
    Session& operator=(Session&&) noexcept;

    // Computes the fetches (any nodes of the graph) from the feeds and returns one Tensor
    // per fetch; `targets` are computed too but not returned (no copy is made), as for
    // the optimizer's updates. Assigns update variables once every other node of the run
    // has succeeded; a failed run changes no variable. Every error names the line of the
    // call and the fetches: "Session::run (prog.cpp:40) fetching "loss": placeholder ...".
    std::vector<Tensor> run(const std::vector<Expr>& fetches, const Feeds& feeds = {},
                            const std::vector<Expr>& targets = {}, SourceLocation loc = SourceLocation::current());
    // The same, into `results` (resized to the fetches). A result tensor whose storage is
    // not shared and is large enough is overwritten in place (Tensor::assign_copy), so a
    // training loop that passes the same vector each step, with the same fetches, targets
    // and feed shapes, allocates nothing once the plan is cached.
    void run(const std::vector<Expr>& fetches, const Feeds& feeds, const std::vector<Expr>& targets,
             std::vector<Tensor>& results, SourceLocation loc = SourceLocation::current());

    // Compiles (or finds) the plan for these fetches and feeds without running it.
    PlanInfo plan_info(const std::vector<Expr>& fetches, const Feeds& feeds = {}, const std::vector<Expr>& targets = {},
                       SourceLocation loc = SourceLocation::current());
    std::size_t cached_plans() const;
    int threads() const;
    // Runs f on the session's threads: TBB's parallel loops in f use the workers of its
    // kernels (SessionOptions::threads of them), not the whole machine's, and leave no
    // other workers spinning on its cores when the next run starts (fit gathers each
    // batch so).
    template <class F> void on_threads(F&& f) {
        using Fn = std::remove_reference_t<F>;  // a callable object, const or not
        on_threads_impl([](void* fn) { (*static_cast<Fn*>(fn))(); },
                        const_cast<void*>(static_cast<const void*>(std::addressof(f))));
    }

    // Per node, the kernel time of all runs so far (with SessionOptions::profile), by node id.
    std::vector<NodeTiming> profile() const;
    void reset_profile();

    // Tracing: while on, every kernel's start, duration and thread is recorded (two clock
    // reads per step). trace(true) starts a new trace (also when one is on: its events
    // are dropped); trace(false) stops it, keeping the events, which trace_events()
    // returns (write_trace writes them for Perfetto).
    void trace(bool on);
    std::vector<TraceEvent> trace_events() const;

    // A copy of a variable's current value.
    Tensor value(const Expr& variable);
    // Overwrites a variable (same dtype and shape), e.g. from a checkpoint.
    void set_value(const Expr& variable, const Tensor& value);

private:
    struct Impl;
    Impl& impl() const;  // throws for a moved-from Session
    // on_threads' body: a function pointer and its argument, not std::function (which may
    // allocate), so that a step allocates nothing.
    void on_threads_impl(void (*call)(void*), void* fn);
    std::unique_ptr<Impl> impl_;
};

}  // namespace adjoint
