// SessionOptions::check_numerics' report, internal to core/.
#pragma once

#include <optional>
#include <span>
#include <string>

#include <adjoint/core/graph.hpp>

namespace adjoint {

// Why node n's step stopped a checked run: `bad` is its output (which == 0) or its input
// `which`, a variable it overwrites, and holds NaN or infinity. Names the node (id, name,
// op, where it was built), what it is (a forward node, a gradient of which node by which
// rule, an update of which variable), and the statistics of `bad` and of every input.
// `in_place`: the input whose storage the output shares (a value the plan computes
// straight into the variable an assign takes it to), whose statistics are after the write.
std::string non_finite_report(const Graph& g, const Node& n, std::span<const Tensor* const> inputs, const Tensor& bad,
                              std::size_t which, std::optional<std::size_t> in_place = std::nullopt);

}  // namespace adjoint
