// Element-wise functions of two tensors with numpy broadcasting: y = f(a, b).
#pragma once

#include <adjoint/ops/op.hpp>

namespace adjoint::ops {

// The family: Fn gives the name, the scalar function, and whether it compares (any
// dtype in, u8 0/1 out) or computes (f32/f64 in, the same out).
template <class Fn> struct Binary : NoAttrs {
    static constexpr bool elementwise = true;
    static constexpr std::string_view name = Fn::name;
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const { return Fn::grad(c); }
};

struct AddFn {
    static Grads grad(const GradContext& c);  // in binary.cpp
    static constexpr std::string_view name = "add";
    static constexpr bool compares = false;
    template <class T> static T f(T a, T b) { return a + b; }
};
struct SubFn {
    static Grads grad(const GradContext& c);  // in binary.cpp
    static constexpr std::string_view name = "sub";
    static constexpr bool compares = false;
    template <class T> static T f(T a, T b) { return a - b; }
};
struct MulFn {
    static Grads grad(const GradContext& c);  // in binary.cpp
    static constexpr std::string_view name = "mul";
    static constexpr bool compares = false;
    template <class T> static T f(T a, T b) { return a * b; }
};
struct DivFn {
    static Grads grad(const GradContext& c);  // in binary.cpp
    static constexpr std::string_view name = "div";
    static constexpr bool compares = false;
    template <class T> static T f(T a, T b) { return a / b; }
};
struct MaximumFn {
    static Grads grad(const GradContext& c);  // in binary.cpp
    static constexpr std::string_view name = "maximum";
    static constexpr bool compares = false;
    // NaN in either input gives NaN, as in numpy.
    template <class T> static T f(T a, T b) { return a > b || a != a ? a : b; }
};
struct MinimumFn {
    static Grads grad(const GradContext& c);  // in binary.cpp
    static constexpr std::string_view name = "minimum";
    static constexpr bool compares = false;
    template <class T> static T f(T a, T b) { return a < b || a != a ? a : b; }
};
struct EqualFn {
    static Grads grad(const GradContext& c);  // in binary.cpp
    static constexpr std::string_view name = "equal";
    static constexpr bool compares = true;
    template <class T> static std::uint8_t f(T a, T b) { return a == b; }
};

using Add = Binary<AddFn>;
using Sub = Binary<SubFn>;
using Mul = Binary<MulFn>;
using Div = Binary<DivFn>;
using Maximum = Binary<MaximumFn>;
using Minimum = Binary<MinimumFn>;
using Equal = Binary<EqualFn>;

}  // namespace adjoint::ops

namespace adjoint {

// Scalars (double) become constants of the other operand's dtype.
Expr operator+(Operand a, const Expr& b);
Expr operator+(Operand a, double b);
Expr operator+(double a, Operand b);
Expr operator-(Operand a, const Expr& b);
Expr operator-(Operand a, double b);
Expr operator-(double a, Operand b);
Expr operator*(Operand a, const Expr& b);
Expr operator*(Operand a, double b);
Expr operator*(double a, Operand b);
Expr operator/(Operand a, const Expr& b);
Expr operator/(Operand a, double b);
Expr operator/(double a, Operand b);

Expr maximum(Expr a, Expr b, std::source_location loc = std::source_location::current());
Expr minimum(Expr a, Expr b, std::source_location loc = std::source_location::current());
// 1 where a == b, else 0, as u8 (cast it to count).
Expr equal(Expr a, Expr b, std::source_location loc = std::source_location::current());

}  // namespace adjoint
