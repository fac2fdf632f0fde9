// adjoint-graph: graph files (save_graph, mnist --save-graph) from the command line.
//   adjoint-graph dump FILE [OUT]   the graph as text, or into OUT (.txt, .dot, .svg)
//   adjoint-graph diff A B          what differs structurally (exit 0: nothing, 1: something)
// Exit status 2 for a usage error or a file that cannot be read.
#include <adjoint/adjoint.hpp>
#include <fmt/core.h>
#include <iostream>
#include <string>
#include <vector>

namespace ad = adjoint;

namespace {

constexpr const char* usage =
    "Usage: adjoint-graph dump FILE [OUT]   print the graph in FILE, or write it to OUT (.txt, .dot, .svg)\n"
    "       adjoint-graph diff A B          print what differs between two graph files, structurally:\n"
    "                                       nodes are matched by what they compute, names without\n"
    "                                       their _N suffixes; exit 0 when nothing does, 1 otherwise\n";

int run(const std::vector<std::string>& args) {
    if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
        std::cout << usage;
        return 0;
    }
    if (!args.empty() && args[0] == "dump" && (args.size() == 2 || args.size() == 3)) {
        const ad::Graph g = ad::load_graph(args[1]);
        if (args.size() == 3) ad::dump_file(g, args[2]);
        else ad::dump_text(g, std::cout);
        return 0;
    }
    if (!args.empty() && args[0] == "diff" && args.size() == 3) {
        const ad::GraphDiff d = ad::diff_graphs(ad::load_graph(args[1]), ad::load_graph(args[2]));
        std::cout << d.str();
        if (d.same())
            fmt::print("the graphs match{}\n", d.renamed.empty() ? "" : fmt::format(" ({} renamed)", d.renamed.size()));
        return d.same() ? 0 : 1;
    }
    fmt::print(stderr, "adjoint-graph: {}\n{}", args.empty() ? "no command" : "unexpected arguments", usage);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(std::vector<std::string>(argv + 1, argv + argc));
    } catch (const std::exception& e) {
        fmt::print(stderr, "adjoint-graph: {}\n", e.what());
        return 2;
    }
}
