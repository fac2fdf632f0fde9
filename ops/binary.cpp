// y = f(a, b) over the broadcast shape of a and b; kernels in broadcast.hpp.
#include <adjoint/ops/binary.hpp>

#include "broadcast.hpp"
#include <adjoint/ops/cast.hpp>
#include <adjoint/ops/unary.hpp>

namespace adjoint::ops {

template <class Fn> TypedShape Binary<Fn>::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 2);
    if constexpr (!Fn::compares) expect_floating(in[0], "a");
    expect_same_dtype(in[0], in[1]);
    return {broadcast_shapes(in[0].shape, in[1].shape), Fn::compares ? DType::u8 : in[0].dtype};
}

template <class Fn> void Binary<Fn>::forward(const Inputs& x, Tensor& y) const {
    visit_dtype(x[0].dtype(), [&](auto tag) {
        using T = decltype(tag);
        using Y = std::conditional_t<Fn::compares, std::uint8_t, T>;
        broadcast_binary<Y, T>(x[0], x[1], y, [](T a, T b) { return static_cast<Y>(Fn::f(a, b)); });
    });
}

// One output element at a time, finding each input element by its own multi-index.
template <class Fn> void Binary<Fn>::reference(const Inputs& x, Tensor& y) const {
    const Shape& out = y.shape();
    auto offset = [&](const Shape& s, std::int64_t flat) {
        std::int64_t off = 0, stride = 1;
        for (std::size_t k = 0; k < out.rank(); ++k) {
            const std::size_t i = out.rank() - 1 - k;
            const std::int64_t idx = flat % out[i];
            flat /= out[i];
            if (k < s.rank()) {
                const std::int64_t d = s[s.rank() - 1 - k];
                off += (d == 1 ? 0 : idx) * stride;
                stride *= d;
            }
        }
        return off;
    };
    visit_dtype(x[0].dtype(), [&](auto tag) {
        using T = decltype(tag);
        using Y = std::conditional_t<Fn::compares, std::uint8_t, T>;
        auto a = x[0].data<T>();
        auto b = x[1].data<T>();
        auto ys = y.data<Y>();
        for (std::int64_t i = 0; i < y.numel(); ++i)
            ys[i] = static_cast<Y>(Fn::f(a[offset(x[0].shape(), i)], b[offset(x[1].shape(), i)]));
    });
}

// ---- gradient rules, for y = f(a, b) with a = c.x[0], b = c.x[1]. Each is written for
// the broadcast shape; the autograd pass sums it back to each input's shape.

// y = a + b: da = dy, db = dy
Grads AddFn::grad(const GradContext& c) {
    return grads(c, [&] { return c.dy; }, [&] { return c.dy; });
}
// y = a - b: da = dy, db = -dy
Grads SubFn::grad(const GradContext& c) {
    return grads(c, [&] { return c.dy; }, [&] { return -c.dy; });
}
// y = a b: da = b dy, db = a dy
Grads MulFn::grad(const GradContext& c) {
    return grads(c, [&] { return c.dy * c.x[1]; }, [&] { return c.dy * c.x[0]; });
}
// y = a / b: da = dy / b, db = -a dy / b^2 = -y dy / b
Grads DivFn::grad(const GradContext& c) {
    return grads(c, [&] { return c.dy / c.x[1]; }, [&] { return -(c.dy * c.y) / c.x[1]; });
}

namespace {
// y = max(a, b) or min(a, b): dy goes to the input y came from; ties go to a.
Grads select_grad(const GradContext& c) {
    const Expr from_a = cast(equal(c.y, c.x[0]), c.y.dtype());  // 1 where y == a
    return grads(c, [&] { return c.dy * from_a; }, [&] { return c.dy * (1.0 - from_a); });
}
}  // namespace

Grads MaximumFn::grad(const GradContext& c) { return select_grad(c); }
Grads MinimumFn::grad(const GradContext& c) { return select_grad(c); }
// Piecewise constant: no gradient.
Grads EqualFn::grad(const GradContext& c) { return grads(c, no_gradient, no_gradient); }

template struct Binary<AddFn>;
template struct Binary<SubFn>;
template struct Binary<MulFn>;
template struct Binary<DivFn>;
template struct Binary<MaximumFn>;
template struct Binary<MinimumFn>;
template struct Binary<EqualFn>;

}  // namespace adjoint::ops

namespace adjoint {

#define ADJOINT_BINARY_OPERATOR(sym, Op)                                                                    \
    Expr operator sym(Operand a, const Expr& b) { return ops::make(ops::Op{}, {a.e, b}, a.loc); }          \
    Expr operator sym(Operand a, double b) {                                                                \
        return ops::make(ops::Op{}, {a.e, scalar_like(a.e, b, a.loc)}, a.loc);                              \
    }                                                                                                       \
    Expr operator sym(double a, Operand b) {                                                                \
        return ops::make(ops::Op{}, {scalar_like(b.e, a, b.loc), b.e}, b.loc);                              \
    }
ADJOINT_BINARY_OPERATOR(+, Add)
ADJOINT_BINARY_OPERATOR(-, Sub)
ADJOINT_BINARY_OPERATOR(*, Mul)
ADJOINT_BINARY_OPERATOR(/, Div)
#undef ADJOINT_BINARY_OPERATOR

Expr maximum(Expr a, Expr b, std::source_location loc) { return ops::make(ops::Maximum{}, {a, b}, loc); }
Expr minimum(Expr a, Expr b, std::source_location loc) { return ops::make(ops::Minimum{}, {a, b}, loc); }
Expr equal(Expr a, Expr b, std::source_location loc) { return ops::make(ops::Equal{}, {a, b}, loc); }

}  // namespace adjoint
