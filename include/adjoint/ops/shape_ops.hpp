// Ops that move elements without computing: transpose, reshape, broadcast_to.
// They work on every dtype.
#pragma once

#include <adjoint/ops/op.hpp>

namespace adjoint::ops {

// (R, C) -> (C, R).
struct Transpose : NoAttrs {
    static constexpr std::string_view name = "transpose";
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// Same elements in row-major order, another shape (which may start with `batch`).
struct Reshape {
    static constexpr std::string_view name = "reshape";
    static constexpr bool view = true;  // a plan gives y x's buffer where it can (OpBase::is_view)
    Shape shape;
    std::string attrs() const;
    static Reshape from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// Repeats x along dims where it has 1 (or no dim) to reach `shape`, numpy style.
struct BroadcastTo {
    static constexpr std::string_view name = "broadcast_to";
    Shape shape;
    std::string attrs() const;
    static BroadcastTo from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

}  // namespace adjoint::ops

namespace adjoint {

Expr transpose(const Expr& x, SourceLocation loc = SourceLocation::current());
Expr reshape(const Expr& x, Shape shape, SourceLocation loc = SourceLocation::current());
Expr broadcast_to(const Expr& x, Shape shape, SourceLocation loc = SourceLocation::current());

}  // namespace adjoint
