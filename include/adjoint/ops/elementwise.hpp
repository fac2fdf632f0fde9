// Element-wise ops: functions of one tensor, of two with numpy broadcasting, and
// comparisons, each one line of elementwise.def; the arithmetic operators; and pow, whose
// exponent is an attribute.
#pragma once

#include <cmath>
#include <optional>

#include <adjoint/ops/op.hpp>

namespace adjoint::ops {

// The families. D is the op's struct made from its line of elementwise.def: its name, its
// scalar function f and its rule(s). Kernels are in ops/elementwise.cpp.

// y = D::f(x), f32 or f64, same shape.
template <class D> struct Unary : NoAttrs {
    static constexpr bool elementwise = true;
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// y = D::f(a, b) over the broadcast shape, f32 or f64.
template <class D> struct Binary : NoAttrs {
    static constexpr bool elementwise = true;
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// y = D::f(a, b) as u8 0 or 1 over the broadcast shape, any dtype (both the same).
template <class D> struct Compare : NoAttrs {
    static constexpr bool elementwise = true;
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// One struct per line of the table: ops::Relu, ops::Add, ops::Equal, ...
#define ADJOINT_UNARY(Type, fn, expr, dx)                                              \
    struct Type : Unary<Type> {                                                        \
        static constexpr std::string_view name = #fn;                                  \
        template <class T> static T f(T x) { return expr; }                            \
        static std::optional<Expr> rule(const Expr& x, const Expr& y, const Expr& dy); \
    };
#define ADJOINT_BINARY(Type, fn, expr, da, db)                                                          \
    struct Type : Binary<Type> {                                                                        \
        static constexpr std::string_view name = #fn;                                                   \
        template <class T> static T f(T a, T b) { return expr; }                                        \
        static std::optional<Expr> rule_a(const Expr& a, const Expr& b, const Expr& y, const Expr& dy); \
        static std::optional<Expr> rule_b(const Expr& a, const Expr& b, const Expr& y, const Expr& dy); \
    };
#define ADJOINT_COMPARE(Type, fn, expr)                                                                \
    struct Type : Compare<Type> {                                                                      \
        static constexpr std::string_view name = #fn;                                                  \
        template <class T> static std::uint8_t f(T a, T b) { return static_cast<std::uint8_t>(expr); } \
    };
#include <adjoint/ops/elementwise.def>

// y = x^p for a scalar exponent p.
struct Pow {
    static constexpr bool elementwise = true;
    static constexpr std::string_view name = "pow";
    double p;
    std::string attrs() const;
    static Pow from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

}  // namespace adjoint::ops

namespace adjoint {

// The functions of the table: relu(x), sigmoid(x), ..., add(a, b), maximum(a, b), ...,
// equal(a, b) (u8: cast it to count).
#define ADJOINT_UNARY(Type, fn, expr, dx) Expr fn(const Expr& x, SourceLocation loc = SourceLocation::current());
#define ADJOINT_BINARY(Type, fn, expr, da, db) \
    Expr fn(const Expr& a, const Expr& b, SourceLocation loc = SourceLocation::current());
#define ADJOINT_COMPARE(Type, fn, expr) \
    Expr fn(const Expr& a, const Expr& b, SourceLocation loc = SourceLocation::current());
#include <adjoint/ops/elementwise.def>

Expr pow(const Expr& x, double p, SourceLocation loc = SourceLocation::current());

// Operators; scalars (double) become constants of the other operand's dtype.
Expr operator-(const Operand& x);
Expr operator+(const Operand& a, const Expr& b);
Expr operator+(const Operand& a, double b);
Expr operator+(double a, const Operand& b);
Expr operator-(const Operand& a, const Expr& b);
Expr operator-(const Operand& a, double b);
Expr operator-(double a, const Operand& b);
Expr operator*(const Operand& a, const Expr& b);
Expr operator*(const Operand& a, double b);
Expr operator*(double a, const Operand& b);
Expr operator/(const Operand& a, const Expr& b);
Expr operator/(const Operand& a, double b);
Expr operator/(double a, const Operand& b);

}  // namespace adjoint
