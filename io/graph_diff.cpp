// diff_graphs: nodes matched by structure. Each node gets a class number from what it
// computes and its inputs' classes (numbered in one table for both graphs, so equal
// structures get equal numbers in either), and the classes are matched as multisets.
#include <adjoint/io/graph_file.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <sstream>

#include <adjoint/core/dump.hpp>

namespace adjoint {

std::string without_suffixes(std::string_view name) {
    std::string out;
    std::size_t start = 0;
    while (start <= name.size()) {
        const std::size_t slash = std::min(name.find('/', start), name.size());
        std::string_view part = name.substr(start, slash - start);
        const std::size_t underscore = part.rfind('_');
        if (underscore != std::string_view::npos && underscore + 1 < part.size() && underscore > 0 &&
            std::all_of(part.begin() + static_cast<std::ptrdiff_t>(underscore) + 1, part.end(),
                        [](char c) { return c >= '0' && c <= '9'; }))
            part = part.substr(0, underscore);
        out += part;
        if (slash < name.size()) out += '/';
        start = slash + 1;
    }
    return out;
}

namespace {

struct Classes {
    std::map<std::string, std::size_t> table;
    // Class of every node of g, in id order (inputs first).
    std::vector<std::size_t> of(const Graph& g) {
        std::vector<std::size_t> cls(g.size());
        for (NodeId id = 0; id < g.size(); ++id) {
            const Node& n = g.node(id);
            std::string key = fmt::format("{}|{}|{}|{}", n.op_name(), n.kind == NodeKind::op ? n.op->attrs() : "",
                                          dtype_name(n.type.dtype), n.type.shape);
            switch (n.kind) {
                case NodeKind::placeholder: key += fmt::format("|{}", without_suffixes(n.name)); break;
                case NodeKind::variable: key += fmt::format("|{}|{}", without_suffixes(n.name), n.init); break;
                case NodeKind::constant:
                    key += '|';
                    key.append(static_cast<const char*>(n.value.raw()), n.value.nbytes());
                    break;
                case NodeKind::op:
                    for (NodeId in : n.inputs) key += fmt::format("|{}", cls[in]);
                    break;
            }
            cls[id] = table.emplace(std::move(key), table.size()).first->second;
        }
        return cls;
    }
};

}  // namespace

GraphDiff diff_graphs(const Graph& a, const Graph& b) {
    Classes classes;
    const std::vector<std::size_t> ca = classes.of(a), cb = classes.of(b);
    // Match in id order: the k-th node of a class in a with the k-th in b.
    std::map<std::size_t, std::vector<NodeId>> in_b;
    for (NodeId id = 0; id < b.size(); ++id) in_b[cb[id]].push_back(id);
    std::map<std::size_t, std::size_t> used;
    std::vector<bool> matched_b(b.size(), false);
    GraphDiff d;
    std::ostringstream dump_a, dump_b;
    dump_text(a, dump_a);
    dump_text(b, dump_b);
    auto lines = [](const std::string& text) {
        std::vector<std::string> out;
        std::istringstream in(text);
        for (std::string l; std::getline(in, l);) out.push_back(l);
        return out;
    };
    const std::vector<std::string> la = lines(dump_a.str()), lb = lines(dump_b.str());
    for (NodeId id = 0; id < a.size(); ++id) {
        auto& candidates = in_b[ca[id]];
        std::size_t& next = used[ca[id]];
        if (next == candidates.size()) {
            d.only_in_a.push_back(la[id]);
            continue;
        }
        const NodeId other = candidates[next++];
        matched_b[other] = true;
        if (without_suffixes(a.node(id).name) != without_suffixes(b.node(other).name))
            d.renamed.push_back(fmt::format("{} -> {}", a.node(id).name, b.node(other).name));
    }
    for (NodeId id = 0; id < b.size(); ++id)
        if (!matched_b[id]) d.only_in_b.push_back(lb[id]);
    return d;
}

std::string GraphDiff::str() const {
    std::string out;
    for (const auto& l : only_in_a) out += fmt::format("- {}\n", l);
    for (const auto& l : only_in_b) out += fmt::format("+ {}\n", l);
    for (const auto& l : renamed) out += fmt::format("~ {}\n", l);
    return out;
}

}  // namespace adjoint
