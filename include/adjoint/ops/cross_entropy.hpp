// The fused, numerically stable softmax cross-entropies (per-row losses) that
// classification trains with, whose gradient is one op as well; and one_hot.
#pragma once

#include <adjoint/ops/op.hpp>

namespace adjoint::ops {

// logits (..., C) and labels (..., C), one distribution per row -> loss (...):
//   loss = sum_c labels_c * (logsumexp(logits) - logits_c)
// computed with the row maximum subtracted, so logits of +-1e4 give finite results.
struct SoftmaxCrossEntropy : NoAttrs {
    static constexpr std::string_view name = "softmax_cross_entropy";
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// The gradient of softmax_cross_entropy with respect to its logits, in one pass per row:
// inputs (logits (..., C), labels (..., C), dloss (...)) -> (..., C):
//   dx_c = (p_c S - l_c) dloss,  p = softmax(logits), S = sum_c l_c  (= 1 for one-hot)
struct SoftmaxCrossEntropyGrad : NoAttrs {
    static constexpr std::string_view name = "softmax_cross_entropy_grad";
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// logits (..., C) and integer labels (...) in [0, C) -> loss (...):
//   loss = logsumexp(logits) - logits[label]
// A label out of range is a run-time error naming the value and its row.
struct SparseSoftmaxCrossEntropy : NoAttrs {
    static constexpr std::string_view name = "sparse_softmax_cross_entropy";
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// labels (...) of i32 or u8 in [0, depth) -> (..., depth) of `dtype`: 1 at the label,
// 0 elsewhere. A label out of range is a run-time error naming the value and its row.
struct OneHot {
    static constexpr std::string_view name = "one_hot";
    std::int64_t depth;
    DType dtype = DType::f32;
    std::string attrs() const;
    static OneHot from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

}  // namespace adjoint::ops

namespace adjoint {

Expr softmax_cross_entropy(const Expr& logits, const Expr& onehot, SourceLocation loc = SourceLocation::current());
// labels: i32 or u8.
Expr sparse_softmax_cross_entropy(const Expr& logits, const Expr& labels,
                                  SourceLocation loc = SourceLocation::current());
Expr one_hot(const Expr& labels, std::int64_t depth, DType dtype = DType::f32,
             SourceLocation loc = SourceLocation::current());
// Binary cross-entropy on logits, element by element (TensorFlow's
// sigmoid_cross_entropy_with_logits): with p = sigmoid(z),
//   -t log(p) - (1 - t) log(1 - p) = softplus(z) - z t,
// finite for any finite z (at z = +-1e4 too; softplus is computed stably). A composite:
// its gradient, sigmoid(z) - t, is softplus' rule minus t, right at z = 0 too (TensorFlow's
// max(z, 0) - z t + log1p(exp(-|z|)) would need its own rule there: relu's and abs' kinks
// at 0 cancel only in the sum).
Expr sigmoid_cross_entropy(const Expr& logits, const Expr& labels, SourceLocation loc = SourceLocation::current());

}  // namespace adjoint
