// Reductions over axes: sum, prod, max, min, mean, and element_count (the number of elements reduced,
// which mean() divides by when the batch size is only known at run time).
#pragma once

#include <vector>

#include <adjoint/ops/op.hpp>

namespace adjoint::ops {

// Axes are as the user gave them (negative counts from the end); empty = all axes.
struct Sum {
    static constexpr std::string_view name = "sum";
    std::vector<int> axes;
    bool keepdims = false;
    std::string attrs() const;
    static Sum from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// The product; integers wrap around within their dtype (numpy would widen i32 to i64
// first); u8 is refused.
struct Prod {
    static constexpr std::string_view name = "prod";
    std::vector<int> axes;
    bool keepdims = false;
    std::string attrs() const;
    static Prod from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

struct Max {
    static constexpr std::string_view name = "max";
    std::vector<int> axes;
    bool keepdims = false;
    std::string attrs() const;
    static Max from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

struct Min {
    static constexpr std::string_view name = "min";
    std::vector<int> axes;
    bool keepdims = false;
    std::string attrs() const;
    static Min from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// A scalar of x's dtype: the product of x's dims over `axes` (all if empty).
struct ElementCount {
    static constexpr std::string_view name = "element_count";
    static constexpr bool differentiable = false;  // a count: constant in its input's values
    std::vector<int> axes;
    std::string attrs() const;
    static ElementCount from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// The output shape of reducing `s` over `axes`; throws std::invalid_argument.
Shape reduced_shape(const Shape& s, std::span<const int> axes, bool keepdims);

}  // namespace adjoint::ops

namespace adjoint {

Expr sum(const Expr& x, std::vector<int> axes = {}, bool keepdims = false,
         SourceLocation loc = SourceLocation::current());
// The product over axes (1 over an empty axis, as numpy's).
Expr prod(const Expr& x, std::vector<int> axes = {}, bool keepdims = false,
          SourceLocation loc = SourceLocation::current());
Expr max(const Expr& x, std::vector<int> axes = {}, bool keepdims = false,
         SourceLocation loc = SourceLocation::current());
Expr min(const Expr& x, std::vector<int> axes = {}, bool keepdims = false,
         SourceLocation loc = SourceLocation::current());
// sum / element_count: a constant divisor when the reduced dims are known, else an
// element_count node (a mean over the batch dim).
Expr mean(const Expr& x, std::vector<int> axes = {}, bool keepdims = false,
          SourceLocation loc = SourceLocation::current());
// A scalar of x's dtype: how many elements of x lie along `axes` (all if empty), read from
// x's shape at run time (the batch size, say).
Expr element_count(const Expr& x, std::vector<int> axes = {}, SourceLocation loc = SourceLocation::current());

}  // namespace adjoint
