// diff_graphs: nodes matched by structure. Each node gets a class number from what it
// computes and its inputs' classes (numbered in one table for both graphs, so equal
// structures get equal numbers in either), and the classes are matched as multisets.
#include <adjoint/io/graph_file.hpp>

#include <algorithm>
#include <deque>
#include <map>

#include <adjoint/core/dump.hpp>
#include <adjoint/core/init.hpp>

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

// A field of a class key, length first, so that no two different lists of fields make one key.
void field(std::string& key, std::string_view text) { key += fmt::format("{}:{}", text.size(), text); }

struct Classes {
    std::map<std::string, std::size_t> table;
    // Class of every node of g, in id order (inputs first).
    std::vector<std::size_t> of(const Graph& g) {
        std::vector<std::size_t> cls(g.size());
        for (NodeId id = 0; id < g.size(); ++id) {
            const Node& n = g.node(id);
            std::string key;
            field(key, n.op_name());
            field(key, n.kind == NodeKind::op ? n.op->attrs() : "");
            field(key, dtype_name(n.type.dtype));
            field(key, to_string(n.type.shape));
            if (n.kind == NodeKind::placeholder || n.kind == NodeKind::variable) field(key, without_suffixes(n.name));
            if (n.kind == NodeKind::variable) field(key, n.init);
            // A constant's value, and a variable's where no initializer describes it.
            if (n.kind == NodeKind::constant || (n.kind == NodeKind::variable && !init::from_description(n.init)))
                field(key, std::string_view(static_cast<const char*>(n.value.raw()), n.value.nbytes()));
            for (NodeId in : n.inputs) field(key, fmt::format("{}", cls[in]));
            cls[id] = table.emplace(std::move(key), table.size()).first->second;
        }
        return cls;
    }
};

}  // namespace

GraphDiff diff_graphs(const Graph& a, const Graph& b) {
    Classes classes;
    const std::vector<std::size_t> ca = classes.of(a), cb = classes.of(b);
    // Match in id order: the k-th node of a class in a with the k-th in b; what stays
    // unmatched in b is only in b.
    std::map<std::size_t, std::deque<NodeId>> in_b;
    for (NodeId id = 0; id < b.size(); ++id) in_b[cb[id]].push_back(id);
    std::vector<bool> matched_b(b.size(), false);
    GraphDiff d;
    for (NodeId id = 0; id < a.size(); ++id) {
        std::deque<NodeId>& candidates = in_b[ca[id]];
        if (candidates.empty()) {
            d.only_in_a.push_back(dump_line(a, id));
            continue;
        }
        const NodeId other = candidates.front();
        candidates.pop_front();
        matched_b[other] = true;
        if (without_suffixes(a.node(id).name) != without_suffixes(b.node(other).name))
            d.renamed.push_back(fmt::format("{} -> {}", a.node(id).name, b.node(other).name));
    }
    for (NodeId id = 0; id < b.size(); ++id)
        if (!matched_b[id]) d.only_in_b.push_back(dump_line(b, id));
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
