// The passes of Plan::compile over one shared state, in the order compile() runs them.
// Internal to core/.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "plan.hpp"

namespace adjoint {

inline constexpr std::size_t none = static_cast<std::size_t>(-1);

struct PlanBuilder {
    const Graph& g;
    Plan& p;
    std::span<const NodeId> fetches, targets;
    std::vector<bool> needed;                     // by node: some fetch or target needs it
    std::vector<Phase> phase;                     // by node: update = runs after every other kernel
    std::vector<NodeId> ops;                      // needed op nodes, by id
    std::vector<NodeId> assigned_by;              // variable -> the op overwriting it
    std::vector<NodeId> computed_into;            // value node -> the variable it is computed into
    std::vector<NodeId> in_place_value;           // variable -> that value node
    std::vector<std::vector<NodeId>> after;       // extra edges: reader of a variable -> its writers
    std::vector<NodeId> order;                    // op nodes in execution order
    std::vector<std::size_t> value_of, step_of;   // by node: index into Plan::values, step index
    std::vector<TypedShape> type;                 // by node: concrete dtype and shape
    std::vector<std::vector<std::size_t>> edges;  // by step: the steps that wait for it

    PlanBuilder(const Graph& graph, Plan& plan, std::span<const NodeId> fetch_ids, std::span<const NodeId> target_ids);

    void find_writes();                                   // plan_order.cpp
    void order_steps();                                   // plan_order.cpp
    void resolve_types(std::span<const FeedType> feeds);  // plan.cpp
    void make_steps(bool snapshot_writes);                // plan.cpp
    void assign_buffers();                                // plan_buffers.cpp
    void link_steps();                                    // plan_buffers.cpp

    // "fetch \"loss\"" or "target \"RMSprop/...\"": the first fetch (else target) that
    // depends on node n, for errors.
    std::string who_needs(NodeId n) const;  // plan.cpp
};

// How many variables node n overwrites (OpBase::writes_variables; 0 for leaves).
std::size_t writes(const Node& n);
std::string node_label(const Node& n);

}  // namespace adjoint
