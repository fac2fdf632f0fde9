// Ops that move elements of any dtype into a new layout: N-d transpose (permute), strided
// slice, pad, concat, and gather (rows by index, what an embedding reads). Each backward
// op is an op too, whose rule is again one of these, so second order works:
//   y = permute(x, p)            dx = permute(dy, p^-1)
//   y = slice(x)                 dx = slice_grad(dy)   (dy written into zeros where the slice came from)
//   z = slice_grad(dy)           d(dy) = slice(g)
//   y = pad(x)                   dx = slice(dy) (the part that was x)
//   y = concat(x0, x1, ...)      dx_i = slice(dy) (its part)
//   y = gather(params, idx)      dparams = gather_grad(idx, dy) (rows added back by index)
//   z = gather_grad(idx, dy)     d(dy) = gather(g, idx)
#pragma once

#include <adjoint/ops/op.hpp>

namespace adjoint::ops {

// y's dim i is x's dim perm[i].
struct Permute {
    static constexpr std::string_view name = "permute";
    std::vector<int> perm;
    std::string attrs() const;
    static Permute from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// y[i0, i1, ...] = x[begin0 + i0 step0, ...], one (begin, size, step) per dim: size
// elements from begin, every step-th (ceil(size / step) of them); size -1: to the end
// (the only choice on a batch dim, with begin 0 and step 1).
struct Slice {
    static constexpr std::string_view name = "slice";
    std::vector<std::int64_t> begin, size, step;
    std::string attrs() const;
    static Slice from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// dy of a slice of an x of shape `input` -> dx: zeros, and dy where the slice came from.
struct SliceGrad {
    static constexpr std::string_view name = "slice_grad";
    Slice slice;
    Shape input;  // x's shape; a batch dim is dy's
    std::string attrs() const;
    static SliceGrad from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// x with before[d] and after[d] elements of `value` around dim d (none on a batch dim).
struct Pad {
    static constexpr std::string_view name = "pad";
    std::vector<std::int64_t> before, after;
    double value = 0;
    std::string attrs() const;
    static Pad from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// The inputs joined along `axis` (not a batch dim); every other dim equal.
struct Concat {
    static constexpr std::string_view name = "concat";
    int axis = 0;
    std::string attrs() const;
    static Concat from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// (params (V, D...), indices (I...)) -> (I..., D...): row indices[i] of params for each
// i. Indices are i32, or whole numbers of another dtype (Keras feeds token ids as
// floats); one that is not a whole number in [0, V) is an error naming it.
struct Gather : NoAttrs {
    static constexpr std::string_view name = "gather";
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// (indices (I...), dy (I..., D...)) -> (rows, D...): each dy row added into row
// indices[i], in index order (the same bits on any thread count).
struct GatherGrad {
    static constexpr std::string_view name = "gather_grad";
    std::int64_t rows = 0;
    std::string attrs() const;
    static GatherGrad from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

}  // namespace adjoint::ops

namespace adjoint {

// numpy's transpose with axes: y's dim i is x's dim perm[i] (a permutation of 0..rank-1).
Expr transpose(const Expr& x, std::vector<int> perm, SourceLocation loc = SourceLocation::current());
// numpy's x[b0:e0:s0, b1:e1:s1, ...] for the first begin.size() dims (the rest whole):
// negative begin and end count from the end, both are clipped to the dim, steps are
// positive; a batch dim is taken whole (begin 0, end INT64_MAX, step 1).
Expr slice(const Expr& x, std::vector<std::int64_t> begin, std::vector<std::int64_t> end,
           std::vector<std::int64_t> steps = {}, SourceLocation loc = SourceLocation::current());
// numpy's pad with a constant: paddings[d] = {before, after} for the first dims.
Expr pad(const Expr& x, std::vector<std::pair<std::int64_t, std::int64_t>> paddings, double value = 0,
         SourceLocation loc = SourceLocation::current());
// The inputs joined along axis (negative: from the end).
Expr concat(const std::vector<Expr>& xs, int axis, SourceLocation loc = SourceLocation::current());
// A dim of 1 inserted at axis (negative: from the end of the result), as numpy.
Expr expand_dims(const Expr& x, int axis, SourceLocation loc = SourceLocation::current());
// The dims of 1 at axes removed (every dim of 1 when axes is empty).
Expr squeeze(const Expr& x, const std::vector<int>& axes = {}, SourceLocation loc = SourceLocation::current());
// Rows of params by index: params (V, D...), indices (I...) -> (I..., D...).
Expr gather(const Expr& params, const Expr& indices, SourceLocation loc = SourceLocation::current());
// The backward ops, as the rules build them.
Expr slice_grad(const Expr& dy, const ops::Slice& slice, const Shape& input,
                SourceLocation loc = SourceLocation::current());
Expr gather_grad(const Expr& indices, const Expr& dy, std::int64_t rows,
                 SourceLocation loc = SourceLocation::current());

}  // namespace adjoint
