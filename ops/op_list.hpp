// Every op of the library, listed once: the element-wise ones come from their table
// (elementwise.def), the others are named here. The static_assert checks that each is a
// complete op (shape rule, kernel, naive reference, gradient rule), and the tests walk
// this list with one test case per op, so an op without a test case does not link.
// Internal to the library and its tests.
#pragma once

#include <initializer_list>
#include <type_traits>
#include <variant>

#include <adjoint/ops/all.hpp>

namespace adjoint::ops {

using OpList = std::variant<
// element-wise (elementwise.def)
#define ADJOINT_UNARY(Type, ...) Type,
#define ADJOINT_BINARY(Type, ...) Type,
#define ADJOINT_COMPARE(Type, ...) Type,
#include <adjoint/ops/elementwise.def>
    Pow,
    // linear algebra and layout
    MatMul, MatMulBias, Transpose, Reshape, BroadcastTo,
    // movement
    Permute, Slice, SliceGrad, Pad, Concat, Gather, GatherGrad,
    // reductions
    Sum, Prod, Max, Min, ArgMax, ElementCount,
    // classification losses
    Softmax, SoftmaxCrossEntropy, SoftmaxCrossEntropyGrad, SparseSoftmaxCrossEntropy, OneHot,
    // pass-through and state
    Cast, StopGradient, Assign,
    // choosing
    Where, Dropout,
    // convolution and pooling (NHWC)
    Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter, MaxPool2D, MaxPool2DGrad, MaxPool2DSelect, AvgPool2D,
    AvgPool2DGrad, Conv2DMaxPool, Conv2DMaxPoolBackprop,
    // across processes
    AllReduce,
    // optimizers' fused updates
    SGDApply, MomentumApply, RMSpropApply, AdamApply>;

template <class V> struct all_ops;
template <class... T> struct all_ops<std::variant<T...>> { static constexpr bool value = (Op<T> && ...); };
static_assert(all_ops<OpList>::value, "every alternative of OpList must satisfy ops::Op");

template <class T, class V> struct listed;
template <class T, class... U> struct listed<T, std::variant<U...>> {
    static constexpr bool value = (std::is_same_v<T, U> || ...);
};

// ops::make for the library's own ops (every op function in ops/ calls this one): an op
// missing from OpList does not compile, so none can miss its test case either.
template <Op T> Expr make_listed(T op, std::span<const Expr> inputs, SourceLocation loc) {
    static_assert(listed<T, OpList>::value, "add the op to OpList in ops/op_list.hpp (and its test case)");
    return make(std::move(op), inputs, loc);
}
template <Op T> Expr make_listed(T op, std::initializer_list<Expr> inputs, SourceLocation loc) {
    return make_listed(std::move(op), std::span<const Expr>(inputs.begin(), inputs.size()), loc);
}

}  // namespace adjoint::ops
