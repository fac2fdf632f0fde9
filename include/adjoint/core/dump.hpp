// Dumps of a graph for people: text (one line per node, in id order) and Graphviz DOT.
#pragma once

#include <ostream>
#include <span>
#include <string>
#include <vector>

#include <adjoint/core/graph.hpp>
#include <adjoint/core/session.hpp>

namespace adjoint {

// One line per node: id, name, op and attributes, inputs, dtype and shape, and for
// gradient nodes the forward node and rule they came from.
//   12  h1/matmul = matmul(x, w)  f32 (batch, 512)
// With timings from a profiled Session, each op line ends with its kernel time.
void dump_text(const Graph& g, std::ostream& out, std::span<const NodeTiming> timings = {});
// The line of node `id` in dump_text, without its time (nor the newline).
std::string dump_line(const Graph& g, NodeId id);

// Where the time went: the `top` nodes by kernel time, with op, shape, calls, total and
// share, and the total over all nodes.
void dump_profile(const Graph& g, std::span<const NodeTiming> timings, std::ostream& out, std::size_t top = 20);

struct DotOptions {
    // Name scopes drawn as one box each ("dense", "grad/dense"): their nodes' count (and,
    // profiled, their total time), with the edges in and out of the scope. For big
    // graphs: a layer becomes one box.
    std::vector<std::string> collapse;
};

// Graphviz DOT through boost::write_graphviz: placeholders, variables, constants, ops,
// gradient ops and updates drawn distinctly (a legend shows which is which), labelled
// with their shapes; an edge into an op of several inputs says which input it feeds.
// With `fetches`, only the nodes those fetches need are drawn. With timings from a
// profiled Session, each timed node shows its time and is coloured white to red by it.
void dump_dot(const Graph& g, std::ostream& out, const std::vector<Expr>& fetches = {},
              std::span<const NodeTiming> timings = {}, const DotOptions& options = {});

// Writes dump_dot (a path ending in .dot), that DOT drawn as SVG by Graphviz's `dot` (a
// path ending in .svg; an Error saying how to install it when it is missing) or
// dump_text (any other) to the file at `path`, replacing it at once, as checkpoints are
// written: a failure leaves it as it was, and only a regular file (or nothing) there is
// replaced. Errors name the file.
void dump_file(const Graph& g, const std::string& path, const std::vector<Expr>& fetches = {},
               std::span<const NodeTiming> timings = {}, const DotOptions& options = {});

// The events of a traced Session (Session::trace) as Chrome trace-event JSON, loadable in
// Perfetto or chrome://tracing: one row per thread, one slice per node
// named after it, with its op, id, run and shape as arguments. Written like dump_file.
std::string trace_json(const Graph& g, std::span<const TraceEvent> events);
void write_trace(const Graph& g, std::span<const TraceEvent> events, const std::string& path);

// `text` as a JSON string literal: quotes, backslashes and control characters escaped.
std::string json_string(std::string_view text);
// `v` as a JSON number (6 digits after the point; with `significant`, 6 significant
// digits), or null where JSON has no number (NaN, infinities).
std::string json_number(double v, bool significant = false);

}  // namespace adjoint
