#include <adjoint/core/session.hpp>

#include <chrono>
#include <map>
#include <mutex>

#include <tbb/global_control.h>
#include <tbb/task_arena.h>

#include "executor.hpp"
#include "plan.hpp"

namespace adjoint {

struct Session::Impl {
    const Graph graph;  // shares the nodes: the session may outlive the caller's Graph
    int threads;
    tbb::task_arena arena;
    std::mutex mutex;  // one run at a time: a plan's buffers are shared state
    std::map<std::vector<std::int64_t>, std::unique_ptr<Plan>> plans;
    std::vector<Tensor> variables;  // by node id; empty until first used
    // Scratch reused by every run, so that a cached plan is found without allocating.
    std::vector<NodeId> fetch_ids, target_ids;
    std::vector<FeedType> feed_types;
    std::vector<std::int64_t> key;

    ExecuteOptions execute;
    // Session::trace: the events so far, when it began, how many runs it holds.
    std::vector<TraceEvent> trace_events;
    std::chrono::steady_clock::time_point trace_begin{};
    std::int64_t traced_runs = 0;

    Impl(const Graph& g, int t, const SessionOptions& o)
        : graph(g), threads(t), arena(t), execute{.profile = o.profile, .check_numerics = o.check_numerics} {}

    Tensor& variable(NodeId id) {
        if (variables.size() <= id) variables.resize(graph.size());
        Tensor& v = variables[id];
        if (v.empty()) v = graph.node(id).value.clone();
        return v;
    }

    const Node& variable_node(const Expr& e, std::string_view what) {
        graph.check_owns(e, what);
        const Node& n = graph.node(e.id());
        if (n.kind != NodeKind::variable)
            throw Error(fmt::format("{}: node \"{}\" is a {}, not a variable", what, n.name, n.op_name()));
        return n;
    }

    void check_feeds(const Feeds& feeds) {
        feed_types.clear();
        for (const Feed& f : feeds) {
            graph.check_owns(f.node, "feed");
            const Node& n = graph.node(f.node.id());
            if (n.kind != NodeKind::placeholder)
                throw Error(
                    fmt::format("feed for \"{}\": only placeholders can be fed, this is a {}", n.name, n.op_name()));
            if (f.value.empty()) throw Error(fmt::format("feed for placeholder \"{}\" is an empty tensor", n.name));
            if (f.value.dtype() != n.type.dtype)
                throw Error(fmt::format("placeholder \"{}\" holds {} but was fed {}", n.name, dtype_name(n.type.dtype),
                                        dtype_name(f.value.dtype())));
            const Shape& want = n.type.shape;
            const Shape& got = f.value.shape();
            bool fits = want.rank() == got.rank();
            for (std::size_t i = 0; fits && i < want.rank(); ++i) fits = want[i] == batch || want[i] == got[i];
            if (!fits) throw Error(fmt::format("placeholder \"{}\" has shape {} but was fed {}", n.name, want, got));
            for (const FeedType& earlier : feed_types)
                if (earlier.node == n.id) throw Error(fmt::format("placeholder \"{}\" is fed twice", n.name));
            feed_types.push_back({n.id, {got, f.value.dtype()}});
        }
    }

    void record_trace(const Plan& plan) {
        auto us = [&](std::chrono::steady_clock::time_point t) {
            return std::chrono::duration<double, std::micro>(t - trace_begin).count();
        };
        for (const PlanStep& s : plan.steps)
            if (s.trace_thread >= 0)
                trace_events.push_back(
                    {s.node, traced_runs, s.trace_thread, us(s.trace_start), us(s.trace_end) - us(s.trace_start)});
        ++traced_runs;
    }

