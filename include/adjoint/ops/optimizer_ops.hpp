// The optimizers' fused updates: each overwrites a variable and its state in one pass
// over their elements (RMSprop as separate ops made nine passes over every weight per
// step, three ops and a copy made seven; this is five: read w, state and g, write w and
// state). They are stateful like assign: their first inputs are variables, written in
// place (OpBase::writes_variables), and their result is the variable's new value.
// Formulas and hyperparameters follow Keras. f32 or f64; no gradient flows through them.
#pragma once

#include <adjoint/ops/op.hpp>

namespace adjoint::ops {

// w = w - lr g. Inputs (w, g); writes w.
struct SGDApply {
    static constexpr std::string_view name = "sgd_apply";
    static constexpr std::size_t writes_variables = 1;
    double lr;
    std::string attrs() const;
    static SGDApply from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// v = momentum v - lr g;  w = w + v,  or with nesterov w = w + momentum v - lr g.
// Inputs (w, v, g); writes w and v.
struct MomentumApply {
    static constexpr std::string_view name = "momentum_apply";
    static constexpr std::size_t writes_variables = 2;
    double lr, momentum;
    bool nesterov;
    std::string attrs() const;
    static MomentumApply from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// a = rho a + (1 - rho) g^2;  w = w - lr g / (sqrt(a) + eps). Inputs (w, a, g); writes w and a.
struct RMSpropApply {
    static constexpr std::string_view name = "rmsprop_apply";
    static constexpr std::size_t writes_variables = 2;
    double lr, rho, eps;
    std::string attrs() const;
    static RMSpropApply from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  w = w - lr_t m / (sqrt(v) + eps).
// Inputs (w, m, v, g, lr_t), lr_t a scalar (the step's bias-corrected rate, computed in
// the graph from the step count); writes w, m and v.
struct AdamApply {
    static constexpr std::string_view name = "adam_apply";
    static constexpr std::size_t writes_variables = 3;
    double beta1, beta2, eps;
    std::string attrs() const;
    static AdamApply from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

}  // namespace adjoint::ops

namespace adjoint {

// Each returns the variable's new value; fetch it (or run it as a target) to apply the update.
Expr sgd_apply(const Expr& w, const Expr& g, double lr, SourceLocation loc = SourceLocation::current());
Expr momentum_apply(const Expr& w, const Expr& v, const Expr& g, double lr, double momentum, bool nesterov,
                    SourceLocation loc = SourceLocation::current());
Expr rmsprop_apply(const Expr& w, const Expr& a, const Expr& g, double lr, double rho, double eps,
                   SourceLocation loc = SourceLocation::current());
Expr adam_apply(const Expr& w, const Expr& m, const Expr& v, const Expr& g, const Expr& lr_t, double beta1,
                double beta2, double eps, SourceLocation loc = SourceLocation::current());

}  // namespace adjoint
