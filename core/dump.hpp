// Dumps of a graph for people: text (one line per node, in id order) and Graphviz DOT.
#pragma once

#include <ostream>
#include <vector>

#include "graph.hpp"

namespace adjoint {

// One line per node: id, name, op and attributes, inputs, dtype and shape, and for
// gradient nodes the forward node and rule they came from.
//   12  h1/matmul = matmul(x, w)  f32 (batch, 512)
void dump_text(const Graph& g, std::ostream& out);

// Graphviz DOT through boost::write_graphviz: placeholders, variables, constants, ops and
// gradient ops drawn distinctly, labelled with their shapes. With `fetches`, only the
// nodes those fetches need are drawn.
void dump_dot(const Graph& g, std::ostream& out, const std::vector<Expr>& fetches = {});

}  // namespace adjoint
