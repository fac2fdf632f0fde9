// Ops that pass values through: cast to another dtype, and stop_gradient.
#pragma once

#include <adjoint/ops/op.hpp>

namespace adjoint::ops {

// Converts every element to `to`. Floating to integer truncates toward zero and
// saturates at the integer type's range; NaN becomes 0.
struct Cast {
    static constexpr std::string_view name = "cast";
    DType to;
    std::string attrs() const;
    static Cast from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// y = x; gradients do not flow back through it.
struct StopGradient : NoAttrs {
    static constexpr std::string_view name = "stop_gradient";
    static constexpr bool differentiable = false;
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

}  // namespace adjoint::ops

namespace adjoint {

Expr cast(const Expr& x, DType to, SourceLocation loc = SourceLocation::current());
Expr stop_gradient(const Expr& x, SourceLocation loc = SourceLocation::current());

}  // namespace adjoint
