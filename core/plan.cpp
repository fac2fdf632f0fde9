// Plan::compile: the passes in order (plan_builder.hpp), and the two that give every
// value a type and a step.
#include "plan.hpp"

#include <algorithm>
#include <stdexcept>

#include "plan_builder.hpp"

namespace adjoint {

std::unique_ptr<Plan> Plan::compile(const Graph& g, std::span<const NodeId> fetches, std::span<const NodeId> targets,
                                    std::span<const FeedType> feeds, bool snapshot_writes) {
    auto plan = std::make_unique<Plan>();
    PlanBuilder b(g, *plan, fetches, targets);
    b.find_writes();
    b.order_steps();
    b.resolve_types(feeds);
    b.make_steps(snapshot_writes);
    b.assign_buffers();
    b.link_steps();
    return plan;
}

void PlanBuilder::resolve_types(std::span<const FeedType> feeds) {
    // Values: leaves first (bound at each run), then one per step.
    auto new_value = [&](NodeId n) {
        value_of[n] = p.values.size();
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
            throw Error(fmt::format("placeholder \"{}\" {} {} is needed by {} but was not fed", node.name,
                                    dtype_name(node.type.dtype), node.type.shape, who_needs(n)));
    }

    for (NodeId n = 0; n < g.size(); ++n) {
        if (!needed[n]) continue;
        const Node& node = g.node(n);
        switch (node.kind) {
            case NodeKind::placeholder:
                type[n] = feed_of[n]->type;
                new_value(n);
                p.placeholders.push_back({value_of[n], n});
                break;
            case NodeKind::variable:
                type[n] = node.type;
                new_value(n);
                p.variables.push_back({value_of[n], n});
                break;
            case NodeKind::constant:
                type[n] = node.type;
                new_value(n);
                p.values[value_of[n]] = node.value;
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
            if (!type[n].shape.has_batch()) (void)byte_size(type[n].shape, type[n].dtype);  // fits, or an Error
        } catch (const std::exception& ex) {
            throw Error(fmt::format("{}: with batch size {}: {}", node_label(node), p.batch, ex.what()));
        }
        if (type[n].shape.has_batch())
            throw Error(
                fmt::format("{} has shape {}, but this run's batch size is unknown: feed a placeholder that "
                            "has a batch dim",
                            node_label(node), node.type.shape));
        new_value(n);
    }
}

std::string PlanBuilder::who_needs(NodeId n) const {
    auto depends = [&](NodeId from) {
        std::vector<NodeId> stack{from};
        std::vector<bool> seen(g.size(), false);
        while (!stack.empty()) {
            const NodeId m = stack.back();
            stack.pop_back();
            if (m == n) return true;
            if (seen[m]) continue;
            seen[m] = true;
            for (NodeId in : g.node(m).inputs) stack.push_back(in);
        }
        return false;
    };
    for (NodeId f : fetches)
        if (depends(f)) return fmt::format("fetch \"{}\"", g.node(f).name);
    for (NodeId t : targets)
        if (depends(t)) return fmt::format("target \"{}\"", g.node(t).name);
    return "the run";
}

void PlanBuilder::make_steps(bool snapshot_writes) {
    // Steps and their inputs.
    for (NodeId n : order) {
        const Node& node = g.node(n);
        PlanStep s{n, node.op.get(), p.input_ptrs.size(), node.inputs.size(), value_of[n], {}, 0, phase[n], {}, {}};
        for (NodeId in : node.inputs) p.input_ptrs.push_back(&p.values[value_of[in]]);
        step_of[n] = p.steps.size();
        if (writes(node) > 0) p.assign_targets.push_back({value_of[n], node.inputs[0]});
        if (computed_into[n] != none) p.assign_targets.push_back({value_of[n], computed_into[n]});
        p.steps.push_back(std::move(s));
    }
    for (std::size_t i = 0; i < fetches.size(); ++i) {
        const NodeId f = fetches[i];
        if (step_of[f] != none) p.steps[step_of[f]].fetch_positions.push_back(i);
        else p.leaf_fetches.push_back({value_of[f], i});
    }
    // Snapshots, if a kernel that may fail runs in the update phase: one that writes no
    // variable and is not an element-wise value computed into one.
    const bool fallible_update = std::any_of(order.begin(), order.end(), [&](NodeId n) {
        return phase[n] == Phase::update && writes(g.node(n)) == 0 && computed_into[n] == none;
    });
    if (fallible_update || snapshot_writes)
        for (const Plan::Binding& v : p.variables)
            if (assigned_by[v.node] != none || in_place_value[v.node] != none)
                p.snapshots.push_back({v.value, Tensor(type[v.node].shape, type[v.node].dtype)});
}

}  // namespace adjoint
