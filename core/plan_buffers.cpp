// Buffers by liveness, and the dependency lists the executor follows.
#include <algorithm>

#include "plan_builder.hpp"

namespace adjoint {

void PlanBuilder::assign_buffers() {
    // Which steps' values live in the pool: not those that are a variable's storage.
    auto pooled = [&](std::size_t s) {
        const NodeId n = p.steps[s].node;
        return writes(g.node(n)) == 0 && computed_into[n] == none;
    };
    // Views (OpBase::is_view) of a pooled value share its buffer: root[s] is the step
    // whose value owns step s's bytes (s itself unless s is such a view).
    std::vector<std::size_t> root(p.steps.size());
    for (std::size_t s = 0; s < p.steps.size(); ++s) {
        root[s] = s;
        const Node& node = g.node(p.steps[s].node);
        if (!node.op->is_view()) continue;
        const std::size_t from = step_of[node.inputs[0]];
        if (from == none || !pooled(from)) continue;
        root[s] = root[from];
        p.steps[s].view = true;
    }
    // Liveness of each buffer's value: the last step (in order) that reads it, through any
    // of its views, or the last view of it.
    std::vector<std::size_t> last_use(p.steps.size());
    for (std::size_t s = 0; s < p.steps.size(); ++s) {
        last_use[s] = s;
        last_use[root[s]] = std::max(last_use[root[s]], s);
    }
    for (std::size_t s = 0; s < p.steps.size(); ++s)
        for (NodeId in : g.node(p.steps[s].node).inputs)
            if (step_of[in] != none) last_use[root[step_of[in]]] = std::max(last_use[root[step_of[in]]], s);

    // Buffers, greedily: the smallest free buffer that fits, else the largest free one
    // grown, else a new one. A step that takes over a buffer waits for everyone who used
    // its previous value (control edges), so reuse is safe under parallel execution.
    struct Buffer {
        std::size_t bytes = 0;
        std::vector<std::size_t> users;  // steps that wrote or read its current value
    };
    std::vector<Buffer> bufs;
    std::vector<std::size_t> free_bufs, buffer_of(p.steps.size(), none), workspace_of(p.steps.size(), none);
    std::vector<std::size_t> workspace(p.steps.size(), 0);
    std::vector<TypedShape> in_types;
    for (std::size_t s = 0; s < p.steps.size(); ++s) {
        const Node& node = g.node(p.steps[s].node);
        in_types.clear();
        for (NodeId in : node.inputs) in_types.push_back(type[in]);
        try {
            workspace[s] = node.op->workspace_bytes(in_types);
        } catch (const std::exception& ex) {
            throw Error(fmt::format("{}: with batch size {}: its workspace: {}", node_label(node), p.batch, ex.what()));
        }
    }
    edges.assign(p.steps.size(), {});
    auto edge = [&](std::size_t from, std::size_t to) {
        if (from != to && p.steps[from].phase == p.steps[to].phase) edges[from].push_back(to);
    };
    // A free buffer of at least `need` bytes for step s, which waits for the buffer's
    // previous users; else a new one.
    auto take = [&](std::size_t s, std::size_t need) {
        std::size_t best = none;
        for (std::size_t i = 0; i < free_bufs.size(); ++i) {
            const Buffer& b = bufs[free_bufs[i]];
            const bool fits = b.bytes >= need;
            // Better: the first; a fitting one smaller than the best, or fitting where the best
            // does not; while none fits, a larger one (it grows the least).
            auto better = [&] {
                const Buffer& cur = bufs[free_bufs[best]];
                const bool cur_fits = cur.bytes >= need;
                if (fits) return !cur_fits || b.bytes < cur.bytes;
                return !cur_fits && b.bytes > cur.bytes;
            };
            if (best == none || better()) best = i;
        }
        std::size_t b;
        if (best != none) {
            b = free_bufs[best];
            free_bufs.erase(free_bufs.begin() + static_cast<std::ptrdiff_t>(best));
            for (std::size_t u : bufs[b].users) edge(u, s);
            bufs[b].bytes = std::max(bufs[b].bytes, need);
        } else {
            b = bufs.size();
            bufs.push_back({need, {}});
        }
        bufs[b].users = {s};
        return b;
    };
    for (std::size_t s = 0; s < p.steps.size(); ++s) {
        const NodeId n = p.steps[s].node;
        for (NodeId in : g.node(n).inputs)
            if (step_of[in] != none) {
                edge(step_of[in], s);
                if (buffer_of[step_of[in]] != none) bufs[buffer_of[step_of[in]]].users.push_back(s);
            }
        for (NodeId a : after[n]) edge(s, step_of[a]);
        const TypedShape& t = type[n];
        const std::size_t bytes = byte_size(t.shape, t.dtype);  // checked when its type was resolved
        if (root[s] != s) {                                     // a view: its root's buffer, already holding its bytes
            buffer_of[s] = buffer_of[root[s]];
        } else {
            p.unshared += bytes;
            if (pooled(s)) buffer_of[s] = take(s, bytes);  // the others live in their variable
        }
        // The step's scratch: a buffer of the pool held for this step alone, so it differs
        // from its output and inputs, and is free again right after it.
        if (workspace[s] > 0) {
            workspace_of[s] = take(s, workspace[s]);
            p.unshared += workspace[s];
        }
        // Release what this step read for the last time (through any view), and its own
        // value if nobody reads it.
        auto release = [&](std::size_t owner) {
            const std::size_t b = buffer_of[owner];
            if (last_use[owner] == s && b != none &&
                std::find(free_bufs.begin(), free_bufs.end(), b) == free_bufs.end())
                free_bufs.push_back(b);
        };
        for (NodeId in : g.node(n).inputs)
            if (step_of[in] != none) release(root[step_of[in]]);
        release(root[s]);
        if (workspace_of[s] != none) free_bufs.push_back(workspace_of[s]);
    }
    for (const Buffer& b : bufs) {
        p.buffers.emplace_back(Shape{static_cast<std::int64_t>(b.bytes)}, DType::u8);
        p.peak += p.buffers.back().capacity();
    }
    for (std::size_t s = 0; s < p.steps.size(); ++s) {
        const TypedShape& t = type[p.steps[s].node];
        if (buffer_of[s] != none) p.values[p.steps[s].output] = p.buffers[buffer_of[s]].view(t.shape, t.dtype);
        if (workspace_of[s] != none)
            p.steps[s].workspace = {static_cast<std::byte*>(p.buffers[workspace_of[s]].raw()), workspace[s]};
    }
}

void PlanBuilder::link_steps() {
    // Collectives (OpBase::is_collective: an allreduce) wait for each other in the plan's
    // order, which every process computes alike from the same graph: each process then
    // enters them in the same order, whatever its threads do, as a collective needs.
    std::size_t last_collective = none;
    for (std::size_t s = 0; s < p.steps.size(); ++s) {
        if (!p.steps[s].op->is_collective()) continue;
        if (last_collective != none) edges[last_collective].push_back(s);
        last_collective = s;
    }
    // Successor lists without repeats, and the roots of each phase.
    p.pending = std::make_unique<std::atomic<std::uint32_t>[]>(p.steps.size());
    for (std::size_t s = 0; s < p.steps.size(); ++s) {
        auto& e = edges[s];
        std::sort(e.begin(), e.end());
        e.erase(std::unique(e.begin(), e.end()), e.end());
        for (std::size_t t : e) ++p.steps[t].predecessors;
        p.steps[s].successors = std::move(e);
    }
    for (std::size_t s = 0; s < p.steps.size(); ++s)
        if (p.steps[s].predecessors == 0) p.roots[static_cast<std::size_t>(p.steps[s].phase)].push_back(s);
}

}  // namespace adjoint
