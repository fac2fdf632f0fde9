#include <adjoint/core/graph.hpp>

#include <stdexcept>

#include "graph_data.hpp"

namespace adjoint {

std::string_view Node::op_name() const {
    switch (kind) {
        case NodeKind::placeholder: return "placeholder";
        case NodeKind::variable: return "variable";
        case NodeKind::constant: return "constant";
        case NodeKind::op: return op->name();
    }
    return "?";
}

Graph Expr::graph() const {
    if (!data_) throw Error("Expr: this handle is empty (default-constructed)");
    return Graph(data_);
}

const Node& Expr::node() const { return graph().node(id_); }
std::string Expr::name() const { return node().name; }
Shape Expr::shape() const { return node().type.shape; }
DType Expr::dtype() const { return node().type.dtype; }

Graph::Graph() : data_(std::make_shared<detail::GraphData>()) {}

detail::GraphData& Graph::data() const {
    if (!data_) throw Error("Graph: this handle was moved from; use the Graph it was moved to");
    return *data_;
}

const detail::GraphData& detail_data(const Graph& g) { return g.data(); }

std::size_t Graph::size() const { return boost::num_vertices(data().g); }

NodeId Graph::checked(NodeId id) const {
    if (id >= size()) throw Error(fmt::format("node id {} is not in this graph of {} nodes", id, size()));
    return id;
}

const Node& Graph::node(NodeId id) const { return data().nodes[checked(id)]; }

Expr Graph::expr(NodeId id) const { return {data_, checked(id)}; }

std::optional<Expr> Graph::find(std::string_view name) const {
    const detail::GraphData& d = data();
    for (NodeId id = 0; id < d.nodes.size(); ++id)
        if (d.nodes[id].name == name) return Expr{data_, id};
    return std::nullopt;
}

std::vector<NodeId> Graph::consumers(NodeId id) const {
    const BoostGraph& g = data().g;
    std::vector<NodeId> out;
    for (auto [e, end] = boost::out_edges(checked(id), g); e != end; ++e) out.push_back(boost::target(*e, g));
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

void Graph::check_owns(const Expr& e, std::string_view what) const {
    if (!e.valid()) throw Error(fmt::format("{}: an empty Expr (default-constructed) was given", what));
    if (e.data_ != data_) throw Error(fmt::format("{}: node \"{}\" belongs to another graph", what, e.name()));
}

// Picks a free name: "x", then "x_1", "x_2", ... within the current scope.
static std::string unique_name(detail::GraphData& impl, std::string_view base, bool scoped) {
    std::string prefix;
    if (scoped)
        for (const auto& f : impl.frames) prefix += f.prefix;
    std::string name = prefix + std::string(base);
    int& count = impl.name_count[name];
    std::string candidate = name;
    while (count > 0 && impl.name_count.contains(candidate = fmt::format("{}_{}", name, count))) ++count;
    if (count > 0) impl.name_count[candidate] = 1;
    ++count;
    return candidate;
}

Expr Graph::append(Node node, std::string_view base_name, bool scoped) {
    if (base_name.empty()) throw Error(fmt::format("{}: a node name may not be empty", node.op_name()));
    detail::GraphData& d = data();
    node.name = unique_name(d, base_name, scoped);
    if (scoped)
        for (auto it = d.frames.rbegin(); it != d.frames.rend(); ++it)
            if (it->gradient) {
                node.gradient_of = it->gradient;
                node.built_at = it->built_at;
                break;
            }
    const NodeId id = d.nodes.size();
    node.id = id;
    d.nodes.push_back(std::move(node));
    boost::add_vertex(d.g);
    for (NodeId in : d.nodes.back().inputs) boost::add_edge(in, id, d.g);
    return {data_, id};
}

Expr Graph::placeholder(std::string name, Shape shape, DType dtype, SourceLocation loc) {
    for (std::size_t i = 1; i < shape.rank(); ++i)
        if (shape[i] == batch)
            throw Error(
                fmt::format("placeholder \"{}\": shape {} has batch at dim {}; only the leading dim may be "
                            "the batch ({})",
                            name, shape, i, where(loc)));
    Node n;
    n.kind = NodeKind::placeholder;
    n.type = {shape, dtype};
    n.built_at = loc;
    return append(std::move(n), name);
}

Expr Graph::variable(std::string name, const Tensor& initial_value, SourceLocation loc) {
    if (initial_value.empty()) throw Error(fmt::format("variable \"{}\": the initial value is empty", name));
    Node n;
    n.kind = NodeKind::variable;
    n.type = {initial_value.shape(), initial_value.dtype()};
    n.value = initial_value.clone();
    n.init = "value";
    n.built_at = loc;
    return append(std::move(n), name);
}

Expr Graph::variable(std::string name, Shape shape, const Initializer& init, DType dtype, SourceLocation loc) {
    if (shape.has_batch())
        throw Error(fmt::format("variable \"{}\": shape {} may not have a batch dim ({})", name, shape, where(loc)));
    Node n;
    n.kind = NodeKind::variable;
    n.type = {shape, dtype};
    n.value = init.make(shape, dtype);
    n.init = init.description;
    n.built_at = loc;
    return append(std::move(n), name);
}

Expr Graph::constant(Tensor value, SourceLocation loc) { return constant("const", std::move(value), loc); }

Expr Graph::constant(std::string name, Tensor value, SourceLocation loc) {
    if (value.empty()) throw Error(fmt::format("constant \"{}\": the value is empty", name));
    Node n;
    n.kind = NodeKind::constant;
    n.type = {value.shape(), value.dtype()};
    n.value = std::move(value);
    n.built_at = loc;
    return append(std::move(n), name);
}

TypedShape Graph::infer_checked(const OpBase& op, std::span<const Expr> inputs, std::string_view name,
                                SourceLocation loc) const {
    std::vector<TypedShape> types;
    for (const Expr& e : inputs) {
        check_owns(e, fmt::format("{} ({})", op.name(), where(loc)));
        types.push_back(node(e.id()).type);
    }
    try {
        TypedShape t = op.infer(types, batch);
        if (!t.shape.has_batch()) (void)byte_size(t.shape, t.dtype);  // fits, or an Error
        return t;
    } catch (const std::exception& ex) {
        std::string shapes;
        for (const auto& t : types)
            shapes += fmt::format("{}{} {}", shapes.empty() ? "" : ", ", t.shape, dtype_name(t.dtype));
        throw Error(fmt::format("{} \"{}\" on {}: {} (built at {})", op.name(), name, shapes, ex.what(), where(loc)));
    }
}

Expr Graph::append_op(std::shared_ptr<const OpBase> op, std::span<const Expr> inputs, const std::string& name,
                      SourceLocation loc) {
    std::string prefix;
    for (const auto& f : data().frames) prefix += f.prefix;
    Node n;
    n.type = infer_checked(*op, inputs, prefix + name, loc);
    n.kind = NodeKind::op;
    n.op = std::move(op);
    for (const Expr& e : inputs) n.inputs.push_back(e.id());
    n.built_at = loc;
    return append(std::move(n), name);
}

Expr Graph::append_like(const Node& like, std::shared_ptr<const OpBase> op, std::span<const Expr> inputs,
                        std::optional<Provenance> gradient_of) {
    if (gradient_of) (void)checked(gradient_of->forward);
    Node n;
    n.kind = like.kind;
    if (like.kind == NodeKind::op) {
        if (!op) throw Error(fmt::format("append_like \"{}\": an op node needs an op", like.name));
        n.type = infer_checked(*op, inputs, like.name, like.built_at);
        n.op = std::move(op);
        for (const Expr& e : inputs) n.inputs.push_back(e.id());
    } else {
        if (!inputs.empty())
            throw Error(fmt::format("append_like \"{}\": a {} has no inputs", like.name, like.op_name()));
        n.type = like.type;
        n.value = like.value;
        n.init = like.init;
    }
    // The file name kept by this graph: `like` may be a node of a graph that goes away.
    n.built_at = location(like.built_at.file_name(), like.built_at.line());
    n.gradient_of = std::move(gradient_of);
    return append(std::move(n), like.name, false);
}

SourceLocation Graph::location(std::string_view file, std::uint32_t line) {
    const char* name = data().files.emplace(file).first->c_str();
    return SourceLocation::current(name, line);
}

Graph::Scope::~Scope() { data_->frames.pop_back(); }

Graph::Scope Graph::scope(std::string prefix) {
    if (prefix.empty() || prefix.find('/') != std::string::npos)
        throw Error(fmt::format("Graph::scope: \"{}\" is not a valid scope name (non-empty, no '/')", prefix));
    data().frames.push_back({prefix + "/", std::nullopt, {}});
    return Scope(data_);
}

Graph::Scope Graph::gradient_scope(NodeId forward, std::string rule, SourceLocation loc) {
    const Node& f = node(forward);
    data().frames.push_back({"grad/" + f.name + "/", Provenance{forward, std::move(rule)}, loc});
    return Scope(data_);
}

}  // namespace adjoint
