// Which nodes a plan runs, in which phase and order: assigns, values computed in place
// into variables, and the edges that make every read of a variable come before its write.
#include <functional>
#include <queue>

#include "plan_builder.hpp"

namespace adjoint {

std::size_t writes(const Node& n) { return n.kind == NodeKind::op ? n.op->writes_variables() : 0; }

std::string node_label(const Node& n) {
    return fmt::format("{} \"{}\" (built at {})", n.op_name(), n.name, where(n.built_at));
}

// The nodes the fetches and targets need: a reverse walk over inputs, with an explicit
// stack, and the per-node tables sized.
PlanBuilder::PlanBuilder(const Graph& graph, Plan& plan, std::span<const NodeId> fetch_ids,
                         std::span<const NodeId> target_ids)
    : g(graph),
      p(plan),
      fetches(fetch_ids),
      targets(target_ids),
      needed(graph.size(), false),
      phase(graph.size(), Phase::compute),
      assigned_by(graph.size(), none),
      computed_into(graph.size(), none),
      in_place_value(graph.size(), none),
      after(graph.size()),
      value_of(graph.size(), none),
      step_of(graph.size(), none),
      type(graph.size()) {
    std::vector<NodeId> stack(fetches.begin(), fetches.end());
    stack.insert(stack.end(), targets.begin(), targets.end());
    while (!stack.empty()) {
        const NodeId n = stack.back();
        stack.pop_back();
        if (needed[n]) continue;
        needed[n] = true;
        for (NodeId in : g.node(n).inputs)
            if (!needed[in]) stack.push_back(in);
    }
}

void PlanBuilder::find_writes() {
    // Phase::update = the writers (assigns, fused updates) and everything downstream of
    // them; ids are a topological order.
    for (NodeId n = 0; n < g.size(); ++n) {
        if (!needed[n]) continue;
        const Node& node = g.node(n);
        if (node.kind != NodeKind::op) continue;
        ops.push_back(n);
        if (writes(node) > 0) phase[n] = Phase::update;
        for (std::size_t i = 0; i < writes(node); ++i) {
            const NodeId var = node.inputs[i];
            if (g.node(var).kind != NodeKind::variable)
                throw Error(fmt::format("{} overwrites its input {}, \"{}\", which is a {}, not a variable",
                                        node_label(node), i, g.node(var).name, g.node(var).op_name()));
            if (assigned_by[var] != none)
                throw Error(fmt::format("variable \"{}\" is assigned twice in one run: by \"{}\" and \"{}\"",
                                        g.node(var).name, g.node(assigned_by[var]).name, node.name));
            assigned_by[var] = n;
        }
        for (NodeId in : node.inputs) phase[n] = std::max(phase[n], phase[in]);
    }

    // In place: an assign's value is computed straight into its variable, saving a copy,
    // when nothing can tell: the value is an element-wise op that only the assign reads
    // (and no one fetches), and every variable it reads is the target itself or one no
    // assign of this run writes. The value then runs in the update phase like the assign, after
    // every other reader of the variable.
    std::vector<bool> fetched(g.size(), false);
    for (NodeId f : fetches) fetched[f] = true;
    for (NodeId var = 0; var < g.size(); ++var) {
        if (assigned_by[var] == none) continue;
        const NodeId a = assigned_by[var];
        if (!g.node(a).op->is_assign()) continue;
        const NodeId v = g.node(a).inputs[1];
        const Node& value = g.node(v);
        if (value.kind != NodeKind::op || !value.op->elementwise() || fetched[v] || phase[v] != Phase::compute)
            continue;
        bool ok = true;
        for (NodeId c : g.consumers(v)) ok = ok && (!needed[c] || c == a);
        for (NodeId in : value.inputs)
            ok = ok && (g.node(in).kind != NodeKind::variable || in == var || assigned_by[in] == none);
        if (!ok) continue;
        computed_into[v] = var;
        in_place_value[var] = v;
        phase[v] = Phase::update;
    }
}

void PlanBuilder::order_steps() {
    // Order the op nodes: data edges, plus "every other reader of a variable runs before
    // its assign" (and before a value computed into it). Kahn's algorithm, smallest id
    // first, the compute phase before the update phase.
    std::vector<std::uint32_t> waiting(g.size(), 0);
    for (NodeId n : ops)
        for (NodeId in : g.node(n).inputs)
            if (g.node(in).kind == NodeKind::op) ++waiting[n];
    for (NodeId n : ops)
        for (NodeId in : g.node(n).inputs) {
            if (g.node(in).kind != NodeKind::variable || n == assigned_by[in] || n == in_place_value[in]) continue;
            for (NodeId writer : {assigned_by[in], in_place_value[in]})
                if (writer != none) {
                    after[n].push_back(writer);
                    ++waiting[writer];
                }
        }
    order.reserve(ops.size());
    for (const Phase ph : {Phase::compute, Phase::update}) {
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
            if (waiting[n] != 0 && writes(g.node(n)) > 0) stuck += fmt::format(" \"{}\"", g.node(n).name);
        throw Error(
            fmt::format("these updates (assigns or fused optimizer steps) read a variable that another "
                        "update of the same run must write first, in a cycle:{}",
                        stuck));
    }
}

}  // namespace adjoint
