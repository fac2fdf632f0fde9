// The pass: mark the nodes between wrt and y, seed dy, walk back in reverse id order
// (ids are a topological order), call each op's rule, then here and only here sum each
// contribution back to its input's shape (un-broadcast) and add up fan-out. Iterative and
// linear in the graph's size.
#include <adjoint/autograd/gradients.hpp>

#include <adjoint/ops/all.hpp>

namespace adjoint {

namespace {

// Sums g over the dims that were broadcast to reach its shape from `to`: leading dims `to`
// lacks, and dims where `to` has 1. The result has exactly the shape `to`.
Expr unbroadcast(const Expr& g, const Shape& to) {
    const Shape from = g.shape();
    if (from == to) return g;
    if (from.rank() < to.rank())
        throw Error(
            fmt::format("gradients: a rule returned {} for an input of shape {} (node \"{}\")", from, to, g.name()));
    const std::size_t lead = from.rank() - to.rank();
    std::vector<int> axes;
    for (std::size_t i = 0; i < from.rank(); ++i)
        if (i < lead || (to[i - lead] == 1 && from[i] != 1)) axes.push_back(static_cast<int>(i));
    const Expr summed = axes.empty() ? g : sum(g, axes, true);
    return summed.shape() == to ? summed : reshape(summed, to);
}

// A node of zeros shaped like `x`: a constant, or a broadcast scalar if x has a batch dim.
Expr zeros_like(const Expr& x, SourceLocation loc) {
    Graph g = x.graph();
    auto scope = g.gradient_scope(x.id(), "zeros", loc);
    if (!x.shape().has_batch()) return g.constant(Tensor::zeros(x.shape(), x.dtype()), loc);
    return broadcast_to(g.constant(Tensor::zeros(Shape{}, x.dtype()), loc), x.shape(), loc);
}

}  // namespace

std::vector<Expr> gradients(const Expr& y, const std::vector<Expr>& wrt, std::optional<Expr> dy, SourceLocation loc) {
    Graph g = y.graph();
    g.check_owns(y, fmt::format("gradients ({})", where(loc)));
    for (const Expr& w : wrt) g.check_owns(w, fmt::format("gradients: wrt ({})", where(loc)));
    if (!is_floating(y.dtype()))
        throw Error(fmt::format("gradients: output \"{}\" has dtype {}; only f32 and f64 outputs have gradients ({})",
                                y.name(), dtype_name(y.dtype()), where(loc)));
    if (dy) {
        g.check_owns(*dy, fmt::format("gradients: dy ({})", where(loc)));
        if (!(dy->shape() == y.shape()) || dy->dtype() != y.dtype())
            throw Error(fmt::format("gradients: dy \"{}\" is {} {} but output \"{}\" is {} {} ({})", dy->name(),
                                    dtype_name(dy->dtype()), dy->shape(), y.name(), dtype_name(y.dtype()), y.shape(),
                                    where(loc)));
    } else if (y.shape().rank() != 0) {
        throw Error(
            fmt::format("gradients: output \"{}\" has shape {}, not a scalar; reduce it (sum, mean) or pass dy "
                        "({})",
                        y.name(), y.shape(), where(loc)));
    }

    // Between: on a path from some wrt to y (ids are topological, so two sweeps).
    const NodeId top = y.id();
    std::vector<std::uint8_t> from_wrt(top + 1, 0), to_y(top + 1, 0);
    for (const Expr& w : wrt)
        if (w.id() <= top) from_wrt[w.id()] = 1;
    // A gradient can reach n from a wrt only through ops that pass one, into a float value.
    for (NodeId n = 0; n <= top; ++n) {
        const Node& node = g.node(n);
        if (node.kind != NodeKind::op || !node.op->differentiable() || !is_floating(node.type.dtype)) continue;
        for (NodeId in : node.inputs) from_wrt[n] |= from_wrt[in];
    }
    to_y[top] = 1;
    for (NodeId n = top + 1; n-- > 0;)
        if (to_y[n])
            for (NodeId in : g.node(n).inputs) to_y[in] = 1;

    std::vector<std::optional<Expr>> grad(top + 1);
    if (dy) {
        grad[top] = *dy;
    } else {
        auto scope = g.gradient_scope(top, "seed", loc);
        grad[top] = g.constant("ones", Tensor::full(Shape{}, 1.0, y.dtype()), loc);
    }
    std::vector<Expr> inputs;
    std::vector<std::uint8_t> wanted;
    for (NodeId n = top + 1; n-- > 0;) {
        if (!grad[n] || g.node(n).kind != NodeKind::op || !from_wrt[n] || !to_y[n]) continue;
        // Nodes never move, so the forward node may be read while its rule appends.
        const std::vector<NodeId>& input_ids = g.node(n).inputs;
        const OpBase* op = g.node(n).op.get();
        inputs.clear();
        wanted.clear();
        bool any = false;
        for (NodeId in : input_ids) {
            inputs.push_back(g.expr(in));
            wanted.push_back(from_wrt[in] != 0 && is_floating(g.node(in).type.dtype) ? 1 : 0);
            any = any || wanted.back() != 0;
        }
        if (!any) continue;
        const Expr out = g.expr(n);
        // A rule's nodes can fail to build (a shape whose element count overflows, say); the
        // error then names this call and the forward node, not only the rule's own line.
        try {
            Grads contributions;
            {
                auto scope = g.gradient_scope(n, std::string(op->name()), loc);
                contributions = op->gradient({inputs, out, *grad[n], wanted});
            }
            for (std::size_t i = 0; i < inputs.size(); ++i) {
                if (!wanted[i] || !contributions.at(i)) continue;
                const NodeId in = input_ids[i];
                auto scope = g.gradient_scope(in, "accumulate", loc);
                const Expr c = unbroadcast(*contributions[i], inputs[i].shape());
                grad[in] = grad[in] ? *grad[in] + c : c;  // fan-out: contributions add up
            }
        } catch (const Error& e) {
            const Node& f = g.node(n);
            throw Error(fmt::format("gradients ({}): the gradient of {} \"{}\" (built at {}) cannot be built: {}",
                                    where(loc), op->name(), f.name, where(f.built_at), e.what()));
        }
    }

    std::vector<Expr> result;
    for (const Expr& w : wrt) {
        if (w.id() <= top && grad[w.id()]) result.push_back(*grad[w.id()]);
        else result.push_back(zeros_like(w, loc));
    }
    return result;
}

}  // namespace adjoint
