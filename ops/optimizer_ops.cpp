// N = elements of the variable. Each kernel is one loop over i < N that reads element i
// of every input and writes element i of the variable and its state, so its chunks are
// independent. Why it is fast: one pass instead of one per operation; these updates are
// bound by memory traffic (1.6 MB per array for the 784x512 weights), not arithmetic.
// The result y is the variable's storage; it is written from x[0] so that the kernels
// also work when y is separate (as in the reference tests).
#include <adjoint/ops/optimizer_ops.hpp>

#include <cmath>

#include "../core/parallel.hpp"
#include "naive.hpp"
#include "op_list.hpp"

namespace adjoint::ops {

namespace {

// Inputs 0..n-1 all have one shape and floating dtype; the first `variables` are the
// variable and its state.
TypedShape same_shapes(std::span<const TypedShape> in, std::size_t n) {
    expect_inputs(in, n);
    expect_floating(in[0], "the variable");
    for (std::size_t i = 1; i < n; ++i) {
        expect_same_dtype(in[0], in[i]);
        if (!(in[i].shape == in[0].shape))
            throw std::invalid_argument(
                fmt::format("input {} is {}, input 0 is {}: they must match", i, in[i].shape, in[0].shape));
    }
    return in[0];
}

// body(begin, end) over [0, n) in parallel chunks.
template <class F> void elements(std::int64_t n, F&& body) { parallel_chunks(n, elementwise_grain, body); }

template <class T> T* out(Tensor& t) { return t.data<T>().data(); }
template <class T> const T* in(const Tensor& t) { return t.data<T>().data(); }

void run_sgd(const SGDApply& op, const Inputs& x, Tensor& y) {
    visit_floating(y.dtype(), SGDApply::name, [&](auto tag) {
        using T = decltype(tag);
        const T *w = in<T>(x[0]), *g = in<T>(x[1]);
        T* w_new = out<T>(y);
        const T lr = static_cast<T>(op.lr);
        elements(y.numel(), [=](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) w_new[i] = w[i] - g[i] * lr;
        });
    });
}

void run_momentum(const MomentumApply& op, const Inputs& x, Tensor& y) {
    visit_floating(y.dtype(), MomentumApply::name, [&](auto tag) {
        using T = decltype(tag);
        const T *w = in<T>(x[0]), *g = in<T>(x[2]);
        T *v = out<T>(x.overwritten(1)), *w_new = out<T>(y);
        const T lr = static_cast<T>(op.lr), mu = static_cast<T>(op.momentum);
        const bool nesterov = op.nesterov;
        elements(y.numel(), [=](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) {
                const T v_new = v[i] * mu - g[i] * lr;
                v[i] = v_new;
                w_new[i] = nesterov ? w[i] + v_new * mu - g[i] * lr : w[i] + v_new;
            }
        });
    });
}

void run_rmsprop(const RMSpropApply& op, const Inputs& x, Tensor& y) {
    visit_floating(y.dtype(), RMSpropApply::name, [&](auto tag) {
        using T = decltype(tag);
        const T *w = in<T>(x[0]), *g = in<T>(x[2]);
        T *a = out<T>(x.overwritten(1)), *w_new = out<T>(y);
        const T lr = static_cast<T>(op.lr), rho = static_cast<T>(op.rho), rest = static_cast<T>(1 - op.rho),
                eps = static_cast<T>(op.eps);
        elements(y.numel(), [=](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) {
                const T a_new = rho * a[i] + rest * (g[i] * g[i]);
                a[i] = a_new;
                w_new[i] = w[i] - lr * g[i] / (std::sqrt(a_new) + eps);
            }
        });
    });
}

void run_adam(const AdamApply& op, const Inputs& x, Tensor& y) {
    visit_floating(y.dtype(), AdamApply::name, [&](auto tag) {
        using T = decltype(tag);
        const T *w = in<T>(x[0]), *g = in<T>(x[3]);
        T *m = out<T>(x.overwritten(1)), *v = out<T>(x.overwritten(2)), *w_new = out<T>(y);
        const T lr = x[4].item<T>(), b1 = static_cast<T>(op.beta1), b2 = static_cast<T>(op.beta2),
                rest1 = static_cast<T>(1 - op.beta1), rest2 = static_cast<T>(1 - op.beta2),
                eps = static_cast<T>(op.eps);
        elements(y.numel(), [=](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) {
                const T m_new = m[i] * b1 + g[i] * rest1, v_new = v[i] * b2 + (g[i] * g[i]) * rest2;
                m[i] = m_new;
                v[i] = v_new;
                w_new[i] = w[i] - lr * m_new / (std::sqrt(v_new) + eps);
            }
        });
    });
}

Grads none(const GradContext& c) { return Grads(c.x.size()); }

// For the naive references: element i of input k in long double.
long double at(const Inputs& x, std::size_t k, std::int64_t i) { return naive::get(x[k], i); }

}  // namespace

// ---- the naive references: Keras' formulas, element by element, in long double.

// w = w - lr g
void SGDApply::reference(const Inputs& x, Tensor& y) const {
    for (std::int64_t i = 0; i < y.numel(); ++i) naive::set(y, i, at(x, 0, i) - lr * at(x, 1, i));
}

// v = momentum v - lr g;  w = w + v  (nesterov: w + momentum v - lr g)
void MomentumApply::reference(const Inputs& x, Tensor& y) const {
    for (std::int64_t i = 0; i < y.numel(); ++i) {
        const long double w = at(x, 0, i), g = at(x, 2, i), v = momentum * at(x, 1, i) - lr * g;
        naive::set(x.overwritten(1), i, v);
        naive::set(y, i, nesterov ? w + momentum * v - lr * g : w + v);
    }
}

