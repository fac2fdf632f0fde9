// Every op, listed once. A new op is added here; the static_assert makes sure it is a
// complete op (shape rule, kernel, reference kernel, gradient rule), and the table-driven tests walk
// this list, so an op without tests does not compile.
#pragma once

#include <variant>

#include <adjoint/ops/all.hpp>

namespace adjoint::ops {

using OpList = std::variant<
    // element-wise, one input
    Neg, Exp, Log, Sqrt, Square, Relu, Sigmoid, Tanh, Pow, ReluGrad,
    // element-wise, two inputs, broadcasting
    Add, Sub, Mul, Div, Maximum, Minimum, Equal,
    // linear algebra and layout
    MatMul, MatMulBias, Transpose, Reshape, BroadcastTo,
    // reductions
    Sum, Max, ArgMax, Count,
    // classification losses
    Softmax, SoftmaxCrossEntropy, SoftmaxCrossEntropyGrad, SparseSoftmaxCrossEntropy, OneHot,
    // pass-through and state
    Cast, StopGradient, Assign,
    // optimizers' fused updates
    SGDApply, MomentumApply, RMSpropApply, AdamApply>;

template <class V> struct all_ops;
template <class... T> struct all_ops<std::variant<T...>> {
    static constexpr bool value = (Op<T> && ...);
};
static_assert(all_ops<OpList>::value, "every alternative of OpList must satisfy ops::Op");

}  // namespace adjoint::ops
