// Expr: the cheap handle to a node that users hold and ops take and return.
#pragma once

#include <cstddef>
#include <string>

#include <adjoint/core/dtype.hpp>
#include <adjoint/core/shape.hpp>

namespace adjoint {

class Graph;
struct Node;

using NodeId = std::size_t;

class Expr {
public:
    Expr() = default;
    Expr(Graph* g, NodeId id) : graph_(g), id_(id) {}

    NodeId id() const { return id_; }
    Graph& graph() const;
    // Valid until the next node is added to the graph.
    const Node& node() const;
    // Name and shape by value: a reference into the graph would dangle once it grows.
    std::string name() const;
    Shape shape() const;
    DType dtype() const;
    bool valid() const { return graph_ != nullptr; }

    friend bool operator==(const Expr& a, const Expr& b) { return a.graph_ == b.graph_ && a.id_ == b.id_; }

private:
    Graph* graph_ = nullptr;
    NodeId id_ = 0;
};

}  // namespace adjoint
