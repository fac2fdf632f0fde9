// Algebraic simplification: identities that remove a node without changing a bit.
//   x * 1, 1 * x, x / 1 -> x
//   x + (-0.0), (-0.0) + x, x - (+0.0) -> x   (not x + (+0.0): -0.0 + +0.0 is +0.0, and
//                                             the sign reaches later results: 1 / x)
//   (each only where x already has the result's shape and dtype)
//   -(-x), transpose(transpose(x)) -> x
//   reshape(x) to x's own shape, cast(x) to x's own dtype -> x
//   reshape(reshape(x)) -> reshape(x)
#include <adjoint/ops/all.hpp>
#include <adjoint/passes/passes.hpp>

#include "rewrite.hpp"

namespace adjoint::passes {

namespace {

// A constant every element of which is `v` (either sign of zero for 0).
bool constant_of(const Expr& e, double v) {
    const Node& n = e.node();
    if (n.kind != NodeKind::constant || n.value.numel() == 0) return false;
    for (std::int64_t i = 0; i < n.value.numel(); ++i)
        if (n.value.as_double(i) != v) return false;
    return true;
}

// A constant of zeros of one sign only: x - (+0.0) and x + (-0.0) are x, bit for bit, for
// every x (IEEE 754, rounding to nearest: -0 + -0 = -0 and +0 + -0 = +0; x + (+0.0) is
// not: -0 + +0 = +0).
bool zeros_of_sign(const Expr& e, bool negative) {
    if (!constant_of(e, 0)) return false;
    const Tensor& t = e.node().value;
    for (std::int64_t i = 0; i < t.numel(); ++i)
        if (std::signbit(t.as_double(i)) != negative) return false;
    return true;
}

bool same_type(const Expr& e, const TypedShape& t) { return e.shape() == t.shape && e.dtype() == t.dtype; }

std::optional<Expr> replaced(RuleContext& c, const Expr& by, std::string_view why) {
    c.log(fmt::format("replaced {} by {}: {}", c.node.name, by.name(), why));
    return by;
}

std::optional<Expr> simplify_node(RuleContext& c) {
    const Node& n = c.node;
    if (n.kind != NodeKind::op) return std::nullopt;
    const auto& x = c.inputs;
    auto keeps = [&](std::size_t i) { return same_type(x[i], n.type); };
    if (ops::as<ops::Mul>(n)) {
        if (constant_of(x[1], 1) && keeps(0)) return replaced(c, x[0], "x * 1 = x");
        if (constant_of(x[0], 1) && keeps(1)) return replaced(c, x[1], "1 * x = x");
    } else if (ops::as<ops::Div>(n)) {
        if (constant_of(x[1], 1) && keeps(0)) return replaced(c, x[0], "x / 1 = x");
    } else if (ops::as<ops::Add>(n)) {
        if (zeros_of_sign(x[1], true) && keeps(0)) return replaced(c, x[0], "x + (-0) = x");
        if (zeros_of_sign(x[0], true) && keeps(1)) return replaced(c, x[1], "(-0) + x = x");
    } else if (ops::as<ops::Sub>(n)) {
        if (zeros_of_sign(x[1], false) && keeps(0)) return replaced(c, x[0], "x - (+0) = x");
    } else if (ops::as<ops::Neg>(n)) {
        if (ops::as<ops::Neg>(x[0].node())) return replaced(c, input(x[0], 0), "-(-x) = x");
    } else if (ops::as<ops::Transpose>(n)) {
        if (ops::as<ops::Transpose>(x[0].node())) return replaced(c, input(x[0], 0), "transpose(transpose(x)) = x");
    } else if (ops::as<ops::Cast>(n)) {
        if (keeps(0)) return replaced(c, x[0], "a cast to x's own dtype");
    } else if (ops::as<ops::Reshape>(n)) {
        if (keeps(0)) return replaced(c, x[0], "a reshape to x's own shape");
        if (ops::as<ops::Reshape>(x[0].node())) {
            const Expr inner = input(x[0], 0);
            if (same_type(inner, n.type)) return replaced(c, inner, "reshape(reshape(x)) to x's own shape");
            const Expr e = c.build(n.op, std::span(&inner, 1), "");
            c.log(fmt::format("replaced {} by {}: reshape(reshape(x)) = reshape(x)", n.name, e.name()));
            return e;
        }
    }
    return std::nullopt;
}

}  // namespace

Rewritten simplify(const Graph& g, std::span<const Expr> roots) { return rewrite(g, roots, "simplify", simplify_node); }

}  // namespace adjoint::passes
