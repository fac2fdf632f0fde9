// Softmax over the last axis as one op; log_softmax, and softmax over other axes, are
// composites of other ops.
#pragma once

#include <adjoint/ops/op.hpp>

namespace adjoint::ops {

// x (..., C) -> y (..., C): y_c = exp(x_c - m) / sum_k exp(x_k - m), m = max_k x_k, one
// pass per row. dx = y (dy - sum_c(dy_c y_c)).
struct Softmax : NoAttrs {
    static constexpr std::string_view name = "softmax";
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

}  // namespace adjoint::ops

namespace adjoint {

// exp(x - max) / sum(exp(x - max)) along `axis`: the softmax op for the last axis, else
// built from ops (the max a stop_gradient shift).
Expr softmax(const Expr& x, int axis = -1, SourceLocation loc = SourceLocation::current());
// (x - max) - log(sum(exp(x - max))) along `axis`.
Expr log_softmax(const Expr& x, int axis = -1, SourceLocation loc = SourceLocation::current());

}  // namespace adjoint
