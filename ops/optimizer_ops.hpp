// Fused optimizer arithmetic: each is one pass over a variable instead of one per
// operation (RMSprop as separate ops made nine passes over every weight per step).
// Inputs all have one shape; f32 or f64.
#pragma once

#include "op.hpp"

namespace adjoint::ops {

// a' = rho a + (1 - rho) g^2. Inputs (a, g).
struct RMSpropAccumulate {
    static constexpr bool elementwise = true;
    static constexpr std::string_view name = "rmsprop_accumulate";
    double rho;
    std::string attrs() const;
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// w' = w - lr g / (sqrt(a') + eps). Inputs (w, g, a').
struct RMSpropUpdate {
    static constexpr bool elementwise = true;
    static constexpr std::string_view name = "rmsprop_update";
    double lr, eps;
    std::string attrs() const;
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

}  // namespace adjoint::ops

namespace adjoint {

Expr rmsprop_accumulate(Expr a, Expr g, double rho, std::source_location loc = std::source_location::current());
Expr rmsprop_update(Expr w, Expr g, Expr a_new, double lr, double eps,
                    std::source_location loc = std::source_location::current());

}  // namespace adjoint
