// Expr: the cheap handle to a node that users hold and ops take and return. It shares
// ownership of its graph's nodes, so it stays valid however long it outlives the Graph
// variable it was built from (a graph returned from a function, a model that went out of
// scope): there is no dangling Expr.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include <adjoint/core/dtype.hpp>
#include <adjoint/core/shape.hpp>

namespace adjoint {

class Graph;
struct Node;

namespace detail {
struct GraphData;  // the nodes and names of a graph (core/graph_data.hpp)
}

using NodeId = std::size_t;

class Expr {
public:
    Expr() = default;  // empty: refused by every op, with a clear error

    NodeId id() const { return id_; }
    // The graph the node belongs to (a handle sharing it, see Graph).
    Graph graph() const;
    // The node; the reference stays valid as long as the graph (nodes never move).
    const Node& node() const;
    // Name and shape by value: a reference into the graph would dangle once it grows.
    std::string name() const;
    Shape shape() const;
    DType dtype() const;
    bool valid() const { return data_ != nullptr; }

    friend bool operator==(const Expr& a, const Expr& b) { return a.data_ == b.data_ && a.id_ == b.id_; }

private:
    friend class Graph;
    Expr(std::shared_ptr<detail::GraphData> data, NodeId id) : data_(std::move(data)), id_(id) {}

    std::shared_ptr<detail::GraphData> data_;
    NodeId id_ = 0;
};

}  // namespace adjoint
