// The element-wise families' shape rules, kernels, naive references and gradient rules,
// and each line of elementwise.def expanded into its rules, its instantiation and its
// function. N = number of elements of y; kernels split N (or the rows of a broadcast) into
// chunks that depend on N only.
#include <adjoint/ops/elementwise.hpp>

#include "../core/parallel.hpp"
#include "broadcast.hpp"
#include "naive.hpp"
#include "op_list.hpp"
#include <adjoint/ops/cast.hpp>

namespace adjoint::ops {

namespace {

TypedShape same_floating(std::span<const TypedShape> in) {
    expect_inputs(in, 1);
    expect_floating(in[0], "x");
    return in[0];
}

// y[i] = f(x[i]) in parallel chunks, for f32 or f64.
template <class F> void map(const Tensor& x, Tensor& y, std::string_view name, F f) {
    visit_floating(x.dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        const T* xs = x.data<T>().data();
        T* ys = y.data<T>().data();
        parallel_chunks(x.numel(), elementwise_grain, [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) ys[i] = f(xs[i]);
        });
    });
}

// The naive map: f evaluated in long double, one element at a time, rounded once.
template <class F> void map_naive(const Tensor& x, Tensor& y, F f) {
    for (std::int64_t i = 0; i < x.numel(); ++i) naive::set(y, i, f(naive::get(x, i)));
}

// The broadcast shape of two inputs of one dtype; floating unless `any_dtype`.
TypedShape broadcast_types(std::span<const TypedShape> in, bool any_dtype, DType out) {
    expect_inputs(in, 2);
    if (!any_dtype) expect_floating(in[0], "a");
    expect_same_dtype(in[0], in[1]);
    return {broadcast_shapes(in[0].shape, in[1].shape), out};
}

// The naive broadcast: each output element finds its input elements by its own multi-index
// (a dim of size 1, or a missing one, reads index 0).
template <class Y, class T, class F> void broadcast_naive(const Inputs& x, Tensor& y, F f) {
    const Shape& out = y.shape();
    auto element = [&](const Tensor& t, const naive::Index& idx) {
        const Shape& s = t.shape();
        naive::Index in{};
        for (std::size_t k = 0; k < s.rank(); ++k) {
            const std::size_t d = out.rank() - s.rank() + k;
            in[k] = s[k] == 1 ? 0 : idx[d];
        }
        return t.data<T>()[static_cast<std::size_t>(naive::ravel(in, s))];
    };
    for (std::int64_t i = 0; i < y.numel(); ++i) {
        const naive::Index idx = naive::unravel(i, out);
        y.data<Y>()[static_cast<std::size_t>(i)] = static_cast<Y>(f(element(x[0], idx), element(x[1], idx)));
    }
}

}  // namespace

// ---- one input

template <class D> TypedShape Unary<D>::infer(std::span<const TypedShape> in, std::int64_t) const {
    return same_floating(in);
}
template <class D> void Unary<D>::forward(const Inputs& x, Tensor& y) const {
    map(x[0], y, D::name, [](auto v) { return D::f(v); });
}
template <class D> void Unary<D>::reference(const Inputs& x, Tensor& y) const {
    map_naive(x[0], y, [](long double v) { return D::f(v); });
}
template <class D> Grads Unary<D>::gradient(const GradContext& c) const {
    return grads(c, [&] { return D::rule(c.x[0], c.y, c.dy); });
}

// ---- two inputs, broadcasting

template <class D> TypedShape Binary<D>::infer(std::span<const TypedShape> in, std::int64_t) const {
    return broadcast_types(in, false, in.empty() ? DType::f32 : in[0].dtype);
}
template <class D> void Binary<D>::forward(const Inputs& x, Tensor& y) const {
    visit_floating(x[0].dtype(), D::name, [&](auto tag) {
        using T = decltype(tag);
        broadcast_binary<T, T>(x[0], x[1], y, [](T a, T b) { return D::f(a, b); });
    });
}
template <class D> void Binary<D>::reference(const Inputs& x, Tensor& y) const {
    visit_floating(x[0].dtype(), D::name, [&](auto tag) {
        using T = decltype(tag);
        broadcast_naive<T, T>(x, y, [](T a, T b) { return D::f(a, b); });
    });
}
// Each rule is written for the broadcast shape; the autograd pass sums it back.
template <class D> Grads Binary<D>::gradient(const GradContext& c) const {
    const Expr &a = c.x[0], &b = c.x[1];
    return grads(
        c, [&] { return D::rule_a(a, b, c.y, c.dy); }, [&] { return D::rule_b(a, b, c.y, c.dy); });
}

// ---- comparisons

template <class D> TypedShape Compare<D>::infer(std::span<const TypedShape> in, std::int64_t) const {
    return broadcast_types(in, true, DType::u8);
}
template <class D> void Compare<D>::forward(const Inputs& x, Tensor& y) const {
    visit_dtype(x[0].dtype(), [&](auto tag) {
        using T = decltype(tag);
        broadcast_binary<std::uint8_t, T>(x[0], x[1], y, [](T a, T b) { return D::f(a, b); });
    });
}
template <class D> void Compare<D>::reference(const Inputs& x, Tensor& y) const {
    visit_dtype(x[0].dtype(), [&](auto tag) {
        using T = decltype(tag);
        broadcast_naive<std::uint8_t, T>(x, y, [](T a, T b) { return D::f(a, b); });
    });
}
// Piecewise constant: no gradient.
template <class D> Grads Compare<D>::gradient(const GradContext& c) const { return grads(c, no_gradient, no_gradient); }

