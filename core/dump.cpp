#include "dump.hpp"

#include <boost/graph/filtered_graph.hpp>
#include <boost/graph/graphviz.hpp>

#include "graph_impl.hpp"

namespace adjoint {

namespace {

std::string describe(const Node& n) {
    switch (n.kind) {
        case NodeKind::placeholder: return "placeholder";
        case NodeKind::variable: return fmt::format("variable [{}]", n.init);
        case NodeKind::constant:
            return n.value.numel() <= 4 ? fmt::format("constant {}", to_string(n.value)) : "constant";
        case NodeKind::op: {
            const std::string attrs = n.op->attrs();
            return attrs.empty() ? std::string(n.op->kind()) : fmt::format("{}[{}]", n.op->kind(), attrs);
        }
    }
    return "?";
}

}  // namespace

void dump_text(const Graph& g, std::ostream& out) {
    for (NodeId id = 0; id < g.size(); ++id) {
        const Node& n = g.node(id);
        std::string inputs;
        for (NodeId in : n.inputs) inputs += fmt::format("{}{}", inputs.empty() ? "" : ", ", g.node(in).name);
        std::string line = fmt::format("{:>4}  {} = {}", id, n.name, describe(n));
        if (n.kind == NodeKind::op) line += fmt::format("({})", inputs);
        line += fmt::format("  {} {}", dtype_name(n.type.dtype), n.type.shape);
        if (n.gradient_of)
            line += fmt::format("  ; gradient of {} \"{}\" by the {} rule", n.gradient_of->forward,
                                g.node(n.gradient_of->forward).name, n.gradient_of->rule);
        out << line << '\n';
    }
}

void dump_dot(const Graph& g, std::ostream& out, const std::vector<Expr>& fetches) {
    std::vector<bool> keep(g.size(), fetches.empty());
    std::vector<NodeId> stack;
    for (const Expr& e : fetches) {
        g.check_owns(e, "dump_dot: fetch");
        stack.push_back(e.id());
    }
    while (!stack.empty()) {
        const NodeId n = stack.back();
        stack.pop_back();
        if (keep[n]) continue;
        keep[n] = true;
        for (NodeId in : g.node(n).inputs) stack.push_back(in);
    }
    const BoostGraph& bg = g.impl().g;
    auto vertex_kept = [&](NodeId v) { return static_cast<bool>(keep[v]); };
    boost::filtered_graph<BoostGraph, boost::keep_all, std::function<bool(NodeId)>> view(bg, boost::keep_all{},
                                                                                        vertex_kept);
    auto vertex_writer = [&](std::ostream& os, NodeId v) {
        const Node& n = g.node(v);
        // Escape quotes and backslashes for DOT strings; "\n" separates the lines.
        auto escape = [](const std::string& s) {
            std::string r;
            for (char c : s) {
                if (c == '"' || c == '\\') r += '\\';
                r += c;
            }
            return r;
        };
        const std::string label = escape(n.name) + "\\n" + escape(describe(n)) + "\\n" +
                                  escape(fmt::format("{} {}", dtype_name(n.type.dtype), n.type.shape));
        const char* style = "shape=box, style=\"rounded\"";
        switch (n.kind) {
            case NodeKind::placeholder: style = "shape=invhouse, style=filled, fillcolor=\"#cfe2ff\""; break;
            case NodeKind::variable: style = "shape=cylinder, style=filled, fillcolor=\"#ffe5b4\""; break;
            case NodeKind::constant: style = "shape=note, style=filled, fillcolor=\"#eeeeee\""; break;
            case NodeKind::op:
                if (n.gradient_of) style = "shape=box, style=\"rounded,filled\", fillcolor=\"#f8d7da\"";
                else if (n.op->writes_variable()) style = "shape=box, style=\"rounded,filled,bold\", fillcolor=\"#d1e7dd\"";
                break;
        }
        os << "[label=\"" << label << "\", " << style << "]";
    };
    auto edge_writer = [](std::ostream&, auto) {};
    auto graph_writer = [](std::ostream& os) { os << "rankdir=TB;\nnode [fontname=\"Helvetica\", fontsize=10];\n"; };
    boost::write_graphviz(out, view, vertex_writer, edge_writer, graph_writer);
}

}  // namespace adjoint
