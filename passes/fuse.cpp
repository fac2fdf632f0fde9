// Fusions as rewrite rules, so that a graph written op by op gets the fused ops Dense and
// the Keras losses build:
//   matmul(x, w) + b, b of shape (N,)           -> matmul_bias(x, w, b)        (same bits)
//   relu(matmul_bias(x, w, b))                  -> matmul_bias[relu](x, w, b)  (same bits)
//   -sum(t * log(softmax(z)), -1)               -> softmax_cross_entropy(z, t)
//   -sum(one_hot(l) * log(softmax(z)), -1)      -> sparse_softmax_cross_entropy(z, l)
// The cross-entropies are computed from the logits with the row maximum subtracted: finite
// where log(softmax) underflows to -inf, and otherwise within a few ulps of the composite.
// A node is fused away only where nothing else reads it (its readers all live in the
// pattern); softmax(z) stays when something else reads it (accuracy, say).
#include <adjoint/ops/all.hpp>
#include <adjoint/passes/passes.hpp>

#include "rewrite.hpp"

namespace adjoint::passes {

namespace {

std::optional<Expr> fused(RuleContext& c, const std::shared_ptr<const OpBase>& op, const std::vector<Expr>& in,
                          const std::vector<Expr>& absorbed) {
    std::vector<std::string> names;
    for (const Expr& a : absorbed) {
        const auto o = c.origin(a);  // a node of the input graph, named as there
        names.push_back(o ? c.old.node(*o).name : a.name());
        c.absorb(a);
    }
    names.push_back(c.node.name);
    const Expr e = c.build(op, in, op->name());
    c.log(fmt::format("fused {} into {} = {}{}", fmt::join(names, ", "), sibling_name(c.node.name, op->name()),
                      op->name(), op->attrs().empty() ? "" : fmt::format("[{}]", op->attrs())));
    return e;
}

// relu?(matmul(x, w) + b) -> matmul_bias.
std::optional<Expr> bias_add(RuleContext& c) {
    for (std::size_t side : {0, 1}) {
        const Expr& p = c.inputs[side];
        const Expr& b = c.inputs[1 - side];
        const auto* m = ops::as<ops::MatMul>(p.node());
        if (!m || !c.only_used_here(p)) continue;
        const Shape& s = p.shape();
        if (b.shape() != Shape{s[1]} || b.dtype() != p.dtype() || c.node.type.shape != s) continue;
        return fused(
            c,
            std::make_shared<ops::OpAdapter<ops::MatMulBias>>(ops::MatMulBias{m->transpose_a, m->transpose_b, false}),
            {input(p, 0), input(p, 1), b}, {p});
    }
    return std::nullopt;
}

std::optional<Expr> relu_epilogue(RuleContext& c) {
    const Expr& p = c.inputs[0];
    const auto* m = ops::as<ops::MatMulBias>(p.node());
    if (!m || m->relu || !c.only_used_here(p)) return std::nullopt;
    return fused(
        c, std::make_shared<ops::OpAdapter<ops::MatMulBias>>(ops::MatMulBias{m->transpose_a, m->transpose_b, true}),
        {input(p, 0), input(p, 1), input(p, 2)}, {p});
}

// -sum(t * log(softmax(z)), last axis) -> a softmax cross-entropy on the logits z.
std::optional<Expr> cross_entropy(RuleContext& c) {
    const Expr& s = c.inputs[0];
    const auto* sum = ops::as<ops::Sum>(s.node());
    if (!sum || sum->keepdims || sum->axes.size() != 1 || !c.only_used_here(s)) return std::nullopt;
    const Expr prod = input(s, 0);
    const int rank = static_cast<int>(prod.shape().rank());
    if (rank == 0 || (sum->axes[0] != -1 && sum->axes[0] != rank - 1)) return std::nullopt;
    if (!ops::as<ops::Mul>(prod.node()) || !c.only_used_here(prod)) return std::nullopt;
    for (std::size_t side : {0, 1}) {
        const Expr l = input(prod, side), t = input(prod, 1 - side);
        if (!ops::as<ops::Log>(l.node()) || !c.only_used_here(l)) continue;
        const Expr sm = input(l, 0);
        if (!ops::as<ops::Softmax>(sm.node())) continue;
        const Expr z = input(sm, 0);
        if (t.shape() != z.shape() || t.dtype() != z.dtype()) continue;
        const std::vector<Expr> absorbed = {prod, l, s};
        if (const auto* oh = ops::as<ops::OneHot>(t.node()))
            if (oh->depth == z.shape().back() && input(t, 0).shape().rank() + 1 == z.shape().rank())
                return fused(
                    c,
                    std::make_shared<ops::OpAdapter<ops::SparseSoftmaxCrossEntropy>>(ops::SparseSoftmaxCrossEntropy{}),
                    {z, input(t, 0)}, absorbed);
        return fused(c, std::make_shared<ops::OpAdapter<ops::SoftmaxCrossEntropy>>(ops::SoftmaxCrossEntropy{}), {z, t},
                     absorbed);
    }
    return std::nullopt;
}

std::optional<Expr> fuse_node(RuleContext& c) {
    const Node& n = c.node;
    if (ops::as<ops::Add>(n)) return bias_add(c);
    if (ops::as<ops::Relu>(n)) return relu_epilogue(c);
    if (ops::as<ops::Neg>(n)) return cross_entropy(c);
    return std::nullopt;
}

}  // namespace

Rewritten fuse(const Graph& g, std::span<const Expr> roots) { return rewrite(g, roots, "fuse", fuse_node); }

}  // namespace adjoint::passes
