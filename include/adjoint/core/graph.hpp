// Graph: an append-only DAG of nodes, stored with Boost.Graph (see graph_impl.hpp). A node
// is a placeholder (fed at run time), a variable (held by a Session between runs), a
// constant, or an op applied to earlier nodes; so ids are already a topological order.
// Shapes are checked as each node is added. Expr is the cheap handle users hold.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <source_location>
#include <span>
#include <string>
#include <vector>

#include <adjoint/core/expr.hpp>
#include <adjoint/core/init.hpp>
#include <adjoint/core/op.hpp>

namespace adjoint {

struct GraphImpl;

enum class NodeKind : std::uint8_t { placeholder, variable, constant, op };

// Where a gradient node came from: the forward node whose rule built it, and that rule.
struct Provenance {
    NodeId forward;
    std::string rule;  // the forward op's kind, e.g. "matmul"
};

struct Node {
    NodeId id = 0;
    std::string name;
    NodeKind kind = NodeKind::op;
    std::shared_ptr<const OpBase> op;  // set for kind == op
    std::vector<NodeId> inputs;
    TypedShape type;
    Tensor value;             // a constant's value, a variable's initial value
    std::string init;         // how a variable was initialised, for dumps
    std::source_location built_at;
    std::optional<Provenance> gradient_of;

    // "matmul", "placeholder", ...
    std::string_view kind_name() const;
};

class Graph {
public:
    Graph();
    ~Graph();
    Graph(const Graph&) = delete;  // Exprs point at their graph: it stays where it is
    Graph& operator=(const Graph&) = delete;

    Expr placeholder(std::string name, Shape shape, DType dtype = DType::f32,
                     std::source_location loc = std::source_location::current());
    Expr variable(std::string name, Tensor initial_value,
                  std::source_location loc = std::source_location::current());
    Expr variable(std::string name, Shape shape, const Initializer& init, DType dtype = DType::f32,
                  std::source_location loc = std::source_location::current());
    Expr constant(Tensor value, std::source_location loc = std::source_location::current());
    Expr constant(std::string name, Tensor value,
                  std::source_location loc = std::source_location::current());

    // Appends an op node after checking its inputs (ops call this through ops::make).
    // The node's name is the current scope plus `name`, made unique.
    Expr add(std::shared_ptr<const OpBase> op, std::span<const Expr> inputs, std::string name,
             std::source_location loc);

    std::size_t size() const;
    const Node& node(NodeId id) const;
    Expr expr(NodeId id) { return {this, checked(id)}; }
    // Consumers of a node, in id order.
    std::vector<NodeId> consumers(NodeId id) const;
    // Throws unless `e` is a node of this graph; `what` says who asks.
    void check_owns(const Expr& e, std::string_view what) const;

    // Names of nodes built while the returned guard lives are prefixed "prefix/".
    class Scope {
    public:
        Scope(Scope&&) = delete;
        ~Scope();

    private:
        friend class Graph;
        Scope(Graph& g) : g_(g) {}
        Graph& g_;
    };
    [[nodiscard]] Scope scope(std::string prefix);
    // Nodes built while the guard lives are gradient nodes of `forward`, named
    // "grad/<forward name>/<op>" and marked with their provenance.
    [[nodiscard]] Scope gradient_scope(NodeId forward, std::string rule);

    GraphImpl& impl() { return *impl_; }
    const GraphImpl& impl() const { return *impl_; }

private:
    NodeId checked(NodeId id) const;
    Expr append(Node node, std::string_view base_name);

    std::unique_ptr<GraphImpl> impl_;
};

}  // namespace adjoint
