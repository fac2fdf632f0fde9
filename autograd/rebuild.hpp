// The graph a gradient check runs on, internal to autograd/: the part of the graph that an
// output depends on, copied into a new graph, in float64 where it was float32, with chosen
// intermediate nodes cut out and replaced by placeholders (so that they can be perturbed).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include <adjoint/core/graph.hpp>

namespace adjoint {

struct Rebuilt {
    Graph g;
    std::vector<std::optional<Expr>> copy;  // by original node id: its copy, where needed
    bool widened = false;                   // float32 became float64
    std::string why_not_widened;            // when it was asked for but could not be done
};

// Copies the ancestors of `output` (and output), and the nodes of `keep` (leaves or cut
// nodes, which need no inputs). Each node of `cut` becomes a placeholder of its own name
// and type. With `widen`, f32 placeholders, variables (at their initial
// values) and constants become f64, and so do casts and one_hots to f32; if an op then
// refuses its inputs (it mixes in a dtype of its own), the copy is made without widening
// and why_not_widened says why.
Rebuilt rebuild(const Expr& output, std::span<const NodeId> cut, std::span<const NodeId> keep, bool widen);

// t as f64 if it is f32 (a copy), else t itself.
Tensor widened(const Tensor& t);

}  // namespace adjoint
