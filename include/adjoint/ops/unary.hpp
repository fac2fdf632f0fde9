// Element-wise functions of one tensor: y = f(x), same shape and dtype (f32 or f64).
#pragma once

#include <cmath>

#include <adjoint/ops/op.hpp>

namespace adjoint::ops {

// The family: Fn gives the name and the scalar function.
template <class Fn> struct Unary : NoAttrs {
    static constexpr bool elementwise = true;
    static constexpr std::string_view name = Fn::name;
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const { return grads(c, [&] { return Fn::grad(c); }); }
};

struct NegFn {
    static Expr grad(const GradContext& c);  // dx, in unary.cpp
    static constexpr std::string_view name = "neg";
    template <class T> static T f(T x) { return -x; }
};
struct ExpFn {
    static Expr grad(const GradContext& c);  // dx, in unary.cpp
    static constexpr std::string_view name = "exp";
    template <class T> static T f(T x) { return std::exp(x); }
};
struct LogFn {
    static Expr grad(const GradContext& c);  // dx, in unary.cpp
    static constexpr std::string_view name = "log";
    template <class T> static T f(T x) { return std::log(x); }
};
struct SqrtFn {
    static Expr grad(const GradContext& c);  // dx, in unary.cpp
    static constexpr std::string_view name = "sqrt";
    template <class T> static T f(T x) { return std::sqrt(x); }
};
struct SquareFn {
    static Expr grad(const GradContext& c);  // dx, in unary.cpp
    static constexpr std::string_view name = "square";
    template <class T> static T f(T x) { return x * x; }
};
struct ReluFn {
    static Expr grad(const GradContext& c);  // dx, in unary.cpp
    static constexpr std::string_view name = "relu";
    // max(x, 0), but NaN stays NaN.
    template <class T> static T f(T x) { return x > T(0) || x != x ? x : T(0); }
};
struct SigmoidFn {
    static Expr grad(const GradContext& c);  // dx, in unary.cpp
    static constexpr std::string_view name = "sigmoid";
    // 1 / (1 + e^-x), written so that neither branch overflows.
    template <class T> static T f(T x) {
        if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
        const T e = std::exp(x);
        return e / (T(1) + e);
    }
};
struct TanhFn {
    static Expr grad(const GradContext& c);  // dx, in unary.cpp
    static constexpr std::string_view name = "tanh";
    template <class T> static T f(T x) { return std::tanh(x); }
};

using Neg = Unary<NegFn>;
using Exp = Unary<ExpFn>;
using Log = Unary<LogFn>;
using Sqrt = Unary<SqrtFn>;
using Square = Unary<SquareFn>;
using Relu = Unary<ReluFn>;
using Sigmoid = Unary<SigmoidFn>;
using Tanh = Unary<TanhFn>;

// y = x^p for a scalar exponent p.
struct Pow {
    static constexpr bool elementwise = true;
    static constexpr std::string_view name = "pow";
    double p;
    std::string attrs() const;
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// relu's gradient as one pass: y = dy where x > 0, else 0. Inputs (dy, x).
struct ReluGrad : NoAttrs {
    static constexpr bool elementwise = true;
    static constexpr std::string_view name = "relu_grad";
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

}  // namespace adjoint::ops

namespace adjoint {

Expr operator-(Operand x);
Expr exp(Expr x, std::source_location loc = std::source_location::current());
Expr log(Expr x, std::source_location loc = std::source_location::current());
Expr sqrt(Expr x, std::source_location loc = std::source_location::current());
Expr square(Expr x, std::source_location loc = std::source_location::current());
Expr relu(Expr x, std::source_location loc = std::source_location::current());
Expr sigmoid(Expr x, std::source_location loc = std::source_location::current());
Expr tanh(Expr x, std::source_location loc = std::source_location::current());
Expr pow(Expr x, double p, std::source_location loc = std::source_location::current());
Expr relu_grad(Expr dy, Expr x, std::source_location loc = std::source_location::current());

}  // namespace adjoint
