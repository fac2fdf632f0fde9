// Optimizers emit their updates into the graph as fused update nodes, so that one training step
// (forward, gradients, updates, metrics) is one run of one graph. Hyperparameters and
// update rules follow Keras; state (momentum, moments) lives in variables of their own.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <adjoint/core/graph.hpp>

namespace adjoint {

class Optimizer {
public:
    virtual ~Optimizer() = default;
    virtual std::string name() const = 0;
    // Appends the update of every variable from its gradient; returns the update nodes to run.
    virtual std::vector<Expr> apply(Graph& g, const std::vector<Expr>& vars, const std::vector<Expr>& grads) const = 0;
};

// v = momentum v - lr g;  w = w + v  (nesterov: w = w + momentum v - lr g).
// Plain SGD (momentum 0) is w = w - lr g.
struct SGD : Optimizer {
    double lr = 0.01, momentum = 0.0;
    bool nesterov = false;
    SGD(double lr_ = 0.01, double momentum_ = 0.0, bool nesterov_ = false);
    std::string name() const override;
    std::vector<Expr> apply(Graph& g, const std::vector<Expr>& vars, const std::vector<Expr>& grads) const override;
};

// a = rho a + (1 - rho) g^2;  w = w - lr g / (sqrt(a) + eps)
struct RMSprop : Optimizer {
    double lr = 1e-3, rho = 0.9, eps = 1e-7;
    RMSprop(double lr_ = 1e-3, double rho_ = 0.9, double eps_ = 1e-7);
    std::string name() const override;
    std::vector<Expr> apply(Graph& g, const std::vector<Expr>& vars, const std::vector<Expr>& grads) const override;
};

// t = t + 1;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
// w = w - lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)
struct Adam : Optimizer {
    double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-7;
    Adam(double lr_ = 1e-3, double beta1_ = 0.9, double beta2_ = 0.999, double eps_ = 1e-7);
    std::string name() const override;
    std::vector<Expr> apply(Graph& g, const std::vector<Expr>& vars, const std::vector<Expr>& grads) const override;
};

// "sgd", "momentum" (SGD with momentum 0.9), "rmsprop", "adam"; lr <= 0 picks the default.
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, double lr = 0);

}  // namespace adjoint
