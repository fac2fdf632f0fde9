// N = number of elements. y[i] = f(x[i]), split into fixed chunks of N.
#include "unary.hpp"

#include "../core/parallel.hpp"

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

template <class F> void map_serial(const Tensor& x, Tensor& y, std::string_view name, F f) {
    visit_floating(x.dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        auto xs = x.data<T>();
        auto ys = y.data<T>();
        for (std::size_t i = 0; i < xs.size(); ++i) ys[i] = f(xs[i]);
    });
}

}  // namespace

template <class Fn> TypedShape Unary<Fn>::infer(std::span<const TypedShape> in, std::int64_t) const {
    return same_floating(in);
}
template <class Fn> void Unary<Fn>::forward(const Inputs& x, Tensor& y) const {
    map_parallel(x[0], y, name, [](auto v) { return Fn::f(v); });
}
template <class Fn> void Unary<Fn>::reference(const Inputs& x, Tensor& y) const {
    map_serial(x[0], y, name, [](auto v) { return Fn::f(v); });
}

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
    map_serial(x[0], y, name, [p = p](auto v) { return static_cast<decltype(v)>(std::pow(v, p)); });
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
Expr pow(Expr x, double p, std::source_location loc) {
    if (!std::isfinite(p)) throw Error(fmt::format("pow \"{}\": exponent {} is not finite ({})", x.name(), p, where(loc)));
    return ops::make(ops::Pow{p}, {x}, loc);
}

}  // namespace adjoint
