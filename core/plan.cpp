#include "plan.hpp"

#include <algorithm>
#include <functional>
#include <queue>
#include <stdexcept>

#include "graph_impl.hpp"

namespace adjoint {

namespace {

constexpr std::size_t none = static_cast<std::size_t>(-1);

std::string node_label(const Node& n) {
    return fmt::format("{} \"{}\" (built at {})", n.kind_name(), n.name, where(n.built_at));
}

// The nodes the fetches need: a reverse walk over inputs, with an explicit stack.
std::vector<bool> needed_nodes(const Graph& g, std::span<const NodeId> fetches) {
    std::vector<bool> needed(g.size(), false);
    std::vector<NodeId> stack(fetches.begin(), fetches.end());
    while (!stack.empty()) {
        const NodeId n = stack.back();
        stack.pop_back();
        if (needed[n]) continue;
        needed[n] = true;
        for (NodeId in : g.node(n).inputs)
            if (!needed[in]) stack.push_back(in);
    }
    return needed;
}

bool is_assign(const Node& n) { return n.kind == NodeKind::op && n.op->writes_variable(); }

}  // namespace

std::unique_ptr<Plan> Plan::compile(const Graph& g, std::span<const NodeId> fetches,
                                    std::span<const NodeId> targets, std::span<const FeedType> feeds) {
    auto plan = std::make_unique<Plan>();
    Plan& p = *plan;
    std::vector<NodeId> wanted(fetches.begin(), fetches.end());
    wanted.insert(wanted.end(), targets.begin(), targets.end());
    const std::vector<bool> needed = needed_nodes(g, wanted);

    // Phase 2 = the assigns and everything downstream of them; ids are a topological order.
    std::vector<int> phase(g.size(), 0);
    std::vector<NodeId> ops;  // needed op nodes
    std::vector<NodeId> assigned_by(g.size(), none);  // variable -> its assign
    for (NodeId n = 0; n < g.size(); ++n) {
        if (!needed[n]) continue;
        const Node& node = g.node(n);
        if (node.kind != NodeKind::op) continue;
        ops.push_back(n);
        if (is_assign(node)) {
            phase[n] = 1;
            const NodeId var = node.inputs[0];
            if (assigned_by[var] != none)
                throw Error(fmt::format("variable \"{}\" is assigned twice in one run: by \"{}\" and \"{}\"",
                                        g.node(var).name, g.node(assigned_by[var]).name, node.name));
            assigned_by[var] = n;
        }
        for (NodeId in : node.inputs) phase[n] = std::max(phase[n], phase[in]);
    }

    // Order the op nodes: data edges, plus "every other reader of a variable runs before
    // its assign". Kahn's algorithm, smallest id first, phase 1 before phase 2.
    std::vector<std::vector<NodeId>> after(g.size());  // extra edges reader -> assign
    std::vector<std::uint32_t> waiting(g.size(), 0);
    for (NodeId n : ops)
        for (NodeId in : g.node(n).inputs)
            if (g.node(in).kind == NodeKind::op) ++waiting[n];
    for (NodeId n : ops)
        for (NodeId in : g.node(n).inputs)
            if (g.node(in).kind == NodeKind::variable && assigned_by[in] != none && assigned_by[in] != n) {
                after[n].push_back(assigned_by[in]);
                ++waiting[assigned_by[in]];
            }
    std::vector<NodeId> order;
    order.reserve(ops.size());
    for (int ph = 0; ph < 2; ++ph) {
        std::priority_queue<NodeId, std::vector<NodeId>, std::greater<>> ready;
        for (NodeId n : ops)
            if (phase[n] == ph && waiting[n] == 0) ready.push(n);
        while (!ready.empty()) {
            const NodeId n = ready.top();
            ready.pop();
            order.push_back(n);
            auto release = [&](NodeId c) {
                if (needed[c] && --waiting[c] == 0 && phase[c] == ph) ready.push(c);
            };
            for (NodeId c : g.consumers(n))
                for (NodeId in : g.node(c).inputs)
                    if (in == n) release(c);  // once per edge, as counted above
            for (NodeId a : after[n]) release(a);
        }
    }
    if (order.size() != ops.size()) {
        std::string stuck;
        for (NodeId n : ops)
            if (waiting[n] != 0 && is_assign(g.node(n))) stuck += fmt::format(" \"{}\"", g.node(n).name);
        throw Error(fmt::format("these assigns read a variable that another assign of the same run must "
                                "write first, in a cycle:{}",
                                stuck));
    }

    // Slots: leaves first (bound at each run), then one per step.
    std::vector<std::size_t> slot(g.size(), none);
    std::vector<TypedShape> type(g.size());
    auto new_slot = [&](NodeId n) {
        slot[n] = p.values.size();
        p.values.emplace_back();
    };

    // Feeds fix the batch size: every fed placeholder with a batch dim, needed or not.
    std::vector<const FeedType*> feed_of(g.size(), nullptr);
    NodeId batch_source = none;
    for (const FeedType& f : feeds) {
        feed_of[f.node] = &f;
        const Node& node = g.node(f.node);
        if (!node.type.shape.has_batch()) continue;
        const std::int64_t b = f.type.shape[0];
        if (p.batch >= 0 && b != p.batch)
            throw Error(fmt::format("placeholder \"{}\" is fed a batch of {} but placeholder \"{}\" a batch of {}",
                                    node.name, b, g.node(batch_source).name, p.batch));
        p.batch = b;
        batch_source = f.node;
    }
    for (NodeId n = 0; n < g.size(); ++n) {
        const Node& node = g.node(n);
        if (needed[n] && node.kind == NodeKind::placeholder && !feed_of[n])
            throw Error(fmt::format("placeholder \"{}\" {} {} is needed by the fetches but was not fed", node.name,
                                    dtype_name(node.type.dtype), node.type.shape));
    }

    for (NodeId n = 0; n < g.size(); ++n) {
        if (!needed[n]) continue;
        const Node& node = g.node(n);
        switch (node.kind) {
            case NodeKind::placeholder:
                type[n] = feed_of[n]->type;
                new_slot(n);
                p.placeholders.push_back({slot[n], n});
                break;
            case NodeKind::variable:
                type[n] = node.type;
                new_slot(n);
                p.variables.push_back({slot[n], n});
                break;
            case NodeKind::constant:
                type[n] = node.type;
                new_slot(n);
                p.values[slot[n]] = node.value;
                break;
            case NodeKind::op: break;
        }
    }

    // Concrete shapes, in order.
    std::vector<TypedShape> in_types;
    for (NodeId n : order) {
        const Node& node = g.node(n);
        in_types.clear();
        for (NodeId in : node.inputs) in_types.push_back(type[in]);
        try {
            type[n] = node.op->infer(in_types, p.batch);
        } catch (const std::exception& ex) {
            throw Error(fmt::format("{}: with batch size {}: {}", node_label(node), p.batch, ex.what()));
        }
        if (type[n].shape.has_batch())
            throw Error(fmt::format("{} has shape {}, but this run's batch size is unknown: feed a placeholder that "
                                    "has a batch dim",
                                    node_label(node), node.type.shape));
        new_slot(n);
    }

    // Steps and their inputs.
    std::vector<std::size_t> step_of(g.size(), none);
    for (NodeId n : order) {
        const Node& node = g.node(n);
        PlanStep s{n, node.op.get(), p.input_ptrs.size(), node.inputs.size(), slot[n], {}, 0, phase[n], {}};
        for (NodeId in : node.inputs) p.input_ptrs.push_back(&p.values[slot[in]]);
        step_of[n] = p.steps.size();
        if (is_assign(node)) p.assign_targets.push_back({slot[n], node.inputs[0]});
        p.steps.push_back(std::move(s));
    }
    for (std::size_t i = 0; i < fetches.size(); ++i) {
        const NodeId f = fetches[i];
        p.fetch_slots.push_back(slot[f]);
        if (step_of[f] != none) p.steps[step_of[f]].fetch_positions.push_back(i);
        else p.leaf_fetches.push_back({slot[f], i});
    }

    // Liveness: the last step (in order) that reads each step's value.
    std::vector<std::size_t> last_use(p.steps.size());
    for (std::size_t s = 0; s < p.steps.size(); ++s) last_use[s] = s;
    for (std::size_t s = 0; s < p.steps.size(); ++s)
        for (NodeId in : g.node(p.steps[s].node).inputs)
            if (step_of[in] != none) last_use[step_of[in]] = std::max(last_use[step_of[in]], s);

    // Buffers, greedily: the smallest free buffer that fits, else the largest free one
    // grown, else a new one. A step that takes over a buffer waits for everyone who used
    // its previous value (control edges), so reuse is safe under parallel execution.
    struct Buffer {
        std::size_t bytes = 0;
        std::vector<std::size_t> users;  // steps that wrote or read its current value
    };
    std::vector<Buffer> bufs;
    std::vector<std::size_t> free_bufs, buffer_of(p.steps.size(), none);
    std::vector<std::vector<std::size_t>> edges(p.steps.size());
    auto edge = [&](std::size_t from, std::size_t to) {
        if (from != to && p.steps[from].phase == p.steps[to].phase) edges[from].push_back(to);
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
        const std::size_t bytes = static_cast<std::size_t>(t.shape.numel()) * dtype_size(t.dtype);
        p.unshared += bytes;
        if (!is_assign(g.node(n))) {
            std::size_t best = none;
            for (std::size_t i = 0; i < free_bufs.size(); ++i) {
                const Buffer& b = bufs[free_bufs[i]];
                const bool fits = b.bytes >= bytes;
                if (best == none) best = i;
                else {
                    const Buffer& cur = bufs[free_bufs[best]];
                    const bool cur_fits = cur.bytes >= bytes;
                    if (fits && (!cur_fits || b.bytes < cur.bytes)) best = i;
                    else if (!fits && !cur_fits && b.bytes > cur.bytes) best = i;
                }
            }
            std::size_t b;
            if (best != none) {
                b = free_bufs[best];
                free_bufs.erase(free_bufs.begin() + static_cast<std::ptrdiff_t>(best));
                for (std::size_t u : bufs[b].users) edge(u, s);
                bufs[b].bytes = std::max(bufs[b].bytes, bytes);
            } else {
                b = bufs.size();
                bufs.push_back({bytes, {}});
            }
            bufs[b].users = {s};
            buffer_of[s] = b;
        }
        // Release what this step read for the last time, and its own value if nobody reads it.
        for (NodeId in : g.node(n).inputs)
            if (step_of[in] != none && last_use[step_of[in]] == s && buffer_of[step_of[in]] != none &&
                std::find(free_bufs.begin(), free_bufs.end(), buffer_of[step_of[in]]) == free_bufs.end())
                free_bufs.push_back(buffer_of[step_of[in]]);
        if (last_use[s] == s && buffer_of[s] != none) free_bufs.push_back(buffer_of[s]);
    }
    for (const Buffer& b : bufs) {
        p.buffers.emplace_back(Shape{static_cast<std::int64_t>(b.bytes)}, DType::u8);
        p.peak += p.buffers.back().capacity();
    }
    for (std::size_t s = 0; s < p.steps.size(); ++s) {
        const TypedShape& t = type[p.steps[s].node];
        if (buffer_of[s] != none) p.values[p.steps[s].output] = p.buffers[buffer_of[s]].view(t.shape, t.dtype);
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
        if (p.steps[s].predecessors == 0) p.roots[p.steps[s].phase].push_back(s);
    return plan;
}

}  // namespace adjoint
