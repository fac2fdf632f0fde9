// Softmax over the last axis as one op; log_softmax and other axes are composites.
// R = rows (all dims but the last), C = classes (the last dim).
#include <adjoint/ops/softmax.hpp>

#include <adjoint/ops/cast.hpp>
#include <adjoint/ops/elementwise.hpp>
#include <adjoint/ops/reduce.hpp>

#include "op_list.hpp"
#include "softmax_rows.hpp"

namespace adjoint::ops {

TypedShape Softmax::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 1);
    rows::expect_logits(in[0]);
    return in[0];
}

// One pass per row: max, exp(x - max) and its sum, then divide.
void Softmax::forward(const Inputs& x, Tensor& y) const {
    visit_floating(x[0].dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        const std::int64_t C = x[0].shape().back();
        const T* in = x[0].data<T>().data();
        T* out = y.data<T>().data();
        rows::for_rows(rows::count(x[0]), C, [&](std::int64_t r) { rows::softmax_row(in + r * C, out + r * C, C); });
    });
}

// Naive: p_c = exp(x_c - logsumexp(x)) in long double.
void Softmax::reference(const Inputs& x, Tensor& y) const {
    const std::int64_t C = x[0].shape().back();
    for (std::int64_t r = 0; r < rows::count(x[0]); ++r) {
        const rows::NaiveRow row(x[0], r, C);
        for (std::int64_t c = 0; c < C; ++c) naive::set(y, r * C + c, row.p(c));
    }
}

// y = softmax(x), upstream u: dy_c/dx_k = y_c ([c = k] - y_k), so
//   dx = y (u - sum(u y))
Grads Softmax::gradient(const GradContext& c) const {
    return grads(c, [&] { return c.y * (c.dy - sum(c.dy * c.y, {-1}, true)); });
}

}  // namespace adjoint::ops

namespace adjoint {

Expr softmax(const Expr& x, int axis, SourceLocation loc) {
    if (x.valid() && (axis == -1 || (x.shape().rank() > 0 && axis == static_cast<int>(x.shape().rank()) - 1)))
        return ops::make_listed(ops::Softmax{}, {x}, loc);
    const Expr shift = stop_gradient(max(x, {axis}, true, loc), loc);
    const Expr e = exp(sub(x, shift, loc), loc);
    return div(e, sum(e, {axis}, true, loc), loc);
}

Expr log_softmax(const Expr& x, int axis, SourceLocation loc) {
    const Expr z = sub(x, stop_gradient(max(x, {axis}, true, loc), loc), loc);
    return sub(z, log(sum(exp(z, loc), {axis}, true, loc), loc), loc);
}

}  // namespace adjoint
