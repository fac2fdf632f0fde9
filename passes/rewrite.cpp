#include "rewrite.hpp"

#include <unordered_set>

#include <adjoint/core/error.hpp>

namespace adjoint::passes {

// The sweep's bookkeeping, shared by the contexts of one rewrite.
struct RuleContext::State {
    std::vector<std::size_t> consumers;  // by old id: live consumers (+1 for a root)
    // By node id of the swept graph:
    std::vector<std::optional<NodeId>> origin;         // the old node it stands for
    std::vector<std::optional<NodeId>> built_for;      // the old node whose visit built it
    std::vector<std::optional<NodeId>> absorbed_into;  // the node that replaced it
    std::vector<std::string> base_name;                // a rule's name for it
    std::vector<NodeId> absorbing;                     // absorbed by the rule running now
    std::vector<std::string> lines;
};

std::size_t RuleContext::consumers(NodeId id) const { return state_.consumers.at(id); }

std::optional<NodeId> RuleContext::origin(const Expr& e) const {
    return e.id() < state_.origin.size() ? state_.origin[e.id()] : std::nullopt;
}

bool RuleContext::only_used_here(const Expr& e) const {
    const auto o = origin(e);
    return o && consumers(*o) == 1;
}

void RuleContext::absorb(const Expr& e) { state_.absorbing.push_back(e.id()); }

std::string sibling_name(std::string_view name, std::string_view base) {
    const auto slash = name.rfind('/');
    return (slash == std::string_view::npos ? std::string() : std::string(name.substr(0, slash + 1))) +
           std::string(base);
}

Expr RuleContext::build(std::shared_ptr<const OpBase> op, std::span<const Expr> in, std::string_view name) {
    Node like;
    like.kind = NodeKind::op;
    like.name = name.empty() ? node.name : sibling_name(node.name, name);
    like.built_at = node.built_at;
    std::optional<Provenance> p;  // set by rewrite() once the whole sweep is known
    Expr e = g.append_like(like, std::move(op), in, p);
    state_.base_name.resize(g.size());
    state_.base_name[e.id()] = like.name;
    return e;
}

Expr RuleContext::constant(Tensor value) {
    Node like;
    like.kind = NodeKind::constant;
    like.name = node.name;
    like.built_at = node.built_at;
    like.type = {value.shape(), value.dtype()};
    like.value = std::move(value);
    Expr e = g.append_like(like, nullptr, {}, std::nullopt);
    state_.base_name.resize(g.size());
    state_.base_name[e.id()] = like.name;
    return e;
}

void RuleContext::log(std::string line) { state_.lines.push_back(std::move(line)); }

namespace {

std::vector<bool> live_from(const Graph& g, std::span<const NodeId> roots) {
    std::vector<bool> live(g.size(), false);
    for (NodeId r : roots) live[r] = true;
    for (NodeId n = g.size(); n-- > 0;)
        if (live[n])
            for (NodeId in : g.node(n).inputs) live[in] = true;
    return live;
}

}  // namespace

Rewritten rewrite(const Graph& g, std::span<const Expr> roots, std::string_view pass, const Rule& rule) {
    std::vector<NodeId> root_ids;  // the roots, then every placeholder and variable
    for (const Expr& r : roots) {
        g.check_owns(r, fmt::format("pass {}: root", pass));
        root_ids.push_back(r.id());
    }
    // Placeholders and variables always stay: they are the graph's feeds (which also give a
    // run its batch size) and its state (which checkpoints name).
    for (NodeId n = 0; n < g.size(); ++n)
        if (g.node(n).kind == NodeKind::placeholder || g.node(n).kind == NodeKind::variable) root_ids.push_back(n);
    const std::vector<bool> live = live_from(g, root_ids);
    RuleContext::State st;
    st.consumers.assign(g.size(), 0);
    for (std::size_t i = 0; i < roots.size(); ++i) ++st.consumers[root_ids[i]];
    for (NodeId n = 0; n < g.size(); ++n)
        if (live[n])
            for (NodeId in : g.node(n).inputs) ++st.consumers[in];

    // The sweep: every live node in id order, through the rule.
    Graph swept;
    std::vector<std::optional<Expr>> image(g.size());  // old id -> its node in `swept`
    for (NodeId n = 0; n < g.size(); ++n) {
        if (!live[n]) continue;
        const Node& node = g.node(n);
        std::vector<Expr> inputs;
        for (NodeId in : node.inputs) inputs.push_back(*image[in]);
        const std::size_t before = swept.size();
        RuleContext c(g, swept, node, inputs, st);
        std::optional<Expr> e = rule(c);
        if (!e) e = swept.append_like(node, node.op, inputs, std::nullopt);
        st.origin.resize(swept.size());
        st.built_for.resize(swept.size());
        st.absorbed_into.resize(swept.size());
        st.base_name.resize(swept.size());
        for (NodeId a : st.absorbing) st.absorbed_into[a] = e->id();
        st.absorbing.clear();
        for (NodeId b = before; b < swept.size(); ++b) st.built_for[b] = n;
        if (e->id() >= before) st.origin[e->id()] = n;
        image[n] = e;
    }

    // Compaction: what the roots need, in sweep order.
    std::vector<NodeId> swept_roots;
    swept_roots.reserve(root_ids.size());
    for (NodeId r : root_ids) swept_roots.push_back(image[r]->id());
    const std::size_t user_roots = roots.size();
    const std::vector<bool> needed = live_from(swept, swept_roots);
    auto resolve = [&](NodeId s) {  // a swept node, or what absorbed it
        for (int hops = 0; !needed[s] && st.absorbed_into[s] && hops < 64; ++hops) s = *st.absorbed_into[s];
        return s;
    };
    // Names: a node that stands for a node of g keeps its name (they are all distinct); a
    // node a rule built gets the name the rule asked for, or that name made unique among
    // all of them (so a fused node never takes the name of a node that is kept).
    std::vector<std::string> name(swept.size());
    std::unordered_set<std::string> taken;
    for (NodeId s = 0; s < swept.size(); ++s)
        if (needed[s] && st.base_name[s].empty())
            taken.insert(name[s] = st.origin[s] ? g.node(*st.origin[s]).name : swept.node(s).name);
    for (NodeId s = 0; s < swept.size(); ++s) {
        if (!needed[s] || st.base_name[s].empty()) continue;
        name[s] = st.base_name[s];
        for (int k = 1; taken.contains(name[s]); ++k) name[s] = fmt::format("{}_{}", st.base_name[s], k);
        taken.insert(name[s]);
    }
    // Provenance: the forward node's image if it was built for that node (or absorbed it,
    // or merged an equal one into it); not a node that merely replaced it (x * 1 -> x).
    auto forward_of = [&](NodeId f) -> std::optional<NodeId> {
        if (!image[f]) return std::nullopt;
        const NodeId s = image[f]->id(), to = resolve(s);
        const Node &was = g.node(f), &is = swept.node(to);
        const bool same_op = was.kind == NodeKind::op && is.kind == NodeKind::op && was.op_name() == is.op_name() &&
                             was.op->attrs() == is.op->attrs();
        if (st.origin[s] == f || to != s || same_op) return to;
        return std::nullopt;
    };
    Rewritten r{.from = g, .graph = Graph(), .map = {}, .roots = {}, .logs = {}};
    std::vector<std::optional<Expr>> out(swept.size());
    for (NodeId s = 0; s < swept.size(); ++s) {
        if (!needed[s]) continue;
        const Node& node = swept.node(s);
        std::optional<Provenance> p;
        const Node& orig = g.node(*st.built_for[s]);
        if (orig.gradient_of)
            if (const auto f = forward_of(orig.gradient_of->forward); f && needed[*f] && out[*f])
                p = Provenance{out[*f]->id(), orig.gradient_of->rule};
        std::vector<Expr> inputs;
        for (NodeId in : node.inputs) inputs.push_back(*out[in]);
        Node like = node;
        like.name = name[s];
        out[s] = r.graph.append_like(like, node.op, inputs, p);
    }
    r.map.resize(g.size());
    for (NodeId n = 0; n < g.size(); ++n)
        if (image[n] && needed[image[n]->id()]) r.map[n] = out[image[n]->id()]->id();
    for (std::size_t i = 0; i < user_roots; ++i) r.roots.push_back(*out[swept_roots[i]]);

    PassLog log{.pass = std::string(pass),
                .lines = std::move(st.lines),
                .nodes_before = g.size(),
                .nodes_after = r.graph.size()};
    for (NodeId n = 0; n < g.size(); ++n) {
        const Node& node = g.node(n);
        if (!live[n]) {
            log.lines.push_back(fmt::format("removed {} ({}): the roots do not need it", node.name, node.op_name()));
            continue;
        }
        const NodeId s = image[n]->id();
        if (!needed[s] && !st.absorbed_into[s] && st.built_for[s] == n)
            log.lines.push_back(fmt::format("removed {} ({}): no longer used", node.name, node.op_name()));
    }
    r.logs.push_back(std::move(log));
    return r;
}

Expr Rewritten::operator[](const Expr& e) const {
    from.check_owns(e, "passes: looking up a node");
    if (e.id() < map.size() && map[e.id()]) return graph.expr(*map[e.id()]);
    throw Error(fmt::format(
        "passes: node {} \"{}\" is not in the rewritten graph: the roots do not need it, or it was fused into "
        "another node (make it a root to keep it)",
        e.id(), e.name()));
}

}  // namespace adjoint::passes
