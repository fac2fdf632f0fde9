#include <adjoint/core/dump.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

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

std::string dump_line(const Graph& g, NodeId id) {
    const Node& n = g.node(id);
    std::string inputs;
    for (NodeId in : n.inputs) inputs += fmt::format("{}{}", inputs.empty() ? "" : ", ", g.node(in).name);
    std::string line = fmt::format("{:>4}  {} = {}", id, n.name, describe(n));
    if (n.kind == NodeKind::op) line += fmt::format("({})", inputs);
    line += fmt::format("  {} {}", dtype_name(n.type.dtype), n.type.shape);
    if (n.gradient_of)
        line += fmt::format("  ; gradient of {} \"{}\" by the {} rule", n.gradient_of->forward,
                            g.node(n.gradient_of->forward).name, n.gradient_of->rule);
    return line;
}

void dump_text(const Graph& g, std::ostream& out, std::span<const NodeTiming> timings) {
    std::vector<const NodeTiming*> timing_of(g.size(), nullptr);
    for (const NodeTiming& t : timings)
        if (t.node < g.size()) timing_of[t.node] = &t;
    for (NodeId id = 0; id < g.size(); ++id) {
        std::string line = dump_line(g, id);
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

namespace {

// DOT strings: quotes and backslashes escaped ("\\n" in a label is a line break).
std::string dot_escape(const std::string& s) {
    std::string r;
    for (char c : s) {
        if (c == '"' || c == '\\') r += '\\';
        r += c;
    }
    return r;
}

// The style of each kind of node, also drawn in the legend.
const char* dot_style(const Node& n) {
    switch (n.kind) {
        case NodeKind::placeholder: return "shape=invhouse, style=filled, fillcolor=\"#cfe2ff\"";
        case NodeKind::variable: return "shape=cylinder, style=filled, fillcolor=\"#ffe5b4\"";
        case NodeKind::constant: return "shape=note, style=filled, fillcolor=\"#eeeeee\"";
        case NodeKind::op:
            if (n.gradient_of) return "shape=box, style=\"rounded,filled\", fillcolor=\"#f8d7da\"";
            if (n.op->writes_variables() > 0) return "shape=box, style=\"rounded,filled,bold\", fillcolor=\"#d1e7dd\"";
            break;
    }
    return "shape=box, style=\"rounded\"";
}

// White to red by a node's share of the slowest node's time.
std::string heat_colour(double share) {
    const int gb = static_cast<int>(std::lround(255 * (1 - std::clamp(share, 0.0, 1.0))));
    return fmt::format("#ff{:02x}{:02x}", gb, gb);
}

}  // namespace

void dump_dot(const Graph& g, std::ostream& out, const std::vector<Expr>& fetches, std::span<const NodeTiming> timings,
              const DotOptions& options) {
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
    std::vector<const NodeTiming*> timing_of(g.size(), nullptr);
    double slowest = 0;
    for (const NodeTiming& t : timings)
        if (t.node < g.size() && keep[t.node]) {  // the heat's scale: the slowest node drawn
            timing_of[t.node] = &t;
            slowest = std::max(slowest, t.seconds);
        }
    // What is drawn: vertex v < g.size() is node v, unless it is in a collapsed scope; vertex
    // g.size() + k is scope k, one box for all its nodes. Edges run between what is drawn,
    // once per pair, labelled (into an op of several inputs) with the inputs they feed.
    const std::size_t scopes = options.collapse.size();
    std::vector<std::size_t> drawn_as(g.size());
    std::vector<std::size_t> members(scopes, 0);
    std::vector<double> scope_seconds(scopes, 0);
    for (NodeId v = 0; v < g.size(); ++v) {
        drawn_as[v] = v;
        std::size_t best = 0;  // the longest scope the name is in
        for (std::size_t k = 0; k < scopes; ++k) {
            const std::string& scope = options.collapse[k];
            const std::string& name = g.node(v).name;
            if (name.size() > scope.size() && name.starts_with(scope) && name[scope.size()] == '/' &&
                scope.size() > best) {
                best = scope.size();
                drawn_as[v] = g.size() + k;
            }
        }
        if (keep[v] && drawn_as[v] >= g.size()) {
            ++members[drawn_as[v] - g.size()];
            if (timing_of[v]) scope_seconds[drawn_as[v] - g.size()] += timing_of[v]->seconds;
        }
    }
    BoostGraph drawn(g.size() + scopes);
    std::map<std::pair<std::size_t, std::size_t>, std::string> edge_label;
    for (NodeId v = 0; v < g.size(); ++v) {
        if (!keep[v]) continue;
        const std::vector<NodeId>& inputs = g.node(v).inputs;
        for (std::size_t i = 0; i < inputs.size(); ++i) {
            const std::pair<std::size_t, std::size_t> e{drawn_as[inputs[i]], drawn_as[v]};
            if (e.first == e.second) continue;
            auto [it, added] = edge_label.try_emplace(e);
            if (added) boost::add_edge(e.first, e.second, drawn);
            if (inputs.size() >= 2 && drawn_as[v] == v)
                it->second += fmt::format("{}{}", it->second.empty() ? "" : ",", i);
        }
    }
    auto vertex_kept = [&](std::size_t v) {
        return v < g.size() ? keep[v] && drawn_as[v] == v : members[v - g.size()] > 0;
    };
    boost::filtered_graph<BoostGraph, boost::keep_all, std::function<bool(std::size_t)>> view(drawn, boost::keep_all{},
                                                                                              vertex_kept);
    auto vertex_writer = [&](std::ostream& os, std::size_t v) {
        if (v >= g.size()) {
            const std::size_t k = v - g.size();
            std::string label = fmt::format("{}/\\n{} nodes", dot_escape(options.collapse[k]), members[k]);
            if (slowest > 0) label += fmt::format("\\n{:.3f} ms", 1e3 * scope_seconds[k]);
            os << "[label=\"" << label << "\", shape=box3d]";
            return;
        }
        const Node& n = g.node(v);
        std::string label = dot_escape(n.name) + "\\n" + dot_escape(describe(n)) + "\\n" +
                            dot_escape(fmt::format("{} {}", dtype_name(n.type.dtype), n.type.shape));
        std::string style = dot_style(n);
        if (const NodeTiming* t = timing_of[v]; t && slowest > 0) {  // a profiled run: time as heat
            label += fmt::format("\\n{:.3f} ms in {} calls", 1e3 * t->seconds, t->calls);
            // Gradient ops stay dashed and updates bold under the heat colour.
            const char* kind = n.gradient_of ? ",dashed" : n.op && n.op->writes_variables() > 0 ? ",bold" : "";
            style = fmt::format("shape=box, style=\"rounded,filled{}\", fillcolor=\"{}\"", kind,
                                heat_colour(t->seconds / slowest));
        }
        os << "[label=\"" << label << "\", " << style << "]";
    };
    auto edge_writer = [&](std::ostream& os, auto e) {
        const std::string& which = edge_label.at({boost::source(e, drawn), boost::target(e, drawn)});
        if (!which.empty()) os << "[label=\"" << which << "\", fontsize=8]";
    };
    auto graph_writer = [&](std::ostream& os) {
        os << "rankdir=TB;\nnode [fontname=\"Helvetica\", fontsize=10];\nedge [fontname=\"Helvetica\"];\n";
        // The legend: one node of each style.
        os << "subgraph cluster_legend {\nlabel=\"legend\"; fontname=\"Helvetica\"; fontsize=10; color=\"#999999\";\n";
        Node sample;
        sample.kind = NodeKind::placeholder;
        os << "legend_placeholder [label=\"placeholder\", " << dot_style(sample) << "];\n";
        sample.kind = NodeKind::variable;
        os << "legend_variable [label=\"variable\", " << dot_style(sample) << "];\n";
        sample.kind = NodeKind::constant;
        os << "legend_constant [label=\"constant\", " << dot_style(sample) << "];\n";
        os << "legend_op [label=\"op\", shape=box, style=\"rounded\"];\n";
        os << "legend_gradient [label=\"gradient op\", shape=box, style=\"rounded,filled\", fillcolor=\"#f8d7da\"];\n";
        os << "legend_update [label=\"update (writes a variable)\", shape=box, style=\"rounded,filled,bold\", "
              "fillcolor=\"#d1e7dd\"];\n";
        if (std::any_of(members.begin(), members.end(), [](std::size_t m) { return m > 0; }))
            os << "legend_scope [label=\"a collapsed name scope\", shape=box3d];\n";
        if (slowest > 0)
            os << "legend_heat [label=\"kernel time: white to red\\n(gradient ops dashed, updates bold)\", shape=box, "
                  "style=\"rounded,filled\", "
               << "fillcolor=\"" << heat_colour(0.6) << "\"];\n";
        os << "}\n";
    };
    boost::write_graphviz(out, view, vertex_writer, edge_writer, graph_writer);
}

namespace {

// DOT rendered to SVG by Graphviz's dot (run without a shell, through temporary files).
std::string render_svg(const std::string& dot, const std::string& path) {
    std::string folder = (std::filesystem::temp_directory_path() / "adjoint-dot-XXXXXX").string();
    if (!mkdtemp(folder.data()))
        throw Error(fmt::format("dump_file: \"{}\": cannot make a temporary folder: {}", path, std::strerror(errno)));
    const std::string in = folder + "/graph.dot", out = folder + "/graph.svg";
    auto cleanup = [&] {
        unlink(in.c_str());
        unlink(out.c_str());
        rmdir(folder.c_str());
    };
    try {
        replace_file(in, dot, "dump_file");
        const char* argv[] = {"dot", "-Tsvg", "-o", out.c_str(), in.c_str(), nullptr};
        pid_t pid = 0;
        if (const int err = posix_spawnp(&pid, "dot", nullptr, nullptr, const_cast<char* const*>(argv), environ);
            err != 0)
            throw Error(
                fmt::format("dump_file: \"{}\": an SVG is drawn by Graphviz's dot, which {} (apt-get install "
                            "graphviz), or write a .dot file",
                            path, err == ENOENT ? "is not installed" : std::strerror(err)));
        // dot may take long on a big graph: it gets two minutes, then it is stopped.
        int status = 0;
        pid_t waited = 0;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
        while ((waited = waitpid(pid, &status, WNOHANG)) == 0 || (waited < 0 && errno == EINTR)) {
            if (std::chrono::steady_clock::now() > deadline) {
                kill(pid, SIGKILL);
                while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
                throw Error(
                    fmt::format("dump_file: \"{}\": Graphviz's dot took more than two minutes and was stopped; "
                                "write a .dot file, or collapse name scopes (DotOptions::collapse)",
                                path));
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        if (waited < 0)
            throw Error(
                fmt::format("dump_file: \"{}\": cannot wait for Graphviz's dot: {}", path, std::strerror(errno)));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            throw Error(fmt::format("dump_file: \"{}\": Graphviz's dot failed (status {})", path, status));
        std::string svg(read_file(out, "dump_file").view());
        cleanup();
        return svg;
    } catch (...) {
        cleanup();
        throw;
    }
}

}  // namespace

void dump_file(const Graph& g, const std::string& path, const std::vector<Expr>& fetches,
               std::span<const NodeTiming> timings, const DotOptions& options) {
    std::ostringstream out;
    if (path.ends_with(".dot") || path.ends_with(".svg")) dump_dot(g, out, fetches, timings, options);
    else dump_text(g, out, timings);
    replace_file(path, path.ends_with(".svg") ? render_svg(out.str(), path) : out.str(), "dump_file");
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

std::string json_number(double v, bool significant) {
    if (!std::isfinite(v)) return "null";
    return significant ? fmt::format("{:.6g}", v) : fmt::format("{:.6f}", v);
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
