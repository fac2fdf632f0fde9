// Reverse-mode differentiation as graph building: gradients() appends gradient nodes to
// the graph, made of ordinary ops, so they can be dumped, fetched, and differentiated again.
#pragma once

#include <optional>
#include <vector>

#include <adjoint/core/graph.hpp>
#include <adjoint/core/source_location.hpp>

namespace adjoint {

// The gradient of `y` with respect to each of `wrt`, as new nodes of y's graph.
// - y must be a scalar unless `dy` is given: then the result is the vector-Jacobian
//   product dy^T (dy / dwrt), and dy must have y's shape and dtype.
// - A wrt that y does not depend on gets a node of zeros of its shape.
// - Nothing flows through stop_gradient, argmax, equal, one_hot, element_count, or casts to and
//   from integers; every other op has a rule.
// Gradient nodes are named "grad/<forward node>/<op>" and carry their provenance.
std::vector<Expr> gradients(const Expr& y, const std::vector<Expr>& wrt, std::optional<Expr> dy = std::nullopt,
                            SourceLocation loc = SourceLocation::current());

}  // namespace adjoint
