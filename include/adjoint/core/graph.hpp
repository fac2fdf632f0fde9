// Graph: an append-only DAG of nodes. A node is a placeholder (fed at run time), a
// variable (held by a Session between runs), a constant, or an op applied to earlier
// nodes; so ids are already a topological order. Shapes are checked as each node is
// added. Expr is the cheap handle users hold.
//
// A Graph is a handle, like a std::shared_ptr: copies of it, the Exprs of its nodes and
// the Sessions that run it all share the same nodes, which live as long as any of them.
// So a Graph can be returned from a function or kept in an object, and an Expr never
// dangles; nodes never move, so a Node& stays valid as the graph grows. A moved-from
// Graph is empty: using it is an adjoint::Error. A graph is built from one thread at a
// time, and not while a Session of it compiles or runs.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <adjoint/core/expr.hpp>
#include <adjoint/core/init.hpp>
#include <adjoint/core/op.hpp>
#include <adjoint/core/source_location.hpp>

namespace adjoint {

// What a node is: fed, held between runs, fixed, or computed by an op.
enum class NodeKind : std::uint8_t { placeholder, variable, constant, op };

// Where a gradient node came from: the forward node whose rule built it, and that rule.
struct Provenance {
    NodeId forward;
    std::string rule;  // the forward op's name, e.g. "matmul"
};

struct Node {
    NodeId id = 0;
    std::string name;
    NodeKind kind = NodeKind::op;
    std::shared_ptr<const OpBase> op;  // set for kind == op
    std::vector<NodeId> inputs;
    TypedShape type;
    Tensor value;      // a constant's value, a variable's initial value
    std::string init;  // how a variable was initialised, for dumps
    SourceLocation built_at;
    std::optional<Provenance> gradient_of;

    // The op's name ("matmul"), or for the other kinds "placeholder", "variable", "constant".
    std::string_view op_name() const;
};

class Graph {
public:
    Graph();  // a new, empty graph

    Expr placeholder(std::string name, Shape shape, DType dtype = DType::f32,
                     SourceLocation loc = SourceLocation::current());
    Expr variable(std::string name, const Tensor& initial_value, SourceLocation loc = SourceLocation::current());
    Expr variable(std::string name, Shape shape, const Initializer& init, DType dtype = DType::f32,
                  SourceLocation loc = SourceLocation::current());
    Expr constant(Tensor value, SourceLocation loc = SourceLocation::current());
    Expr constant(std::string name, Tensor value, SourceLocation loc = SourceLocation::current());

    // Appends a node applying `op` to `inputs` after checking them (ops::make calls this).
    // The node's name is the current scope plus `name`, made unique.
    Expr append_op(std::shared_ptr<const OpBase> op, std::span<const Expr> inputs, const std::string& name,
                   SourceLocation loc);

    // For graph rewrites (passes, copies): appends a node like `like` (kind, value, init,
    // name, source line) on `inputs`, of this graph, computing `op` (for an op node; its
    // output type is inferred again), with the provenance given (its forward node is one of
    // this graph). The name is like's exactly (no scope prefix) when it is free, else made
    // unique as usual. The source line's file name is kept by this graph.
    Expr append_like(const Node& like, std::shared_ptr<const OpBase> op, std::span<const Expr> inputs,
                     std::optional<Provenance> gradient_of);

    // A source location whose file name this graph keeps (for graphs read from files,
    // whose nodes were built in a program that is gone).
    SourceLocation location(std::string_view file, std::uint32_t line);

    std::size_t size() const;
    const Node& node(NodeId id) const;  // valid as long as the graph
    Expr expr(NodeId id) const;
    // The node named `name` (names are unique), if any.
    std::optional<Expr> find(std::string_view name) const;
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
        explicit Scope(std::shared_ptr<detail::GraphData> data) : data_(std::move(data)) {}
        std::shared_ptr<detail::GraphData> data_;
    };
    [[nodiscard]] Scope scope(std::string prefix);
    // Nodes built while the guard lives are gradient nodes of `forward`, named
    // "grad/<forward name>/<op>" and marked with their provenance; they were built at
    // `loc` (the gradients() call), not in the rule's own source.
    [[nodiscard]] Scope gradient_scope(NodeId forward, std::string rule,
                                       SourceLocation loc = SourceLocation::current());

    // Whether two handles share one graph.
    friend bool operator==(const Graph& a, const Graph& b) { return a.data_ == b.data_; }

private:
    friend class Expr;
    friend const detail::GraphData& detail_data(const Graph& g);
    explicit Graph(std::shared_ptr<detail::GraphData> data) : data_(std::move(data)) {}
    detail::GraphData& data() const;
    NodeId checked(NodeId id) const;
    Expr append(Node node, std::string_view base_name, bool scoped = true);
    TypedShape infer_checked(const OpBase& op, std::span<const Expr> inputs, std::string_view name,
                             SourceLocation loc) const;

    std::shared_ptr<detail::GraphData> data_;
};

}  // namespace adjoint
