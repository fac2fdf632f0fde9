// The pipeline: the passes by name, run in order, their maps composed, and their dumps.
#include <adjoint/passes/passes.hpp>

#include <filesystem>
#include <sstream>
#include <system_error>

#include <adjoint/core/dump.hpp>
#include <adjoint/core/error.hpp>

#include "../core/file.hpp"
#include "rewrite.hpp"

namespace adjoint::passes {

Rewritten eliminate_dead_nodes(const Graph& g, std::span<const Expr> roots) {
    return rewrite(g, roots, "dead-nodes", [](RuleContext&) { return std::optional<Expr>(); });
}

namespace {

using PassFn = Rewritten (*)(const Graph&, std::span<const Expr>);

PassFn pass_named(const std::string& name) {
    if (name == "dead-nodes") return eliminate_dead_nodes;
    if (name == "fold") return fold_constants;
    if (name == "simplify") return simplify;
    if (name == "cse") return eliminate_common_subexpressions;
    if (name == "fuse") return fuse;
    throw Error(fmt::format("passes: unknown pass \"{}\" (known: {})", name, fmt::join(default_passes, ", ")));
}

std::string dump_of(const Graph& g) {
    std::ostringstream out;
    dump_text(g, out);
    return out.str();
}

std::string format_log(const PassLog& log) {
    std::string text = fmt::format("{}: {} -> {} nodes, {} change{}\n", log.pass, log.nodes_before, log.nodes_after,
                                   log.lines.size(), log.lines.size() == 1 ? "" : "s");
    for (const std::string& line : log.lines) text += fmt::format("  {}\n", line);
    return text;
}

}  // namespace

std::string format_logs(std::span<const PassLog> logs) {
    std::string text;
    for (const PassLog& log : logs) text += format_log(log);
    return text;
}

Rewritten optimize(const Graph& g, std::span<const Expr> roots, const Options& options) {
    std::vector<PassFn> fns;
    for (const std::string& name : options.passes) fns.push_back(pass_named(name));  // all checked first
    const std::filesystem::path dir = options.dump_dir;
    auto write = [&](const std::string& file, const std::string& text) {
        replace_file((dir / file).string(), text, "passes: dump");
    };
    if (!dir.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        if (ec) throw Error(fmt::format("passes: cannot make the dump folder \"{}\": {}", dir.string(), ec.message()));
        write("00-input.txt", dump_of(g));
    }
    // Start from a copy of the whole graph: the result never shares the input's nodes, even
    // when no pass runs (gradients added to it must not change g).
    std::vector<Expr> everything;
    for (NodeId n = 0; n < g.size(); ++n) everything.push_back(g.expr(n));
    const Rewritten copy = rewrite(g, everything, "copy", [](RuleContext&) { return std::optional<Expr>(); });
    Rewritten total{.from = g, .graph = copy.graph, .map = copy.map, .roots = {}, .logs = {}};
    for (const Expr& root : roots) total.roots.push_back(copy[root]);
    for (std::size_t i = 0; i < fns.size(); ++i) {
        Rewritten step = fns[i](total.graph, total.roots);
        for (auto& m : total.map)
            if (m) m = step.map[*m];
        total.graph = step.graph;
        total.roots = std::move(step.roots);
        total.logs.push_back(std::move(step.logs.front()));
        if (!dir.empty()) {
            const std::string stem = fmt::format("{:02}-{}", i + 1, options.passes[i]);
            write(stem + ".txt", dump_of(total.graph));
            write(stem + ".log", format_log(total.logs.back()));
        }
    }
    return total;
}

}  // namespace adjoint::passes
