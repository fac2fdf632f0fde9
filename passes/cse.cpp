// Common-subexpression elimination: two ops of one kind with equal attributes and the
// same inputs compute the same value, so the later one is dropped and its readers read the
// earlier one; so are equal constants (dtype, shape and bytes). Add and mul match with
// their inputs in either order (IEEE addition and multiplication commute exactly). Ops
// that write variables are never merged. This relies on OpBase::attrs() naming every
// attribute, floats in round-trip precision.
#include <cstring>
#include <map>

#include <adjoint/ops/all.hpp>
#include <adjoint/passes/passes.hpp>

#include "rewrite.hpp"

namespace adjoint::passes {

namespace {

struct Seen {
    std::map<std::string, Expr> ops;
    std::vector<Expr> constants;
};

bool equal_constants(const Node& a, const Node& b) {
    return a.type.dtype == b.type.dtype && a.type.shape == b.type.shape && a.value.nbytes() == b.value.nbytes() &&
           std::memcmp(a.value.raw(), b.value.raw(), a.value.nbytes()) == 0;
}

std::optional<Expr> merge(RuleContext& c, Seen& seen) {
    const Node& n = c.node;
    auto merged = [&](const Expr& into) {
        c.log(fmt::format("merged {} into {}: {}", n.name, into.name(),
                          n.kind == NodeKind::constant ? "an equal constant" : "the same op, attributes and inputs"));
        return into;
    };
    if (n.kind == NodeKind::constant) {
        for (const Expr& e : seen.constants)
            if (equal_constants(e.node(), n)) return merged(e);
        return std::nullopt;  // copied; recorded below by the caller
    }
    if (n.kind != NodeKind::op || n.op->writes_variables() > 0 || n.op->is_collective()) return std::nullopt;
    std::vector<NodeId> ids;
    for (const Expr& in : c.inputs) ids.push_back(in.id());
    if (ids.size() == 2 && (ops::as<ops::Add>(n) || ops::as<ops::Mul>(n)) && ids[1] < ids[0]) std::swap(ids[0], ids[1]);
    std::string key =
        fmt::format("{}|{}|{}|{}", n.op_name(), n.op->attrs(), dtype_name(n.type.dtype), fmt::join(ids, ","));
    if (auto it = seen.ops.find(key); it != seen.ops.end()) return merged(it->second);
    const Expr e = c.g.append_like(n, n.op, c.inputs, std::nullopt);
    seen.ops.emplace(std::move(key), e);
    return e;
}

}  // namespace

Rewritten eliminate_common_subexpressions(const Graph& g, std::span<const Expr> roots) {
    Seen seen;
    return rewrite(g, roots, "cse", [&seen](RuleContext& c) -> std::optional<Expr> {
        if (auto e = merge(c, seen)) return e;
        if (c.node.kind != NodeKind::constant) return std::nullopt;
        const Expr e = c.g.append_like(c.node, nullptr, {}, std::nullopt);
        seen.constants.push_back(e);
        return e;
    });
}

}  // namespace adjoint::passes
