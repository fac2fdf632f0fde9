// SessionOptions::check_numerics' report, internal to core/.
#pragma once

#include <span>
#include <string>

#include <adjoint/core/graph.hpp>

namespace adjoint {

// Why node n's step stopped a checked run: `bad` is its output (which == 0) or its input
// `which`, a variable it overwrites, and holds NaN or infinity. Names the node (id, name,
// op, where it was built), what it is (a forward node, a gradient of which node by which
// rule, an update of which variable), and the statistics of `bad` and of every input.
std::string non_finite_report(const Graph& g, const Node& n, std::span<const Tensor* const> inputs, const Tensor& bad,
                              std::size_t which);

}  // namespace adjoint
