// Choosing element by element: where(cond, a, b), and what is built on it: clip,
// leaky_relu, elu.
#pragma once

#include <adjoint/ops/op.hpp>

namespace adjoint::ops {

// Inputs (cond u8, a, b), each of y's shape or a single element (rank 0); a and b of one
// dtype, any. y[i] = cond[i] != 0 ? a[i] : b[i], bit for bit (NaN payloads, -0.0).
// where() broadcasts other shapes first, with broadcast_to (numpy's where broadcasts all
// three).
struct Where : NoAttrs {
    static constexpr std::string_view name = "where";
    static constexpr bool elementwise = true;
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

}  // namespace adjoint::ops

namespace adjoint {

// cond ? a : b element by element, with numpy broadcasting; cond is u8 (what the
// comparisons give: where(greater(x, 0.f), x, 0.f * x)).
Expr where(const Expr& cond, const Expr& a, const Expr& b, SourceLocation loc = SourceLocation::current());
// where() with a scalar on either side, of the other side's dtype.
Expr where(const Expr& cond, const Expr& a, double b, SourceLocation loc = SourceLocation::current());
Expr where(const Expr& cond, double a, const Expr& b, SourceLocation loc = SourceLocation::current());
// min(max(x, lo), hi): Keras' clip (and numpy's, NaN stays NaN). The gradient flows where
// lo <= x <= hi. lo <= hi, both finite or infinite, never NaN.
Expr clip(const Expr& x, double lo, double hi, SourceLocation loc = SourceLocation::current());
// x > 0 ? x : alpha x (TensorFlow's default alpha 0.2). dx = dy or alpha dy (alpha at 0).
Expr leaky_relu(const Expr& x, double alpha = 0.2, SourceLocation loc = SourceLocation::current());
// x > 0 ? x : alpha (e^x - 1) (Keras' default alpha 1). The exponential is of min(x, 0),
// so that the branch not taken never overflows: its gradient would be 0 * inf = NaN.
Expr elu(const Expr& x, double alpha = 1.0, SourceLocation loc = SourceLocation::current());

}  // namespace adjoint
