// Constant folding: an op whose inputs are all constants is computed once, here, with its
// own kernel (so the same bits as at run time), and becomes a constant. Not folded: ops
// that write variables, outputs with a batch dim, empty outputs (which a run never
// computes either), and results over 1 MiB that are larger than their inputs
// (broadcast_to would otherwise store its whole output).
#include <adjoint/passes/passes.hpp>

#include "rewrite.hpp"

namespace adjoint::passes {

namespace {

constexpr std::size_t max_growth_bytes = std::size_t{1} << 20;

std::optional<Expr> fold(RuleContext& c) {
    const Node& n = c.node;
    if (n.kind != NodeKind::op || n.op->writes_variables() > 0 || n.op->is_collective() || n.type.shape.has_batch())
        return std::nullopt;
    std::vector<const Tensor*> values;
    std::size_t input_bytes = 0;
    for (const Expr& in : c.inputs) {
        const Node& i = in.node();
        if (i.kind != NodeKind::constant) return std::nullopt;
        values.push_back(&i.value);
        input_bytes += i.value.nbytes();
    }
    const std::size_t bytes = byte_size(n.type.shape, n.type.dtype);
    if (bytes == 0 || (bytes > max_growth_bytes && bytes > input_bytes)) return std::nullopt;
    Tensor y(n.type.shape, n.type.dtype);
    try {
        n.op->forward(Inputs(values), y);
    } catch (const std::exception&) {
        return std::nullopt;  // it fails at run time, with its usual error
    }
    c.log(fmt::format("folded {} ({} of {} constant{}) into a constant {} {}", n.name, n.op_name(), values.size(),
                      values.size() == 1 ? "" : "s", dtype_name(n.type.dtype), n.type.shape));
    return c.constant(std::move(y));
}

}  // namespace

Rewritten fold_constants(const Graph& g, std::span<const Expr> roots) { return rewrite(g, roots, "fold", fold); }

}  // namespace adjoint::passes
