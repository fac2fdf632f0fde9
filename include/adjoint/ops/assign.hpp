// assign(var, value): when fetched, writes value into the variable. Within a run it
// happens after every other read of the variable and only if the rest of the run
// succeeded (see core/plan.hpp); its result is the new value.
#pragma once

#include <adjoint/ops/op.hpp>

namespace adjoint::ops {

struct Assign : NoAttrs {
    static constexpr std::string_view name = "assign";
    static constexpr std::size_t writes_variables = 1;
    static constexpr bool is_assign = true;
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    // y is the variable's own storage.
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

}  // namespace adjoint::ops

namespace adjoint {

Expr assign(const Expr& variable, const Expr& value, SourceLocation loc = SourceLocation::current());

}  // namespace adjoint
