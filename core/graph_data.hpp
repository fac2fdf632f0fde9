// The storage behind Graph, for the parts of the library that traverse it (plans, dumps,
// autograd): the nodes, at addresses that never move (a std::deque only appends), so a
// Node& stays valid as the graph grows; their edges as a Boost.Graph adjacency list; the
// names in use; and the open scopes. Internal to the library.
#pragma once

#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/graph/adjacency_list.hpp>

#include <adjoint/core/graph.hpp>

namespace adjoint {

// Vertex v is node v. Edges run from an input to its consumer; a node that reads the same
// input twice (x * x) has two parallel edges. Node::inputs keeps the positional order.
using BoostGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS>;

namespace detail {

struct GraphData {
    struct Frame {
        std::string prefix;                  // "dense_1/" or "grad/h1/"
        std::optional<Provenance> gradient;  // set inside a gradient scope
        SourceLocation built_at;             // a gradient scope's: its nodes' built_at
    };

    std::deque<Node> nodes;  // by id
    BoostGraph g;
    std::unordered_map<std::string, int> name_count;  // base name -> times used
    std::vector<Frame> frames;
    // File names of Graph::location and append_like: a set's elements never move.
    std::unordered_set<std::string> files;
};

}  // namespace detail

// The graph's storage (Graph's friend): what dumps traverse.
const detail::GraphData& detail_data(const Graph& g);

}  // namespace adjoint
