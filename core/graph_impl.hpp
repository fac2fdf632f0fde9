// The Boost.Graph storage behind Graph, for the parts of the library that traverse it
// (plans, dumps, autograd). Not part of the public headers.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/graph/adjacency_list.hpp>

#include <adjoint/core/graph.hpp>

namespace adjoint {

// Edges run from an input to its consumer; a node that reads the same input twice
// (x * x) has two parallel edges. Node::inputs keeps the positional order.
using BoostGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS, Node>;

struct GraphImpl {
    struct Frame {
        std::string prefix;                 // "dense_1/" or "grad/h1/"
        std::optional<Provenance> gradient;  // set inside a gradient scope
    };

    BoostGraph g;
    std::unordered_map<std::string, int> name_count;  // base name -> times used
    std::vector<Frame> frames;
};

}  // namespace adjoint