// a = rho a + (1 - rho) g^2;  w = w - lr g / (sqrt(a) + eps)
void RMSpropApply::reference(const Inputs& x, Tensor& y) const {
    for (std::int64_t i = 0; i < y.numel(); ++i) {
        const long double g = at(x, 2, i), a = rho * at(x, 1, i) + (1 - rho) * g * g;
        naive::set(x.overwritten(1), i, a);
        naive::set(y, i, at(x, 0, i) - lr * g / (std::sqrt(a) + eps));
    }
}

// m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  w = w - lr_t m / (sqrt(v) + eps)
void AdamApply::reference(const Inputs& x, Tensor& y) const {
    const long double lr_t = at(x, 4, 0);
    for (std::int64_t i = 0; i < y.numel(); ++i) {
        const long double g = at(x, 3, i), m = beta1 * at(x, 1, i) + (1 - beta1) * g,
                          v = beta2 * at(x, 2, i) + (1 - beta2) * g * g;
        naive::set(x.overwritten(1), i, m);
        naive::set(x.overwritten(2), i, v);
        naive::set(y, i, at(x, 0, i) - lr_t * m / (std::sqrt(v) + eps));
    }
}

std::string SGDApply::attrs() const { return fmt::format("lr={}", lr); }
SGDApply SGDApply::from_attrs(const Attrs& a) {
    a.only({"lr"});
    return {a.number("lr")};
}
TypedShape SGDApply::infer(std::span<const TypedShape> in, std::int64_t) const { return same_shapes(in, 2); }
void SGDApply::forward(const Inputs& x, Tensor& y) const { run_sgd(*this, x, y); }
Grads SGDApply::gradient(const GradContext& c) const { return none(c); }

std::string MomentumApply::attrs() const {
    return fmt::format("lr={} momentum={}{}", lr, momentum, nesterov ? " nesterov" : "");
}
MomentumApply MomentumApply::from_attrs(const Attrs& a) {
    a.only({"lr", "momentum", "nesterov"});
    return {a.number("lr"), a.number("momentum"), a.flag("nesterov")};
}
TypedShape MomentumApply::infer(std::span<const TypedShape> in, std::int64_t) const { return same_shapes(in, 3); }
void MomentumApply::forward(const Inputs& x, Tensor& y) const { run_momentum(*this, x, y); }
Grads MomentumApply::gradient(const GradContext& c) const { return none(c); }

std::string RMSpropApply::attrs() const { return fmt::format("lr={} rho={} eps={}", lr, rho, eps); }
RMSpropApply RMSpropApply::from_attrs(const Attrs& a) {
    a.only({"lr", "rho", "eps"});
    return {a.number("lr"), a.number("rho"), a.number("eps")};
}
TypedShape RMSpropApply::infer(std::span<const TypedShape> in, std::int64_t) const { return same_shapes(in, 3); }
void RMSpropApply::forward(const Inputs& x, Tensor& y) const { run_rmsprop(*this, x, y); }
Grads RMSpropApply::gradient(const GradContext& c) const { return none(c); }

std::string AdamApply::attrs() const { return fmt::format("beta_1={} beta_2={} eps={}", beta1, beta2, eps); }
AdamApply AdamApply::from_attrs(const Attrs& a) {
    a.only({"beta_1", "beta_2", "eps"});
    return {a.number("beta_1"), a.number("beta_2"), a.number("eps")};
}
TypedShape AdamApply::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 5);
    const TypedShape t = same_shapes(in.first(4), 4);
    expect_same_dtype(in[0], in[4]);
    if (in[4].shape.rank() != 0)
        throw std::invalid_argument(fmt::format("the learning rate (input 4) must be a scalar, it is {}", in[4].shape));
    return t;
}
void AdamApply::forward(const Inputs& x, Tensor& y) const { run_adam(*this, x, y); }
Grads AdamApply::gradient(const GradContext& c) const { return none(c); }

}  // namespace adjoint::ops

namespace adjoint {

namespace {

// The inputs an update overwrites must be variables: checked where the user builds it.
void expect_variables(std::string_view op, std::initializer_list<const Expr*> vars, SourceLocation loc) {
    for (const Expr* v : vars)
        if (v->valid() && v->node().kind != NodeKind::variable)
            throw Error(fmt::format("{}: \"{}\" is a {}, not a variable; the update overwrites it ({})", op, v->name(),
                                    v->node().op_name(), where(loc)));
}

}  // namespace

Expr sgd_apply(const Expr& w, const Expr& g, double lr, SourceLocation loc) {
    expect_variables(ops::SGDApply::name, {&w}, loc);
    return ops::make_listed(ops::SGDApply{lr}, {w, g}, loc);
}

Expr momentum_apply(const Expr& w, const Expr& v, const Expr& g, double lr, double momentum, bool nesterov,
                    SourceLocation loc) {
    expect_variables(ops::MomentumApply::name, {&w, &v}, loc);
    return ops::make_listed(ops::MomentumApply{lr, momentum, nesterov}, {w, v, g}, loc);
}

Expr rmsprop_apply(const Expr& w, const Expr& a, const Expr& g, double lr, double rho, double eps, SourceLocation loc) {
    expect_variables(ops::RMSpropApply::name, {&w, &a}, loc);
    return ops::make_listed(ops::RMSpropApply{lr, rho, eps}, {w, a, g}, loc);
}

Expr adam_apply(const Expr& w, const Expr& m, const Expr& v, const Expr& g, const Expr& lr_t, double beta1,
                double beta2, double eps, SourceLocation loc) {
    expect_variables(ops::AdamApply::name, {&w, &m, &v}, loc);
    return ops::make_listed(ops::AdamApply{beta1, beta2, eps}, {w, m, v, g, lr_t}, loc);
}

}  // namespace adjoint
