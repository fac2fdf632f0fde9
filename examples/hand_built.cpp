// A hand-built graph trained with an optimizer's apply(): linear regression, y = 3x - 2,
// from noiseless samples. Prints the fitted weight and bias (as the README shows).
#include <adjoint/adjoint.hpp>
#include <fmt/core.h>
namespace ad = adjoint;
int main() {
    ad::Graph g;
    ad::Expr x = g.placeholder("x", {ad::batch, 1});
    ad::Expr t = g.placeholder("t", {ad::batch, 1});
    ad::Expr w = g.variable("w", {1, 1}, ad::init::zeros());
    ad::Expr b = g.variable("b", {1}, ad::init::zeros());
    ad::Expr loss = ad::mean(ad::square(ad::matmul(x, w) + b - t));
    const std::vector<ad::Expr> vars{w, b};
    const std::vector<ad::Expr> updates = ad::SGD(0.1).apply(g, vars, ad::gradients(loss, vars));

    ad::Tensor xs = ad::Tensor::from({{-1.f}, {0.f}, {1.f}, {2.f}});
    ad::Tensor ts = ad::Tensor::from({{-5.f}, {-2.f}, {1.f}, {4.f}});
    ad::Session sess(g, {.threads = 2});
    for (int step = 0; step < 500; ++step) sess.run({loss}, {{x, xs}, {t, ts}}, updates);
    fmt::print("w = {:.4f}, b = {:.4f}\n", sess.value(w).item<float>(), sess.value(b).item<float>());
}