    Plan& plan_for(const std::vector<Expr>& fetches, const Feeds& feeds, const std::vector<Expr>& targets) {
        fetch_ids.clear();
        target_ids.clear();
        for (const Expr& e : fetches) {
            graph.check_owns(e, "fetch");
            fetch_ids.push_back(e.id());
        }
        for (const Expr& e : targets) {
            graph.check_owns(e, "target");
            target_ids.push_back(e.id());
        }
        check_feeds(feeds);
        // Key: fetch ids, target ids, then per feed its id, dtype and concrete shape.
        key.assign(fetch_ids.begin(), fetch_ids.end());
        key.push_back(-1);
        key.insert(key.end(), target_ids.begin(), target_ids.end());
        key.push_back(-1);
        for (const FeedType& f : feed_types) {
            key.push_back(static_cast<std::int64_t>(f.node));
            key.push_back(static_cast<std::int64_t>(f.type.dtype));
            key.push_back(static_cast<std::int64_t>(f.type.shape.rank()));
            key.insert(key.end(), f.type.shape.begin(), f.type.shape.end());
        }
        auto it = plans.find(key);
        if (it == plans.end())
            it = plans.emplace(key, Plan::compile(graph, fetch_ids, target_ids, feed_types, execute.check_numerics))
                     .first;
        return *it->second;
    }
};

Session::Session(const Graph& graph, SessionOptions options) {
    (void)graph.size();  // a moved-from Graph throws here, where the mistake is made
    if (options.threads < 0)
        throw Error(fmt::format("Session: threads is {}; use 0 for all cores or a positive count", options.threads));
    // TBB runs no more threads than it is allowed: the cores, unless a tbb::global_control
    // allows more (tests do, to run 4 real threads on 2 cores). It warns and ignores the
    // rest, so a larger request is capped here; results do not depend on the count anyway.
    const auto allowed = static_cast<int>(std::min<std::size_t>(
        tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism), 1 << 20));
    const int threads = options.threads == 0 ? allowed : std::min(options.threads, allowed);
    impl_ = std::make_unique<Impl>(graph, threads, options);
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

Session::Impl& Session::impl() const {
    if (!impl_) throw Error("Session: this Session was moved from; use the one it was moved to");
    return *impl_;
}

int Session::threads() const { return impl().threads; }

std::size_t Session::cached_plans() const { return impl().plans.size(); }

namespace {

// "Session::run (prog.cpp:40) fetching "loss", "accuracy" and 5 targets: " before a
// run's error.
Error in_call(const char* who, const SourceLocation& loc, const std::vector<Expr>& fetches,
              const std::vector<Expr>& targets, const std::exception& e) {
    std::string what;
    for (std::size_t i = 0; i < fetches.size() && i < 4; ++i)
        what += fmt::format("{}\"{}\"", i ? ", " : " fetching ", fetches[i].valid() ? fetches[i].name() : "(empty)");
    if (fetches.size() > 4) what += fmt::format(" and {} more", fetches.size() - 4);
    if (!targets.empty())
        what += fmt::format("{} {} target{}", fetches.empty() ? " running" : " and", targets.size(),
                            targets.size() == 1 ? "" : "s");
    return Error(fmt::format("{} ({}){}: {}", who, where(loc), what, e.what()));
}

}  // namespace

std::vector<Tensor> Session::run(const std::vector<Expr>& fetches, const Feeds& feeds, const std::vector<Expr>& targets,
                                 SourceLocation loc) {
    std::vector<Tensor> results;
    run(fetches, feeds, targets, results, loc);
    return results;
}

void Session::run(const std::vector<Expr>& fetches, const Feeds& feeds, const std::vector<Expr>& targets,
                  std::vector<Tensor>& results, SourceLocation loc) {
    std::lock_guard lock(impl().mutex);
    try {
        Plan& plan = impl().plan_for(fetches, feeds, targets);
        for (const Feed& f : feeds)
            for (const auto& b : plan.placeholders)
                if (b.node == f.node.id()) plan.values[b.value] = f.value;
        for (const auto& b : plan.variables) plan.values[b.value] = impl().variable(b.node);
        for (const auto& b : plan.assign_targets) plan.values[b.value] = impl().variable(b.node);
        results.resize(fetches.size());
        try {
            execute(impl().graph, plan, impl().arena, results, impl().execute);
        } catch (...) {
            for (const auto& b : plan.placeholders) plan.values[b.value] = Tensor();  // drop the user's tensors
            throw;
        }
        for (const auto& b : plan.placeholders) plan.values[b.value] = Tensor();
        if (impl().execute.trace) impl().record_trace(plan);
    } catch (const Error& e) {
        throw in_call("Session::run", loc, fetches, targets, e);
    }
}

void Session::on_threads_impl(void (*call)(void*), void* fn) {
    impl().arena.execute([&] { call(fn); });
}

PlanInfo Session::plan_info(const std::vector<Expr>& fetches, const Feeds& feeds, const std::vector<Expr>& targets,
                            SourceLocation loc) {
    std::lock_guard lock(impl().mutex);
    try {
        const Plan& p = impl().plan_for(fetches, feeds, targets);
        return {p.step_count(), p.buffer_count(), p.peak_bytes(), p.unshared_bytes(), p.batch_size()};
    } catch (const Error& e) {
        throw in_call("Session::plan_info", loc, fetches, targets, e);
    }
}

std::vector<NodeTiming> Session::profile() const {
    std::lock_guard lock(impl().mutex);
    std::map<NodeId, NodeTiming> by_node;
    for (const auto& [key, plan] : impl().plans)
        for (const PlanStep& s : plan->steps) {
            if (s.calls == 0) continue;
            NodeTiming& t = by_node[s.node];
            t.node = s.node;
            t.calls += s.calls;
            t.seconds += s.seconds;
        }
    std::vector<NodeTiming> out;
    out.reserve(by_node.size());
    for (const auto& [id, t] : by_node) out.push_back(t);
    return out;
}

void Session::reset_profile() {
    std::lock_guard lock(impl().mutex);
    for (auto& [key, plan] : impl().plans)
        for (PlanStep& s : plan->steps) s.calls = 0, s.seconds = 0;
}

void Session::trace(bool on) {
    std::lock_guard lock(impl().mutex);
    if (on) {
        impl().trace_events.clear();
        impl().traced_runs = 0;
        impl().trace_begin = std::chrono::steady_clock::now();
    }
    impl().execute.trace = on;
}

std::vector<TraceEvent> Session::trace_events() const {
    std::lock_guard lock(impl().mutex);
    return impl().trace_events;
}

Tensor Session::value(const Expr& variable) {
    std::lock_guard lock(impl().mutex);
    impl().variable_node(variable, "Session::value");
    return impl().variable(variable.id()).clone();
}

void Session::set_value(const Expr& variable, const Tensor& value) {
    std::lock_guard lock(impl().mutex);
    const Node& n = impl().variable_node(variable, "Session::set_value");
    if (value.empty() || value.dtype() != n.type.dtype || value.shape() != n.type.shape)
        throw Error(fmt::format("Session::set_value: variable \"{}\" is {} {}, the value is {} {}", n.name,
                                dtype_name(n.type.dtype), n.type.shape, dtype_name(value.dtype()),
                                value.empty() ? Shape{} : value.shape()));
    impl().variable(variable.id()).copy_from(value);
}

}  // namespace adjoint
