// N = number of elements. y[i] = f(x[i]), split into fixed chunks of N.
#include <adjoint/ops/unary.hpp>

#include "../core/parallel.hpp"
#include <adjoint/ops/binary.hpp>
#include "naive.hpp"

namespace adjoint::ops {

namespace {

constexpr std::int64_t grain = 1 << 14;  // elements per task: large enough to pay for it

TypedShape same_floating(std::span<const TypedShape> in) {
    expect_inputs(in, 1);
    expect_floating(in[0], "x");
    return in[0];
}

template <class F> void map_parallel(const Tensor& x, Tensor& y, std::string_view name, F f) {
    visit_floating(x.dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        const T* xs = x.data<T>().data();
        T* ys = y.data<T>().data();
        parallel_chunks(x.numel(), grain, [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) ys[i] = f(xs[i]);
        });
    });
}

// The naive map: f evaluated in long double, one element at a time, rounded once.
template <class F> void map_naive(const Tensor& x, Tensor& y, F f) {
    for (std::int64_t i = 0; i < x.numel(); ++i) naive::set(y, i, f(naive::get(x, i)));
}

}  // namespace

template <class Fn> TypedShape Unary<Fn>::infer(std::span<const TypedShape> in, std::int64_t) const {
    return same_floating(in);
}
template <class Fn> void Unary<Fn>::forward(const Inputs& x, Tensor& y) const {
    map_parallel(x[0], y, name, [](auto v) { return Fn::f(v); });
}
template <class Fn> void Unary<Fn>::reference(const Inputs& x, Tensor& y) const {
    map_naive(x[0], y, [](long double v) { return Fn::f(v); });
}

// ---- gradient rules: dx from dy, the input x = c.x[0] and the output y = c.y

// y = -x: dx = -dy
Expr NegFn::grad(const GradContext& c) { return -c.dy; }
// y = e^x: dx = e^x dy = y dy
Expr ExpFn::grad(const GradContext& c) { return c.dy * c.y; }
// y = log x: dx = dy / x
Expr LogFn::grad(const GradContext& c) { return c.dy / c.x[0]; }
// y = sqrt x: dx = dy / (2 sqrt x) = 0.5 dy / y
Expr SqrtFn::grad(const GradContext& c) { return c.dy * 0.5 / c.y; }
// y = x^2: dx = 2 x dy
Expr SquareFn::grad(const GradContext& c) { return c.dy * (c.x[0] * 2.0); }
// y = max(x, 0): dx = dy where x > 0, else 0 (0 at the kink, as PyTorch and TensorFlow)
Expr ReluFn::grad(const GradContext& c) { return relu_grad(c.dy, c.x[0]); }
// y = 1 / (1 + e^-x): dx = y (1 - y) dy
Expr SigmoidFn::grad(const GradContext& c) { return c.dy * c.y * (1.0 - c.y); }
// y = tanh x: dx = (1 - y^2) dy
Expr TanhFn::grad(const GradContext& c) { return c.dy * (1.0 - square(c.y)); }

template struct Unary<NegFn>;
template struct Unary<ExpFn>;
template struct Unary<LogFn>;
template struct Unary<SqrtFn>;
template struct Unary<SquareFn>;
template struct Unary<ReluFn>;
template struct Unary<SigmoidFn>;
template struct Unary<TanhFn>;

std::string Pow::attrs() const { return fmt::format("p={}", p); }
TypedShape Pow::infer(std::span<const TypedShape> in, std::int64_t) const { return same_floating(in); }
void Pow::forward(const Inputs& x, Tensor& y) const {
    map_parallel(x[0], y, name, [p = p](auto v) { return static_cast<decltype(v)>(std::pow(v, p)); });
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

// ---- relu_grad: N = number of elements. y[i] = x[i] > 0 ? dy[i] : 0

TypedShape ReluGrad::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 2);
    expect_floating(in[0], "dy");
    expect_same_dtype(in[0], in[1]);
    if (!(in[0].shape == in[1].shape))
        throw std::invalid_argument(fmt::format("dy {} and x {} differ in shape", in[0].shape, in[1].shape));
    return in[0];
}

namespace {
template <class T> T relu_mask(T dy, T x) { return x > T(0) ? dy : T(0); }
}  // namespace

void ReluGrad::forward(const Inputs& x, Tensor& y) const {
    visit_floating(y.dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        const T* dy = x[0].data<T>().data();
        const T* xs = x[1].data<T>().data();
        T* ys = y.data<T>().data();
        parallel_chunks(y.numel(), grain, [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) ys[i] = relu_mask(dy[i], xs[i]);
        });
    });
}

void ReluGrad::reference(const Inputs& x, Tensor& y) const {
    visit_floating(y.dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        for (std::int64_t i = 0; i < y.numel(); ++i)
            y.data<T>()[i] = relu_mask(x[0].data<T>()[i], x[1].data<T>()[i]);
    });
}

// y = dy * [x > 0]: linear in dy, piecewise constant in x (no gradient flows to x).
Grads ReluGrad::gradient(const GradContext& c) const {
    return grads(c, [&] { return relu_grad(c.dy, c.x[1]); }, no_gradient);
}

}  // namespace adjoint::ops

namespace adjoint {

Expr operator-(Operand x) { return ops::make(ops::Neg{}, {x.e}, x.loc); }
Expr exp(Expr x, std::source_location loc) { return ops::make(ops::Exp{}, {x}, loc); }
Expr log(Expr x, std::source_location loc) { return ops::make(ops::Log{}, {x}, loc); }
Expr sqrt(Expr x, std::source_location loc) { return ops::make(ops::Sqrt{}, {x}, loc); }
Expr square(Expr x, std::source_location loc) { return ops::make(ops::Square{}, {x}, loc); }
Expr relu(Expr x, std::source_location loc) { return ops::make(ops::Relu{}, {x}, loc); }
Expr sigmoid(Expr x, std::source_location loc) { return ops::make(ops::Sigmoid{}, {x}, loc); }
Expr tanh(Expr x, std::source_location loc) { return ops::make(ops::Tanh{}, {x}, loc); }
Expr relu_grad(Expr dy, Expr x, std::source_location loc) { return ops::make(ops::ReluGrad{}, {dy, x}, loc); }
Expr pow(Expr x, double p, std::source_location loc) {
    if (!std::isfinite(p)) throw Error(fmt::format("pow \"{}\": exponent {} is not finite ({})", x.name(), p, where(loc)));
    return ops::make(ops::Pow{p}, {x}, loc);
}

}  // namespace adjoint
