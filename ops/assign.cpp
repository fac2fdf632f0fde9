#include <adjoint/ops/assign.hpp>

#include <cstring>

#include "naive.hpp"
#include "op_list.hpp"

namespace adjoint::ops {

TypedShape Assign::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 2);
    expect_same_dtype(in[0], in[1]);
    if (!(in[0].shape == in[1].shape))
        throw std::invalid_argument(fmt::format("the variable is {} but the value is {}", in[0].shape, in[1].shape));
    return in[0];
}

void Assign::forward(const Inputs& x, Tensor& y) const {
    if (y.raw() != x[1].raw()) std::memcpy(y.raw(), x[1].raw(), y.nbytes());
}
// Naive: element by element.
void Assign::reference(const Inputs& x, Tensor& y) const {
    for (std::int64_t i = 0; i < x[1].numel(); ++i) naive::set(y, i, naive::get(x[1], i));
}

// y = value (the variable's new value): d value = dy; the old value is overwritten.
Grads Assign::gradient(const GradContext& c) const {
    return grads(c, no_gradient, [&] { return c.dy; });
}

}  // namespace adjoint::ops

namespace adjoint {

Expr assign(const Expr& variable, const Expr& value, SourceLocation loc) {
    if (variable.valid() && variable.node().kind != NodeKind::variable)
        throw Error(fmt::format("assign: \"{}\" is a {}, not a variable ({})", variable.name(),
                                variable.node().op_name(), where(loc)));
    return ops::make_listed(ops::Assign{}, {variable, value}, loc);
}

}  // namespace adjoint
