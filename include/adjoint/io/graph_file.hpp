// Graph files: a graph as text, one line per node, that reads back into the same graph
// (ops, attributes, types, names, source lines and gradient provenance). Values are not
// in it: variables keep their initializer ("glorot_uniform(seed=1)"), which builds the
// same initial value again, and trained weights go in checkpoints. Only constants, and
// initial values that no initializer of the library makes again, are written out,
// element by element (or as one fill value). A graph holding an op of a user's own (not
// in the library's op list) cannot be written: graph_to_text says which node.
//
//   adjoint graph 1
//   0 placeholder "input" f32 "(batch, 784)" at "prog.cpp" 12
//   1 variable "w" f32 "(784, 10)" init "glorot_uniform(seed=1)" at "prog.cpp" 13
//   2 op "y" f32 "(batch, 10)" matmul "" in 0,1 at "prog.cpp" 14
//   5 constant "grad/loss/ones" f32 "()" fill 0x1p+0 at "prog.cpp" 20 grad 4 "seed"
//
// Strings are JSON string literals; floating values are hexadecimal, so they read back to
// the same bits (a NaN's payload aside).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <adjoint/core/graph.hpp>

namespace adjoint {

struct GraphFileOptions {
    // The most bytes of initial values (variables and constants together) a file may ask
    // for: a line of a few bytes can describe a variable of any size.
    std::size_t max_value_bytes = std::size_t{4} << 30;
};

std::string graph_to_text(const Graph& g);
// Throws an adjoint::Error naming `source`, the line and what is wrong with it.
Graph graph_from_text(std::string_view text, const GraphFileOptions& options = {},
                      std::string_view source = "graph text");
// Written at once, as checkpoints are: a failure leaves the old file.
void save_graph(const Graph& g, const std::string& path);
Graph load_graph(const std::string& path, const GraphFileOptions& options = {});

// What differs between two graphs, structurally: nodes are matched by what they compute
// (kind, op, attributes, type, initializer or value, and their inputs' matches), not by
// id or name, so that two builds of one model match whatever order or names their nodes
// got. Names are compared without the suffixes that made them unique ("dense_1/bias_2"
// is "dense/bias"), for placeholders and variables (whose names are their identity) and
// to report renamed nodes.
struct GraphDiff {
    std::vector<std::string> only_in_a, only_in_b;  // their dump lines
    std::vector<std::string> renamed;               // "a name -> b name" of matched nodes
    bool same() const { return only_in_a.empty() && only_in_b.empty(); }
    // "- ..." for a's, "+ ..." for b's, "~ ..." for renames.
    std::string str() const;
};
GraphDiff diff_graphs(const Graph& a, const Graph& b);

// "dense_1/bias_2" -> "dense/bias": each part of a name without a trailing _<digits>.
std::string without_suffixes(std::string_view name);

}  // namespace adjoint
