#include "rebuild.hpp"

#include <algorithm>

#include <adjoint/ops/all.hpp>

namespace adjoint {

Tensor widened(const Tensor& t) {
    if (t.empty() || t.dtype() != DType::f32) return t;
    Tensor out(t.shape(), DType::f64);
    const auto from = t.data<float>();
    auto to = out.data<double>();
    std::copy(from.begin(), from.end(), to.begin());
    return out;
}

namespace {

Rebuilt copy_graph(const Expr& output, std::span<const NodeId> cut, std::span<const NodeId> keep, bool widen) {
    const Graph& src = output.graph();
    NodeId top = output.id();
    for (NodeId k : keep) top = std::max(top, k);
    std::vector<bool> needed(top + 1, false), is_cut(top + 1, false);
    for (NodeId c : cut) is_cut[c] = true;
    needed[output.id()] = true;
    for (NodeId k : keep) needed[k] = true;
    for (NodeId n = top + 1; n-- > 0;)
        if (needed[n] && !is_cut[n])
            for (NodeId in : src.node(n).inputs) needed[in] = true;
    Rebuilt r;
    r.copy.resize(top + 1);
    auto wide = [&](DType t) { return widen && t == DType::f32 ? DType::f64 : t; };
    for (NodeId n = 0; n <= top; ++n) {
        if (!needed[n]) continue;
        const Node& node = src.node(n);
        if (is_cut[n] || node.kind == NodeKind::placeholder) {
            r.copy[n] = r.g.placeholder(node.name, node.type.shape, wide(node.type.dtype), node.built_at);
            continue;
        }
        switch (node.kind) {
            case NodeKind::variable:
                r.copy[n] = r.g.variable(node.name, widen ? widened(node.value) : node.value, node.built_at);
                continue;
            case NodeKind::constant:
                r.copy[n] = r.g.constant(node.name, widen ? widened(node.value) : node.value, node.built_at);
                continue;
            default: break;
        }
        std::vector<Expr> inputs;
        for (NodeId in : node.inputs) inputs.push_back(*r.copy[in]);
        // The two ops that choose their output dtype themselves.
        if (widen && ops::as<ops::Cast>(node) && node.type.dtype == DType::f32)
            r.copy[n] = cast(inputs[0], DType::f64, node.built_at);
        else if (widen && ops::as<ops::OneHot>(node) && node.type.dtype == DType::f32)
            r.copy[n] = one_hot(inputs[0], node.type.shape.back(), DType::f64, node.built_at);
        else r.copy[n] = r.g.append_op(node.op, inputs, node.name, node.built_at);
    }
    r.widened = widen;
    return r;
}

}  // namespace

Rebuilt rebuild(const Expr& output, std::span<const NodeId> cut, std::span<const NodeId> keep, bool widen) {
    if (widen) {
        try {
            return copy_graph(output, cut, keep, true);
        } catch (const Error& e) {
            Rebuilt r = copy_graph(output, cut, keep, false);
            r.why_not_widened = e.what();
            return r;
        }
    }
    return copy_graph(output, cut, keep, false);
}

}  // namespace adjoint
