// N = elements of the variable; every kernel is y[i] = f(x0[i], x1[i], ...).
#include "optimizer_ops.hpp"

#include <cmath>

#include "../core/parallel.hpp"
#include "binary.hpp"
#include "unary.hpp"

namespace adjoint::ops {

namespace {

TypedShape same_shapes(std::span<const TypedShape> in, std::size_t n) {
    expect_inputs(in, n);
    expect_floating(in[0], "the variable");
    for (std::size_t i = 1; i < n; ++i) {
        expect_same_dtype(in[0], in[i]);
        if (!(in[i].shape == in[0].shape))
            throw std::invalid_argument(fmt::format("input {} is {}, input 0 is {}: they must match", i, in[i].shape, in[0].shape));
    }
    return in[0];
}

// y[i] = f(x0[i], ..., x{n-1}[i]), in parallel chunks or serially.
template <std::size_t n, class F> void map_inputs(const Inputs& x, Tensor& y, bool parallel, F f) {
    visit_floating(y.dtype(), "optimizer op", [&](auto tag) {
        using T = decltype(tag);
        std::array<const T*, n> in;
        for (std::size_t k = 0; k < n; ++k) in[k] = x[k].template data<T>().data();
        T* out = y.data<T>().data();
        auto body = [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) {
                if constexpr (n == 2) out[i] = f(in[0][i], in[1][i]);
                else out[i] = f(in[0][i], in[1][i], in[2][i]);
            }
        };
        if (parallel) parallel_chunks(y.numel(), 1 << 14, body);
        else body(0, y.numel());
    });
}

}  // namespace

std::string RMSpropAccumulate::attrs() const { return fmt::format("rho={}", rho); }
TypedShape RMSpropAccumulate::infer(std::span<const TypedShape> in, std::int64_t) const { return same_shapes(in, 2); }

void RMSpropAccumulate::forward(const Inputs& x, Tensor& y) const {
    map_inputs<2>(x, y, true, [r = rho](auto a, auto g) { return static_cast<decltype(a)>(r * a + (1 - r) * g * g); });
}
void RMSpropAccumulate::reference(const Inputs& x, Tensor& y) const {
    map_inputs<2>(x, y, false, [r = rho](auto a, auto g) { return static_cast<decltype(a)>(r * a + (1 - r) * g * g); });
}

// a' = rho a + (1 - rho) g^2: da = rho dy, dg = 2 (1 - rho) g dy
Grads RMSpropAccumulate::gradient(const GradContext& c) const {
    return grads(c, [&] { return c.dy * rho; }, [&] { return c.dy * c.x[1] * (2 * (1 - rho)); });
}

std::string RMSpropUpdate::attrs() const { return fmt::format("lr={} eps={}", lr, eps); }
TypedShape RMSpropUpdate::infer(std::span<const TypedShape> in, std::int64_t) const { return same_shapes(in, 3); }

void RMSpropUpdate::forward(const Inputs& x, Tensor& y) const {
    map_inputs<3>(x, y, true, [lr = lr, eps = eps](auto w, auto g, auto a) {
        using T = decltype(w);
        return static_cast<T>(w - static_cast<T>(lr) * g / (std::sqrt(a) + static_cast<T>(eps)));
    });
}
void RMSpropUpdate::reference(const Inputs& x, Tensor& y) const {
    map_inputs<3>(x, y, false, [lr = lr, eps = eps](auto w, auto g, auto a) {
        using T = decltype(w);
        return static_cast<T>(w - static_cast<T>(lr) * g / (std::sqrt(a) + static_cast<T>(eps)));
    });
}

// w' = w - lr g / s with s = sqrt(a') + eps:
//   dw = dy,  dg = -lr dy / s,  da' = lr g dy / (2 s^2 sqrt(a'))
Grads RMSpropUpdate::gradient(const GradContext& c) const {
    const Expr &g = c.x[1], &a = c.x[2];
    return grads(
        c, [&] { return c.dy; }, [&] { return -(c.dy * lr) / (sqrt(a) + eps); },
        [&] {
            const Expr root = sqrt(a), s = root + eps;
            return c.dy * g * lr / (s * s * root * 2.0);
        });
}

}  // namespace adjoint::ops

namespace adjoint {

Expr rmsprop_accumulate(Expr a, Expr g, double rho, std::source_location loc) {
    return ops::make(ops::RMSpropAccumulate{rho}, {a, g}, loc);
}

Expr rmsprop_update(Expr w, Expr g, Expr a_new, double lr, double eps, std::source_location loc) {
    return ops::make(ops::RMSpropUpdate{lr, eps}, {w, g, a_new}, loc);
}

}  // namespace adjoint
