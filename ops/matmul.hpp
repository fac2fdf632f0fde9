// Matrix product of two 2-D tensors: (M, K) x (K, N) -> (M, N).
#pragma once

#include "op.hpp"

namespace adjoint::ops {

struct MatMul : NoAttrs {
    static constexpr std::string_view name = "matmul";
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

}  // namespace adjoint::ops

namespace adjoint {

Expr matmul(Expr x, Expr w, std::source_location loc = std::source_location::current());

}  // namespace adjoint
