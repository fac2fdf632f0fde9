// Dropout: y = x * keep / (1 - rate) while training, x otherwise (Keras' inverted dropout).
// The mask is a function of (seed, step, element index) alone, a counter-based hash, so
// it is the same whatever the thread count, and a step counter makes every step draw
// anew. y is linear in x with that mask: its gradient is the same op on dy.
#pragma once

#include <adjoint/ops/op.hpp>

namespace adjoint::ops {

// Inputs (x floating, training u8 scalar, step f64 scalar: a whole number, exact to 2^53,
// which a variable counts up with a plain add). Element i is kept when
// u(seed, step, i) >= rate, u uniform in [0, 1) (53 bits of splitmix64).
struct Dropout {
    static constexpr std::string_view name = "dropout";
    double rate = 0.5;
    std::uint64_t seed = 0;
    std::string attrs() const;
    static Dropout from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// Whether element i is kept at (seed, step): the mask both kernels and the tests use.
bool dropout_keeps(std::uint64_t seed, std::int64_t step, std::int64_t i, double rate);

}  // namespace adjoint::ops

namespace adjoint {

// x with each element zeroed with probability rate, the rest scaled by 1 / (1 - rate),
// when training (a u8 scalar) is nonzero; x itself otherwise. step (an f64 scalar,
// usually a variable the training step increments) picks the mask. rate in [0, 1).
Expr dropout(const Expr& x, double rate, std::uint64_t seed, const Expr& training, const Expr& step,
             SourceLocation loc = SourceLocation::current());

}  // namespace adjoint
