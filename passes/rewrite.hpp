// The engine every pass runs on, internal to passes/. A pass is a rule tried at each node
// of the input graph in id order: it sees the node, its inputs as already rewritten, and
// how many live consumers each original node has, and returns either nothing (copy the
// node as it is) or the Expr that stands for it in the new graph (one of the rewritten
// inputs, an existing node, or nodes it builds). Then the new graph is compacted: only
// what the roots need is kept, in the order it was built, with its names and provenance.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <adjoint/core/graph.hpp>
#include <adjoint/passes/passes.hpp>

namespace adjoint::passes {

class RuleContext {
public:
    const Graph& old;              // the pass's input graph
    Graph& g;                      // the graph being built
    const Node& node;              // the node of `old` the rule is asked about
    std::span<const Expr> inputs;  // its inputs, already rewritten (nodes of g)

    // How many live nodes of `old` read node `id` (a root counts as one more).
    std::size_t consumers(NodeId id) const;
    // The node of `old` a node of g was built for (nullopt for nodes a rule built inside).
    std::optional<NodeId> origin(const Expr& e) const;
    // For rules that absorb a node of g (the matmul a fused matmul_bias replaces): true if
    // it was built for exactly one node of `old` and that node has one live consumer; its
    // gradient nodes' provenance then moves to the rule's result.
    bool only_used_here(const Expr& e) const;
    void absorb(const Expr& e);
    // Builds `op` on `in` (nodes of g), named `name` in the scope of the node asked about
    // ("dense/add" -> "dense/<name>"; "" keeps its name), built at its source line, with its provenance.
    Expr build(std::shared_ptr<const OpBase> op, std::span<const Expr> in, std::string_view name);
    // A constant named after the node asked about.
    Expr constant(Tensor value);
    // One line of the pass's log.
    void log(std::string line);

private:
    friend Rewritten rewrite(const Graph&, std::span<const Expr>, std::string_view,
                             const std::function<std::optional<Expr>(RuleContext&)>&);
    struct State;
    RuleContext(const Graph& o, Graph& n, const Node& nd, std::span<const Expr> in, State& s)
        : old(o), g(n), node(nd), inputs(in), state_(s) {}
    State& state_;
};

using Rule = std::function<std::optional<Expr>(RuleContext&)>;

// Runs `rule` over the ancestors of `roots` (nodes of g) and returns the compacted graph.
// The log says what the rule changed and which nodes were dropped as no longer used.
Rewritten rewrite(const Graph& g, std::span<const Expr> roots, std::string_view pass, const Rule& rule);

// Input i of node e, in e's graph.
inline Expr input(const Expr& e, std::size_t i) { return e.graph().expr(e.node().inputs.at(i)); }

// "dense/add" with "matmul_bias" -> "dense/matmul_bias".
std::string sibling_name(std::string_view name, std::string_view base);

}  // namespace adjoint::passes