// ---- the table's rules and instantiations

namespace {
// 1 where y came from the first input (y is a, NaN included), else 0, in y's dtype: max
// and min's rules.
Expr from_first(const Expr& y, const Expr& a) { return cast(same(y, a), y.dtype()); }
}  // namespace

#define ADJOINT_UNARY(Type, fn, expr, dx)                                                          \
    std::optional<Expr> Type::rule([[maybe_unused]] const Expr& x, [[maybe_unused]] const Expr& y, \
                                   [[maybe_unused]] const Expr& dy) {                              \
        return dx;                                                                                 \
    }                                                                                              \
    template struct Unary<Type>;
#define ADJOINT_BINARY(Type, fn, expr, da, db)                                                          \
    std::optional<Expr> Type::rule_a([[maybe_unused]] const Expr& a, [[maybe_unused]] const Expr& b,    \
                                     [[maybe_unused]] const Expr& y, const Expr& dy) {                  \
        return da;                                                                                      \
    }                                                                                                   \
    std::optional<Expr> Type::rule_b([[maybe_unused]] const Expr& a, [[maybe_unused]] const Expr& b,    \
                                     [[maybe_unused]] const Expr& y, [[maybe_unused]] const Expr& dy) { \
        return db;                                                                                      \
    }                                                                                                   \
    template struct Binary<Type>;
#define ADJOINT_COMPARE(Type, fn, expr) template struct Compare<Type>;
#include <adjoint/ops/elementwise.def>

// ---- pow

std::string Pow::attrs() const { return fmt::format("p={}", p); }
Pow Pow::from_attrs(const Attrs& a) {
    a.only({"p"});
    return {a.number("p")};
}
TypedShape Pow::infer(std::span<const TypedShape> in, std::int64_t) const { return same_floating(in); }
void Pow::forward(const Inputs& x, Tensor& y) const {
    map(x[0], y, name, [p = p](auto v) { return static_cast<decltype(v)>(std::pow(v, p)); });
}
void Pow::reference(const Inputs& x, Tensor& y) const {
    map_naive(x[0], y, [p = p](long double v) { return std::pow(v, static_cast<long double>(p)); });
}

// y = x^p: dx = p x^(p-1) dy. Two exponents are special, so that no rule ever forms
// 0 * inf where the derivative exists (PyTorch's rule does the same):
//   p = 0: y = 1 is constant: no gradient (not 0 * x^-1, which is NaN at x = 0);
//   p = 1: dx = dy, with no x^0 node, whose rule would again form 0 * x^-1.
Grads Pow::gradient(const GradContext& c) const {
    if (p == 0) return grads(c, no_gradient);
    if (p == 1) return grads(c, [&] { return c.dy; });
    return grads(c, [&] { return c.dy * (pow(c.x[0], p - 1) * p); });
}

}  // namespace adjoint::ops

namespace adjoint {

#define ADJOINT_UNARY(Type, fn, expr, dx) \
    Expr fn(const Expr& x, SourceLocation loc) { return ops::make_listed(ops::Type{}, {x}, loc); }
#define ADJOINT_BINARY(Type, fn, expr, da, db) \
    Expr fn(const Expr& a, const Expr& b, SourceLocation loc) { return ops::make_listed(ops::Type{}, {a, b}, loc); }
#define ADJOINT_COMPARE(Type, fn, expr) \
    Expr fn(const Expr& a, const Expr& b, SourceLocation loc) { return ops::make_listed(ops::Type{}, {a, b}, loc); }
#include <adjoint/ops/elementwise.def>

Expr pow(const Expr& x, double p, SourceLocation loc) {
    if (!std::isfinite(p))
        throw Error(fmt::format("pow \"{}\": exponent {} is not finite ({})", x.name(), p, where(loc)));
    return ops::make_listed(ops::Pow{p}, {x}, loc);
}

Expr operator-(const Operand& x) { return ops::make_listed(ops::Neg{}, {x.e}, x.loc); }

#define ADJOINT_OPERATOR(sym, Op)                                                                               \
    Expr operator sym(const Operand& a, const Expr& b) { return ops::make_listed(ops::Op{}, {a.e, b}, a.loc); } \
    Expr operator sym(const Operand& a, double b) {                                                             \
        return ops::make_listed(ops::Op{}, {a.e, scalar_like(a.e, b, a.loc)}, a.loc);                           \
    }                                                                                                           \
    Expr operator sym(double a, const Operand& b) {                                                             \
        return ops::make_listed(ops::Op{}, {scalar_like(b.e, a, b.loc), b.e}, b.loc);                           \
    }
ADJOINT_OPERATOR(+, Add)
ADJOINT_OPERATOR(-, Sub)
ADJOINT_OPERATOR(*, Mul)
ADJOINT_OPERATOR(/, Div)
#undef ADJOINT_OPERATOR

}  // namespace adjoint
