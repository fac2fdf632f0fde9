// Each variable's update is one fused op (ops/optimizer_ops.hpp) that overwrites it and
// its state in one pass. Updates run after every read of the variables they write (see
// core/plan.hpp), so they all see the values from the start of the step.
#include <adjoint/models/optimizers.hpp>

#include <cmath>

#include <adjoint/ops/all.hpp>

namespace adjoint {

namespace {

void check(const char* who, const char* what, double v, double lo, double hi, bool hi_open = true) {
    if (!std::isfinite(v) || v < lo || (hi_open ? v >= hi : v > hi))
        throw Error(fmt::format("{}: {} is {}; it must be in [{}, {}{}", who, what, v, lo, hi, hi_open ? ")" : "]"));
}

void check_lr(const char* who, double lr) {
    if (!std::isfinite(lr) || lr <= 0)
        throw Error(fmt::format("{}: learning rate is {}; it must be positive and finite", who, lr));
}

void check_pairs(const char* who, const std::vector<Expr>& vars, const std::vector<Expr>& grads) {
    if (vars.size() != grads.size())
        throw Error(fmt::format("{}: {} variables but {} gradients", who, vars.size(), grads.size()));
}

// A state variable shaped like `var`, starting at zero: "<var>/<slot>".
Expr slot(Graph& g, const Expr& var, const char* name) {
    return g.variable(var.name() + "/" + name, var.shape(), init::zeros(), var.dtype());
}

}  // namespace

SGD::SGD(double lr_, double momentum_, bool nesterov_) : lr(lr_), momentum(momentum_), nesterov(nesterov_) {
    check_lr("SGD", lr);
    check("SGD", "momentum", momentum, 0, 1);
}

std::string SGD::name() const {
    return momentum > 0 ? fmt::format("SGD(lr={}, momentum={}{})", lr, momentum, nesterov ? ", nesterov" : "")
                        : fmt::format("SGD(lr={})", lr);
}

std::vector<Expr> SGD::apply(Graph& g, const std::vector<Expr>& vars, const std::vector<Expr>& grads) const {
    check_pairs("SGD", vars, grads);
    std::vector<Expr> updates;
    auto scope = g.scope("SGD");
    for (std::size_t i = 0; i < vars.size(); ++i) {
        const Expr &w = vars[i], &dw = grads[i];
        updates.push_back(momentum == 0 ? sgd_apply(w, dw, lr)
                                        : momentum_apply(w, slot(g, w, "momentum"), dw, lr, momentum, nesterov));
    }
    return updates;
}

RMSprop::RMSprop(double lr_, double rho_, double eps_) : lr(lr_), rho(rho_), eps(eps_) {
    check_lr("RMSprop", lr);
    check("RMSprop", "rho", rho, 0, 1);
    check("RMSprop", "epsilon", eps, 0, 1, false);
}

std::string RMSprop::name() const { return fmt::format("RMSprop(lr={}, rho={}, epsilon={})", lr, rho, eps); }

std::vector<Expr> RMSprop::apply(Graph& g, const std::vector<Expr>& vars, const std::vector<Expr>& grads) const {
    check_pairs("RMSprop", vars, grads);
    std::vector<Expr> updates;
    auto scope = g.scope("RMSprop");
    for (std::size_t i = 0; i < vars.size(); ++i) {
        const Expr &w = vars[i], &dw = grads[i];
        updates.push_back(rmsprop_apply(w, slot(g, w, "rms"), dw, lr, rho, eps));
    }
    return updates;
}

Adam::Adam(double lr_, double beta1_, double beta2_, double eps_) : lr(lr_), beta1(beta1_), beta2(beta2_), eps(eps_) {
    check_lr("Adam", lr);
    check("Adam", "beta_1", beta1, 0, 1);
    check("Adam", "beta_2", beta2, 0, 1);
    check("Adam", "epsilon", eps, 0, 1, false);
}

std::string Adam::name() const {
    return fmt::format("Adam(lr={}, beta_1={}, beta_2={}, epsilon={})", lr, beta1, beta2, eps);
}

std::vector<Expr> Adam::apply(Graph& g, const std::vector<Expr>& vars, const std::vector<Expr>& grads) const {
    check_pairs("Adam", vars, grads);
    std::vector<Expr> updates;
    if (vars.empty()) return updates;
    auto scope = g.scope("Adam");
    // The step count, shared by all variables; b^t = exp(t log b).
    const Expr t_old = g.variable("iterations", Tensor::zeros(Shape{}, vars[0].dtype()));
    const Expr t = t_old + 1.0;
    updates.push_back(assign(t_old, t));
    const Expr lr_t = sqrt(1.0 - exp(t * std::log(beta2))) * lr / (1.0 - exp(t * std::log(beta1)));
    for (std::size_t i = 0; i < vars.size(); ++i) {
        const Expr &w = vars[i], &dw = grads[i];
        updates.push_back(adam_apply(w, slot(g, w, "m"), slot(g, w, "v"), dw, lr_t, beta1, beta2, eps));
    }
    return updates;
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, double lr) {
    if (name == "sgd") return std::make_unique<SGD>(lr > 0 ? lr : 0.01);
    if (name == "momentum") return std::make_unique<SGD>(lr > 0 ? lr : 0.01, 0.9);
    if (name == "rmsprop") return std::make_unique<RMSprop>(lr > 0 ? lr : 1e-3);
    if (name == "adam") return std::make_unique<Adam>(lr > 0 ? lr : 1e-3);
    throw Error(fmt::format("unknown optimizer \"{}\" (sgd, momentum, rmsprop, adam)", name));
}

}  // namespace adjoint
