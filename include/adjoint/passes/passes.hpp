// Graph passes: rewrites of a graph into a new one that computes the same roots with fewer
// or cheaper nodes, each with a log of what it changed, node by node. The input graph is
// never changed; the result says where each of its nodes went, so fetches, feeds and
// variables can be found again (names are kept).
//
//   dead-nodes   drops the ops and constants the roots do not need (placeholders and
//                variables stay: they are the graph's feeds and its state)
//   fold         computes ops whose inputs are all constants, once, into a constant
//   simplify     x * 1, 1 * x, x / 1, x + (-0.0), (-0.0) + x, x - (+0.0), -(-x) -> x
//                (each keeps every bit; not x + (+0.0), which turns -0.0 into +0.0);
//                transpose(transpose(x)), reshape(x) to x's own shape -> x;
//                reshape(reshape(x)) -> one reshape; cast to x's own dtype -> x
//   cse          merges ops of one kind, attributes and inputs, and equal constants
//   fuse         relu?(matmul(x, w) + b) -> matmul_bias (what Dense builds; the same
//                bits); -sum(t * log(softmax(z)), -1) -> softmax_cross_entropy(z, t),
//                and with t = one_hot(labels) ->
//                sparse_softmax_cross_entropy(z, labels) (what the Keras losses build;
//                finite where log(softmax) underflows to -inf, otherwise within rounding)
//
// Run them on the forward graph before gradients(): the fused ops then bring their own
// gradient rules, and a hand-written model gets the graph Sequential builds. On a graph
// that already holds gradients, a fusion happens only where no gradient node reads the
// nodes it would remove.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include <adjoint/core/graph.hpp>

namespace adjoint::passes {

struct PassLog {
    std::string pass;
    std::vector<std::string> lines;  // one per change: "fused dense/matmul, dense/add -> ..."
    std::size_t nodes_before = 0, nodes_after = 0;
};

struct Rewritten {
    Graph from;                              // the input graph
    Graph graph;                             // the result
    std::vector<std::optional<NodeId>> map;  // by node id of `from`: its node in `graph`
    std::vector<Expr> roots;                 // the roots, in `graph`
    std::vector<PassLog> logs;               // one per pass run
    // The node standing for `e` (a node of `from`) in `graph`. Throws naming e if the
    // passes removed it (it was not needed by the roots, or was fused into another node:
    // make it a root to keep it).
    Expr operator[](const Expr& e) const;
};

Rewritten eliminate_dead_nodes(const Graph& g, std::span<const Expr> roots);
Rewritten fold_constants(const Graph& g, std::span<const Expr> roots);
Rewritten simplify(const Graph& g, std::span<const Expr> roots);
Rewritten eliminate_common_subexpressions(const Graph& g, std::span<const Expr> roots);
Rewritten fuse(const Graph& g, std::span<const Expr> roots);

// The passes by name, in the order optimize() runs them.
inline const std::vector<std::string> default_passes = {"dead-nodes", "fold", "simplify", "cse", "fuse"};

struct Options {
    std::vector<std::string> passes = default_passes;
    // If set: the folder (created if missing) gets 00-input.txt, then for each pass
    // NN-<pass>.txt (the graph after it) and NN-<pass>.log (what it changed).
    std::string dump_dir;
};

// Runs the passes in order; the result maps the input's nodes through all of them, and
// holds every pass's log. An unknown pass name is an Error listing the known ones.
Rewritten optimize(const Graph& g, std::span<const Expr> roots, const Options& options = {});

// The logs as text: a header per pass ("fuse: 44 -> 39 nodes") and its lines.
std::string format_logs(std::span<const PassLog> logs);

}  // namespace adjoint::passes
