// argmax along one axis.
#pragma once

#include <adjoint/ops/op.hpp>

namespace adjoint::ops {

// Index (i32) of the first largest element along one axis, which is removed.
struct ArgMax {
    static constexpr std::string_view name = "argmax";
    int axis = -1;
    std::string attrs() const;
    static ArgMax from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

}  // namespace adjoint::ops

namespace adjoint {

// The index (i32) of the first largest element along `axis`, which is removed; no gradient.
Expr argmax(const Expr& x, int axis = -1, SourceLocation loc = SourceLocation::current());

}  // namespace adjoint
