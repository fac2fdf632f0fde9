#include <adjoint/core/dump.hpp>

#include <algorithm>
#include <sstream>

#include <boost/graph/filtered_graph.hpp>
#include <boost/graph/graphviz.hpp>

#include "file.hpp"
#include "graph_data.hpp"

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
            return attrs.empty() ? std::string(n.op->name()) : fmt::format("{}[{}]", n.op->name(), attrs);
        }
    }
    return "?";
}

}  // namespace

void dump_text(const Graph& g, std::ostream& out, std::span<const NodeTiming> timings) {
    std::vector<const NodeTiming*> timing_of(g.size(), nullptr);
    for (const NodeTiming& t : timings)
        if (t.node < g.size()) timing_of[t.node] = &t;
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
        if (timing_of[id])
            line += fmt::format("  [{:.3f} ms in {} calls]", 1e3 * timing_of[id]->seconds, timing_of[id]->calls);
        out << line << '\n';
    }
}

void dump_profile(const Graph& g, std::span<const NodeTiming> timings, std::ostream& out, std::size_t top) {
    std::vector<NodeTiming> sorted(timings.begin(), timings.end());
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.seconds > b.seconds; });
    double total = 0;
    for (const NodeTiming& t : sorted) total += t.seconds;
    out << fmt::format("{:>10} {:>6} {:>8}  {:<40} {:<14} {}\n", "total ms", "share", "calls", "node", "op", "shape");
    for (std::size_t i = 0; i < std::min(top, sorted.size()); ++i) {
        const NodeTiming& t = sorted[i];
        const Node& n = g.node(t.node);
        out << fmt::format("{:>10.2f} {:>5.1f}% {:>8}  {:<40} {:<14} {} {}\n", 1e3 * t.seconds,
                           total > 0 ? 100 * t.seconds / total : 0, t.calls, n.name, n.op_name(),
                           dtype_name(n.type.dtype), n.type.shape);
    }
    out << fmt::format("{:>10.2f} 100.0%  kernel time over {} nodes\n", 1e3 * total, sorted.size());
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
    const BoostGraph& bg = detail_data(g).g;
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
                else if (n.op->writes_variables() > 0)
                    style = "shape=box, style=\"rounded,filled,bold\", fillcolor=\"#d1e7dd\"";
                break;
        }
        os << "[label=\"" << label << "\", " << style << "]";
    };
    auto edge_writer = [](std::ostream&, auto) {};
    auto graph_writer = [](std::ostream& os) { os << "rankdir=TB;\nnode [fontname=\"Helvetica\", fontsize=10];\n"; };
    boost::write_graphviz(out, view, vertex_writer, edge_writer, graph_writer);
}

void dump_file(const Graph& g, const std::string& path, const std::vector<Expr>& fetches) {
    std::ostringstream out;
    if (path.ends_with(".dot")) dump_dot(g, out, fetches);
    else dump_text(g, out);
    replace_file(path, out.str(), "dump_file");
}

std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        if (c == '"' || c == '\\') out += {'\\', c};
        else if (c == '\n') out += "\\n";
        else if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", static_cast<int>(c));
        else out += c;
    }
    return out + "\"";
}

std::string trace_json(const Graph& g, std::span<const TraceEvent> events) {
    std::string out = "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n";
    int threads = 0;
    for (const TraceEvent& e : events) threads = std::max(threads, e.thread + 1);
    for (int t = 0; t < threads; ++t)
        out += fmt::format(
            R"(  {{"name": "thread_name", "ph": "M", "pid": 1, "tid": {}, "args": {{"name": "thread {}{}"}}}},)"
            "\n",
            t, t, t == 0 ? " (caller)" : "");
    for (std::size_t i = 0; i < events.size(); ++i) {
        const TraceEvent& e = events[i];
        const Node& n = g.node(e.node);
        out += fmt::format(R"(  {{"name": {}, "cat": {}, "ph": "X", "ts": {:.3f}, "dur": {:.3f}, "pid": 1, "tid": {}, )"
                           R"("args": {{"node": {}, "run": {}, "op": {}, "shape": {}}}}}{})"
                           "\n",
                           json_string(n.name), json_string(n.op_name()), e.start_us, e.duration_us, e.thread, e.node,
                           e.run, json_string(n.op_name()), json_string(to_string(n.type.shape)),
                           i + 1 < events.size() ? "," : "");
    }
    return out + "]}\n";  // (metadata lines only come with events, so no comma dangles)
}

void write_trace(const Graph& g, std::span<const TraceEvent> events, const std::string& path) {
    replace_file(path, trace_json(g, events), "write_trace");
}

}  // namespace adjoint
